"""Shared helpers for the end-to-end tests (pytest, tests/e2e/): the binary under test and small pure-Python
measures. No third-party imports here: CI installs only pytest, numpy and gguf.
"""
import importlib.util
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def plinth_bin():
    """Path of the plinth binary under test: $PLINTH_BIN, else build/plinth."""
    return os.environ.get("PLINTH_BIN", os.path.join(ROOT, "build", "plinth"))


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "tools", name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# Byte-level unigram entropy in nats (one implementation, shared with the command-line tool).
unigram_entropy = _load_tool("unigram_entropy").unigram_entropy


def bytes_to_unicode():
    """GPT-2's byte -> printable character table (the alphabet of byte-level BPE vocabularies)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def write_byte_tokenizer(d):
    """Into directory d: a byte-level BPE tokenizer.json with no merges, so token id = byte."""
    import json
    table = bytes_to_unicode()
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
           "pre_tokenizer": bl, "post_processor": None, "decoder": bl,
           "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                     "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                     "vocab": {table[b]: b for b in range(256)}, "merges": []}}
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tok, f)
    return d


def write_tiny_llama(d):
    """Into directory d: the tiny llama HF fixture (tests/golden/lm/llama) plus a byte-level BPE tokenizer.json
    with no merges, so token id = byte (the fixture has no tokenizer of its own)."""
    import shutil
    for f in ("config.json", "model.safetensors"):
        shutil.copy(os.path.join(ROOT, "tests", "golden", "lm", "llama", f), os.path.join(d, f))
    return write_byte_tokenizer(d)


def load_safetensors(path):
    """The f32 tensors of a safetensors file, as float64 numpy arrays by name."""
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype="<f4")
            .reshape(v["shape"]).astype(np.float64) for k, v in header.items() if k != "__metadata__"}
