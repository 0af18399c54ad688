#!/usr/bin/env bash
# Peak resident memory of LoRA fine-tuning (issue 18): `plinth finetune --method lora` over SmolLM2-135M-Instruct
# Q8_0 at batch 4 x 256 tokens, measured by /usr/bin/time -v (Maximum resident set size), with the step's tokens/s.
# The examples are 16 passages of seeded random words (each longer than 256 tokens: every batch is a full 4 x 256).
# Usage: bash bench/lora_memory.sh [PLINTH (default build/plinth)] [more finetune flags, e.g. --one-graph]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/plinth}; shift || true
MODEL=$ROOT/models/smollm2/SmolLM2-135M-Instruct.Q8_0.gguf
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
python3 - "$TMP/long.jsonl" <<'PY'
import json, random, sys
random.seed(18)  # the same examples every run: seeded words, no file of the project that may change
words = ("the model layer weight token memory graph train loss batch head step value key query answer question "
         "text file page run test fast small large kernel thread core cache vector matrix row column").split()
with open(sys.argv[1], "w") as f:
    for i in range(16):  # 16 passages of 400 words: well over 256 tokens each
        f.write(json.dumps({"prompt": "Continue the page:", "completion": " ".join(random.choice(words) for _ in range(400))}) + "\n")
PY
/usr/bin/time -v "$BIN" finetune -m "$MODEL" -d "$TMP/long.jsonl" --method lora --rank 8 --ctx 256 --batch 4 \
    --steps 3 --val-frac 0 -t 2 -o "$TMP/out" "$@" 2> "$TMP/log" || { cat "$TMP/log"; exit 1; }
grep -E "^data:|^model:|^memory:|tok/s|tokens/s" "$TMP/log" | tail -5 || true
grep -E "Maximum resident set size|Elapsed \(wall" "$TMP/log"
