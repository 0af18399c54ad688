#!/usr/bin/env bash
# plinth serve beside llama.cpp's llama-server (issue 17): the same GGUF, threads, slots and context per slot,
# the same load (bench/serve_load.py: 1, 2, 4, 8, 16 concurrent streaming chats, then a soak of 32), one server
# at a time on 127.0.0.1. llama-server is built once from the llama-cpp-python source distribution (it vendors
# llama.cpp) into .cache/llamacpp/ (git-ignored), as bench/compare-llamacpp.sh builds llama.cpp's other tools.
#
# usage: bench/compare-serve.sh [-m GGUF] [-t THREADS] [--slots N] [--ctx N] [--seconds S] [--levels 1,2,4,8,16]
#                               [--max-tokens N] [--soak N] [--soak-seconds S] [--skip-llamacpp] [--skip-plinth]
#   env: PL_LLAMACPP_CACHE (default .cache/llamacpp), PL_LLAMACPP_JOBS (build jobs, default 2)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${PL_LLAMACPP_CACHE:-$ROOT/.cache/llamacpp}"
JOBS="${PL_LLAMACPP_JOBS:-2}"
MODEL="$ROOT/models/smollm2/SmolLM2-135M-Instruct.Q8_0.gguf"
[ -f "$MODEL" ] || MODEL="$ROOT/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
THREADS=2 SLOTS=16 CTX=1024 SECONDS_=20 LEVELS=1,2,4,8,16 MAXTOK=64 SOAK=32 SOAK_S=60 SKIP_L=0 SKIP_P=0
while [ $# -gt 0 ]; do
  case "$1" in
    -m) MODEL="$2"; shift 2 ;; -t) THREADS="$2"; shift 2 ;; --slots) SLOTS="$2"; shift 2 ;; --ctx) CTX="$2"; shift 2 ;;
    --seconds) SECONDS_="$2"; shift 2 ;; --levels) LEVELS="$2"; shift 2 ;; --max-tokens) MAXTOK="$2"; shift 2 ;;
    --soak) SOAK="$2"; shift 2 ;; --soak-seconds) SOAK_S="$2"; shift 2 ;;
    --skip-llamacpp) SKIP_L=1; shift ;; --skip-plinth) SKIP_P=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "compare-serve: unknown option $1" >&2; exit 2 ;;
  esac
done
log() { echo "compare-serve: $*" >&2; }
LOAD=(python3 "$ROOT/bench/serve_load.py" --levels "$LEVELS" --seconds "$SECONDS_" --max-tokens "$MAXTOK")

wait_url() { # port -> waits until /health answers 200
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0; sleep 0.1; done
  log "server on port $1 did not come up"; return 1
}

mkdir -p "$ROOT/out"
echo "# $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; model $(basename "$MODEL"), -t $THREADS, $SLOTS slots x $CTX tokens, max_tokens $MAXTOK, ${SECONDS_} s per level"

if [ "$SKIP_P" = 0 ]; then
  "$ROOT/build/plinth" serve -m "$MODEL" --port 18431 -t "$THREADS" --slots "$SLOTS" --ctx "$CTX" --max-queue 256 >/dev/null &
  P=$!
  wait_url 18431
  "${LOAD[@]}" --url http://127.0.0.1:18431/ --pid "$P" --label plinth --strict --soak "$SOAK" --soak-seconds "$SOAK_S" \
      --json "$ROOT/out/serve_plinth.json" || log "plinth: errors (see above)"
  kill "$P"; wait "$P" || true
fi

if [ "$SKIP_L" = 0 ]; then
  src_dir() { ls -d "$CACHE"/llama_cpp_python-*/vendor/llama.cpp 2>/dev/null | sort -V | tail -1; }
  mkdir -p "$CACHE"
  if [ -z "$(src_dir)" ]; then
    ls "$CACHE"/llama_cpp_python-*.tar.gz >/dev/null 2>&1 || pip download --no-binary llama-cpp-python --no-deps llama-cpp-python -d "$CACHE" >&2
    tar xzf "$(ls "$CACHE"/llama_cpp_python-*.tar.gz | sort -V | tail -1)" -C "$CACHE"
  fi
  SRC="$(src_dir)"
  source "$ROOT/bench/llamacpp_isa.sh"
  llamacpp_build_dir "$CACHE/build"
  if [ ! -x "$CACHE/build/bin/llama-server" ]; then
    log "building llama-server in $CACHE/build (${ISA_FLAGS[*]}; -j$JOBS; many minutes on 2 cores)"
    cmake -S "$SRC" -B "$CACHE/build" -DCMAKE_BUILD_TYPE=Release "${ISA_FLAGS[@]}" -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON -DBUILD_SHARED_LIBS=OFF >&2
    echo "$ISA_TAG" > "$CACHE/build/ISA"
    cmake --build "$CACHE/build" -j"$JOBS" --target llama-server >&2
  fi
  # the same slots and context per slot; continuous batching is llama-server's default
  "$CACHE/build/bin/llama-server" -m "$MODEL" --host 127.0.0.1 --port 18432 -t "$THREADS" -np "$SLOTS" \
      -c $((SLOTS * CTX)) --no-webui >/dev/null 2>&1 &
  L=$!
  wait_url 18432
  "${LOAD[@]}" --url http://127.0.0.1:18432/ --pid "$L" --label llama-server --soak "$SOAK" --soak-seconds "$SOAK_S" \
      --json "$ROOT/out/serve_llamacpp.json" || log "llama-server: errors (see above)"
  kill "$L"; wait "$L" || true
fi
