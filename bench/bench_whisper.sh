#!/usr/bin/env bash
# Real-time factor of `plinth transcribe` beside faster-whisper (CTranslate2; float32 and int8) on the same
# 60-s file, the same model files (models/whisper-tiny-en, CTranslate2 layout), the same threads, greedy (beam 1).
# RTF = audio seconds / wall seconds of the whole command (model load included), best of RUNS.
# Usage: bench/bench_whisper.sh [THREADS=2] [RUNS=3] [MODEL=models/whisper-tiny-en]
# Needs: pip install faster-whisper soundfile; Debian pocketsphinx-testdata (the clips the 60-s file is made of).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
threads="${1:-2}"; runs="${2:-3}"; model="${3:-$root/models/whisper-tiny-en}"
wav="$root/.cache/bench/speech60.wav"
mkdir -p "$(dirname "$wav")"
python3 "$root/bench/whisper_reference.py" --make-60s "$wav"
best() { # command... -> the best wall time of $runs runs
  local b=1e9
  for _ in $(seq "$runs"); do
    local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
    b=$(python3 -c "print(min($b, $t1 - $t0))")
  done
  echo "$b"
}
echo "60-s file $wav, model $model, $threads threads, best of $runs ($(lscpu | sed -n 's/^Model name: *//p'))"
p=$(best "$root/build/plinth" transcribe -m "$model" -t "$threads" "$wav")
f32=$(best python3 "$root/bench/whisper_reference.py" "$model" --threads "$threads" --compute float32 "$wav")
i8=$(best python3 "$root/bench/whisper_reference.py" "$model" --threads "$threads" --compute int8 "$wav")
python3 - "$p" "$f32" "$i8" <<'PY'
import sys
p, f, i = map(float, sys.argv[1:])
print(f"| implementation | wall s | RTF (audio s / wall s) | vs faster-whisper f32 |")
print(f"|---|---|---|---|")
for name, t in (("plinth (f32)", p), ("faster-whisper float32", f), ("faster-whisper int8", i)):
    print(f"| {name} | {t:.2f} | {60 / t:.2f} | {f / t:.2f}x |")
PY
