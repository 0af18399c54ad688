#!/usr/bin/env python3
"""Make tests/golden/quant/llamacpp_kquant.{gguf,json}: llama.cpp's own quantize -> dequantize error per tensor.

The gguf package can only *decode* the k-quants, so the reference quantizer for Q4_K / Q5_K / Q6_K is
llama.cpp's `llama-quantize` (built by bench/compare-llamacpp.sh into .cache/llamacpp/). llama-quantize only
takes model-like files, so this writes a tiny one-layer llama-architecture GGUF whose weight matrices are seeded
random tensors (gaussian, heavy-tailed, rows of mixed scale, sparse outliers), quantizes it with `--pure`
(every matrix the one type, no mixture), decodes llama.cpp's blocks with the gguf package and records the RMS
error of each tensor. tests/unit/test_quant_llamacpp.c quantizes the same tensors with plinth and checks its
error is at most 1.10x llama.cpp's.

Usage: python3 tools/make_llamacpp_quant_fixtures.py [--quantize PATH/TO/llama-quantize]
Deterministic for a given llama.cpp: the F32 file is byte-identical on every run (seeded numpy), and the
errors depend only on llama.cpp's reference quantizers (no imatrix, no threads involved in the result).
"""
import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import quants

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "golden", "quant")
DEFAULT_QUANTIZE = os.path.join(ROOT, ".cache", "llamacpp", "build", "bin", "llama-quantize")
# llama-quantize type argument -> (the block type every matrix gets under --pure, gguf enum)
TYPES = {"Q4_0": ("q4_0", T.Q4_0), "Q8_0": ("q8_0", T.Q8_0), "Q4_K_M": ("q4_K", T.Q4_K),
         "Q5_K_M": ("q5_K", T.Q5_K), "Q6_K": ("q6_K", T.Q6_K)}
N_EMBD, N_FF, N_HEAD, N_HEAD_KV, N_VOCAB = 256, 256, 4, 1, 32


def tensors():
    """Seeded weight matrices, numpy shape (rows, cols) = GGUF ne (cols, rows); cols is the quantized axis."""
    rng = np.random.default_rng(20251122)
    hd = N_EMBD // N_HEAD
    t = {}
    t["token_embd.weight"] = rng.standard_normal((N_VOCAB, N_EMBD)) * 0.05
    t["blk.0.attn_norm.weight"] = np.ones(N_EMBD)
    t["blk.0.attn_q.weight"] = rng.standard_normal((N_EMBD, N_EMBD)) * 0.02
    t["blk.0.attn_k.weight"] = rng.standard_normal((N_HEAD_KV * hd, N_EMBD)) * 0.02
    # rows whose scales span two orders of magnitude (per-row scale search must follow them)
    t["blk.0.attn_v.weight"] = rng.standard_normal((N_HEAD_KV * hd, N_EMBD)) * \
        np.exp(rng.uniform(np.log(0.002), np.log(0.2), (N_HEAD_KV * hd, 1)))
    # gaussian with sparse large outliers (one value in ~200)
    o = rng.standard_normal((N_EMBD, N_EMBD)) * 0.02
    mask = rng.random(o.shape) < 0.005
    o[mask] = rng.choice([-1.0, 1.0], mask.sum()) * rng.uniform(0.2, 0.5, mask.sum())
    t["blk.0.attn_output.weight"] = o
    t["blk.0.ffn_norm.weight"] = np.ones(N_EMBD)
    t["blk.0.ffn_gate.weight"] = rng.standard_normal((N_FF, N_EMBD)) * 0.03
    t["blk.0.ffn_up.weight"] = rng.uniform(-0.05, 0.05, (N_FF, N_EMBD)) + 0.01   # uniform, shifted mean
    t["blk.0.ffn_down.weight"] = rng.standard_t(3, (N_EMBD, N_FF)) * 0.02       # heavy tails
    t["output_norm.weight"] = np.ones(N_EMBD)
    return {k: v.astype(np.float32) for k, v in t.items()}


def write_model(path, ts):
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("plinth-llamacpp-quant-fixture")
    w.add_context_length(128)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(1)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_vocab_size(N_VOCAB)
    w.add_file_type(0)  # all F32
    for name, x in ts.items():
        w.add_tensor(name, x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def rms(a, b):
    return float(np.sqrt(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def llamacpp_version(quantize, stderr):
    """The llama-cpp-python sdist llama-quantize was built from (bench/compare-llamacpp.sh unpacks it beside its
    build/ directory) and the build line llama-quantize prints, when it prints one."""
    cache = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(quantize))))
    sdists = sorted(d for d in os.listdir(cache) if d.startswith("llama_cpp_python-") and
                    os.path.isdir(os.path.join(cache, d))) if os.path.isdir(cache) else []
    sdist = sdists[-1].replace("llama_cpp_python-", "llama.cpp vendored in llama-cpp-python ") + " (PyPI sdist)" \
        if sdists else ""
    m = re.search(r"build = ([^\n]+)", stderr)
    build = "build " + m.group(1).strip() if m else ""
    return ", ".join(x for x in (sdist, build) if x) or "unknown"


def gguf_version():
    try:
        return importlib.metadata.version("gguf")
    except importlib.metadata.PackageNotFoundError:
        return "gguf-py from the llama.cpp source tree"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quantize", default=DEFAULT_QUANTIZE, help="path to llama.cpp's llama-quantize")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    ts = tensors()
    src = os.path.join(OUT, "llamacpp_kquant.gguf")
    write_model(src, ts)
    result = {"source": "tests/golden/quant/llamacpp_kquant.gguf", "tool": "tools/make_llamacpp_quant_fixtures.py",
              "reference": "llama.cpp llama-quantize --pure (no imatrix), decoded by gguf " + gguf_version(),
              "llamacpp_build": "unknown", "types": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for qarg, (tname, qt) in TYPES.items():
            dst = os.path.join(tmp, qarg + ".gguf")
            p = subprocess.run([args.quantize, "--pure", src, dst, qarg, "1"], check=True,
                               capture_output=True, text=True)
            result["llamacpp_build"] = llamacpp_version(args.quantize, p.stderr)
            r = gguf.GGUFReader(dst)
            rows = []
            for t in r.tensors:
                x = ts[t.name]
                if x.ndim != 2:
                    continue
                if t.tensor_type != qt:
                    raise SystemExit(f"{qarg}: {t.name} came out {t.tensor_type.name}, expected {qt.name}")
                y = quants.dequantize(np.asarray(t.data), qt).reshape(x.shape)
                rows.append({"name": t.name, "rows": int(x.shape[0]), "cols": int(x.shape[1]),
                             "rms_ref": rms(x, np.zeros_like(x)), "rms_err": rms(x, y)})
            result["types"][tname] = rows
            print(f"{qarg:7s} -> {tname}: " + ", ".join(f"{r['name'].split('.')[-2]} {r['rms_err']:.3e}"
                                                       for r in rows))
    with open(os.path.join(OUT, "llamacpp_kquant.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
