#!/usr/bin/env python3
"""Load a checkpoint written by `plinth train` / `plinth finetune` (a training directory or a checkpoint directory)
with transformers' AutoModelForCausalLM, as is, and compare its logits with plinth's on the same token ids.

Usage: python3 tools/check_hf_checkpoint.py DIR [--ids 1,2,3,...] [--tol 1e-4]
Needs torch and transformers (tools only). Builds tools/llm_logits.c against build/libplinth.a.
Prints the architecture, the max |plinth - transformers| over every position's logits, and exits 1 above --tol.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def checkpoint_dir(path):
    state = os.path.join(path, "state.json")
    if os.path.exists(state):
        return os.path.join(path, json.load(open(state))["checkpoint"])
    return path


def plinth_logits(model_dir, ids, extra=()):
    exe = os.path.join(ROOT, "build", "llm_logits")
    libs = subprocess.run(["pkg-config", "--libs", "libpcre2-8", "libcjson", "libutf8proc"], capture_output=True,
                          text=True, check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "tools", "llm_logits.c"), "-I" + os.path.join(ROOT, "src"),
                    "-I" + os.path.join(ROOT, "include"), os.path.join(ROOT, "build", "libplinth.a"), "-lopenblas", *libs,
                    "-lpthread", "-lm"], check=True)
    r = subprocess.run([exe, *extra, model_dir, *map(str, ids)], capture_output=True, check=True)
    vocab = int(r.stderr.decode().split("n_vocab")[1].split()[0])
    return np.frombuffer(r.stdout, dtype=np.float32).reshape(len(ids), vocab)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--ids", default="1,17,42,7,99,3,250,12,5,64,31,2")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    d = checkpoint_dir(a.dir)
    ids = [int(x) for x in a.ids.split(",")]
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
    model.eval()
    ids = [i % model.config.vocab_size for i in ids]
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0].numpy()
    mine = plinth_logits(d, ids)
    diff = float(np.abs(mine - ref).max())
    print(f"{d}: {type(model).__name__} ({model.config.model_type}), {sum(p.numel() for p in model.parameters())} "
          f"parameters; {len(ids)} positions x {ref.shape[1]} logits: max |plinth - transformers| = {diff:.3g}")
    sys.exit(0 if diff <= a.tol else 1)


if __name__ == "__main__":
    main()
