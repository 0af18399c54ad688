#!/usr/bin/env bash
# Issue 18's real adaptation check, reproducible: SmolLM2-135M-Instruct (Q8_0) on the support-routing task
# (tools/make_intent_task.py: 600 training messages, 200 test, five teams) zero-shot, few-shot, with a LoRA and
# with prompt tuning trained by plinth, in one `plinth eval` table (label log-likelihood over the five choices).
# Usage: bench/adapt_intent.sh [THREADS]   (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-2}
m=models/smollm2/SmolLM2-135M-Instruct.Q8_0.gguf
[ -f "$m" ] || build/plinth quantize models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$m" Q8_0
python3 tools/make_intent_task.py
mkdir -p runs
data=(-m "$m" -d data/finetune/support_intent_train.jsonl --chat none --batch 8 --val-frac 0.05 -t "$t")
# one epoch of the 570 training examples (72 steps of 8); the 2026-12-07 afternoon run was stopped (Ctrl-C, which
# saves a checkpoint) after 25 of them, the host being too loaded for the rest: docs/finetune.md
time build/plinth finetune "${data[@]}" --method lora --rank 8 --alpha 16 --lr 1e-3 --ctx 128 --epochs 1 --eval-every 24 -o runs/intent-lora
# prompt tuning: two epochs (144 steps of 8) at lr 3e-2 (prompt tuning wants 10-100x LoRA's rate); the 2026-12-07
# evening run: validation loss 7.57 -> 0.11, 94.0% against 39.0% zero-shot, 9 min 43 s on a quiet host (bench/RESULTS.md)
time build/plinth finetune "${data[@]}" --method prompt --virtual-tokens 20 --lr 3e-2 --ctx 128 --steps 144 --eval-every 24 -o runs/intent-prompt \
    --init "Route the support message to one of the teams: billing, delivery, returns, technical or account."
build/plinth eval -t data/tasks/support_intent.jsonl --mode zero-shot,few-shot --threads "$t" \
    -m "$m" -m "$m" --lora runs/intent-lora -m "$m" --prompt-adapter runs/intent-prompt
