"""Retrieval quality on the project's retrieval set (data/rag/: a frozen copy of docs/ and 64 questions, each with
the file and a passage of its answer): nDCG@10 and recall@5 of plinth's dense, BM25 (FTS5) and hybrid search beside
sentence-transformers + exact search and rank_bm25 over the very same chunks (read from plinth's database), and how
far plinth's chunk vectors are from sentence-transformers' for the same texts.

A chunk is relevant to a question when it comes from the question's file and holds its answer passage (whitespace
normalized). Needs: a Release build, models/all-minilm-l6-v2, pip install sentence-transformers rank_bm25.

    python3 bench/bench_rag.py [--db /tmp/plinth-rag-bench.db]
"""
import argparse
import json
import math
import os
import re
import sqlite3
import subprocess
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLINTH = os.environ.get("PLINTH_BIN", os.path.join(ROOT, "build", "plinth"))
MODEL = os.path.join(ROOT, "models", "all-minilm-l6-v2")
K = 10


def norm(s):
    return re.sub(r"\s+", " ", s)


def ndcg(ranked, rel, k=K):
    dcg = sum(1 / math.log2(i + 2) for i, c in enumerate(ranked[:k]) if c in rel)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return dcg / ideal if ideal else 0.0


def recall(ranked, rel, k=5):
    return len(set(ranked[:k]) & rel) / len(rel) if rel else 0.0


def plinth_runs(db, queries):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(q["query"] for q in queries) + "\n")
    runs = {}
    for mode in ("dense", "bm25", "hybrid"):
        out = subprocess.run([PLINTH, "rag", "search", "--db", db, "-f", f.name, "--json", "-k", str(K), "--mode", mode,
                              "--exact"], capture_output=True, text=True, check=True).stdout
        runs[mode] = [[r["id"] for r in json.loads(l)["results"]] for l in out.splitlines()]
    os.unlink(f.name)
    return runs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=os.path.join(tempfile.gettempdir(), "plinth-rag-bench.db"))
    a = ap.parse_args()
    subprocess.run([PLINTH, "rag", "index", "--db", a.db, "-m", MODEL, "data/rag/docs", "-q"], cwd=ROOT, check=True)
    queries = [json.loads(l) for l in open(os.path.join(ROOT, "data/rag/queries.jsonl"), encoding="utf-8")]
    con = sqlite3.connect(a.db)
    rows = con.execute("SELECT c.id, f.path, c.text, c.head, c.vec FROM chunks c JOIN files f ON c.file = f.id ORDER BY c.id").fetchall()
    ids = [r[0] for r in rows]
    texts = [r[2] for r in rows]
    inputs = [(r[3] + "\n" + r[2]) if r[3] else r[2] for r in rows]  # what plinth's encoder read
    pvec = np.stack([np.frombuffer(r[4], dtype="<f4") for r in rows])
    rel = [{r[0] for r in rows if os.path.basename(r[1]) == q["file"] and norm(q["answer"]) in norm(r[2])} for q in queries]
    print(f"{len(rows)} chunks, {len(queries)} queries, {sum(1 for r in rel if not r)} without a chunk holding the whole answer")

    runs = plinth_runs(a.db, queries)

    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(MODEL, device="cpu")
    svec = st.encode(inputs, batch_size=32, convert_to_numpy=True)
    qvec = st.encode([q["query"] for q in queries], batch_size=32, convert_to_numpy=True)
    runs["sentence-transformers exact"] = [[ids[j] for j in np.argsort(-(svec @ v), kind="stable")[:K]] for v in qvec]

    from rank_bm25 import BM25Okapi
    tok = lambda s: re.findall(r"\w+", s.lower())
    bm = BM25Okapi([tok(t) for t in texts])
    runs["rank_bm25 (Okapi)"] = [[ids[j] for j in np.argsort(-bm.get_scores(tok(q["query"])), kind="stable")[:K]] for q in queries]

    print(f"chunk vectors, plinth vs sentence-transformers: max abs {np.abs(pvec - svec).max():.2e}, "
          f"min cosine {np.min(np.sum(pvec * svec, 1) / np.linalg.norm(pvec, axis=1) / np.linalg.norm(svec, axis=1)):.7f}")
    same = sum(a == b for a, b in zip(runs["dense"], runs["sentence-transformers exact"]))
    print(f"plinth dense top-{K} equal to sentence-transformers' for {same} of {len(queries)} queries")
    print("\n| search | nDCG@10 | recall@5 |\n|---|---|---|")
    for name in ("dense", "bm25", "hybrid", "sentence-transformers exact", "rank_bm25 (Okapi)"):
        r = runs[name]
        label = f"plinth {name}" if name in ("dense", "bm25", "hybrid") else name
        print(f"| {label} | {np.mean([ndcg(x, s) for x, s in zip(r, rel)]):.3f} | {np.mean([recall(x, s) for x, s in zip(r, rel)]):.3f} |")


if __name__ == "__main__":
    main()
