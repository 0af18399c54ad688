"""GGUF interop with the reference implementation (the `gguf` PyPI package):
- a GGUF written by plinth (the sample file of tests/unit/test_gguf.c, written when PLINTH_GGUF_OUT is set)
  is read by gguf.GGUFReader with the kv and tensors plinth put in;
- a GGUF written by gguf.GGUFWriter (here, in the test) is read by plinth: `plinth info --json` gives the
  same kv (values and types) and tensors (names, shapes, types, sizes) as gguf.GGUFReader.
"""
import json
import os
import subprocess

import numpy as np
import pytest

from helpers import plinth_bin

gguf = pytest.importorskip("gguf")


def unit_test_bin(name):
    """The ctest executables sit beside the plinth binary in the build directory."""
    path = os.path.join(os.path.dirname(plinth_bin()), name)
    if not os.path.exists(path):
        pytest.fail(f"{path} not built (build the unit tests first)")
    return path


def plinth_info(path):
    r = subprocess.run([plinth_bin(), "info", "--json", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_plinth_written_gguf_reads_in_gguf_py(tmp_path):
    out = tmp_path / "plinth.gguf"
    r = subprocess.run([unit_test_bin("test_gguf")], env={**os.environ, "PLINTH_GGUF_OUT": str(out)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rd = gguf.GGUFReader(str(out))
    f = {k: v for k, v in rd.fields.items() if not k.startswith("GGUF.")}
    T = gguf.GGUFValueType
    expect = {  # the values test_gguf.c's sample_writer() sets
        "general.architecture": (T.STRING, "llama"),
        "t.u8": (T.UINT8, 200), "t.i8": (T.INT8, -100), "t.u16": (T.UINT16, 60000), "t.i16": (T.INT16, -30000),
        "t.u32": (T.UINT32, 4000000000), "t.i32": (T.INT32, -123456), "t.f32": (T.FLOAT32, 0.25),
        "t.bool": (T.BOOL, True), "t.str": (T.STRING, "h\u00e9llo \u20ac"),
        "t.u64": (T.UINT64, 18000000000000000000), "t.i64": (T.INT64, -5000000000),
        "t.f64": (T.FLOAT64, 3.141592653589793),
    }
    for key, (typ, val) in expect.items():
        assert f[key].types == [typ], key
        assert f[key].contents() == val, key
    assert f["t.arr_f32"].types == [T.ARRAY, T.FLOAT32]
    assert f["t.arr_f32"].contents() == [1.5, -2.5, float(np.float32(1e30))]
    assert f["t.arr_i32"].contents() == [1, -1, 65536, 0]
    assert f["t.arr_bool"].contents() == [True, False, True]
    assert f["t.arr_u64"].contents() == [0, 2**64 - 1]
    assert f["t.arr_f64"].contents() == [-0.5]
    assert f["t.arr_empty"].contents() == []
    assert f["t.arr_str"].types == [T.ARRAY, T.STRING]
    assert f["t.arr_str"].contents() == ["a", "", "\u4e2d\u6587", "x y"]
    assert list(f) == ["general.architecture", "t.u8", "t.i8", "t.u16", "t.i16", "t.u32", "t.i32", "t.f32", "t.bool",
                       "t.str", "t.u64", "t.i64", "t.f64", "t.arr_f32", "t.arr_i32", "t.arr_bool", "t.arr_u64",
                       "t.arr_f64", "t.arr_empty", "t.arr_str"]

    t = {x.name: x for x in rd.tensors}
    assert [x.name for x in rd.tensors] == ["w.f32", "w.f16", "w.q4_1", "w.i32", "w.4d"]
    assert t["w.f32"].tensor_type == gguf.GGMLQuantizationType.F32 and list(t["w.f32"].shape) == [3, 2]
    np.testing.assert_array_equal(t["w.f32"].data.reshape(-1), np.array([1, -2, 3.5, 4, 5, -6.25], np.float32))
    np.testing.assert_array_equal(t["w.f16"].data, np.array([-1.5, -0.5, 0.5, 1.5], np.float16))
    assert t["w.q4_1"].tensor_type == gguf.GGMLQuantizationType.Q4_1 and list(t["w.q4_1"].shape) == [64, 2]
    np.testing.assert_array_equal(t["w.q4_1"].data.reshape(-1), (np.arange(80) * 37 + 11).astype(np.uint8))
    np.testing.assert_array_equal(t["w.i32"].data, np.array([7, -8, 9, 10, -2**31], np.int32))
    assert list(t["w.4d"].shape) == [1, 2, 1, 3]
    np.testing.assert_array_equal(t["w.4d"].data.reshape(-1), np.arange(6, dtype=np.float32) * 0.5)
    assert all(x.data_offset % 32 == 0 for x in rd.tensors)

    # and plinth describes its own file as the reference reads it
    info = plinth_info(out)
    assert [(x["name"], x["shape"], x["type"].upper(), x["bytes"]) for x in info["tensors"]] == \
        [(x.name, [int(d) for d in x.shape], x.tensor_type.name, int(x.n_bytes)) for x in rd.tensors]


def write_reference_gguf(path):
    """A GGUF made by the reference writer: every value type, a string array, and f32/f16/q8_0 tensors."""
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_uint8("x.u8", 7)
    w.add_int8("x.i8", -7)
    w.add_uint16("x.u16", 65535)
    w.add_int16("x.i16", -32768)
    w.add_uint32("x.u32", 123456789)
    w.add_int32("x.i32", -2147483648)
    w.add_float32("x.f32", 1.25)
    w.add_uint64("x.u64", 2**63 + 5)
    w.add_int64("x.i64", -(2**62))
    w.add_float64("x.f64", -2.5e-300)
    w.add_bool("x.bool", False)
    w.add_string("x.str", "na\u00efve \U0001F600")
    w.add_array("x.arr_i32", [3, -4, 5])
    w.add_array("x.arr_str", ["<s>", "</s>", "\u0120the"])
    w.add_array("x.arr_f32", [0.5, 2.0])
    w.add_context_length(2048)
    w.add_embedding_length(64)
    w.add_block_count(2)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_chat_template("{{ messages }}")
    rng = np.random.default_rng(0)
    w.add_tensor("token_embd.weight", rng.standard_normal((10, 64)).astype(np.float32))
    w.add_tensor("blk.0.attn_norm.weight", rng.standard_normal(64).astype(np.float16))
    q8 = rng.integers(0, 256, size=(3, 2 * 34), dtype=np.uint8)  # 3 rows of 64 q8_0 elements (2 blocks)
    w.add_tensor("blk.0.attn_q.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("output.weight", rng.standard_normal((2, 3, 4)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def same_value(field, got):
    """plinth prints f32 values with 9 significant digits: equal once read back as f32."""
    v = field.contents()
    if field.types[0] == gguf.GGUFValueType.FLOAT32:
        return np.float32(got) == np.float32(v)
    if field.types[:2] == [gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.FLOAT32]:
        return np.array_equal(np.array(got, np.float32), np.array(v, np.float32))
    return got == v


TYPE_NAMES = {gguf.GGUFValueType.UINT8: "u8", gguf.GGUFValueType.INT8: "i8", gguf.GGUFValueType.UINT16: "u16",
              gguf.GGUFValueType.INT16: "i16", gguf.GGUFValueType.UINT32: "u32", gguf.GGUFValueType.INT32: "i32",
              gguf.GGUFValueType.FLOAT32: "f32", gguf.GGUFValueType.BOOL: "bool", gguf.GGUFValueType.STRING: "str",
              gguf.GGUFValueType.UINT64: "u64", gguf.GGUFValueType.INT64: "i64", gguf.GGUFValueType.FLOAT64: "f64"}


def type_name(field):
    if field.types[0] == gguf.GGUFValueType.ARRAY:
        return "array[%s]" % TYPE_NAMES[field.types[1]]
    return TYPE_NAMES[field.types[0]]


def test_gguf_py_written_read_by_plinth(tmp_path):
    path = tmp_path / "ref.gguf"
    write_reference_gguf(path)
    rd = gguf.GGUFReader(str(path))
    info = plinth_info(path)
    fields = {k: v for k, v in rd.fields.items() if not k.startswith("GGUF.")}
    assert list(info["kv"]) == list(fields)
    for k, f in fields.items():
        assert info["kv_types"][k] == type_name(f), k
        assert same_value(f, info["kv"][k]), (k, info["kv"][k], f.contents())
    assert info["gguf_version"] == rd.fields["GGUF.version"].contents()
    assert [(x["name"], x["shape"], x["type"].upper(), x["bytes"], x["offset"]) for x in info["tensors"]] == \
        [(x.name, [int(d) for d in x.shape], x.tensor_type.name, int(x.n_bytes), int(x.data_offset))
         for x in rd.tensors]
    assert info["architecture"] == "llama"
    assert info["hparams"]["context_length"] == 2048 and info["hparams"]["head_count_kv"] == 2
    assert info["chat_template"] is True
    assert info["file_size"] == os.path.getsize(path)
    assert info["n_params"] == sum(int(x.n_elements) for x in rd.tensors)


def test_corrupt_reference_gguf_is_rejected(tmp_path):
    path = tmp_path / "ref.gguf"
    write_reference_gguf(path)
    data = path.read_bytes()
    cases = {
        "truncated.gguf": (data[: len(data) - 100], "outside the file"),
        "header.gguf": (data[:20], "truncated"),
        "magic.gguf": (b"GGUX" + data[4:], "bad magic"),
        "version.gguf": (data[:4] + (9).to_bytes(4, "little") + data[8:], "version 9"),
        "kvcount.gguf": (data[:16] + (2**40).to_bytes(8, "little") + data[24:], "more than the file"),
    }
    for name, (blob, needle) in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        r = subprocess.run([plinth_bin(), "info", str(p)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, name
        assert needle in r.stderr and r.stderr.startswith("plinth info: "), (name, r.stderr)
