#!/usr/bin/env bash
# Issue 18's distillation check, reproducible: a 15.7M-parameter llama student (SmolLM2's tokenizer: 4 layers,
# width 256, 4 heads) distilled from SmolLM2-135M-Instruct on 240 kB of Jane Austen, beside the same student on
# the hard labels alone (--kd 0) for the same steps, batches and tokens; both validation curves (KL to the
# teacher at T = 1, perplexity) into docs/distill-smollm2.svg. Needs `make fetch` (model + data/train/austen.txt).
# Usage: bench/adapt_distill.sh [STEPS] [THREADS] [TEMPERATURE]   (default 200 steps of 4 x 128 tokens = 102,400
# tokens, 2 threads, T = 1)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-200}; t=${2:-2}; temp=${3:-1}
teacher=models/smollm2/SmolLM2-135M-Instruct.Q8_0.gguf
[ -f "$teacher" ] || build/plinth quantize models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$teacher" Q8_0
mkdir -p runs
text=runs/austen-240k.txt
head -c 260000 data/train/austen.txt | tail -c 240000 > "$text"   # past the title pages
build/plinth train --arch llama --tokenizer "$teacher" --layers 4 --dim 256 --heads 4 --ctx 128 --steps 1 \
    --eval-every 0 --seed 7 -f "$text" -o runs/distill-student -t 2 -q   # the recorded run made it with 2 threads
student=runs/distill-student/checkpoint-000001
common=(--teacher "$teacher" --student "$student" -d "$text" --ctx 128 --batch 4 --steps "$steps" --lr 2e-3
        --eval-every $((steps / 8)) --seed 42 -t "$t" --temperature "$temp")
time build/plinth distill "${common[@]}" -o runs/distill-kd          # kd 1, alpha 0.5 (the defaults)
mkdir -p runs/distill-hard
cp runs/distill-kd/teacher_topk.bin runs/distill-hard/               # the same soft labels: not recomputed
time build/plinth distill "${common[@]}" --kd 0 -o runs/distill-hard # hard labels only
python3 bench/plot_val_curves.py docs/distill-smollm2.svg "distilled (KD)=runs/distill-kd" "hard labels only=runs/distill-hard"
paste -d, runs/distill-kd/val.csv runs/distill-hard/val.csv
