"""`plinth info` on real models, checked against the references: the SmolLM2 GGUF against gguf.GGUFReader,
the MiniLM directory against its safetensors header, config.json and tokenizer.json parsed here with json;
a plinth-written safetensors file parsed here with json + numpy; and clear errors for bad paths and files.
"""
import json
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

from helpers import ROOT, plinth_bin

SMOL = os.path.join(ROOT, "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
MINILM = os.path.join(ROOT, "models", "all-minilm-l6-v2")


@pytest.fixture(scope="module")
def models():
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-models.sh"), "smollm2", "minilm"], check=True)


def run_info(*args, rc=0):
    r = subprocess.run([plinth_bin(), "info", *map(str, args)], capture_output=True, text=True, timeout=120)
    assert r.returncode == rc, r.stderr
    return r


def info_json(path):
    return json.loads(run_info("--json", path).stdout)


def test_smollm2_matches_gguf_reader(models):
    gguf = pytest.importorskip("gguf")
    rd = gguf.GGUFReader(SMOL)
    info = info_json(SMOL)
    assert [(t["name"], t["shape"], t["type"].upper(), t["bytes"]) for t in info["tensors"]] == \
        [(t.name, [int(d) for d in t.shape], t.tensor_type.name, int(t.n_bytes)) for t in rd.tensors]
    f = rd.fields
    arch = f["general.architecture"].contents()
    assert info["architecture"] == arch
    h = info["hparams"]
    assert h["context_length"] == f[f"{arch}.context_length"].contents()
    assert h["embedding_length"] == f[f"{arch}.embedding_length"].contents()
    assert h["block_count"] == f[f"{arch}.block_count"].contents()
    assert h["head_count"] == f[f"{arch}.attention.head_count"].contents()
    assert h["head_count_kv"] == f[f"{arch}.attention.head_count_kv"].contents()
    assert info["tokenizer"]["kind"] == f["tokenizer.ggml.model"].contents()
    assert info["tokenizer"]["vocab_size"] == len(f["tokenizer.ggml.tokens"].data)
    assert info["chat_template"] is ("tokenizer.chat_template" in f)
    assert info["n_params"] == sum(int(t.n_elements) for t in rd.tensors)
    assert info["file_size"] == os.path.getsize(SMOL)
    # every scalar and string kv, with its type
    for k, fld in f.items():
        if k.startswith("GGUF.") or fld.types[0] == gguf.GGUFValueType.ARRAY:
            continue
        v = fld.contents()
        if fld.types[0] == gguf.GGUFValueType.FLOAT32:  # plinth prints f32 with 9 digits: exact as f32
            assert np.float32(info["kv"][k]) == np.float32(v), k
        else:
            assert info["kv"][k] == v, k


def test_smollm2_text_output(models):
    out = run_info(SMOL).stdout
    assert "architecture    llama" in out
    assert "GGUF v3" in out and "chat template   yes" in out
    assert "blk.0.attn_q.weight" in out and "q4_1" in out
    out = run_info(SMOL, "--kv", "--no-tensors").stdout
    assert "tokenizer.ggml.tokens" in out and "blk.0.attn_q.weight" not in out


def test_minilm_dir_matches_safetensors_header(models):
    st = os.path.join(MINILM, "model.safetensors")
    with open(st, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    header.pop("__metadata__", None)
    info = info_json(MINILM)
    got = {t["name"]: (t["shape"], t["type"], t["bytes"]) for t in info["tensors"]}
    want = {k: (v["shape"], v["dtype"], v["data_offsets"][1] - v["data_offsets"][0]) for k, v in header.items()}
    assert got == want
    assert info["format"] == "safetensors" and info["shape_order"] == "pytorch"
    cfg = json.load(open(os.path.join(MINILM, "config.json")))
    assert info["architecture"] == cfg["model_type"] and info["architectures"] == cfg["architectures"]
    h = info["hparams"]
    assert h["embedding_length"] == cfg["hidden_size"] and h["block_count"] == cfg["num_hidden_layers"]
    assert h["head_count"] == cfg["num_attention_heads"] and h["vocab_size"] == cfg["vocab_size"]
    assert h["context_length"] == cfg["max_position_embeddings"]
    tok = json.load(open(os.path.join(MINILM, "tokenizer.json")))
    assert info["tokenizer"]["kind"] == tok["model"]["type"]
    assert info["tokenizer"]["vocab_size"] == len(tok["model"]["vocab"])
    assert info["chat_template"] is False
    float_numel = sum(int(np.prod(v["shape"])) for v in header.values() if v["dtype"] in ("F32", "F16", "BF16"))
    assert info["n_params"] == float_numel
    # the single file gives the same tensors
    assert {t["name"] for t in info_json(st)["tensors"]} == set(want)


def test_sharded_copy_of_minilm(models, tmp_path):
    """Split MiniLM into two shards + index.json here (json + bytes only) and check plinth sees one model."""
    st = os.path.join(MINILM, "model.safetensors")
    with open(st, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
        data = fh.read()
    header.pop("__metadata__", None)
    names = sorted(header)
    weight_map = {}
    for part, chunk in enumerate([names[: len(names) // 2], names[len(names) // 2:]]):
        fname = f"model-0000{part + 1}-of-00002.safetensors"
        hdr, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
        for k in chunk:
            b, e = header[k]["data_offsets"]
            hdr[k] = {"dtype": header[k]["dtype"], "shape": header[k]["shape"], "data_offsets": [off, off + e - b]}
            blobs.append(data[b:e])
            off += e - b
            weight_map[k] = fname
        js = json.dumps(hdr).encode()
        js += b" " * (-len(js) % 8)
        (tmp_path / fname).write_bytes(struct.pack("<Q", len(js)) + js + b"".join(blobs))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    shutil.copy(os.path.join(MINILM, "config.json"), tmp_path)
    info = info_json(tmp_path)
    assert info["n_shards"] == 2
    got = {t["name"]: (t["shape"], t["type"], t["bytes"]) for t in info["tensors"]}
    assert got == {k: (v["shape"], v["dtype"], v["data_offsets"][1] - v["data_offsets"][0]) for k, v in header.items()}
    # a weight_map entry pointing at the wrong shard is an error
    first = names[0]
    weight_map[first] = "model-00002-of-00002.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    r = run_info(tmp_path, rc=1)
    assert f"tensor '{first}' is not in shard" in r.stderr


def test_plinth_written_safetensors(tmp_path):
    """tests/unit/test_safetensors.c's sample file, written by plinth, parsed here with json + numpy."""
    exe = os.path.join(os.path.dirname(plinth_bin()), "test_safetensors")
    if not os.path.exists(exe):
        pytest.fail(f"{exe} not built")
    out = tmp_path / "plinth.safetensors"
    r = subprocess.run([exe], env={**os.environ, "PLINTH_ST_OUT": str(out)}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    raw = out.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    assert header["__metadata__"] == {"format": "pt", "note": "h\u00e9 \"quoted\""}
    def arr(name, dt):
        b, e = header[name]["data_offsets"]
        return np.frombuffer(data[b:e], dtype=dt).reshape(header[name]["shape"])
    np.testing.assert_array_equal(arr("a.weight", np.float32), np.arange(1, 7, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(arr("h", np.float16), np.array([1, -2, 0, 65504], np.float16))
    assert header["b"]["dtype"] == "BF16" and header["b"]["shape"] == [3, 1, 2]
    bf = arr("b", np.uint16).astype(np.uint32) << 16
    np.testing.assert_array_equal(bf.view(np.float32).reshape(-1)[:3], np.array([1, 2, -1], np.float32))
    assert header["empty"]["shape"] == [0, 3] and header["scalar"]["shape"] == []
    assert arr("scalar", np.float32) == 42.0
    np.testing.assert_array_equal(arr("l", np.int64), np.array([-1, 2**40]))
    ends = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    assert ends[-1][1] == len(data)
    info = info_json(out)
    assert {t["name"]: t["shape"] for t in info["tensors"]} == \
        {k: v["shape"] for k, v in header.items() if k != "__metadata__"}
    assert info["metadata"] == header["__metadata__"]


def test_errors(tmp_path):
    r = run_info(tmp_path / "missing.gguf", rc=1)
    assert "cannot open" in r.stderr and r.stderr.startswith("plinth info: ")
    assert "usage" in run_info(rc=2).stderr
    run_info("--frobnicate", "x", rc=2)
    (tmp_path / "empty.gguf").write_bytes(b"")
    assert "empty" in run_info(tmp_path / "empty.gguf", rc=1).stderr
    (tmp_path / "notes.txt").write_text("hello")
    assert "not a GGUF file, a safetensors file" in run_info(tmp_path / "notes.txt", rc=1).stderr
    (tmp_path / "bad.safetensors").write_bytes(struct.pack("<Q", 10) + b"{\"a\": [1,2")
    assert "not valid JSON" in run_info(tmp_path / "bad.safetensors", rc=1).stderr
    (tmp_path / "huge.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    assert "exceeds" in run_info(tmp_path / "huge.safetensors", rc=1).stderr
    empty_dir = tmp_path / "emptydir"
    empty_dir.mkdir()
    assert "no model files" in run_info(empty_dir, rc=1).stderr


def test_truncated_real_files(models, tmp_path):
    with open(SMOL, "rb") as fh:
        head = fh.read(3_000_000)
    for cut in (10, 1000, 1_000_000, 3_000_000):
        p = tmp_path / f"smol_{cut}.gguf"
        p.write_bytes(head[:cut])
        r = run_info(p, rc=1)
        assert "truncated" in r.stderr or "outside the file" in r.stderr or "more than the file" in r.stderr, r.stderr
    with open(os.path.join(MINILM, "model.safetensors"), "rb") as fh:
        head = fh.read(2_000_000)
    d = tmp_path / "minilm_cut"
    d.mkdir()
    shutil.copy(os.path.join(MINILM, "config.json"), d)
    (d / "model.safetensors").write_bytes(head)
    r = run_info(d, rc=1)
    assert "outside" in r.stderr and "model.safetensors" in r.stderr, r.stderr
