"""plinth embed and plinth rag end to end, with all-MiniLM-L6-v2 and SmolLM2-135M-Instruct (scripts/fetch-models.sh):
embed's outputs (JSON lines, float32, unit vectors, a cut text said); rag index over the repository's docs/, then
search and ask three questions about plinth, the top / first cited chunk being the one that holds the answer; a
question the documents do not cover answered "I don't know"; incremental re-indexing (unchanged, updated,
removed); and bad input: an unreadable or binary file (skipped, said), a database of another model (refused,
reason named), damaged or foreign database files, an over-long query (cut, said), SIGKILL while indexing (the
database opens, and the next index completes it)."""
import json
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import time

import pytest

from helpers import ROOT, plinth_bin

MINILM = os.path.join(ROOT, "models", "all-minilm-l6-v2")
LLM = os.path.join(ROOT, "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")  # what scripts/fetch-models.sh fetches


def run(*args, **kw):
    return subprocess.run([plinth_bin(), *map(str, args)], capture_output=True, text=True, **kw)


def top_source(out, tag):
    """(path, first line, last line) of the line of stdout starting with tag ("1." for search, "[1]" for ask)"""
    line = next(l for l in out.splitlines() if l.startswith(tag + " "))
    loc = line.split()[1]
    path, lines = loc.rsplit(":", 1)
    a, b = map(int, lines.split("-"))
    return path, a, b


def holds(path, a, b, answer):
    lines = open(os.path.join(ROOT, path), encoding="utf-8").read().splitlines()
    return answer in " ".join(lines[a - 1:b])


# ---- embed ---------------------------------------------------------------------------------------------------
def test_embed_jsonl_f32_and_stdin(tmp_path):
    r = run("embed", "-m", MINILM, "a cat sits on the mat", "the stock market fell")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    assert [x["index"] for x in rows] == [0, 1] and all(len(x["embedding"]) == 384 for x in rows)
    assert all(abs(sum(v * v for v in x["embedding"]) - 1) < 1e-4 for x in rows)
    f = tmp_path / "in.txt"
    f.write_text("a cat sits on the mat\nthe stock market fell\n")
    with open(tmp_path / "out.f32", "wb") as out:
        r = subprocess.run([plinth_bin(), "embed", "-m", MINILM, "-f", str(f), "--format", "f32", "-q"], stdout=out,
                           stderr=subprocess.PIPE, text=False)
    assert r.returncode == 0 and r.stderr == b""
    raw = (tmp_path / "out.f32").read_bytes()
    assert len(raw) == 2 * 384 * 4
    v = struct.unpack("<768f", raw)
    assert max(abs(a - b) for a, b in zip(v[:384], rows[0]["embedding"])) < 1e-6
    r = subprocess.run([plinth_bin(), "embed", "-m", MINILM], input="word " * 600, capture_output=True, text=True)
    assert r.returncode == 0 and "cut to them" in r.stderr


def test_embed_bad_input(tmp_path):
    r = run("embed", "-m", os.path.join(ROOT, "docs"), "x")
    assert r.returncode == 1 and "embed:" in r.stderr
    r = run("embed", "-m", MINILM, "--format", "xml", "x")
    assert r.returncode == 2 and "jsonl or f32" in r.stderr
    r = run("embed", "-m", LLM, "x")
    assert r.returncode == 1 and "Hugging Face directory" in r.stderr


# ---- rag over docs/ --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def docs_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("rag") / "docs.db"
    r = run("rag", "index", "--db", db, "-m", MINILM, "docs", "-q", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "0 skipped" in r.stderr or "skipped:" in r.stderr
    return str(db)


QUESTIONS = [  # (question, file, a string of the answer)
    ("How many questions are in Mikolov's questions-words.txt analogy test set?", "docs/word2vec.md", "19,544"),
    ("How much memory does fine-tuning a 135M model need for weights, gradients and AdamW moments?", None, "2.2 GB"),
    ("What is the GEMM micro-kernel tile size on AVX2 Zen 3?", "docs/engine.md", "6 × 16 tiles"),
]


def test_search_finds_the_chunk_holding_the_answer(docs_db):
    for q, want, answer in QUESTIONS:  # hybrid, the default (dense alone ranks bench.md first for the second)
        r = run("rag", "search", "--db", docs_db, q, "-k", "3", cwd=ROOT)
        assert r.returncode == 0, r.stderr
        path, a, b = top_source(r.stdout, "1.")
        assert (want is None or path == want) and holds(path, a, b, answer), (q, r.stdout)


def test_search_modes_and_hnsw(docs_db):
    q = QUESTIONS[0][0]
    exact = run("rag", "search", "--db", docs_db, q, "--mode", "dense", "--exact", "-k", "5", cwd=ROOT)
    hnsw = run("rag", "search", "--db", docs_db, q, "--mode", "dense", "--hnsw", "--ef", "200", "-k", "5", cwd=ROOT)
    assert exact.returncode == 0 and hnsw.returncode == 0
    assert top_source(exact.stdout, "1.") == top_source(hnsw.stdout, "1.")
    bm = run("rag", "search", "--db", docs_db, "questions-words.txt Mikolov", "--mode", "bm25", cwd=ROOT)
    assert bm.returncode == 0 and top_source(bm.stdout, "1.")[0] == "docs/word2vec.md"


def test_ask_cites_the_chunk_holding_the_answer(docs_db):
    for q, want, answer in QUESTIONS:
        r = run("rag", "ask", "--db", docs_db, "-m", LLM, q, "-k", "2", "-n", "8", "-t", "2", cwd=ROOT)
        assert r.returncode == 0, r.stderr
        assert "Sources:" in r.stdout
        path, a, b = top_source(r.stdout[r.stdout.index("Sources:"):], "[1]")
        assert (want is None or path == want) and holds(path, a, b, answer), (q, r.stdout)


def test_ask_says_it_does_not_know(docs_db):
    r = run("rag", "ask", "--db", docs_db, "-m", LLM, "What is the boiling point of liquid nitrogen in Kelvin?",
            "-n", "8", cwd=ROOT)  # the default threshold, 0.3: the best chunk scores 0.16
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("I don't know") and "Sources:" not in r.stdout


def test_query_longer_than_the_context_is_cut_and_said(docs_db):
    r = run("rag", "search", "--db", docs_db, "embedding " * 400 + "HNSW", cwd=ROOT)
    assert r.returncode == 0 and "longer than the encoder's 256 tokens" in r.stderr


# ---- incremental index, bad input ------------------------------------------------------------------------------
def small_corpus(d):
    d.mkdir(exist_ok=True)
    (d / "a.md").write_text("# Apples\n\nApples grow on trees in orchards.\n\nThey are red or green.\n")
    (d / "b.txt").write_text("Bicycles have two wheels and a chain that drives the rear wheel.\n")
    (d / "c.html").write_text("<html><head><style>p {color: red}</style><script>var secret = 1;</script></head>"
                              "<body><h1>Cats</h1><p>Cats sleep sixteen hours a day &amp; purr.</p></body></html>")
    (d / "blob.bin").write_bytes(b"\x00\x01\x02binary\x00data" * 10)
    (d / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    os.symlink(d / "missing-target.md", d / "broken.md")
    return d


def test_index_reports_skips_and_is_incremental(tmp_path):
    d = small_corpus(tmp_path / "docs")
    db = tmp_path / "s.db"
    r = run("rag", "index", "--db", db, "-m", MINILM, d)
    assert r.returncode == 0, r.stderr
    assert "3 added" in r.stderr and "3 skipped" in r.stderr
    assert "blob.bin: binary" in r.stderr and "latin1.txt: not UTF-8" in r.stderr and "broken.md: unreadable" in r.stderr
    s = run("rag", "search", "--db", db, "How long do cats sleep?", "-k", "1")
    assert s.returncode == 0 and "c.html" in s.stdout and "sixteen hours a day & purr" in s.stdout and "secret" not in s.stdout
    (d / "b.txt").write_text("Bicycles have two wheels. Tandems have two seats.\n")
    (d / "a.md").unlink()
    r = run("rag", "index", "--db", db, d)  # the model recorded in the database
    assert r.returncode == 0, r.stderr
    assert "0 added, 1 updated, 1 unchanged, 1 removed" in r.stderr
    s = run("rag", "search", "--db", db, "apples orchards", "--mode", "bm25")
    assert s.returncode == 0 and "a.md" not in s.stdout
    r = run("rag", "index", "--db", db, "./" + d.name + "//", cwd=d.parent)  # another spelling of a relative path
    r2 = run("rag", "index", "--db", db, d.name, cwd=d.parent)
    assert r.returncode == 0 and r2.returncode == 0 and "0 added, 0 updated, 2 unchanged, 0 removed" in r2.stderr, r2.stderr


def write_cls_variant(d):
    """all-MiniLM-L6-v2 with CLS pooling: same dimension, other vectors"""
    d.mkdir()
    for f in os.listdir(MINILM):
        if f != "1_Pooling":
            os.symlink(os.path.join(MINILM, f), d / f)
    (d / "1_Pooling").mkdir()
    (d / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 384, "pooling_mode_cls_token": True,
                                                             "pooling_mode_mean_tokens": False}))
    return d


def write_tiny_bert(d, dim=32):
    """a random 1-layer BERT of width 32 with MiniLM's tokenizer, written as safetensors with numpy"""
    import numpy as np
    d.mkdir()
    rng = np.random.default_rng(0)
    V, F = 30522, 2 * dim
    shapes = {"embeddings.word_embeddings.weight": (V, dim), "embeddings.position_embeddings.weight": (512, dim),
              "embeddings.token_type_embeddings.weight": (2, dim), "embeddings.LayerNorm.weight": (dim,),
              "embeddings.LayerNorm.bias": (dim,)}
    for n, s in [("attention.self.query", (dim, dim)), ("attention.self.key", (dim, dim)), ("attention.self.value", (dim, dim)),
                 ("attention.output.dense", (dim, dim)), ("intermediate.dense", (F, dim)), ("output.dense", (dim, F))]:
        shapes[f"encoder.layer.0.{n}.weight"] = s
        shapes[f"encoder.layer.0.{n}.bias"] = (s[0],)
    for n in ["attention.output.LayerNorm", "output.LayerNorm"]:
        shapes[f"encoder.layer.0.{n}.weight"] = (dim,)
        shapes[f"encoder.layer.0.{n}.bias"] = (dim,)
    header, blobs, off = {}, [], 0
    for name, s in shapes.items():
        a = (rng.standard_normal(s) * 0.05).astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(s), "data_offsets": [off, off + len(a)]}
        blobs.append(a)
        off += len(a)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    (d / "model.safetensors").write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    (d / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": dim, "num_hidden_layers": 1,
                                               "num_attention_heads": 2, "intermediate_size": F, "vocab_size": V,
                                               "max_position_embeddings": 512, "type_vocab_size": 2}))
    shutil.copy(os.path.join(MINILM, "tokenizer.json"), d / "tokenizer.json")
    return d


def test_database_of_another_model_is_refused(tmp_path):
    d = small_corpus(tmp_path / "docs")
    db = tmp_path / "s.db"
    assert run("rag", "index", "--db", db, "-m", MINILM, d).returncode == 0
    tiny = write_tiny_bert(tmp_path / "tiny")
    r = run("rag", "search", "--db", db, "-m", tiny, "cats")
    assert r.returncode == 1 and "indexed with model 'all-minilm-l6-v2' (384 floats" in r.stderr and "makes 32" in r.stderr
    r = run("rag", "index", "--db", db, "-m", tiny, d)
    assert r.returncode == 1 and "384 floats" in r.stderr
    cls = write_cls_variant(tmp_path / "minilm-cls")
    r = run("rag", "search", "--db", db, "-m", cls, "cats")
    assert r.returncode == 1 and "same dimension (384) but other vectors" in r.stderr
    assert run("rag", "search", "--db", db, "cats").returncode == 0  # the database is untouched


def test_damaged_and_foreign_databases(tmp_path):
    d = small_corpus(tmp_path / "docs")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all, just text" * 100)
    for sub in (["search", "cats"], ["index", d]):
        r = run("rag", sub[0], "--db", junk, "-m", MINILM, sub[1])
        assert r.returncode == 1 and "damaged or not a database" in r.stderr, r.stderr
    assert junk.read_bytes().startswith(b"this is not a database")  # left as it was
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    r = run("rag", "index", "--db", other, "-m", MINILM, d)
    assert r.returncode == 1 and "not a plinth rag database" in r.stderr
    good = tmp_path / "good.db"
    assert run("rag", "index", "--db", good, "-m", MINILM, d).returncode == 0
    raw = bytearray(good.read_bytes())
    good.write_bytes(raw[: len(raw) // 2])  # truncated
    r = run("rag", "search", "--db", good, "-m", MINILM, "cats")
    assert r.returncode == 1 and "rag search:" in r.stderr
    raw[4096:8192] = os.urandom(4096)  # a page overwritten
    good.write_bytes(raw)
    r = run("rag", "search", "--db", good, "-m", MINILM, "cats")
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr and r.returncode != -11
    r = run("rag", "search", "--db", tmp_path / "none.db", "-m", MINILM, "cats")
    assert r.returncode == 1 and "no such database" in r.stderr


def test_sigkill_while_indexing_leaves_a_database_that_opens(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    for f in ["api.md", "bench.md", "chat-templates.md", "info.md", "models.md", "sampling.md"]:
        shutil.copy(os.path.join(ROOT, "docs", f), d / f)
    db = tmp_path / "k.db"
    p = subprocess.Popen([plinth_bin(), "rag", "index", "--db", str(db), "-m", MINILM, str(d), "-t", "1"],
                         stderr=subprocess.PIPE, text=True)
    added = 0
    for line in p.stderr:  # kill it once two files are in, while it works on the third
        added += line.startswith("added")
        if added == 2:
            time.sleep(0.3)
            p.send_signal(signal.SIGKILL)
            break
    p.wait()
    assert p.returncode == -signal.SIGKILL
    r = run("rag", "search", "--db", db, "tensor engine")
    assert r.returncode == 0, r.stderr
    r = run("rag", "index", "--db", db, d)
    assert r.returncode == 0, r.stderr
    assert " 2 unchanged" in r.stderr or " 3 unchanged" in r.stderr
    fresh = tmp_path / "fresh.db"
    assert run("rag", "index", "--db", fresh, "-m", MINILM, d, "-q").returncode == 0
    q = "How does the KV cache hold many sequences?"
    a = run("rag", "search", "--db", db, q, "-k", "5")
    b = run("rag", "search", "--db", fresh, q, "-k", "5")
    assert a.returncode == 0 and a.stdout == b.stdout


def test_pdf_without_a_reader_is_skipped_and_said(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "note.txt").write_text("Owls hunt at night.\n")
    (d / "paper.pdf").write_bytes(b"%PDF-1.4 this is not a real PDF\n")
    r = run("rag", "index", "--db", tmp_path / "p.db", "-m", MINILM, d)
    assert r.returncode == 0 and "1 added" in r.stderr and "1 skipped" in r.stderr, r.stderr
    if shutil.which("pdftotext"):
        assert "paper.pdf: pdftotext could not read it" in r.stderr
    else:
        assert "paper.pdf: PDF needs pdftotext, which is not installed (Debian: apt-get install poppler-utils)" in r.stderr
