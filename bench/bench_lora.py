#!/usr/bin/env python3
"""LoRA training speed, plinth beside PyTorch + PEFT on the CPU (issue 18): the same model in f32 (SmolLM2-135M-
Instruct, made into a Hugging Face f32 directory from the fetched GGUF by transformers, once), LoRA rank 8 (alpha 16)
on q,k,v,o,gate,up,down, random token batches of B x T, AdamW, the same threads; median step time over STEPS steps
after one warm-up each. plinth runs the f32 base as `plinth finetune` does by default there (--activations auto: one
graph, every activation kept, as PyTorch keeps them) and also a layer at a time (recomputing each layer's forward:
what auto picks over a quantized base); then over the Q8_0 GGUF itself (QLoRA-style, a layer at a time).

Usage: python3 bench/bench_lora.py [--batch 4] [--seq 256] [--steps 5] [--threads 2]
Needs torch, transformers, peft, gguf (bench only); a Release build (build/libplinth.a).
"""
import argparse
import os
import platform
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GGUF = os.path.join(ROOT, "models", "smollm2", "SmolLM2-135M-Instruct.Q8_0.gguf")
F32 = os.path.join(ROOT, "models", "smollm2-f32-hf")


def make_f32():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    if os.path.exists(os.path.join(F32, "config.json")):
        return
    d, f = os.path.dirname(GGUF), os.path.basename(GGUF)
    m = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)  # dequantized; not saveable as such
    plain = AutoModelForCausalLM.from_config(m.config, dtype=torch.float32)
    plain.load_state_dict(m.state_dict())
    plain.save_pretrained(F32, safe_serialization=True)
    AutoTokenizer.from_pretrained(d, gguf_file=f).save_pretrained(F32)


def plinth(model, a, one_graph):
    exe = os.path.join(ROOT, "build", "lora_step")
    libs = subprocess.run(["pkg-config", "--libs", "libpcre2-8", "libcjson", "libutf8proc"], capture_output=True, text=True,
                          check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "bench", "lora_step.c"), "-I" + os.path.join(ROOT, "src"),
                    "-I" + os.path.join(ROOT, "include"), "-I" + os.path.join(ROOT, "bench"),
                    os.path.join(ROOT, "build", "libplinth.a"), "-lopenblas", *libs, "-lpthread", "-lm"], check=True)
    r = subprocess.run([exe, model, "8", str(a.batch), str(a.seq), str(a.steps), str(a.threads), str(int(one_graph))], capture_output=True,
                       text=True, check=True)
    print(r.stdout.strip())
    return float(r.stdout.split("s, ")[-1].split(" tokens/s")[0])


def torch_peft(a):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(a.threads)
    model = AutoModelForCausalLM.from_pretrained(F32, dtype=torch.float32, attn_implementation="sdpa")
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    g = torch.Generator().manual_seed(7)
    times = []
    for k in range(a.steps + 1):
        ids = torch.randint(0, model.config.vocab_size, (a.batch, a.seq), generator=g)
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if k:
            times.append(time.perf_counter() - t0)
    step = sorted(times)[len(times) // 2]
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"PyTorch {torch.__version__} + PEFT: same model f32, {n} LoRA parameters, batch {a.batch} x {a.seq}, "
          f"{a.threads} threads: median step {step:.3f} s, {a.batch * a.seq / step:.0f} tokens/s")
    return a.batch * a.seq / step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    cpu = [ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")][0]
    print(f"host: {cpu}, {os.cpu_count()} CPUs, {platform.machine()}; load average {os.getloadavg()[0]:.2f}")
    make_f32()
    p = plinth(F32, a, True)
    t = torch_peft(a)
    pl = plinth(F32, a, False)
    q = plinth(GGUF, a, False)
    print(f"plinth / PyTorch+PEFT (f32 base): {p / t:.2f}x (finetune's default there: one graph), {pl / t:.2f}x a layer at "
          f"a time; plinth over the Q8_0 GGUF (a layer at a time): {q:.0f} tokens/s")


if __name__ == "__main__":
    main()
