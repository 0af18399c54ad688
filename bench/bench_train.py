#!/usr/bin/env python3
"""Training throughput (tokens/s) of `plinth train` beside PyTorch on the CPU: same GPT-2 shape, batch, sequence
length, optimizer (AdamW) and threads. The torch model is tools/make_gpt2_fixture.py's `GPT` (the one the C
test is held to), with torch's fused causal attention. Issue 2; figures go to bench/RESULTS.md.

Usage: python3 bench/bench_train.py [--plinth BIN] [--threads 1,2] [--configs tiny,10m] [--steps K] [--repeat R]
                                   [--record [--results FILE]]
  tiny  L=2 C=64  H=4 T=32  B=4 (the fixture's shape: too small to say much)
  10m   L=6 C=384 H=6 T=128 B=8, vocab 256 (~10.8M parameters)
plinth side: `plinth train -f TEXT --out TMP --layers L --dim C --heads H --ctx T --batch B --steps W+K -t N
--eval-every 0 --save-every 0`; its loss.csv times every step, and the figure is over the K steps after the W
warm-up steps (--warmup), as on the torch side. Its `done:` line (all W+K steps) is shown beside it.
The roof: bench/fma_peak.c (compiled here with cc) measures the CPU's f32 FMA peak with the same threads, once
per thread count, before its first runs; both sides' tokens/s become GFLOP/s of model arithmetic (flops_per_token) and a
share of that peak, beside the share that 1.5x torch (issue 2's goal) would take.
"""
import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

CONFIGS = {
    "tiny": dict(layers=2, dim=64, heads=4, ctx=32, batch=4),
    "10m": dict(layers=6, dim=384, heads=6, ctx=128, batch=8),
}
VOCAB = 256
DONE_RE = re.compile(r"^done: (\d+) steps in ([0-9.eE+-]+) s, ([0-9.eE+-]+) tokens/s\s*$")


def param_count(cfg, vocab=VOCAB):
    """GPT-2 with a tied head: wte + wpe + per layer (ln 4C, qkv 3C^2+3C, proj C^2+C, fc 4C^2+4C, proj 4C^2+C)
    + ln_f 2C."""
    C, L = cfg["dim"], cfg["layers"]
    return vocab * C + cfg["ctx"] * C + L * (12 * C * C + 13 * C) + 2 * C


def flops_per_token(cfg, vocab=VOCAB):
    """The arithmetic of one training step per token (forward + backward = 3x the forward's products, 2 FLOPs a
    multiply-add): the linear layers (qkv 3C^2, proj C^2, fc 4C^2, fc2 4C^2 per layer, the tied head V C) and
    causal attention's two products, counting only the unmasked scores ((T+1)/2 keys per query on average).
    Biases, norms, softmax, GELU and AdamW are left out: they are a few percent of it."""
    C, L, T = cfg["dim"], cfg["layers"], cfg["ctx"]
    return 6 * (L * 12 * C * C + vocab * C) + 6 * L * C * (T + 1)


def fma_peak(threads, workdir):
    """(ISA, GFLOP/s): the f32 FMA roof of `threads` threads (bench/fma_peak.c), or (None, None) without a C
    compiler or an AVX2 CPU."""
    exe = os.path.join(workdir, "fma_peak")
    try:
        if not os.path.exists(exe):
            subprocess.run(["cc", "-O2", "-pthread", "-o", exe, os.path.join(ROOT, "bench", "fma_peak.c")], check=True,
                           capture_output=True)
        out = subprocess.run([exe, str(threads)], capture_output=True, text=True, check=True).stdout.split()
        return out[3], float(out[4])
    except (OSError, subprocess.CalledProcessError, IndexError, ValueError):
        return None, None


def bench_torch(cfg, threads, steps, warmup, data):
    import torch
    from make_gpt2_fixture import GPT

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(VOCAB, cfg["ctx"], cfg["dim"], cfg["layers"], cfg["heads"], sdpa=True)
    n = sum(p.numel() for p in model.parameters())
    assert n == param_count(cfg), (n, param_count(cfg))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    B, T = cfg["batch"], cfg["ctx"]
    src = torch.frombuffer(bytearray(data), dtype=torch.uint8).long() if data else torch.randint(0, VOCAB, (1 << 20,))
    gen = torch.Generator().manual_seed(0)

    def step():
        ix = torch.randint(0, len(src) - T - 1, (B,), generator=gen)
        x = torch.stack([src[i:i + T] for i in ix])
        y = torch.stack([src[i + 1:i + T + 1] for i in ix])
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t0
    return B * T * steps / dt


def bench_plinth(binary, cfg, threads, steps, warmup, text):
    """tokens/s over the last `steps` of warmup + steps training steps, from the per-step tokens_per_s column of
    plinth's loss.csv (each step's time = B*T / tokens_per_s: batch, forward, backward, AdamW), so warm-up is
    left out exactly as on the torch side; also plinth's own `done:` figure (every step, the first ones and the
    final checkpoint included). (None, None, reason) when plinth cannot run."""
    if not binary or not os.path.exists(binary):
        return None, None, f"no plinth binary at {binary!r}"
    if not text:
        return None, None, "no training text (run scripts/fetch-data.sh)"
    with tempfile.TemporaryDirectory() as out:
        cmd = [binary, "train", "-f", text, "--out", out, "--layers", str(cfg["layers"]), "--dim", str(cfg["dim"]),
               "--heads", str(cfg["heads"]), "--ctx", str(cfg["ctx"]), "--batch", str(cfg["batch"]),
               "--steps", str(warmup + steps), "-t", str(threads), "--eval-every", "0", "--save-every", "0"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        except subprocess.TimeoutExpired:
            return None, None, "plinth train timed out"
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        done = [m for m in map(DONE_RE.match, lines) if m]  # the last `done:` line (plinth may print more after it)
        m = done[-1] if done else None
        if r.returncode != 0 or not m:
            why = lines[-1] if lines else f"exit {r.returncode}, no output"
            return None, None, f"plinth train not usable (exit {r.returncode}): {why[:200]}"
        with open(os.path.join(out, "loss.csv")) as f:
            tps = [float(row.split(",")[4]) for row in f.read().splitlines()[1:] if row.strip()]
    tok = cfg["batch"] * cfg["ctx"]
    timed = tps[warmup:]
    if len(timed) != steps or min(timed) <= 0:
        return None, None, f"plinth loss.csv has {len(tps)} steps, expected {warmup + steps}"
    return tok * steps / sum(tok / v for v in timed), float(m.group(3)), None


def machine():
    name = platform.processor() or "?"
    try:
        for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if l.startswith("Model name:"):
                name = l.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical CPUs"


def record(path, rows, notes, argv):
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("# Benchmark results\n\nEvery figure here was measured by the command shown beside it.\n")
    import torch
    lines = ["", "## Training throughput (issue 2)", "",
             f"Command: `python3 bench/bench_train.py {' '.join(argv)}`  ",
             f"Machine: {machine()}; load average before the run {LOAD0:.2f}. Date: "
             f"{datetime.date.today().isoformat()}. torch {torch.__version__}, float32.  ",
             "torch: tools/make_gpt2_fixture.py's GPT with fused causal attention (SDPA), AdamW(lr 1e-3, betas "
             "0.9/0.95, wd 0.1), byte tokens from data/train/austen.txt, warm-up steps not timed; "
             "tokens/s = B*T*K/time. plinth: `plinth train --steps WARMUP+K`, its K steps after the same warm-up, "
             "timed per step in its loss.csv (batch, forward, backward, AdamW); the last column is plinth's own `done:` "
             "figure over all WARMUP+K steps (the first step and the final checkpoint included). "
             "Each figure is the median of --repeat runs; torch and plinth runs alternate. plinth/torch is the "
             "ratio of the two medians; paired is the median of each run's ratio to the torch run just before it "
             "(a slow stretch of the shared host hits both runs of a pair), with the lowest and highest. "
             "FMA peak: bench/fma_peak.c with the same threads, before that thread count's first runs; each side's share of it is its tokens/s "
             "times the model's FLOPs a token (flops_per_token: linear layers and causal attention's products, "
             "forward and backward); the last column is the share that 1.5x torch's tokens/s would take.", "",
             "| config | params | threads | plinth tok/s | torch tok/s | plinth/torch | paired (min-max) | plinth `done:` tok/s "
             "| FMA peak GFLOP/s | plinth % of peak | torch % of peak | 1.5x torch, % of peak |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [row_md(r) for r in rows]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n")
    print(f"appended to {path}")


def fmt(v):
    return "pending" if v is None else f"{v:,.0f}"


def paired(r):
    pr = r.get("pairs") or []
    return "-" if not pr else f"{statistics.median(pr):.2f} ({min(pr):.2f}-{max(pr):.2f})"


def share(r, tok_s):
    """tok_s as a percentage of the row's FMA peak ("-" where either is unknown)"""
    if tok_s is None or not r.get("peak"):
        return "-"
    return f"{100 * tok_s * r['flops'] / 1e9 / r['peak']:.0f}%"


def row_md(r):
    ratio = "-" if r["plinth"] is None else f"{r['plinth'] / r['torch']:.2f}"
    peak = "-" if not r.get("peak") else f"{r['peak']:.1f} ({r['isa']})"
    return (f"| {r['name']} | {r['params']:,} | {r['threads']} | {fmt(r['plinth'])} | {fmt(r['torch'])} | {ratio} | "
            f"{paired(r)} | {fmt(r.get('plinth_all'))} | {peak} | {share(r, r['plinth'])} | {share(r, r['torch'])} | "
            f"{share(r, 1.5 * r['torch'])} |")


LOAD0 = os.getloadavg()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plinth", default=os.environ.get("PLINTH_BIN", os.path.join(ROOT, "build", "plinth")))
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--configs", default="tiny,10m")
    ap.add_argument("--steps", type=int, default=0, help="timed steps (default: 50 tiny, 5 10m)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--text", default=os.path.join(ROOT, "data", "train", "austen.txt"))
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    ap.add_argument("--record", action="store_true", help="append the table to --results")
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    args = ap.parse_args()

    text = args.text if os.path.exists(args.text) else None
    data = open(text, "rb").read() if text else None
    if not text:
        print(f"note: {args.text} missing (scripts/fetch-data.sh); torch uses random tokens", file=sys.stderr)
    rows, notes = [], []
    print(f"{'config':8} {'params':>12} {'threads':>7} {'plinth tok/s':>13} {'torch tok/s':>12} {'ratio':>6} "
          f"{'paired (min-max)':>17} {'plinth done:':>13} {'peak GFLOP/s':>13} {'plinth%':>8} {'torch%':>7} "
          f"{'1.5x torch%':>12}")
    peaks = {}
    workdir = tempfile.mkdtemp(prefix="bench_train_")
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        steps = args.steps or (50 if name == "tiny" else 5)
        for n in (int(t) for t in args.threads.split(",")):
            # turns alternate (torch, plinth, torch, plinth, ...) so that a noisy minute on a shared machine
            # falls on both sides alike
            tts, pts, dts, pairs, why = [], [], [], [], None
            if n not in peaks:
                peaks[n] = fma_peak(n, workdir)
            for _ in range(args.repeat):
                tts.append(bench_torch(cfg, n, steps, args.warmup, data))
                if why is None:
                    v, d, why = bench_plinth(args.plinth, cfg, n, steps, args.warmup, text)
                    if v is not None:
                        pts.append(v)
                        dts.append(d)
                        pairs.append(v / tts[-1])
            tt = statistics.median(tts)
            pt = statistics.median(pts) if pts and not why else None
            pd = statistics.median(dts) if dts and not why else None
            if why and why not in notes:
                notes.append(why)
            r = dict(name=f"{name} (L{cfg['layers']} C{cfg['dim']} H{cfg['heads']} T{cfg['ctx']} B{cfg['batch']}, "
                          f"K={steps})", params=param_count(cfg), threads=n, plinth=pt, torch=tt, plinth_all=pd,
                     pairs=pairs if pt is not None else [], isa=peaks[n][0], peak=peaks[n][1],
                     flops=flops_per_token(cfg))
            rows.append(r)
            ratio = "-" if pt is None else f"{pt / tt:.2f}"
            peak = "-" if not r["peak"] else f"{r['peak']:.1f}"
            print(f"{name:8} {r['params']:>12,} {n:>7} {fmt(pt):>13} {fmt(tt):>12} {ratio:>6} {paired(r):>17} "
                  f"{fmt(pd):>13} {peak:>13} {share(r, pt):>8} {share(r, tt):>7} {share(r, 1.5 * tt):>12}", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    for n in notes:
        print("note: " + n, file=sys.stderr)
    if args.record:
        record(args.results, rows, notes, sys.argv[1:])


if __name__ == "__main__":
    main()
