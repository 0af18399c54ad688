#!/usr/bin/env python3
"""Encode throughput: plinth vs Hugging Face `tokenizers`, single thread, same ~10 MB of mixed text, same
tokenizer (SmolLM2's, from models/smollm2/*.gguf; HF side built as in tools/make_tokenizer_fixtures.py).

Both sides encode the text line by line without special tokens: plinth with `plinth tokenize --bench`
(one pl_tokenize call per line), HF with `Tokenizer.encode` in a Python loop and with `encode_batch` over all
lines (RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false). Reports the median of 3 runs (MB/s) and ratios, and
checks that both produced the same number of tokens.
Usage: python3 bench/bench_tokenizer.py [PLINTH_BIN]   (default build/plinth)"""
import os, subprocess, sys, tempfile, time, statistics

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))


def build_text(target=10_000_000):
    parts = []
    for d in ("data/corpus", "data/multilingual"):
        for fn in sorted(os.listdir(os.path.join(ROOT, d))):
            if fn.endswith(".txt") and "invalid" not in fn:
                parts.append(open(os.path.join(ROOT, d, fn), encoding="utf-8").read())
    lines = "".join(parts).splitlines(keepends=True)
    out, n, i = [], 0, 0
    while n < target:   # interleave lines from all files so every language appears throughout
        ln = lines[(i * 7919) % len(lines)]
        out.append(ln); n += len(ln.encode()); i += 1
    return "".join(out)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "plinth")
    from make_tokenizer_fixtures import smollm2
    tok = smollm2()
    text = build_text()
    nbytes = len(text.encode())
    lines = text.splitlines(keepends=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(text); path = f.name
    gguf = os.path.join(ROOT, "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    res = {"plinth": [], "hf_encode": [], "hf_batch": []}
    ntok = {}
    for _ in range(3):
        out = subprocess.run([binary, "tokenize", "-m", gguf, "--bench", "-f", path], capture_output=True, text=True,
                             check=True).stdout.split()
        res["plinth"].append(float(out[out.index("MB/s") + 1])); ntok["plinth"] = int(out[out.index("tokens") + 1])
        t0 = time.perf_counter(); n = 0
        for ln in lines: n += len(tok.encode(ln, add_special_tokens=False).ids)
        res["hf_encode"].append(nbytes / 1e6 / (time.perf_counter() - t0)); ntok["hf"] = n
        t0 = time.perf_counter()
        enc = tok.encode_batch(lines, add_special_tokens=False)
        res["hf_batch"].append(nbytes / 1e6 / (time.perf_counter() - t0))
        ntok["hf_batch"] = sum(len(e.ids) for e in enc)
    os.unlink(path)
    med = {k: statistics.median(v) for k, v in res.items()}
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.strip()
    print(f"text: {nbytes/1e6:.1f} MB, {len(lines)} lines; tokens plinth {ntok['plinth']} hf {ntok['hf']} "
          f"hf_batch {ntok['hf_batch']}; {cpu}")
    for k, v in med.items(): print(f"{k:10s} {v:7.2f} MB/s (median of 3: {', '.join(f'{x:.2f}' for x in res[k])})")
    print(f"ratio plinth / hf encode loop: {med['plinth']/med['hf_encode']:.2f}x; "
          f"plinth / hf encode_batch (1 thread): {med['plinth']/med['hf_batch']:.2f}x")
    if not (ntok["plinth"] == ntok["hf"] == ntok["hf_batch"]): sys.exit("token counts differ")


if __name__ == "__main__":
    main()
