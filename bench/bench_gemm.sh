#!/usr/bin/env bash
# plinth's f32 GEMM beside OpenBLAS and the MKL inside the PyTorch wheel, on the 15 product shapes of one
# training step of the ~10M GPT (issue 2), one thread, warm and cold caches (bench/gemm_shapes.c); then what
# the fused write-backs (GELU, residual, GELU's backward) cost plinth's products, at 1 and 2 threads
# (bench/gemm_epilogue.c). Needs a
# Release build (build/libplinth.a: `make` or cmake; BUILD=dir for another) and, for the MKL column, torch
# installed (its libtorch_cpu.so carries MKL's SGEMM; without torch the MKL column is left out).
#
# usage: bench/bench_gemm.sh [REPS]   (default 10; env BUILD: the build directory, default build)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REPS="${1:-10}"
BUILD="$(cd "$ROOT" && realpath -m "${BUILD:-build}")"
LIB="$BUILD/libplinth.a"
[ -f "$LIB" ] || { echo "bench_gemm: no $LIB: build plinth first (make, or cmake --build build)" >&2; exit 1; }
OUT="$BUILD/gemm_shapes"
LIBS=("$LIB" -lopenblas $(pkg-config --libs libpcre2-8 libcjson libutf8proc sqlite3) -lpthread -ldl -lm)
cc -O2 -o "$OUT" "$ROOT/bench/gemm_shapes.c" -I"$ROOT/src" -I"$ROOT/include" $(pkg-config --cflags openblas 2>/dev/null || true) \
    "${LIBS[@]}"
cc -O2 -o "$BUILD/gemm_epilogue" "$ROOT/bench/gemm_epilogue.c" -I"$ROOT/src" -I"$ROOT/include" "${LIBS[@]}"
TORCH_LIB="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null || true)"
MKL=()
if [ -n "$TORCH_LIB" ] && [ -f "$TORCH_LIB/libtorch_cpu.so" ]; then MKL=("$TORCH_LIB/libtorch_cpu.so"); fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for cold in 0 1; do
    PL_GEMM_COLD=$cold OMP_NUM_THREADS=1 LD_LIBRARY_PATH="${TORCH_LIB:-}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$OUT" "$REPS" "${MKL[@]}"
done
for t in 1 2; do "$BUILD/gemm_epilogue" "$REPS" "$t"; done
