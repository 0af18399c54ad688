#!/usr/bin/env python3
"""Make the training fixtures under tests/golden/train/: the reference side of gradient parity (issue 15).

For each architecture plinth trains (llama, qwen2, gemma3, gpt2): a tiny random-weight model made with
transformers (fixed seed, every weight random, norms around 1), saved as a Hugging Face directory
(config.json + model.safetensors, f32); a fixed batch (input_ids, labels with -100 on a prompt part); the loss
`model(input_ids, labels=labels).loss`, the logits and the gradient of every weight after `.backward()`
(grads.safetensors, HF names; the logits as "__logits__"); and the losses of ten torch.optim.AdamW steps of
full fine-tuning on that batch (expected.json). tests/unit/test_llm_grad.c holds plinth to them.

Usage: python3 tools/make_grad_fixtures.py   (from the repository root; deterministic)
Needs torch, transformers, safetensors (tools only; the tests need none of these).
"""
import json
import os

import torch
from safetensors.torch import save_file
from transformers import (AutoModelForCausalLM, Gemma3TextConfig, GPT2Config, LlamaConfig, Qwen2Config)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "train")
V, C, F, L, H, HKV, MAXPOS = 96, 32, 64, 2, 4, 2, 64
B, T = 2, 12
ADAMW = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01, "steps": 10}


def configs():
    common = dict(vocab_size=V, hidden_size=C, intermediate_size=F, num_hidden_layers=L, num_attention_heads=H,
                  num_key_value_heads=HKV, max_position_embeddings=MAXPOS)
    return {
        "llama": LlamaConfig(**common, rms_norm_eps=1e-5, tie_word_embeddings=False),
        "qwen2": Qwen2Config(**common, rms_norm_eps=1e-6, tie_word_embeddings=True),
        "gemma3": Gemma3TextConfig(**common, head_dim=8, sliding_window=4, query_pre_attn_scalar=8,
                                   layer_types=["sliding_attention", "full_attention"]),
        "gpt2": GPT2Config(vocab_size=V, n_embd=C, n_layer=L, n_head=H, n_positions=MAXPOS, n_inner=F,
                           activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0),
    }


def randomize(model, gen):
    """Every weight random: matrices N(0, 0.08), biases N(0, 0.02), norm weights 1 + N(0, 0.1) (Gemma's
    stored w is the offset from 1, so N(0, 0.1) there)."""
    gemma = model.config.model_type.startswith("gemma")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "ln_" in name:
                if name.endswith(".bias"):
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
                else:
                    p.copy_((0.0 if gemma else 1.0) + torch.randn(p.shape, generator=gen) * 0.1)
            elif name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.08)


def make(arch, cfg, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    cfg._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    randomize(model, gen)
    model.train()  # dropout is 0 everywhere: train() only matters for what a trainer would set
    d = os.path.join(OUT, arch)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    for extra in ("generation_config.json",):
        p = os.path.join(d, extra)
        if os.path.exists(p):
            os.remove(p)

    ids = torch.randint(0, V, (B, T), generator=gen)
    labels = ids.clone()
    labels[1, :4] = -100  # a prompt whose tokens carry no loss
    out = model(input_ids=ids, labels=labels)
    out.loss.backward()
    grads = {n: p.grad.detach().clone().contiguous() for n, p in model.named_parameters()}
    grads["__logits__"] = out.logits.detach().contiguous()
    save_file(grads, os.path.join(d, "grads.safetensors"))

    opt = torch.optim.AdamW(model.parameters(), lr=ADAMW["lr"], betas=(ADAMW["beta1"], ADAMW["beta2"]),
                            eps=ADAMW["eps"], weight_decay=ADAMW["weight_decay"])
    losses = []
    for _ in range(ADAMW["steps"]):
        opt.zero_grad()
        loss = model(input_ids=ids, labels=labels).loss
        losses.append(loss.item())
        loss.backward()
        opt.step()
    exp = {"arch": arch, "input_ids": ids.tolist(), "labels": labels.tolist(), "loss": out.loss.item(),
           "adamw": dict(ADAMW, losses=losses), "torch": torch.__version__}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)
    print(f"{arch}: loss {out.loss.item():.6f}, {len(grads) - 1} gradients, AdamW losses {losses[0]:.5f} .. {losses[-1]:.5f}")


def main():
    for i, (arch, cfg) in enumerate(configs().items()):
        make(arch, cfg, 1000 + i)


if __name__ == "__main__":
    main()
