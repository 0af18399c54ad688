#!/usr/bin/env bash
# plinth beside llama.cpp (issue 5): speed (pp512 / tg128, interleaved runs, same GGUF files, same threads),
# perplexity on the same text, and GGUF interop both ways (plinth-quantized files in llama.cpp, llama.cpp-
# quantized files in plinth). Fetches llama.cpp as the llama-cpp-python source distribution from PyPI and builds
# its llama-bench / llama-perplexity / llama-quantize once into .cache/llamacpp/ (git-ignored); every step is
# idempotent. The measuring and the table are in bench/compare_llamacpp.py.
#
# usage: bench/compare-llamacpp.sh [--plinth BIN] [-t THREADS] [-r REPS] [--ppl-bytes N] [--ppl-threads N]
#                                  [--calib-offset N] [--calib-bytes N] [--imatrix-chunks N (0: none)]
#                                  [--out FILE] [--build-only] [--skip-speed] [--skip-ppl] [--reuse-files] [--no-roof]
#                                  [--model GGUF ... [--only-models]] [--thread-list 1,2] [--depths 0,1024,4096] [--kv-f16]
#   env: PL_LLAMACPP_CACHE (default .cache/llamacpp), PL_LLAMACPP_JOBS (build jobs, default 2)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${PL_LLAMACPP_CACHE:-$ROOT/.cache/llamacpp}"
JOBS="${PL_LLAMACPP_JOBS:-2}"
PLINTH="$ROOT/build/plinth"
BUILD_ONLY=0
PASS=()
CMDLINE="bench/compare-llamacpp.sh $*"
while [ $# -gt 0 ]; do
    case "$1" in
        --plinth) PLINTH="$2"; shift 2 ;;
        --build-only) BUILD_ONLY=1; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) PASS+=("$1"); shift ;;
    esac
done

mkdir -p "$CACHE"
log() { echo "compare-llamacpp: $*" >&2; }

# ---- 1. llama.cpp source: the llama-cpp-python sdist (it vendors llama.cpp) --------------------------------
src_dir() { ls -d "$CACHE"/llama_cpp_python-*/vendor/llama.cpp 2>/dev/null | sort -V | tail -1; }
if [ -z "$(src_dir)" ]; then
    if ! ls "$CACHE"/llama_cpp_python-*.tar.gz >/dev/null 2>&1; then
        log "downloading the llama-cpp-python sdist from PyPI"
        # --no-binary :all: would also build every *build* dependency (scikit-build-core, hatchling, ...) from
        # source just to read the metadata; only llama-cpp-python itself needs to be the source distribution.
        pip download --no-binary llama-cpp-python --no-deps llama-cpp-python -d "$CACHE" >&2
    fi
    tarball="$(ls "$CACHE"/llama_cpp_python-*.tar.gz | sort -V | tail -1)"
    log "unpacking $(basename "$tarball")"
    tar xzf "$tarball" -C "$CACHE"
fi
SRC="$(src_dir)"
[ -f "$SRC/CMakeLists.txt" ] || { log "no llama.cpp source under $CACHE"; exit 1; }

# ---- 2. build the three tools once -----------------------------------------------------------------------
# Built the way llama.cpp's users build it for this CPU (bench/llamacpp_isa.sh: -march=native, or without AMX
# where llama.cpp's AMX path crashes), Release, OpenMP threads (its default). Only the tools we run; no
# curl/ssl, no tests, static libs.
source "$ROOT/bench/llamacpp_isa.sh"
BIN="$CACHE/build/bin"
llamacpp_build_dir "$CACHE/build"
if [ ! -x "$BIN/llama-bench" ] || [ ! -x "$BIN/llama-perplexity" ] || [ ! -x "$BIN/llama-quantize" ]; then
    log "building llama.cpp tools in $CACHE/build (${ISA_FLAGS[*]}; -j$JOBS; several minutes on 2 cores)"
    cmake -S "$SRC" -B "$CACHE/build" -DCMAKE_BUILD_TYPE=Release "${ISA_FLAGS[@]}" -DLLAMA_CURL=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >&2
    echo "$ISA_TAG" > "$CACHE/build/ISA"
    cmake --build "$CACHE/build" -j"$JOBS" --target llama-bench llama-perplexity llama-quantize >&2
fi
[ "$BUILD_ONLY" = 1 ] && { log "tools ready in $BIN"; exit 0; }

# ---- 3. models and text, then measure --------------------------------------------------------------------
[ -x "$PLINTH" ] || { log "plinth binary not found at $PLINTH (build it or pass --plinth)"; exit 1; }
bash "$ROOT/scripts/fetch-models.sh" smollm2 >&2
[ -f "$ROOT/data/train/austen.txt" ] || bash "$ROOT/scripts/fetch-data.sh" >&2
exec python3 "$ROOT/bench/compare_llamacpp.py" --plinth "$PLINTH" --llamacpp-bin "$BIN" --llamacpp-src "$SRC" \
    --cache "$CACHE" --cmdline "$CMDLINE" "${PASS[@]+"${PASS[@]}"}"
