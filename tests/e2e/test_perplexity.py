"""plinth perplexity: llama.cpp's definition (chunks of n_ctx from an empty cache, second half scored).
The tiny llama fixture (tests/golden/lm, with a byte-level tokenizer.json written here: token id = byte) scores a
text made of one fixture prompt repeated, so every scored NLL can be recomputed with numpy from transformers'
logits; --dump-nll lets the test recompute the final PPL, its +/- and the chunk structure; SmolLM2 (real model)
gives a plausible perplexity on English text; bad input gives a clear message."""
import json
import math
import os
import re
import subprocess

import numpy as np
import pytest

from helpers import ROOT, plinth_bin, write_tiny_llama

LM = os.path.join(ROOT, "tests", "golden", "lm")
FINAL = re.compile(rb"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)\n")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_llama_ppl")
    write_tiny_llama(str(d))
    return d


def ppl(args, **kw):
    return subprocess.run([plinth_bin(), "perplexity", *args], capture_output=True, timeout=300, **kw)


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def read_dump(path):
    rows = [line.split() for line in open(path)]
    return [(int(c), int(p), float(v)) for c, p, v in rows]


def test_scored_tokens_match_transformers_logits(tiny, tmp_path):
    exp = json.load(open(os.path.join(LM, "llama", "expected.json")))
    logits = np.fromfile(os.path.join(LM, "llama", "logits.f32"), dtype="<f4")
    prompt = exp["prompts"][2]                     # 16 ASCII bytes
    info = exp["logits"][2]
    lg = logits[info["offset"]:info["offset"] + 16 * 256].reshape(16, 256)
    want = -log_softmax(lg)[np.arange(16), prompt[1:] + [0]][:15]   # NLL of token i+1 from logits at i
    text = tmp_path / "t.txt"
    text.write_bytes(bytes(prompt) * 3)            # 48 tokens: 3 chunks of 16, each one the fixture prompt
    dump = tmp_path / "nll.txt"
    r = ppl(["-m", str(tiny), "-f", str(text), "-c", "16", "-t", "1", "--dump-nll", str(dump)])
    assert r.returncode == 0, r.stderr
    rows = read_dump(dump)
    assert [c for c, _, _ in rows] == [0] * 7 + [1] * 7 + [2] * 7
    assert [p for _, p, _ in rows] == [c * 16 + i for c in range(3) for i in range(9, 16)]
    got = np.array([v for _, _, v in rows]).reshape(3, 7)
    np.testing.assert_allclose(got, np.tile(want[8:15], (3, 1)), rtol=0, atol=2e-4)
    m = FINAL.search(r.stdout)
    assert m, r.stdout
    assert float(m.group(1)) == pytest.approx(math.exp(want[8:15].mean()), rel=1e-3)


def test_chunking_and_final_estimate_arithmetic(tiny, tmp_path):
    text = tmp_path / "t.txt"
    body = b"It is a truth universally acknowledged, that a single man in possession of a good fortune. " * 4
    text.write_bytes(body)                          # 364 bytes = tokens
    dump = tmp_path / "nll.txt"
    r = ppl(["-m", str(tiny), "-f", str(text), "-c", "64", "-b", "24", "--chunks", "4", "--dump-nll", str(dump)])
    assert r.returncode == 0, r.stderr
    rows = read_dump(dump)
    assert len(rows) == 4 * 31                      # n_ctx - 1 - n_ctx/2 per chunk
    assert [p for _, p, _ in rows] == [c * 64 + i for c in range(4) for i in range(33, 64)]
    v = np.array([x for _, _, x in rows])
    # per-chunk progress: running exp(mean NLL) after each chunk, 4 decimals
    prog = re.findall(rb"\[(\d+)\]([0-9.]+),", r.stdout)
    assert [int(i) for i, _ in prog] == [1, 2, 3, 4]
    for k, (_, p) in enumerate(prog):
        assert float(p) == pytest.approx(math.exp(v[:31 * (k + 1)].mean()), abs=1e-4)
    m = FINAL.search(r.stdout)
    mean = v.mean()
    sd = math.sqrt((np.mean(v * v) - mean * mean) / (len(v) - 1))
    assert float(m.group(1)) == pytest.approx(math.exp(mean), abs=1e-4)
    assert float(m.group(2)) == pytest.approx(sd * math.exp(mean), abs=1e-5)
    # the batch size does not change what is scored (only float rounding)
    r2 = ppl(["-m", str(tiny), "-f", str(text), "-c", "64", "--chunks", "4"])
    assert r2.returncode == 0
    assert float(FINAL.search(r2.stdout).group(1)) == pytest.approx(float(m.group(1)), rel=1e-4)


def test_text_too_short(tiny, tmp_path):
    text = tmp_path / "t.txt"
    text.write_bytes(b"x" * 100)
    r = ppl(["-m", str(tiny), "-f", str(text), "-c", "64"])
    assert r.returncode == 1
    assert r.stderr.startswith(b"plinth perplexity: ") and b"100 tokens" in r.stderr and b"128" in r.stderr


def test_bad_input(tiny, tmp_path):
    assert ppl(["-f", "x"]).returncode == 2
    assert ppl(["-m", str(tiny)]).returncode == 2
    assert ppl(["-m", str(tiny), "-f", "x", "-c", "2"]).returncode == 2
    r = ppl(["-m", str(tiny), "-f", str(tmp_path / "missing.txt")])
    assert r.returncode == 1 and b"missing.txt" in r.stderr
    text = tmp_path / "t.txt"
    text.write_bytes(b"y" * 1000)
    r = ppl(["-m", str(tmp_path / "nope.gguf"), "-f", str(text)])
    assert r.returncode == 1 and r.stderr.startswith(b"plinth perplexity: ") and b"nope.gguf" in r.stderr


@pytest.fixture(scope="module")
def smollm2():
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-models.sh")], check=True, capture_output=True)
    return os.path.join(ROOT, "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def test_smollm2_plausible_on_english(smollm2, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("It is a truth universally acknowledged, that a single man in possession of a good fortune, "
                    "must be in want of a wife. However little known the feelings or views of such a man may be "
                    "on his first entering a neighbourhood, this truth is so well fixed in the minds of the "
                    "surrounding families, that he is considered the rightful property of some one or other of "
                    "their daughters. My dear Mr. Bennet, said his lady to him one day, have you heard that "
                    "Netherfield Park is let at last? Mr. Bennet replied that he had not.")
    r = ppl(["-m", smollm2, "-f", str(text), "-c", "48", "-t", "2"])
    assert r.returncode == 0, r.stderr
    m = FINAL.search(r.stdout)
    assert 3 < float(m.group(1)) < 100, r.stdout   # a broken model scores in the thousands (uniform: 49152)
    assert 0 < float(m.group(2)) < float(m.group(1))
