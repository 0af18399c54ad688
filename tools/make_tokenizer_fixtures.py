#!/usr/bin/env python3
"""Make the tokenizer golden fixtures (tests/golden/tokenizers/) with Hugging Face `tokenizers`/`transformers`.

1. Expands tools/corpus_seed.py into data/corpus/*.txt (deterministic; >= 2,000 lines, one case per line).
2. Trains three small tokenizers on text written for the project and saves their tokenizer.json:
   llama3_bpe.json (byte-level BPE, Llama-3 split regex, ignore_merges), spm_bpe.json (SentencePiece-style BPE
   with byte fallback, Prepend/Replace normalizers), unigram.json (Unigram with NFKC + Metaspace).
3. For those, SmolLM2 (from models/smollm2/*.gguf via transformers' GGUF loader) and MiniLM
   (models/all-minilm-l6-v2/tokenizer.json) records HF's ids (add_special_tokens=True, no truncation/padding)
   and HF's decoded text (skip_special_tokens=False) for every corpus line and every whole corpus file.
   Lines holding invalid UTF-8 are given to HF as bytes.decode("utf-8", "replace").

SmolLM2: transformers' GGUF converter ignores tokenizer.ggml.pre and builds a plain GPT-2 ByteLevel
pre-tokenizer; SmolLM2's own tokenizer.json (what `pre = smollm` stands for) splits digits one by one first.
We record the original: Sequence([Digits(individual_digits=True), ByteLevel(add_prefix_space=False)]).

Usage: python3 tools/make_tokenizer_fixtures.py   (needs models/: bash scripts/fetch-models.sh)
"""
import json, os, sys, unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import corpus_seed as S  # noqa: E402

CORPUS = os.path.join(ROOT, "data", "corpus")
OUT = os.path.join(ROOT, "tests", "golden", "tokenizers")
WHOLE_FILES = ("code.txt", "special.txt", "invalid_utf8.txt", "ko.txt")
SIZES = {"en": 400, "ko": 300, "zh": 200, "ja": 200, "emoji": 200, "code": 300, "numbers": 250, "special": 150}


def expand(name, seeds, n):
    lines = []
    k = len(seeds)
    for i in range(n):
        a, b = seeds[i % k].replace("\n", " "), seeds[(i * 7 + 3) % k].replace("\n", " ")
        v = (i // k) % 7
        if v == 0: s = a
        elif v == 1: s = a + " " + b
        elif v == 2: s = unicodedata.normalize("NFD", a) if name == "ko" else a.lower()
        elif v == 3: s = b + "  " + a
        elif v == 4: s = a + " " + str(i * 7919 + 13) + ("." * (i % 3))
        elif v == 5: s = "\t" + a + " " * (1 + i % 9) + b.upper()
        else: s = a.replace(" ", "") + " " + b[: 1 + i % 17]
        lines.append(s)
    return lines


def write_corpus():
    os.makedirs(CORPUS, exist_ok=True)
    seeds = {"en": S.EN, "ko": S.KO, "zh": S.ZH, "ja": S.JA, "emoji": S.EMOJI, "code": S.CODE,
             "numbers": S.NUMBERS, "special": S.SPECIAL}
    for name, n in SIZES.items():
        with open(os.path.join(CORPUS, name + ".txt"), "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(expand(name, seeds[name], n)) + "\n")
    k = len(S.INVALID)
    with open(os.path.join(CORPUS, "invalid_utf8.txt"), "wb") as f:
        for i in range(120):
            f.write(S.INVALID[i % k] + b" " + S.INVALID[(i * 3 + 1) % k] + b" " + S.EN[i % len(S.EN)].encode() + b"\n")


def corpus_cases():
    """(file, line index or -1 for the whole file, text) for every case."""
    cases = []
    for fn in sorted(os.listdir(CORPUS)):
        if not fn.endswith(".txt"): continue
        raw = open(os.path.join(CORPUS, fn), "rb").read()
        for i, line in enumerate(raw.split(b"\n")[:-1]):
            cases.append((fn, i, line.decode("utf-8", "replace")))
        if fn in WHOLE_FILES:  # whole files add newlines and long inputs; a few keep the fixtures small
            cases.append((fn, -1, raw.decode("utf-8", "replace")))
    return cases


def training_text():
    text = []
    for fn in sorted(os.listdir(CORPUS)):
        if fn.endswith(".txt") and fn != "invalid_utf8.txt":
            text += open(os.path.join(CORPUS, fn), encoding="utf-8").read().split("\n")
    mdir = os.path.join(ROOT, "data", "multilingual")
    if os.path.isdir(mdir):
        for fn in sorted(os.listdir(mdir)):
            text += open(os.path.join(mdir, fn), encoding="utf-8").read().split("\n")
    return [t for t in text if t]


def train_llama3(text):
    from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, processors, trainers
    pat = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
           r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pat), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    sp = ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"]
    tr = trainers.BpeTrainer(vocab_size=2000, special_tokens=sp, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             show_progress=False)
    tok.train_from_iterator(text, tr)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    return tok


def train_spm_bpe(text):
    from tokenizers import Tokenizer, models, normalizers, decoders, processors, trainers
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    byte_toks = ["<0x%02X>" % b for b in range(256)]
    tr = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<unk>", "<s>", "</s>"] + byte_toks,
                             limit_alphabet=400, show_progress=False)
    tok.train_from_iterator(text, tr)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    # Llama keeps <0xNN> in the model vocabulary, not as added tokens: drop them from added_tokens.
    j = json.loads(tok.to_str())
    j["added_tokens"] = [a for a in j["added_tokens"] if not a["content"].startswith("<0x")]
    from tokenizers import Tokenizer as T
    return T.from_str(json.dumps(j))


def train_unigram(text):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, decoders, processors, trainers
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tr = trainers.UnigramTrainer(vocab_size=1000,  special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>",
                                 show_progress=False)
    # The unigram trainer's EM fails (NaN) on parts of the corpus (emoji / kana lines): train on
    # English, Korean, Chinese and code only, which also leaves unknown characters to test <unk> on.
    part = []
    for fn in ("en.txt", "ko.txt", "zh.txt", "code.txt"):
        part += open(os.path.join(CORPUS, fn), encoding="utf-8").read().split("\n")
    tok.train_from_iterator([t for t in part if t], tr)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", tok.token_to_id("</s>"))])
    return tok


def smollm2():
    from transformers import AutoTokenizer
    from tokenizers import pre_tokenizers
    d = os.path.join(ROOT, "models", "smollm2")
    t = AutoTokenizer.from_pretrained(d, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf").backend_tokenizer
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                               pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    return t


def record(name, tok, model_path, cases):
    tok.no_truncation(); tok.no_padding()
    rows = []
    for fn, line, text in cases:
        ids = tok.encode(text, add_special_tokens=True).ids
        dec = tok.decode(ids, skip_special_tokens=False)
        rows.append([fn, line, " ".join(map(str, ids)), None if dec == text else dec])
    with open(os.path.join(OUT, name + ".fixture.json"), "w", encoding="utf-8") as f:
        json.dump({"name": name, "model": model_path, "add_special": True, "cases": rows}, f,
                  ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{name}: {len(rows)} cases")


def main():
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    write_corpus()
    os.makedirs(OUT, exist_ok=True)
    cases = corpus_cases()
    text = training_text()
    for name, fn in [("llama3_bpe", train_llama3), ("spm_bpe", train_spm_bpe), ("unigram", train_unigram)]:
        tok = fn(text)
        path = os.path.join(OUT, name + ".json")
        tok.save(path)
        from tokenizers import Tokenizer
        record(name, Tokenizer.from_file(path), "tests/golden/tokenizers/%s.json" % name, cases)
    from tokenizers import Tokenizer
    record("minilm", Tokenizer.from_file(os.path.join(ROOT, "models/all-minilm-l6-v2/tokenizer.json")),
           "models/all-minilm-l6-v2", cases)
    record("smollm2", smollm2(), "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", cases)


if __name__ == "__main__":
    main()
