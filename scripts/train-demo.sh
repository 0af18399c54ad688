#!/usr/bin/env bash
# `make train-demo`: fetch the public-domain training text, pre-train a small GPT on it (resuming if a run exists),
# then sample from it. Usage: scripts/train-demo.sh PLINTH_BINARY
set -euo pipefail
bin="${1:-build/plinth}"
root="$(cd "$(dirname "$0")/.." && pwd)"
text="$(bash "$root/scripts/fetch-data.sh" | tail -n1)"
"$bin" train -f "$text" -o "$root/runs/austen" --resume
"$bin" run -m "$root/runs/austen" -p "It is a truth universally acknowledged" -n 100 --seed 1  # within the 128-byte context
