#!/usr/bin/env bash
# Batched decoding (issue 15): aggregate decode tokens/s of N sequences decoded together against one sequence's,
# on SmolLM2-135M-Instruct Q8_0 (made by `plinth quantize` from the fetched Q4_1 file when absent) or a GGUF
# given as $1. Needs a Release build (build/libplinth.a and build/plinth). Then the compute roof of the batched
# step on this CPU: bench/int8_peak.c's multiply-adds per second (the eight-row kernel's instruction mix, with
# the same threads) against the step's multiply-adds, so the ratio a perfect q8_0 kernel could reach is printed
# beside the measured one (the one-sequence figure is memory-bound; N sequences are compute-bound).
# The peer, where bench/compare-llamacpp.sh has built llama.cpp into .cache/llamacpp (or PL_LLAMACPP_CACHE):
# llama.cpp's llama-batched-bench (built here on first use) with the same model, threads, prompt and steps, so
# its one- and N-sequence decode rates and their ratio print beside plinth's.
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
OUT="$("$BUILD/batch_decode" "$MODEL" "${2:-8}" "${3:-64}" "${4:-2}" 32 3)"
echo "$OUT"
cc -O2 -pthread -o "$BUILD/int8_peak" "$ROOT/bench/int8_peak.c"
PEAK="$("$BUILD/int8_peak" "${4:-2}")"
echo "$PEAK"
echo "$OUT
$PEAK" | awk -v n="${2:-8}" '
    /^1 sequence:/ {one = $3} /^multiply-adds per token:/ {macs = $4 * 1e6} /^int8_peak:/ {peak = $5 * 1e9}
    END { if (one && macs && peak) { roof = peak / macs;
          printf "compute roof at %s sequences (int8 multiply-adds only, nothing else in the step): %.1f tok/s = %.2fx one sequence\n", n, roof, roof / one } }'
CACHE="${PL_LLAMACPP_CACHE:-$ROOT/.cache/llamacpp}"
if [ -f "$CACHE/build/CMakeCache.txt" ]; then
    [ -x "$CACHE/build/bin/llama-batched-bench" ] || cmake --build "$CACHE/build" -j"${PL_LLAMACPP_JOBS:-2}" --target llama-batched-bench >/dev/null
    "$CACHE/build/bin/llama-batched-bench" -m "$MODEL" -c 4096 -b 2048 -ub 512 -npp 32 -ntg "${3:-64}" -npl "1,${2:-8}" \
        -t "${4:-2}" 2>/dev/null | awk -F'|' -v n="${2:-8}" '
        NF > 9 && $4 + 0 == 1 {one = $9 + 0} NF > 9 && $4 + 0 == n {many = $9 + 0}
        END { if (one && many) printf "llama.cpp (llama-batched-bench, same model, threads, prompt and steps): 1 sequence %.1f tok/s, %d sequences %.1f tok/s aggregate, ratio %.2fx\n", one, n, many, many / one }'
else
    echo "llama.cpp: not built (bench/compare-llamacpp.sh builds it into $CACHE); no peer figure"
fi
