#!/usr/bin/env python3
"""Check pl_tokenizer_save_hf against transformers: plinth writes a tokenizer as Hugging Face files, and
transformers.AutoTokenizer.from_pretrained(dir) must load them as is and encode every corpus line (and a few
whole files) to the ids plinth gives for the original, and decode those ids to plinth's text. Also checks
that BOS/EOS and the chat template come through.

Default model: SmolLM2's GGUF (models/smollm2/, bash scripts/fetch-models.sh); --all adds every tokenizer
fixture the C tests use. plinth is driven through the unit-test binary's tool modes
(build/test_tokenizer_save --save MODEL DIR / --encode MODEL FILE [--whole]).

Needs `pip install tokenizers transformers` (and `gguf` for the GGUF chat template). A tool, not run by CI.
Usage: python3 tools/check_tokenizer_save.py [--bin build/test_tokenizer_save] [--all] [MODEL ...]
"""
import argparse, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "data", "corpus")
WHOLE_FILES = ("code.txt", "special.txt", "invalid_utf8.txt", "ko.txt")   # as tools/make_tokenizer_fixtures.py
SMOLLM2 = "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FIXTURES = ["tests/golden/tokenizers/llama3_bpe.json", "tests/golden/tokenizers/spm_bpe.json",
            "tests/golden/tokenizers/unigram.json", "tests/golden/tokenizers/gguf/spm_llama.gguf",
            "tests/golden/tokenizers/gguf/minilm_bert.gguf", "models/all-minilm-l6-v2"]


def plinth_encode(binary, model, path, whole):
    """[(ids, decoded text)] per line of path (or one entry for the whole file), from plinth."""
    cmd = [binary, "--encode", model, path] + (["--whole"] if whole else [])
    out = subprocess.run(cmd, check=True, capture_output=True).stdout.decode("ascii")
    rows = []
    for line in out.split("\n")[:-1]:
        ids, dec = line.split("\t")
        rows.append(([int(x) for x in ids.split()], bytes.fromhex(dec).decode("utf-8", "replace")))
    return rows


def gguf_meta(model):
    """A GGUF's chat template and BOS/EOS token strings (None for other models)."""
    if not model.endswith(".gguf"): return None
    import gguf
    r = gguf.GGUFReader(model)

    def field(k):
        f = r.fields.get(k)
        return None if f is None else f.parts[f.data[0]]
    tokens = r.fields["tokenizer.ggml.tokens"]
    tok = lambda i: None if i is None else bytes(tokens.parts[tokens.data[int(i[0])]]).decode("utf-8")
    t = field("tokenizer.chat_template")
    bos, eos = field("tokenizer.ggml.bos_token_id"), field("tokenizer.ggml.eos_token_id")
    if bytes(field("tokenizer.ggml.model")) == b"bert":   # as load_gguf.c: [CLS] / [SEP] play BOS / EOS
        bos = field("tokenizer.ggml.cls_token_id") if field("tokenizer.ggml.cls_token_id") is not None else bos
        eos = field("tokenizer.ggml.seperator_token_id") if field("tokenizer.ggml.seperator_token_id") is not None else eos
    return {"chat_template": None if t is None else bytes(t).decode("utf-8"), "bos": tok(bos), "eos": tok(eos)}


def check(binary, model):
    from transformers import AutoTokenizer
    name = os.path.relpath(model, ROOT)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([binary, "--save", model, d], check=True)
        tok = AutoTokenizer.from_pretrained(d)
        total = same = same_dec = 0
        shown = 0
        for fn in sorted(os.listdir(CORPUS)):
            if not fn.endswith(".txt"): continue
            path = os.path.join(CORPUS, fn)
            raw = open(path, "rb").read()
            texts = [l.decode("utf-8", "replace") for l in raw.split(b"\n")]
            if raw.endswith(b"\n"): texts = texts[:-1]
            rows = plinth_encode(binary, model, path, False)
            assert len(rows) == len(texts), (fn, len(rows), len(texts))
            if fn in WHOLE_FILES:
                texts.append(raw.decode("utf-8", "replace"))
                rows += plinth_encode(binary, model, path, True)
            for text, (ids, dec) in zip(texts, rows):
                hf = tok(text, add_special_tokens=True)["input_ids"]
                hf_dec = tok.decode(ids, skip_special_tokens=False)
                total += 1
                same += hf == ids
                same_dec += hf_dec == dec
                if (hf != ids or hf_dec != dec) and shown < 3:
                    shown += 1
                    print(f"  {fn}: {text[:80]!r}\n    plinth {ids[:20]}\n    hf     {hf[:20]}\n"
                          f"    decoded plinth {dec[:80]!r} hf {hf_dec[:80]!r}")
        # a GGUF's own BOS/EOS and chat template must reach transformers (for tokenizer.json inputs the C
        # test checks them against plinth's loaded tokenizer)
        meta, cfg_ok = gguf_meta(model), True
        for key, got in (("bos", tok.bos_token), ("eos", tok.eos_token), ("chat_template", tok.chat_template)):
            if meta is not None and meta[key] != got:
                cfg_ok = False
                print(f"  {key}: transformers {str(got)[:60]!r}, GGUF {str(meta[key])[:60]!r}")
    ok = same == total and same_dec == total and cfg_ok
    tmpl = "kept" if tok.chat_template else "none"
    print(f"{name}: {same}/{total} same ids, {same_dec}/{total} same decoding, "
          f"bos {tok.bos_token!r} eos {tok.eos_token!r}, chat template {tmpl}: {'OK' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "test_tokenizer_save"))
    ap.add_argument("--all", action="store_true", help="also every tokenizer fixture of the C tests")
    ap.add_argument("models", nargs="*")
    a = ap.parse_args()
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    models = a.models or [SMOLLM2] + (FIXTURES if a.all else [])
    models = [m if os.path.isabs(m) else os.path.join(ROOT, m) for m in models]
    missing = [m for m in models if not os.path.exists(m)]
    if missing: sys.exit("missing: " + ", ".join(missing) + " (bash scripts/fetch-models.sh)")
    bad = [m for m in models if not check(a.bin, m)]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
