"""The roof that bench/bench_train.py sets beside its tokens/s (issue 2): the model arithmetic it counts a token,
checked against a count made here product by product, and bench/fma_peak.c, which must build without -march
flags and report in the form the script parses. No timing is compared with anything."""
import importlib.util
import os
import re
import subprocess

import pytest

from helpers import ROOT

spec = importlib.util.spec_from_file_location("bench_train", os.path.join(ROOT, "bench", "bench_train.py"))
bench_train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_train)


def step_flops(layers, dim, ctx, batch, vocab):
    """One training step's multiply-adds x 2, summed over every product of the GPT: each linear layer's forward
    (rows x in x out) and its two backward products (input and weight gradients, the same size), the tied head
    likewise, and attention's QK^T and PV for every query position t over its t + 1 visible keys, forward and
    backward (twice the forward: the gradients of both operands)."""
    tokens = batch * ctx
    linear = [(dim, 3 * dim), (dim, dim), (dim, 4 * dim), (4 * dim, dim)] * layers + [(dim, vocab)]
    total = sum(3 * 2 * tokens * i * o for i, o in linear)
    for _ in range(layers):
        for t in range(ctx):
            visible = t + 1
            total += batch * 3 * 2 * 2 * visible * dim  # QK^T and P V rows over all heads, x3 for the backward
    return total


@pytest.mark.parametrize("name", sorted(bench_train.CONFIGS))
def test_flops_per_token_counts_every_product(name):
    cfg = bench_train.CONFIGS[name]
    tokens = cfg["batch"] * cfg["ctx"]
    want = step_flops(cfg["layers"], cfg["dim"], cfg["ctx"], cfg["batch"], bench_train.VOCAB)
    assert bench_train.flops_per_token(cfg) * tokens == want


def test_share_of_peak():
    r = dict(peak=100.0, flops=50e6)
    assert bench_train.share(r, 1000) == "50%"  # 1000 tok/s x 50 MFLOP = 50 GFLOP/s of a 100 GFLOP/s roof
    assert bench_train.share(dict(peak=None, flops=50e6), 1000) == "-"
    assert bench_train.share(r, None) == "-"


def test_fma_peak_builds_and_reports(tmp_path):
    exe = tmp_path / "fma_peak"
    src = os.path.join(ROOT, "bench", "fma_peak.c")
    subprocess.run(["cc", "-O2", "-pthread", "-o", str(exe), src], check=True, capture_output=True)
    for threads in (1, 2):
        r = subprocess.run([str(exe), str(threads)], capture_output=True, text=True, timeout=120)
        if r.returncode == 1 and "no AVX2" in r.stderr:
            pytest.skip("this CPU has no AVX2 + FMA")
        assert r.returncode == 0, r.stderr
        m = re.fullmatch(r"fma_peak: (\d+) threads (AVX2|AVX-512) ([0-9.]+)\n", r.stdout)
        assert m and int(m.group(1)) == threads and float(m.group(3)) > 0, r.stdout
    isa, gflops = bench_train.fma_peak(1, str(tmp_path))  # the script's own parse of the same binary
    assert isa in ("AVX2", "AVX-512") and gflops > 0
    bad = subprocess.run([str(exe), "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "threads must be" in bad.stderr
