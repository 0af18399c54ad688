#!/usr/bin/env python3
"""Make the GGUF tokenizer golden fixtures (tests/golden/tokenizers/gguf/): vocabulary-only GGUF files for
the "llama" (SentencePiece BPE) and "bert" (WordPiece) tokenizer.ggml.model types, plus expected ids.

spm_llama.gguf: tests/golden/tokenizers/spm_bpe.json written the way llama.cpp writes a Llama-2 vocabulary
  (tokens, scores, token_type 1 normal / 2 unknown / 3 control / 6 byte, bos/eos/unk ids, add_bos/add_eos),
  without merges, so readers must rebuild the merges from the scores. llama.cpp's LlamaHfVocab gives every
  token of a BPE tokenizer.json the placeholder score -1000, which loses the merge order; we write
  score = -(1 + rank of the merge that made the token) (0 for tokens no merge makes), so score order is
  merge order. Reference: transformers' AutoTokenizer reading the same GGUF (what users compare with);
  its ids are recorded in spm_llama.fixture.json (same format and corpus convention as
  tools/make_tokenizer_fixtures.py).
minilm_bert.gguf: models/all-minilm-l6-v2/tokenizer.json the way llama.cpp's BertModel.set_vocab writes it:
  the "phantom space" spelling ("##x" -> "x", word-start "x" -> "\u2581x", "[...]" kept), token types
  (3 for the special added tokens, 1 otherwise), bos ([CLS]) / sep / unk / pad / mask ids, no scores. transformers cannot
  read a "bert" GGUF tokenizer, so the reference is HF tokenizers on the original tokenizer.json, which
  tests/golden/tokenizers/minilm.fixture.json already records: the C test reuses it with this model.

Usage: python3 tools/make_gguf_tokenizer_fixtures.py   (needs models/: bash scripts/fetch-models.sh;
run tools/make_tokenizer_fixtures.py first, it writes the corpus and spm_bpe.json)
"""
import json, os, re, sys

import gguf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import make_tokenizer_fixtures as M  # noqa: E402  (corpus cases and the fixture writer)

OUT = os.path.join(ROOT, "tests", "golden", "tokenizers", "gguf")
BYTE_RE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


def write_gguf(path, arch, fill):
    w = gguf.GGUFWriter(path, arch)
    fill(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def spm_llama():
    j = json.load(open(os.path.join(ROOT, "tests/golden/tokenizers/spm_bpe.json"), encoding="utf-8"))
    vocab = j["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items(): tokens[i] = t
    assert all(t is not None for t in tokens)
    merges = [m.split(" ") if isinstance(m, str) else m for m in j["model"]["merges"]]
    rank = {}
    for r, (a, b) in enumerate(merges): rank.setdefault(a + b, r)
    scores = [-(1.0 + rank[t]) if t in rank else 0.0 for t in tokens]
    special = {a["id"] for a in j["added_tokens"] if a["special"]}
    unk = vocab["<unk>"]
    types = [2 if i == unk else 3 if i in special else 6 if BYTE_RE.match(t) else 1 for i, t in enumerate(tokens)]

    def fill(w):
        w.add_name("plinth spm_bpe vocabulary")
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(vocab["<s>"])
        w.add_eos_token_id(vocab["</s>"])
        w.add_unk_token_id(unk)
        w.add_add_bos_token(True)
        w.add_add_eos_token(False)
    write_gguf(os.path.join(OUT, "spm_llama.gguf"), "llama", fill)


def minilm_bert():
    j = json.load(open(os.path.join(ROOT, "models/all-minilm-l6-v2/tokenizer.json"), encoding="utf-8"))
    vocab = j["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items(): tokens[i] = t
    assert all(t is not None for t in tokens)
    special = {a["id"] for a in j["added_tokens"] if a["special"]}

    def phantom(t):
        if t.startswith("[") and t.endswith("]"): return t
        return t[2:] if t.startswith("##") else "\u2581" + t
    ids = {n: vocab[n] for n in ("[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]")}

    def fill(w):
        w.add_name("all-MiniLM-L6-v2 vocabulary")
        w.add_tokenizer_model("bert")
        w.add_token_list([phantom(t) for t in tokens])
        w.add_token_types([3 if i in special else 1 for i in range(len(tokens))])
        w.add_bos_token_id(ids["[CLS]"])   # gguf >= 0.10 has no cls key: llama.cpp stores [CLS] as BOS
        w.add_sep_token_id(ids["[SEP]"])
        w.add_add_bos_token(True)
        w.add_add_eos_token(True)          # [SEP] closes the sequence
        w.add_unk_token_id(ids["[UNK]"])
        w.add_pad_token_id(ids["[PAD]"])
        w.add_mask_token_id(ids["[MASK]"])
    write_gguf(os.path.join(OUT, "minilm_bert.gguf"), "bert", fill)


def main():
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.makedirs(OUT, exist_ok=True)
    spm_llama()
    minilm_bert()
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(OUT, gguf_file="spm_llama.gguf").backend_tokenizer
    M.OUT = OUT
    M.record("spm_llama", tok, "tests/golden/tokenizers/gguf/spm_llama.gguf", M.corpus_cases())


if __name__ == "__main__":
    main()
