#!/usr/bin/env python3
"""Make the quantization fixtures in tests/golden/quant/ from the gguf package's reference (de)quantizers.

For a few seeded pseudo-random f32 tensors it records, per block type:
  - the reference quantized bytes and their reference dequantization (types the gguf package can encode:
    q4_0 q4_1 q5_0 q5_1 q8_0), and the RMS error of reference quantize -> dequantize;
  - for the k-quants (q4_K q5_K q6_K), which gguf 0.19 can only decode, random but well-formed blocks and
    their reference dequantization (proves the byte layout), no reference RMS.
Files: NAME.f32 (raw little-endian f32, row-major), NAME.TYPE.bin, NAME.TYPE.deq.f32, kblocks.TYPE.bin,
kblocks.TYPE.deq.f32 and manifest.txt (one fact per line, read by tests/unit/test_quant_golden.c).
Deterministic: run `python3 tools/make_quant_fixtures.py` to regenerate byte-identical files.
"""
import os
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "quant")
ENCODABLE = {"q4_0": T.Q4_0, "q4_1": T.Q4_1, "q5_0": T.Q5_0, "q5_1": T.Q5_1, "q8_0": T.Q8_0}
DECODE_ONLY = {"q4_K": T.Q4_K, "q5_K": T.Q5_K, "q6_K": T.Q6_K}


def tensors():
    rng = np.random.default_rng(20240605)
    gauss = rng.standard_normal((4, 256)).astype(np.float32) * 0.05
    heavy = (rng.standard_t(3, (16, 512)) * 0.02).astype(np.float32)
    edge = np.zeros((4, 256), np.float32)
    edge[1] = rng.uniform(0.1, 1.0, 256)            # all positive: the min is clipped to 0 in k-quants
    edge[2] = -0.5                                  # constant
    edge[3] = rng.standard_normal(256) * 0.01
    edge[3, ::37] = 3.0                             # lone outliers
    return {"gauss_4x256": gauss, "heavy_16x512": heavy, "edge_4x256": edge.astype(np.float32)}


def rms(a, b):
    return float(np.sqrt(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def random_kblocks(qtype, rng, nblocks=8):
    """Random well-formed blocks: random code bytes, fp16 scales in a sane range."""
    bs, ts = quants.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, (nblocks, ts), dtype=np.uint8)
    d = rng.uniform(0.001, 0.1, (nblocks, 2)).astype(np.float16).view(np.uint8).reshape(nblocks, 4)
    if qtype == T.Q6_K:
        blocks[:, ts - 2:] = d[:, :2]                # d is last in q6_K
    else:
        blocks[:, :4] = d                            # d, dmin first in q4_K / q5_K
    return blocks


def main():
    os.makedirs(OUT, exist_ok=True)
    lines = ["# plinth quant fixtures: made by tools/make_quant_fixtures.py from gguf " + getattr(
        __import__("gguf"), "__version__", "0.19")]
    for name, x in tensors().items():
        x.astype("<f4").tofile(os.path.join(OUT, name + ".f32"))
        lines.append(f"tensor {name} {x.shape[0]} {x.shape[1]}")
        for tname, qt in ENCODABLE.items():
            q = quants.quantize(x, qt)
            y = quants.dequantize(q, qt).astype(np.float32)
            q.tofile(os.path.join(OUT, f"{name}.{tname}.bin"))
            y.astype("<f4").tofile(os.path.join(OUT, f"{name}.{tname}.deq.f32"))
            lines.append(f"rms {name} {tname} {rms(x, y):.9e}")
    rng = np.random.default_rng(7)
    for tname, qt in DECODE_ONLY.items():
        b = random_kblocks(qt, rng)
        y = quants.dequantize(b, qt).astype(np.float32)
        b.tofile(os.path.join(OUT, f"kblocks.{tname}.bin"))
        y.astype("<f4").tofile(os.path.join(OUT, f"kblocks.{tname}.deq.f32"))
        lines.append(f"kblocks {tname} {b.shape[0]}")
    with open(os.path.join(OUT, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    smollm2_fixture()


SMOLLM2 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "smollm2",
                       "SmolLM2-135M-Instruct.Q4_1.gguf")
SMOLLM2_TENSORS = ["blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.29.ffn_up.weight", "token_embd.weight"]


def smollm2_fixture():
    """Reference dequantization of the real SmolLM2 file (Q4_1 + Q8_0): three rows of each tensor in
    smollm2.ROWS.f32 and whole-tensor sums in smollm2.txt. Needs scripts/fetch-models.sh first."""
    if not os.path.exists(SMOLLM2):
        print("models/smollm2 missing: run scripts/fetch-models.sh; smollm2 fixtures left as they are")
        return
    from gguf import GGUFReader
    r = GGUFReader(SMOLLM2)
    by_name = {t.name: t for t in r.tensors}
    lines, rows_out = [], []
    for name in SMOLLM2_TENSORS:
        t = by_name[name]
        y = quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32)
        y = y.reshape(-1, int(t.shape[0]))
        picks = [0, 1, y.shape[0] - 1]
        rows_out.append(y[picks])
        s = y.astype(np.float64)
        lines.append(f"tensor {name} {t.tensor_type.name.lower()} {y.shape[1]} {y.shape[0]} "
                     f"{' '.join(map(str, picks))} {s.sum():.17g} {np.square(s).sum():.17g}")
    np.concatenate([r.ravel() for r in rows_out]).astype("<f4").tofile(os.path.join(OUT, "smollm2.rows.f32"))
    with open(os.path.join(OUT, "smollm2.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
