#!/usr/bin/env bash
# Batched decoding (issue 15): aggregate decode tokens/s of N sequences decoded together against one sequence's,
# on SmolLM2-135M-Instruct Q8_0 (made by `plinth quantize` from the fetched Q4_1 file when absent) or a GGUF
# given as $1. Needs a Release build (build/libplinth.a and build/plinth).
# usage: bench/bench_batch.sh [MODEL.gguf] [N=8] [STEPS=64] [THREADS=2]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "$ROOT" && realpath -m "${BUILD:-build}")"
[ -f "$BUILD/libplinth.a" ] || { echo "bench_batch: build plinth first (make)" >&2; exit 1; }
MODEL="${1:-}"
if [ -z "$MODEL" ]; then
    MODEL="$ROOT/models/smollm2/SmolLM2-135M-Instruct.Q8_0.gguf"
    [ -f "$MODEL" ] || "$BUILD/plinth" quantize "$ROOT/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$MODEL" Q8_0 >/dev/null
fi
cc -O2 -o "$BUILD/batch_decode" "$ROOT/bench/batch_decode.c" -I"$ROOT/src" -I"$ROOT/include" "$BUILD/libplinth.a" \
    -lopenblas $(pkg-config --libs libpcre2-8 libcjson libutf8proc sqlite3) -lpthread -lm
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, flags: $(grep -o -w 'avx512f\|avx512_vnni\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' '); load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/batch_decode" "$MODEL" "${2:-8}" "${3:-64}" "${4:-2}" 32 3
