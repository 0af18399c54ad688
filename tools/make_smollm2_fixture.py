#!/usr/bin/env python3
"""Make tests/golden/smollm2/greedy.json: transformers' greedy continuations of the real SmolLM2-135M-Instruct
GGUF (models/smollm2, from scripts/fetch-models.sh), the reference for tests/e2e/test_smollm2.py.

transformers loads the GGUF with `gguf_file=` and dequantizes every weight (Q4_1, Q8_0) to float32; the model
runs on the CPU in float32. For each of 5 prompts (three plain text, two rendered with the model's own chat
template) the file records the prompt's token ids, the 64 greedily generated ids (fewer if EOS came first:
EOS itself is not recorded), their decoded text (as a whole and token by token), and at each generated step
the margin between the best and second-best logit (a tiny margin marks a step where a float-order difference
could flip the choice).

Usage: python3 tools/make_smollm2_fixture.py   (from the repository root; deterministic, ~1 minute on 2 cores)
Needs torch, transformers, gguf (tools only; the test needs none of these).
"""
import json
import os

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(ROOT, "models", "smollm2")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = os.path.join(ROOT, "tests", "golden", "smollm2", "greedy.json")
N_NEW = 64

PLAIN = [
    "The capital of France is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Once upon a time, in a small village by the sea, there lived",
]
CHAT = [
    "What are three benefits of regular exercise?",
    "Explain in one paragraph why the sky is blue.",
]


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(MODEL_DIR, gguf_file=GGUF)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file=GGUF, dtype=torch.float32)
    model.eval()
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    prompts = [{"kind": "plain", "text": p} for p in PLAIN]
    for q in CHAT:
        text = tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
        prompts.append({"kind": "chat", "text": text, "user": q})
    cases = []
    for p in prompts:
        ids = tok(p["text"], add_special_tokens=True, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=N_NEW, do_sample=False,
                                 num_beams=1, repetition_penalty=1.0, temperature=None, top_p=None, top_k=None,
                                 output_logits=True, return_dict_in_generate=True, pad_token_id=tok.eos_token_id)
        gen = out.sequences[0, ids.shape[1]:].tolist()
        margins = []
        for step in out.logits:
            top = torch.topk(step[0].double(), 2).values
            margins.append(float(top[0] - top[1]))
        stopped = bool(gen) and gen[-1] in eos
        if stopped:
            gen, margins = gen[:-1], margins[:-1]
        case = dict(p)
        case.update({
            "prompt_ids": ids[0].tolist(),
            "generated_ids": gen,
            "stopped_at_eos": stopped,
            "generated_text": tok.decode(gen),
            # text decoded after each token (prefix decodes, so multi-token characters come out whole)
            "text_after": [tok.decode(gen[:i + 1]) for i in range(len(gen))],
            "top2_margin": [round(m, 6) for m in margins],
        })
        cases.append(case)
        print(f"{p['kind']}: {len(ids[0])} prompt tokens, {len(gen)} generated, min margin {min(margins):.4f}:"
              f" {case['generated_text'][:70]!r}")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"model": "models/smollm2/" + GGUF, "reference": "transformers (gguf_file=, dequantized to "
                   "float32), greedy", "max_new_tokens": N_NEW, "eos_token_ids": sorted(eos), "cases": cases},
                  f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
