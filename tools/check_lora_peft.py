#!/usr/bin/env python3
"""Load an adapter written by `plinth finetune --method lora` or `--method prompt` (a training directory or a
checkpoint directory) with PEFT onto its base model in transformers, as is, and compare the logits with plinth's
(base + adapter) on the same token ids (for prompt tuning, the real tokens' positions after the virtual ones).

Usage: python3 tools/check_lora_peft.py ADAPTER_DIR BASE [--ids 1,2,3,...] [--tol 1e-4]
  BASE: a Hugging Face model directory, or a GGUF file (transformers dequantizes it to f32; plinth then runs
  with --f32, the same exact math).
Needs torch, transformers, peft, gguf (tools only). Builds tools/llm_logits.c against build/libplinth.a.
Prints the max |plinth - PEFT| over every position's logits, how far the adapter moves them, and the base's own
max |plinth - transformers| (float summation order: the floor of what can be asked); exits 1 above --tol.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from check_hf_checkpoint import checkpoint_dir, plinth_logits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("adapter")
    ap.add_argument("base")
    ap.add_argument("--ids", default="1,17,42,7,99,3,250,12,5,64,31,2")
    ap.add_argument("--tol", type=float, default=1e-3)
    a = ap.parse_args()
    d = checkpoint_dir(a.adapter)
    if a.base.endswith(".gguf"):
        base = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(a.base)),
                                                    gguf_file=os.path.basename(a.base), dtype=torch.float32)
    else:
        base = AutoModelForCausalLM.from_pretrained(a.base, dtype=torch.float32)
    base.eval()
    ids = [int(x) % base.config.vocab_size for x in a.ids.split(",")]
    with torch.no_grad():
        plain = base(torch.tensor([ids])).logits[0].numpy()
        model = PeftModel.from_pretrained(base, d)
        model.eval()
        ref = model(torch.tensor([ids])).logits[0].numpy()
    prompt = json.load(open(os.path.join(d, "adapter_config.json")))["peft_type"] == "PROMPT_TUNING"
    if prompt:
        ref = ref[-len(ids):]  # PEFT's logits cover the virtual positions too
    mine = plinth_logits(a.base, ids, ["--f32", "--prompt-adapter" if prompt else "--lora", d])
    mine_base = plinth_logits(a.base, ids, ["--f32"])
    diff, moved = float(np.abs(mine - ref).max()), float(np.abs(ref - plain).max())
    base_diff = float(np.abs(mine_base - plain).max())
    print(f"{d} on {a.base}: {len(ids)} positions x {ref.shape[1]} logits: max |plinth - PEFT| = {diff:.3g} "
          f"(the adapter moves PEFT's logits by up to {moved:.3g}; the base alone: max |plinth - transformers| = {base_diff:.3g})")
    sys.exit(0 if diff <= a.tol else 1)


if __name__ == "__main__":
    main()
