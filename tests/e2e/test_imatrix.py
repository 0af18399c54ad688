"""plinth imatrix and quantize --imatrix.

The tiny llama fixture (HF directory, byte tokenizer: token id = byte) runs over a text in chunks of 32; the
file is llama.cpp's GGUF imatrix layout, read here with the gguf package. Layer 0's q/k/v input does not depend
on context (RMSNorm of the token's embedding times the norm weight), so its sums are recomputed with numpy from
the safetensors weights; every matrix counts every token (the output matrix too). A file written by the gguf
package in llama.cpp's layout steers `plinth quantize --imatrix`: with an importance that singles out a few
columns, the weighted error of Q8_0 drops against plain round-to-nearest. Bad files give clear errors."""
import json
import os
import struct
import subprocess

import numpy as np
import pytest

from helpers import ROOT, plinth_bin, write_tiny_llama

gguf = pytest.importorskip("gguf")
TINY_GGUF = os.path.join(ROOT, "tests", "golden", "lm", "llama", "model.gguf")
CTX = 32
TEXT = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
        "want of a wife. However little known the feelings or views of such a man may be on his first entering "
        "a neighbourhood, this truth is so well fixed in the minds of the surrounding families.")


def run(*args, timeout=120):
    return subprocess.run([plinth_bin(), *args], capture_output=True, text=True, timeout=timeout)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32"
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=np.float32).reshape(v["shape"])
    return out


def read_imatrix(path):
    r = gguf.GGUFReader(str(path))
    f = r.fields
    kv = {"type": bytes(f["general.type"].parts[-1]).decode(),
          "chunk_count": int(f["imatrix.chunk_count"].parts[-1][0]),
          "chunk_size": int(f["imatrix.chunk_size"].parts[-1][0])}
    t = {x.name: np.array(x.data, dtype=np.float64).ravel() for x in r.tensors}
    entries = {n[:-len(".in_sum2")]: (t[n], t[n[:-len(".in_sum2")] + ".counts"][0]) for n in t if n.endswith(".in_sum2")}
    return kv, entries


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_llama_imatrix")
    write_tiny_llama(str(d))
    text = d / "calib.txt"
    text.write_text(TEXT)
    out = d / "im.gguf"
    r = run("imatrix", "-m", str(d), "-f", str(text), "-o", str(out), "-c", str(CTX), "-t", "2")
    assert r.returncode == 0, r.stderr
    return d, out, r


def test_file_layout_and_counts(collected):
    d, out, r = collected
    kv, entries = read_imatrix(out)
    n_chunks = len(TEXT.encode()) // CTX
    assert kv == {"type": "imatrix", "chunk_count": n_chunks, "chunk_size": CTX}
    names = {f"blk.{l}.{w}.weight" for l in range(2)
             for w in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")}
    assert set(entries) == names | {"output.weight"}
    for name, (s, count) in entries.items():
        assert count == n_chunks * CTX, name                       # every position, the output matrix included
        assert len(s) == (128 if "ffn_down" in name else 64), name
        assert np.all(s > 0), name
    assert f"{len(entries)} matrices, {n_chunks} chunks of {CTX}" in r.stderr


def test_layer0_sums_match_numpy(collected):
    d, out, _ = collected
    _, entries = read_imatrix(out)
    w = read_safetensors(os.path.join(d, "model.safetensors"))
    ids = np.frombuffer(TEXT.encode(), dtype=np.uint8)[: (len(TEXT.encode()) // CTX) * CTX]
    x = w["model.embed_tokens.weight"][ids].astype(np.float64)
    xn = x / np.sqrt((x * x).mean(axis=1, keepdims=True) + 1e-5) * w["model.layers.0.input_layernorm.weight"]
    want = (xn * xn).sum(axis=0)
    for m in ("attn_q", "attn_k", "attn_v"):
        got, _ = entries[f"blk.0.{m}.weight"]
        np.testing.assert_allclose(got, want, rtol=2e-5, err_msg=m)
    np.testing.assert_array_equal(entries["blk.0.ffn_gate.weight"][0], entries["blk.0.ffn_up.weight"][0])
    assert not np.allclose(entries["blk.1.attn_q.weight"][0], want, rtol=1e-2)   # deeper inputs differ


def finish(w):
    """Write and close a gguf.GGUFWriter."""
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_llamacpp_imatrix(path, importance, ncols=64, drop=()):
    """An imatrix as llama-imatrix writes it: sums = importance * count, counts = count, for every 2-D matrix of
    the tiny GGUF model (output.weight included)."""
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_string("general.type", "imatrix")
    w.add_array("imatrix.datasets", ["calib.txt"])
    w.add_uint32("imatrix.chunk_count", 10)
    w.add_uint32("imatrix.chunk_size", 512)
    r = gguf.GGUFReader(TINY_GGUF)
    for t in r.tensors:
        if len(t.shape) != 2 or t.name in drop or t.name == "token_embd.weight":
            continue
        n = int(t.shape[0])
        imp = importance(n) if n == ncols else np.ones(n, dtype=np.float32)
        w.add_tensor(t.name + ".in_sum2", (imp * 5120.0).astype(np.float32).reshape(1, n))
        w.add_tensor(t.name + ".counts", np.array([[5120.0]], dtype=np.float32))
    finish(w)


def spiky(n):
    imp = np.full(n, 0.01, dtype=np.float32)
    imp[[3, 17, 40, 61]] = [50.0, 200.0, 80.0, 120.0]
    return imp


def weighted_errors(path_q, imp_fn):
    ref = {t.name: np.array(t.data, dtype=np.float64) for t in gguf.GGUFReader(TINY_GGUF).tensors}
    out = {}
    for t in gguf.GGUFReader(str(path_q)).tensors:
        if t.tensor_type.name != "Q8_0":
            continue
        deq = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64).reshape(ref[t.name].shape)
        imp = imp_fn(deq.shape[-1]).astype(np.float64)
        out[t.name] = float((((deq - ref[t.name]) ** 2) * imp).sum())
    return out


def test_quantize_with_imatrix_lowers_weighted_error(tmp_path):
    im = tmp_path / "llamacpp-style.imatrix.gguf"
    write_llamacpp_imatrix(im, spiky)
    plain, weighted = tmp_path / "plain.gguf", tmp_path / "weighted.gguf"
    r = run("quantize", TINY_GGUF, str(plain), "Q8_0")
    assert r.returncode == 0, r.stderr
    r = run("quantize", TINY_GGUF, str(weighted), "Q8_0", "--imatrix", str(im))
    assert r.returncode == 0, r.stderr
    assert "no importance matrix entry" in r.stderr                  # token_embd has none: said, not fatal
    assert "15 tensor(s) were quantized with importance weights" in r.stderr
    e_plain, e_w = weighted_errors(plain, spiky), weighted_errors(weighted, spiky)
    assert set(e_plain) == set(e_w) and len(e_w) >= 15
    for name in e_w:
        if name.startswith("blk.") and "ffn_down" not in name or name == "output.weight":
            assert e_w[name] <= e_plain[name] * 1.0000001, name
    total_p = sum(v for k, v in e_plain.items() if "ffn_down" not in k and k != "token_embd.weight")
    total_w = sum(v for k, v in e_w.items() if "ffn_down" not in k and k != "token_embd.weight")
    assert total_w < 0.7 * total_p, (total_w, total_p)


def test_bad_imatrix_files(tmp_path):
    q = tmp_path / "out.gguf"
    r = run("quantize", TINY_GGUF, str(q), "Q8_0", "--imatrix", TINY_GGUF)    # a model, not an imatrix
    assert r.returncode == 1 and "not an importance matrix" in r.stderr and not q.exists()
    r = run("quantize", TINY_GGUF, str(q), "Q8_0", "--imatrix", str(tmp_path / "missing.gguf"))
    assert r.returncode == 1 and "missing.gguf" in r.stderr and not q.exists()
    im = tmp_path / "im.gguf"
    write_llamacpp_imatrix(im, spiky)
    data = im.read_bytes()
    trunc = tmp_path / "trunc.gguf"
    trunc.write_bytes(data[: len(data) - 100])
    r = run("quantize", TINY_GGUF, str(q), "Q8_0", "--imatrix", str(trunc))
    assert r.returncode == 1 and "plinth quantize:" in r.stderr and not q.exists()
    r = run("quantize", TINY_GGUF, str(q), "Q8_0", "--imatrix")
    assert r.returncode == 2
    # negative sums are refused
    w = gguf.GGUFWriter(str(tmp_path / "neg.gguf"), arch="llama")
    w.add_string("general.type", "imatrix")
    w.add_tensor("blk.0.attn_q.weight.in_sum2", -np.ones((1, 64), dtype=np.float32))
    w.add_tensor("blk.0.attn_q.weight.counts", np.array([[1.0]], dtype=np.float32))
    finish(w)
    r = run("quantize", TINY_GGUF, str(q), "Q8_0", "--imatrix", str(tmp_path / "neg.gguf"))
    assert r.returncode == 1 and "negative or non-finite" in r.stderr


def test_imatrix_bad_input(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    write_tiny_llama(str(d))
    short = tmp_path / "short.txt"
    short.write_text("too short")
    r = run("imatrix", "-m", str(d), "-f", str(short), "-o", str(tmp_path / "x.gguf"), "-c", str(CTX))
    assert r.returncode == 1 and "at least" in r.stderr and not (tmp_path / "x.gguf").exists()
    r = run("imatrix", "-m", str(d))
    assert r.returncode == 2 and "no calibration text" in r.stderr
    r = run("imatrix", "-m", str(tmp_path / "nope.gguf"), "-f", str(short))
    assert r.returncode == 1 and "plinth imatrix:" in r.stderr


def test_gpt2_hf_conv1d_weights_get_gguf_names_and_widths(tmp_path):
    """Hugging Face GPT-2 stores its Conv1D matrices transposed; their entries still take the GGUF names and the
    GGUF tensors' row length (ne[0]), so the imatrix steers quantizing the GGUF file of the same model."""
    import shutil
    from helpers import write_byte_tokenizer
    src = os.path.join(ROOT, "tests", "golden", "lm", "gpt2")
    for f in ("config.json", "model.safetensors"):
        shutil.copy(os.path.join(src, f), tmp_path / f)
    write_byte_tokenizer(str(tmp_path))
    (tmp_path / "t.txt").write_text(TEXT)
    out = tmp_path / "im.gguf"
    r = run("imatrix", "-m", str(tmp_path), "-f", str(tmp_path / "t.txt"), "-o", str(out), "-c", str(CTX))
    assert r.returncode == 0, r.stderr
    _, entries = read_imatrix(out)
    ref = {t.name: int(t.shape[0]) for t in gguf.GGUFReader(os.path.join(src, "model.gguf")).tensors}
    mats = {f"blk.{l}.{w}.weight" for l in range(2) for w in ("attn_qkv", "attn_output", "ffn_up", "ffn_down")}
    assert mats <= set(entries)
    for name, (s, count) in entries.items():
        assert len(s) == ref[name], name
        assert count == (len(TEXT.encode()) // CTX) * CTX, name
