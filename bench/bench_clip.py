#!/usr/bin/env python3
"""CLIP / SigLIP benchmarks beside PyTorch and transformers, same machine, same threads (figures go to
bench/RESULTS.md with the command and the CPU):

  loss: peak memory and time of one forward + backward of the loss at batch sizes 256 .. 16384 (D = 256), plinth's
        blocked op (bench/clip_bench.c, ops/contrastive.c: the B x B logits never held) against the plain PyTorch
        computation that materializes them (as transformers' CLIPModel / SiglipModel do). Each run is a fresh process,
        its peak RSS read from getrusage; PyTorch's baseline RSS (the library itself) is reported too.
  vit:  image embeddings/s of a ViT-B/32-shaped CLIP vision tower (transformers' CLIPConfig defaults, random
        weights, made once in $TMPDIR/plinth_bench_vitb32) in plinth and in transformers (get_image_features,
        torch.no_grad), --images images in batches of --batch after two untimed batches, each run a fresh process,
        the two alternating (order swapped every repeat); medians of the rates and of the paired ratios.

Usage: python3 bench/bench_clip.py [loss|vit|all] [--threads 2|1,2] [--images 32] [--repeats 5] [--max-torch-b 8192]
(needs a built build/; `vit --threads 1,2 --repeats 5` takes about 4 minutes on a quiet 2-core host)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")

TORCH_LOSS = r"""
import resource, sys, time, torch
kind, B, D, nt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(nt)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
g = torch.Generator().manual_seed(1)
img = torch.nn.functional.normalize(torch.rand(B, D, generator=g) - 0.5, dim=-1).requires_grad_()
txt = torch.nn.functional.normalize(torch.rand(B, D, generator=g) - 0.5, dim=-1).requires_grad_()
t = torch.tensor(2.3, requires_grad=True); b = torch.tensor(-10.0, requires_grad=True)
t0 = time.perf_counter()
logits = img @ txt.T * t.exp()
if kind == "clip":
    lab = torch.arange(B)
    loss = (torch.nn.functional.cross_entropy(logits, lab) + torch.nn.functional.cross_entropy(logits.T, lab)) / 2
else:
    z = 2 * torch.eye(B) - 1
    loss = -torch.nn.functional.logsigmoid(z * (logits + b)).sum() / B
loss.backward()
dt = time.perf_counter() - t0
print('{"loss": "%s", "B": %d, "D": %d, "seconds": %.4f, "peak_mib": %.1f, "base_mib": %.1f, "value": %.6f}' %
      (kind, B, D, dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, base / 1024, loss.item()))
"""

TORCH_VIT = r"""
import sys, time, torch
from transformers import CLIPModel
d, n, batch, nt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(nt)
m = CLIPModel.from_pretrained(d).eval()
S = m.config.vision_config.image_size
px = torch.rand(batch, 3, S, S, generator=torch.Generator().manual_seed(2)) * 4 - 2
with torch.no_grad():
    for _ in range(2):  # warm-up, as plinth's
        m.get_image_features(pixel_values=px)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(0, n, batch):
        m.get_image_features(pixel_values=px)
dt, dc = time.perf_counter() - t0, time.process_time() - c0
print('{"impl": "transformers", "images": %d, "batch": %d, "threads": %d, "seconds": %.3f, "images_per_s": %.2f, '
      '"cpu_seconds": %.3f, "images_per_cpu_s": %.2f}' % (n, batch, nt, dt, n / dt, dc, n / dc))
"""


def build_harness():
    exe = os.path.join(BUILD, "clip_bench")
    libs = subprocess.run(["pkg-config", "--libs", "libpcre2-8", "libcjson", "libutf8proc", "sqlite3", "zlib"],
                          capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "bench", "clip_bench.c"), "-I" + os.path.join(ROOT, "src"),
                    "-I" + os.path.join(ROOT, "include"), "-I" + os.path.join(ROOT, "bench"), os.path.join(BUILD, "libplinth.a"),
                    "-lopenblas", *libs, "-lpthread", "-lm"], check=True)
    return exe


def run_json(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        return {"error": (out.stderr or "killed")[-200:]}
    return json.loads(out.stdout.strip().split("\n")[-1])


def bench_loss(exe, a):
    print("| loss | B | plinth s | plinth peak MiB | PyTorch s | PyTorch peak MiB (of which torch itself) |")
    print("|---|---|---|---|---|---|")
    for kind in ("clip", "siglip"):
        for B in (256, 1024, 4096, 16384):
            p = run_json([exe, "loss", kind, str(B), "256", str(a.threads)])
            t = run_json([sys.executable, "-c", TORCH_LOSS, kind, str(B), "256", str(a.threads)]) if B <= a.max_torch_b else {}
            tt = f"{t['seconds']:.3f} | {t['peak_mib']:.0f} ({t['base_mib']:.0f})" if "seconds" in t else \
                "not run | " + t.get("error", "above --max-torch-b")
            print(f"| {kind} | {B} | {p['seconds']:.3f} | {p['peak_mib']:.0f} | {tt} |", flush=True)


def bench_vit(exe, a):
    from transformers import CLIPConfig, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    import torch
    d = os.path.join(tempfile.gettempdir(), "plinth_bench_vitb32")
    if not os.path.exists(os.path.join(d, "model.safetensors")):  # made once, reused by later runs
        torch.manual_seed(0)
        CLIPModel(CLIPConfig()).save_pretrained(d)  # the defaults: ViT-B/32, 224 x 224, 512-d text tower
        CLIPImageProcessorPil().save_pretrained(d)
    for nt in a.threads_list:
        runs = {"plinth": [], "transformers": []}
        cpu = {"plinth": [], "transformers": []}
        ratios, cpu_ratios = [], []
        for r in range(a.repeats):  # alternating, the order swapped every repeat: a slow stretch hits both alike
            order = ["plinth", "transformers"] if r % 2 == 0 else ["transformers", "plinth"]
            for impl in order:
                cmd = [exe, "vit", d, str(a.images), str(a.batch), str(nt)] if impl == "plinth" else \
                    [sys.executable, "-c", TORCH_VIT, d, str(a.images), str(a.batch), str(nt)]
                res = run_json(cmd)
                if "error" in res:
                    sys.exit(f"{impl} failed: {res['error']}")
                runs[impl].append(res["images_per_s"])
                cpu[impl].append(res["images_per_cpu_s"])
            ratios.append(runs["plinth"][-1] / runs["transformers"][-1])
            cpu_ratios.append(cpu["plinth"][-1] / cpu["transformers"][-1])
            print(f"  {nt} threads, repeat {r + 1}: plinth {runs['plinth'][-1]:.2f} images/s ({cpu['plinth'][-1]:.2f} per CPU s), "
                  f"transformers {runs['transformers'][-1]:.2f} images/s ({cpu['transformers'][-1]:.2f} per CPU s): "
                  f"{ratios[-1]:.2f}x wall, {cpu_ratios[-1]:.2f}x CPU", flush=True)
        p, t = statistics.median(runs["plinth"]), statistics.median(runs["transformers"])
        print(f"ViT-B/32 image embeddings, {nt} threads, batches of {a.batch}, median of {a.repeats}: plinth {p:.2f}/s, "
              f"transformers {t:.2f}/s, ratio of medians {p / t:.2f}x, median of the paired ratios "
              f"{statistics.median(ratios):.2f}x (wall), {statistics.median(cpu_ratios):.2f}x (per CPU second)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", default="all", choices=["loss", "vit", "all"])
    ap.add_argument("--threads", default="2", help="threads, or a comma-separated list for vit (e.g. 1,2)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-torch-b", type=int, default=8192)
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    a.threads_list = [int(t) for t in a.threads.split(",")]
    a.threads = a.threads_list[0]
    exe = build_harness()
    print(open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(" \t:"), f"- threads {a.threads_list}")
    if a.what in ("loss", "all"):
        bench_loss(exe, a)
    if a.what in ("vit", "all"):
        bench_vit(exe, a)


if __name__ == "__main__":
    main()
