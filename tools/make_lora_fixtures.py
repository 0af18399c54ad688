#!/usr/bin/env python3
"""Make the LoRA and prompt-tuning fixtures under tests/golden/lora/: the reference side of adapter parity (issue 18).

The base is the tiny random Llama of tests/golden/train/llama (tools/make_grad_fixtures.py). For two adapters
(targets q,v and every linear layer; rank 4, alpha 8, no dropout) PEFT wraps it; lora_B, which PEFT starts at
zero, is set to random values so that every gradient is non-trivial; the adapter is saved with
`save_pretrained` (adapter_config.json + adapter_model.safetensors, PEFT's names); then on a fixed batch the
logits, the loss `model(input_ids, labels=labels).loss` and the gradient of every LoRA weight after
`.backward()` (grads.safetensors, the adapter's names; the logits as "__logits__"), and expected.json (batch,
loss). The same for prompt tuning (llama_prompt: 5 virtual tokens, PEFT's random init): the adapter, the logits
over the virtual and real positions, the loss and the gradient of the virtual-token embeddings.
tests/unit/test_lora.c holds plinth to them.

Usage: python3 tools/make_lora_fixtures.py   (from the repository root; deterministic)
Needs torch, transformers, peft, safetensors (tools only; the tests need none of these).
"""
import json
import os

import peft
import torch
from peft import LoraConfig, PromptTuningConfig, PromptTuningInit, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(ROOT, "tests", "golden", "train", "llama")
OUT = os.path.join(ROOT, "tests", "golden", "lora")
B, T = 2, 10
ADAPTERS = {
    "llama_qv": ["q_proj", "v_proj"],
    "llama_all": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


def make(name, targets, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32, attn_implementation="eager")
    cfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=targets, bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    model.train()
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d)
    cfg_path = os.path.join(d, "adapter_config.json")
    with open(cfg_path) as f:  # the base's path as this repository names it, not this machine's
        c = json.load(f)
    c["base_model_name_or_path"] = "tests/golden/train/llama"
    c["target_modules"] = sorted(c["target_modules"])  # a set in PEFT: its order varies from run to run
    with open(cfg_path, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
    readme = os.path.join(d, "README.md")
    if os.path.exists(readme):
        os.remove(readme)

    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (B, T), generator=gen)
    labels = ids.clone()
    labels[0, :3] = -100
    out = model(input_ids=ids, labels=labels)
    out.loss.backward()
    grads = {}
    for n, p in model.named_parameters():
        if p.requires_grad:  # PEFT's saved names drop the adapter name ("default")
            grads[n.replace(".default", "")] = p.grad.detach().clone().contiguous()
    grads["__logits__"] = out.logits.detach().contiguous()
    save_file(grads, os.path.join(d, "grads.safetensors"))
    exp = {"input_ids": ids.tolist(), "labels": labels.tolist(), "loss": out.loss.item(), "targets": targets,
           "torch": torch.__version__, "peft": peft.__version__}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)
    print(f"{name}: loss {out.loss.item():.6f}, {len(grads) - 1} LoRA gradients")


def make_prompt(name, n_virtual, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32, attn_implementation="eager")
    cfg = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n_virtual, prompt_tuning_init=PromptTuningInit.RANDOM)
    model = get_peft_model(base, cfg)
    model.train()
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d)
    cfg_path = os.path.join(d, "adapter_config.json")
    with open(cfg_path) as f:
        c = json.load(f)
    c["base_model_name_or_path"] = "tests/golden/train/llama"
    with open(cfg_path, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
    readme = os.path.join(d, "README.md")
    if os.path.exists(readme):
        os.remove(readme)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (B, T), generator=gen)
    labels = ids.clone()
    labels[:, 0] = -100  # the first token is prompt, never a target (as in fine-tuning data)
    labels[1, :3] = -100
    out = model(input_ids=ids, labels=labels)
    out.loss.backward()
    emb = model.prompt_encoder["default"].embedding.weight
    grads = {"prompt_embeddings": emb.grad.detach().clone().contiguous(), "__logits__": out.logits.detach().contiguous()}
    save_file(grads, os.path.join(d, "grads.safetensors"))
    exp = {"input_ids": ids.tolist(), "labels": labels.tolist(), "loss": out.loss.item(), "num_virtual_tokens": n_virtual,
           "torch": torch.__version__, "peft": peft.__version__}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)
    print(f"{name}: loss {out.loss.item():.6f}, logits {tuple(out.logits.shape)}")


def main():
    for i, (name, targets) in enumerate(ADAPTERS.items()):
        make(name, targets, 2000 + i)
    make_prompt("llama_prompt", 5, 2100)


if __name__ == "__main__":
    main()
