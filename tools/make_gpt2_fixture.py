#!/usr/bin/env python3
"""Make tests/golden/gpt2/gpt2_tiny.safetensors: the reference state `plinth train`'s GPT-2 is held to.

A tiny GPT-2 written directly in torch (no transformers), float32 on CPU, deterministic: its parameters, one
batch (x, y), the logits, the loss, every parameter's gradient, then 10 AdamW steps (losses and final params).
The model class `GPT` is importable (bench/bench_train.py times the same model); see tests/golden/gpt2/README.md.

Usage: python3 tools/make_gpt2_fixture.py [OUT.safetensors]   (from anywhere; needs torch, safetensors, numpy)
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "gpt2", "gpt2_tiny.safetensors")

# The fixture's hyper-parameters (also written into the file's metadata).
CFG = dict(vocab=256, ctx=32, dim=64, layers=2, heads=4)
BATCH, SEQ, STEPS = 4, 32, 10
OPT = dict(lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)


class Attention(nn.Module):
    def __init__(self, dim, heads, sdpa=False):
        super().__init__()
        self.heads, self.sdpa = heads, sdpa
        self.c_attn = nn.Linear(dim, 3 * dim)  # weight (3C, C): rows [0,C) q, [C,2C) k, [2C,3C) v
        self.c_proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, T, C = x.shape
        H, D = self.heads, C // self.heads
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
        if self.sdpa:  # the same math through torch's fused kernel (bench only)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(D)  # (B, H, T, T)
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = att @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.c_fc = nn.Linear(dim, 4 * dim)
        self.c_proj = nn.Linear(4 * dim, dim)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, dim, heads, sdpa=False):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)  # eps 1e-5
        self.attn = Attention(dim, heads, sdpa)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """GPT-2 without dropout; the output head is tied to wte (logits = x @ wte.weight.T)."""

    def __init__(self, vocab, ctx, dim, layers, heads, sdpa=False):
        super().__init__()
        self.vocab = vocab
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(ctx, dim)
        self.h = nn.ModuleList(Block(dim, heads, sdpa) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)

    def init_fixture(self):
        """Not GPT-2's 0.02: std 0.1 weights, LN weights 1+0.1*randn, biases 0.1*randn, so every gradient is
        well away from zero and a wrong one cannot hide (call after torch.manual_seed)."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith(".bias"):
                    p.copy_(0.1 * torch.randn_like(p))
                elif ".ln_" in name or name.startswith("ln_f"):
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                else:
                    p.copy_(0.1 * torch.randn_like(p))
        return self

    def forward(self, idx, targets=None):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T  # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, self.vocab), targets.reshape(-1).long())
        return logits, loss


def save_safetensors(path, tensors, meta):
    """safetensors written by hand so the bytes are reproducible (the package orders its header by a hash map):
    u64 LE header size, JSON header (keys sorted, padded with spaces to 8 bytes), then the data in that order."""
    import json
    import struct
    dt = {"float32": "F32", "int32": "I32"}
    header, off = {"__metadata__": dict(sorted(meta.items()))}, 0
    for k in sorted(tensors):
        v = tensors[k]
        header[k] = {"dtype": dt[str(v.dtype)], "shape": list(v.shape), "data_offsets": [off, off + v.nbytes]}
        off += v.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for k in sorted(tensors):
            f.write(tensors[k].astype(tensors[k].dtype.newbyteorder("<"), copy=False).tobytes())


def make(out_path=OUT):
    import numpy as np

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    model = GPT(**CFG).init_fixture()
    names = [n for n, _ in model.named_parameters()]

    gen = torch.Generator().manual_seed(1234)
    seq = torch.randint(0, CFG["vocab"], (BATCH, SEQ + 1), generator=gen)
    x, y = seq[:, :-1].contiguous(), seq[:, 1:].contiguous()  # next-token targets

    t = {}  # name -> numpy array
    for n, p in model.named_parameters():
        t[n] = p.detach().numpy().copy()
    t["x"] = x.numpy().astype(np.int32)
    t["y"] = y.numpy().astype(np.int32)

    opt = torch.optim.AdamW(model.parameters(), **OPT)  # one group: weight decay on every parameter
    losses = []
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        logits, loss = model(x, y)
        losses.append(loss.item())
        loss.backward()
        if step == 0:
            t["logits"] = logits.detach().numpy().astype(np.float32).copy()
            t["loss"] = np.array([loss.item()], dtype=np.float32)
            for n, p in model.named_parameters():
                t["grad." + n] = p.grad.detach().numpy().copy()
        opt.step()
    t["losses"] = np.array(losses, dtype=np.float32)
    for n, p in model.named_parameters():
        t["final." + n] = p.detach().numpy().copy()

    for k, v in t.items():
        assert v.dtype in (np.float32, np.int32), (k, v.dtype)
        t[k] = np.ascontiguousarray(v)
    meta = {k: str(v) for k, v in CFG.items()}
    meta.update(batch=str(BATCH), seq=str(SEQ), steps=str(STEPS), lr="1e-3", beta1="0.9", beta2="0.95",
                eps="1e-8", weight_decay="0.1")
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    save_safetensors(out_path, t, meta)

    nparams = sum(t[n].size for n in names)
    print(f"wrote {out_path}: {len(t)} tensors, {nparams} parameters, {os.path.getsize(out_path)} bytes")
    print(f"loss {t['loss'][0]:.6f}")
    print("losses " + " ".join(f"{v:.6f}" for v in losses))


if __name__ == "__main__":
    make(sys.argv[1] if len(sys.argv) > 1 else OUT)
