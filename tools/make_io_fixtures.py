#!/usr/bin/env python3
"""Make the file-format fixtures for plinth's GGUF and safetensors readers (tests/golden/io/) with the
reference writers, plus what the references read back from them:

  ref_small.gguf              written by gguf.GGUFWriter: every kv type, a string array, f32/f16/q8_0/i32 tensors
  ref_small.gguf.json         what gguf.GGUFReader reads: kv (type, value), tensors (name, ne, type, bytes, offset, sum)
  ref_small.safetensors       written by safetensors.torch.save_file: F32, F16, BF16, I64, U8, BOOL, a scalar
  ref_small.safetensors.json  what safetensors.safe_open reads: metadata, tensors (name, dtype, shape, sum as f64)

and copies the two files as fuzz seeds (tests/fuzz/seeds/fuzz_gguf/, fuzz_safetensors/).
Deterministic (fixed seeds, fixed content). Usage: python3 tools/make_io_fixtures.py
"""
import json
import os
import shutil

import gguf
import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "io")


def make_gguf(path):
    w = gguf.GGUFWriter(path, arch="llama")
    w.add_name("ref small")
    w.add_uint8("t.u8", 250)
    w.add_int8("t.i8", -128)
    w.add_uint16("t.u16", 513)
    w.add_int16("t.i16", -2)
    w.add_uint32("t.u32", 4294967295)
    w.add_int32("t.i32", -77)
    w.add_float32("t.f32", -0.1)
    w.add_uint64("t.u64", 12345678901234567890)
    w.add_int64("t.i64", -9223372036854775808)
    w.add_float64("t.f64", 1e-310)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "caf\u00e9 \u2603 \U0001F680")
    w.add_array("t.arr_str", ["a", "bb", "", "\u00fc\u00df"])
    w.add_array("t.arr_i32", [1, 2, -3])
    w.add_array("t.arr_f32", [0.25, -1.0])
    w.add_context_length(128)
    w.add_embedding_length(32)
    w.add_block_count(1)
    w.add_head_count(2)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<s>", "</s>", "a", "b"])
    rng = np.random.default_rng(1234)
    w.add_tensor("token_embd.weight", rng.standard_normal((4, 32)).astype(np.float32))
    w.add_tensor("blk.0.attn_norm.weight", rng.standard_normal(32).astype(np.float16))
    q8 = rng.integers(0, 256, size=(2, 34), dtype=np.uint8)  # 2 rows of 32 q8_0 elements
    w.add_tensor("blk.0.attn_q.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.ids", np.arange(6, dtype=np.int32).reshape(2, 3))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


TYPE_NAMES = {gguf.GGUFValueType.UINT8: "u8", gguf.GGUFValueType.INT8: "i8", gguf.GGUFValueType.UINT16: "u16",
              gguf.GGUFValueType.INT16: "i16", gguf.GGUFValueType.UINT32: "u32", gguf.GGUFValueType.INT32: "i32",
              gguf.GGUFValueType.FLOAT32: "f32", gguf.GGUFValueType.BOOL: "bool", gguf.GGUFValueType.STRING: "str",
              gguf.GGUFValueType.UINT64: "u64", gguf.GGUFValueType.INT64: "i64", gguf.GGUFValueType.FLOAT64: "f64",
              gguf.GGUFValueType.ARRAY: "array"}


def describe_gguf(path):
    rd = gguf.GGUFReader(path)
    kv = []
    for k, f in rd.fields.items():
        if k.startswith("GGUF."):
            continue
        v = f.contents()
        # big integers as strings so every JSON reader keeps them exact
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        kv.append({"key": k, "type": TYPE_NAMES[f.types[0]],
                   "elem": TYPE_NAMES[f.types[1]] if len(f.types) > 1 else None, "value": v})
    tensors = [{"name": t.name, "ne": [int(d) for d in t.shape], "type": int(t.tensor_type), "bytes": int(t.n_bytes),
                "offset": int(t.data_offset), "byte_sum": int(np.frombuffer(t.data.tobytes(), np.uint8).sum())}
               for t in rd.tensors]
    return {"version": int(rd.fields["GGUF.version"].contents()), "alignment": int(rd.alignment),
            "data_offset": int(rd.data_offset), "kv": kv, "tensors": tensors}


def make_safetensors(path):
    g = torch.Generator().manual_seed(99)
    tensors = {
        "w.f32": torch.randn(3, 5, generator=g),
        "w.f16": torch.randn(2, 2, 2, generator=g).half(),
        "w.bf16": torch.randn(7, generator=g).bfloat16(),
        "ids.i64": torch.arange(4, dtype=torch.int64) - 2,
        "mask.u8": torch.tensor([0, 255, 7], dtype=torch.uint8),
        "flag.bool": torch.tensor([True, False]),
        "scalar": torch.tensor(3.5),
    }
    save_file(tensors, path, metadata={"format": "pt"})  # one key: the writer orders a hash map


def describe_safetensors(path):
    out = {"tensors": []}
    with safe_open(path, framework="pt") as f:
        out["metadata"] = dict(sorted(f.metadata().items()))
        for k in sorted(f.keys()):
            t = f.get_tensor(k)
            dt = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
                  torch.uint8: "U8", torch.bool: "BOOL"}[t.dtype]
            out["tensors"].append({"name": k, "dtype": dt, "shape": list(t.shape),
                                   "sum": float(t.double().sum().item())})
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    g = os.path.join(OUT, "ref_small.gguf")
    make_gguf(g)
    with open(g + ".json", "w") as fh:
        json.dump(describe_gguf(g), fh, indent=1, ensure_ascii=False)
    s = os.path.join(OUT, "ref_small.safetensors")
    make_safetensors(s)
    os.chmod(s, 0o644)
    with open(s + ".json", "w") as fh:
        json.dump(describe_safetensors(s), fh, indent=1, ensure_ascii=False)
    for src, fuzzer in ((g, "fuzz_gguf"), (s, "fuzz_safetensors")):
        d = os.path.join(ROOT, "tests", "fuzz", "seeds", fuzzer)
        os.makedirs(d, exist_ok=True)
        shutil.copyfile(src, os.path.join(d, os.path.basename(src)))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
