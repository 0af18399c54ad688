"""plinth word2vec end to end: train on a generated corpus with a planted structure (pairs of words that share
every context) and query it (similar, analogy, eval, plot), determinism with one thread and a seed, the two file
formats (and gensim reading them, when gensim is installed), a model's subword tokens as words, and bad input:
a clear message and a non-zero exit."""
import os
import random
import struct
import subprocess

import pytest

from helpers import plinth_bin, write_byte_tokenizer

K = 20  # groups: x_i and y_i never meet but both sit between l_i and r_i


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(0)
    paras = []
    for _ in range(800):
        units = []
        for _ in range(6):
            i = rng.randrange(K)
            units.append(f"L{i} {rng.choice('xy')}{i} R{i}")  # capitals: the words come out lower-cased
        paras.append(" ".join(units))
    p = tmp_path_factory.mktemp("w2v") / "planted.txt"
    p.write_text("\n\n".join(paras) + "\n")
    return str(p)


def w2v(*args):
    return subprocess.run([plinth_bin(), "word2vec", *map(str, args)], capture_output=True, text=True)


SMALL = ["--dim", "24", "--window", "2", "--min-count", "1", "--sample", "0", "--epochs", "5", "-t", "1",
         "--seed", "3"]


@pytest.fixture(scope="module")
def vectors(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("vec") / "v.txt"
    r = w2v("train", "-f", corpus, "-o", out, "--arch", "skipgram", *SMALL)
    assert r.returncode == 0, r.stderr
    assert "done: " in r.stderr and "words/s" in r.stderr and f"vocabulary: {4 * K} words" in r.stderr
    return str(out)


def read_text_vectors(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    n, dim = map(int, lines[0].split())
    table = {}
    for line in lines[1:]:
        parts = line.split(" ")
        assert len(parts) == dim + 1
        table[parts[0]] = [float(x) for x in parts[1:]]
    assert len(table) == n
    return dim, table


def read_binary_vectors(path):
    data = open(path, "rb").read()
    header, rest = data.split(b"\n", 1)
    n, dim = map(int, header.split())
    table, pos = {}, 0
    for _ in range(n):
        sp = rest.index(b" ", pos)
        word = rest[pos:sp].decode()
        table[word] = list(struct.unpack(f"<{dim}f", rest[sp + 1:sp + 1 + 4 * dim]))
        pos = sp + 1 + 4 * dim
        assert rest[pos:pos + 1] == b"\n"
        pos += 1
    assert pos == len(rest)
    return dim, table


def test_similar_finds_the_planted_partner(vectors):
    hits = 0
    for i in range(K):
        r = w2v("similar", vectors, f"x{i}", "-k", "3")
        assert r.returncode == 0, r.stderr
        rows = [line.split() for line in r.stdout.splitlines()]
        assert len(rows) == 3 and all(-1 <= float(s) <= 1 for _, s in rows)
        assert float(rows[0][1]) >= float(rows[1][1]) >= float(rows[2][1])
        hits += rows[0][0] == f"y{i}"
    assert hits >= K * 9 // 10, f"only {hits} of {K} x words have their y partner nearest"
    r = w2v("similar", vectors, "X3", "-k", "1")  # a capitalized query falls back to the lower-cased word
    assert r.returncode == 0 and r.stdout.split()[0] == "y3"


HAND = """8 6
man 1 0 0 1 0 0
woman 1 0 0 0 1 0
king 0 1 0 1 0 0
queen 0 1 0 0 1 0
boy 0 0 1 1 0 0
girl 0 0 1 0 1 0
apple 0 0 0 0 0 2
lad 0.2 0 1 1 0 0
"""


def test_analogy_eval_plot_on_a_hand_made_table(tmp_path):
    vec = tmp_path / "hand.txt"
    vec.write_text(HAND)
    r = w2v("analogy", vec, "man", "woman", "king", "-k", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "man : woman :: king : ?" and lines[1].split()[0] == "queen"
    assert abs(float(lines[1].split()[1]) - 1.0) < 1e-4  # woman - man + king is queen exactly
    q = tmp_path / "q.txt"
    q.write_text(": family\nman woman king queen\nMan Woman Boy Girl\nman woman dog cat\n: other\nboy girl king apple\n")
    r = w2v("eval", vec, q)
    assert r.returncode == 0, r.stderr
    table = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()[1:-1]}
    assert table["family"][:3] == ["2", "2", "1"] and table["family"][3] == "100.0%"
    assert table["other"][:3] == ["0", "1", "0"]
    assert table["total"][:3] == ["2", "3", "1"]
    svg = tmp_path / "map.svg"
    r = w2v("plot", vec, "man", "woman", "king", "queen", "apple", "-o", svg)
    assert r.returncode == 0, r.stderr
    s = svg.read_text()
    assert s.startswith("<svg") and s.rstrip().endswith("</svg>")
    assert all(f">{w}</text>" in s for w in ["man", "woman", "king", "queen", "apple"])
    assert s.count("<circle") == 5
    assert "wrote" in r.stdout and "PC1" in r.stdout


def test_analogy_and_plot_on_trained_vectors(vectors, tmp_path):
    r = w2v("analogy", vectors, "x1", "y1", "x2", "-k", "4")
    assert r.returncode == 0, r.stderr
    answers = [line.split()[0] for line in r.stdout.splitlines()[1:]]
    assert len(answers) == 4 and not {"x1", "y1", "x2"} & set(answers)
    r = w2v("plot", vectors, *[f"{c}{i}" for i in range(4) for c in "xy"], "-o", tmp_path / "m.svg")
    assert r.returncode == 0, r.stderr


def test_deterministic_with_one_thread_and_both_formats(corpus, tmp_path):
    a, b, c = tmp_path / "a.bin", tmp_path / "b.bin", tmp_path / "c.txt"
    for out in (a, b):
        r = w2v("train", "-f", corpus, "-o", out, "--arch", "cbow", *SMALL)
        assert r.returncode == 0, r.stderr
    assert a.read_bytes() == b.read_bytes()
    r = w2v("train", "-f", corpus, "-o", c, "--arch", "cbow", *SMALL)
    assert r.returncode == 0, r.stderr
    dim_b, tb = read_binary_vectors(a)
    dim_t, tt = read_text_vectors(c)
    assert dim_b == dim_t == 24 and tb.keys() == tt.keys() and len(tb) == 4 * K
    assert all(abs(x - y) <= 1e-6 * max(1, abs(x)) for w in tb for x, y in zip(tb[w], tt[w]))
    # the binary file is queried like the text one
    r = w2v("similar", a, "y5", "-k", "1")
    assert r.returncode == 0 and r.stdout.split()[0] == "x5"


def test_hierarchical_softmax_and_two_threads(corpus, tmp_path):
    out = tmp_path / "hs.txt"
    r = w2v("train", "-f", corpus, "-o", out, "--hs", *SMALL[:-4], "-t", "2")
    assert r.returncode == 0, r.stderr
    assert "hierarchical softmax" in r.stderr
    r = w2v("similar", out, "x7", "-k", "1")
    assert r.returncode == 0 and r.stdout.split()[0] == "y7"


def test_subword_tokenizer(tmp_path):
    tok = write_byte_tokenizer(str(tmp_path))  # byte-level BPE with no merges: every byte a token
    text = tmp_path / "t.txt"
    text.write_text("abc abd\n\nabc cab\n")
    out = tmp_path / "v.txt"
    r = w2v("train", "-f", text, "-o", out, "--tokenizer", tok, "--min-count", "1", "--dim", "8", "-t", "1")
    assert r.returncode == 0, r.stderr
    _, table = read_text_vectors(out)
    assert set(table) == {"a", "b", "c", "d", "\u0120"}  # Ġ: the byte-level token of a space


def test_gensim_reads_both_formats(vectors, corpus, tmp_path):
    gensim = pytest.importorskip("gensim")  # CI installs only pytest, numpy, gguf
    from gensim.models import KeyedVectors
    _, mine = read_text_vectors(vectors)
    kv = KeyedVectors.load_word2vec_format(vectors, binary=False)
    assert len(kv) == len(mine) and kv.vector_size == 24
    assert all(abs(float(kv[w][d]) - mine[w][d]) < 1e-6 for w in mine for d in range(24))
    binf = tmp_path / "v.bin"
    assert w2v("train", "-f", corpus, "-o", binf, *SMALL).returncode == 0
    kvb = KeyedVectors.load_word2vec_format(str(binf), binary=True)
    _, tb = read_binary_vectors(binf)
    assert len(kvb) == 4 * K and all(float(kvb[w][0]) == pytest.approx(tb[w][0], abs=0) for w in tb)
    # and plinth reads what gensim writes (its binary rows have no trailing newline)
    kvb.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    r = w2v("similar", tmp_path / "g.bin", "x4", "-k", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == kvb.most_similar("x4", topn=1)[0][0]


@pytest.mark.parametrize("content,message", [
    (b"", "the text is empty"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00", "binary data"),
    (b"caf\xe9 au lait\n", "not UTF-8"),
    (b"the cat sat on the mat\n", "vocabulary is empty"),
])
def test_bad_text(tmp_path, content, message):
    p = tmp_path / "in.txt"
    p.write_bytes(content)
    r = w2v("train", "-f", p, "-o", tmp_path / "v.txt", "--min-count", "5")
    assert r.returncode == 1
    assert r.stderr.startswith("plinth word2vec train: ") and message in r.stderr and str(p) in r.stderr
    assert not (tmp_path / "v.txt").exists()


@pytest.mark.parametrize("content,message", [
    (b"3 2\na 1 2\nb 3 4\n", "truncated"),
    (b"2 2\na 1 2\nb 3", "truncated"),
    (b"2 3\na 1 2\nb 3 4\n", "the header's dimension is 3"),
    (b"a 1 2\nb 3 4\n", "header"),
    (b"2 2\na 1 2\nb 3 4\n" + b"\x00" * 3, "more rows"),
    (b"2 2\na " + struct.pack("<2f", 1, 2) + b"\nb " + struct.pack("<f", 3), "truncated"),
])
def test_bad_vectors_file(tmp_path, content, message):
    p = tmp_path / "bad.vec"
    p.write_bytes(content)
    r = w2v("similar", p, "a")
    assert r.returncode == 1
    assert r.stderr.startswith("plinth word2vec similar: ") and message in r.stderr, r.stderr


def test_errors_and_usage(vectors, tmp_path):
    r = w2v("similar", vectors, "zebra")
    assert r.returncode == 1 and "'zebra' is not in the vocabulary" in r.stderr
    r = w2v("similar", tmp_path / "missing.txt", "a")
    assert r.returncode == 1 and "missing.txt" in r.stderr
    assert w2v("train", "-o", tmp_path / "v.txt").returncode == 2
    assert w2v("train", "-f", vectors).returncode == 2
    r = w2v("train", "-f", vectors, "-o", tmp_path / "v.txt", "--arch", "glove")
    assert r.returncode == 2 and "cbow or skipgram" in r.stderr
    assert w2v("train", "-f", vectors, "-o", tmp_path / "v.txt", "--dim", "0").returncode == 2
    assert w2v("train", "-f", vectors, "-o", tmp_path / "v.txt", "--negative", "0").returncode == 2
    assert w2v("similar", vectors).returncode == 2
    assert w2v("analogy", vectors, "a", "b").returncode == 2
    assert w2v("plot", vectors, "x1", "y1").returncode == 2  # no -o
    assert w2v("frobnicate").returncode == 2
    r = w2v("--help")
    assert r.returncode == 0 and "skipgram" in r.stdout


def test_ctrl_c_stops_without_writing(corpus, tmp_path):
    import signal
    import time
    out = tmp_path / "v.txt"
    p = subprocess.Popen([plinth_bin(), "word2vec", "train", "-f", corpus, "-o", str(out), "--epochs", "100000",
                          "-t", "1", "--min-count", "1"], stderr=subprocess.PIPE, text=True)
    assert "text:" in p.stderr.readline()  # the vocabulary is built: training has begun
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=20)[1]
    assert p.returncode == 130 and "interrupted" in err
    assert not out.exists()


def test_bad_tokenizer(corpus, tmp_path):
    r = w2v("train", "-f", corpus, "-o", tmp_path / "v.txt", "--tokenizer", tmp_path / "no-such-model")
    assert r.returncode == 1 and "no-such-model" in r.stderr


def test_bench_tokenizes_as_plinth(tmp_path):
    """bench/bench_word2vec.py feeds gensim its own Python copy of plinth's tokenization: the same words and
    sentences, or the comparison is unfair."""
    import importlib.util
    import re
    from helpers import ROOT
    spec = importlib.util.spec_from_file_location("bench_word2vec", os.path.join(ROOT, "bench", "bench_word2vec.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    text = tmp_path / "t.txt"
    text.write_text("It is a truth universally acknowledged, that a single man in possession\nof a good fortune, "
                    "must be in want of a wife.\n\n  \t\nDon't STOP: Élan’s café-au-lait (1811) -- "
                    "rock'n'roll ''quoted'' 'tis o'clock x_y\r\n\r\n학교에서 공부를 했다. Ünïcödé ΑΒΓ straße\n\n\n")
    sents = bench.sentences(str(text))
    out = tmp_path / "v.txt"
    r = w2v("train", "-f", text, "-o", out, "--min-count", "1", "--dim", "4", "--epochs", "1", "-t", "1")
    assert r.returncode == 0, r.stderr
    _, table = read_text_vectors(out)
    assert set(table) == {w for s in sents for w in s}
    m = re.search(r"text: (\d+) words, (\d+) distinct.* (\d+) words kept in (\d+) sentences", r.stderr)
    assert int(m.group(1)) == sum(map(len, sents)) and int(m.group(4)) == len(sents)
