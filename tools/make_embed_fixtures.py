"""Golden sentence embeddings from sentence-transformers for tests/unit/test_embed_golden.c.

Writes tests/golden/embed/minilm_sentences.json (the texts) and minilm_embeddings.f32 (n x dim little-endian
float32, in the texts' order), computed by sentence-transformers' own batched, padded encode of
all-MiniLM-L6-v2 (models/all-minilm-l6-v2, from scripts/fetch-models.sh). The sentences: English, Korean,
code and emoji lines of data/corpus, a few empty-ish ones and some far over the model's 256-token limit.

    python3 tools/make_embed_fixtures.py [MODEL_DIR]
"""
import json
import pathlib
import sys

import numpy as np
from sentence_transformers import SentenceTransformer

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/golden/embed"


def lines(name, n, step=1):
    text = (ROOT / "data/corpus" / name).read_text(encoding="utf-8", errors="replace").splitlines()
    return [t for t in text if t.strip()][::step][:n]


def sentences():
    s = lines("en.txt", 80, 2) + lines("ko.txt", 50, 3) + lines("code.txt", 40, 4) + lines("emoji.txt", 10, 9)
    s += lines("ja.txt", 6, 20) + lines("zh.txt", 6, 20)
    s += ["", " ", ".", "a", "?!", "\t\n", "[CLS]", "[SEP] [PAD]", "ㅋ", "x" * 300]
    para = " ".join(lines("en.txt", 60))          # ~700 words: cut at 256 tokens
    s += [para, " ".join(lines("ko.txt", 40)), "\n".join(lines("code.txt", 60)), "word " * 600]
    return s


def main():
    model = SentenceTransformer(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "models/all-minilm-l6-v2"), device="cpu")
    texts = sentences()
    emb = model.encode(texts, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "minilm_sentences.json").write_text(json.dumps(texts, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    emb.astype("<f4").tofile(OUT / "minilm_embeddings.f32")
    lens = [len(model.tokenizer(t)["input_ids"]) for t in texts]
    print(f"{len(texts)} sentences, dim {emb.shape[1]}, tokens {min(lens)}..{max(lens)} "
          f"({sum(n > model.max_seq_length for n in lens)} over {model.max_seq_length})")


if __name__ == "__main__":
    main()
