#!/usr/bin/env python3
"""Word2Vec training speed and quality of `plinth word2vec train` beside gensim's Word2Vec (Cython + BLAS inner
loop) on the same text, tokens, hyper-parameters and threads. Issue 22; figures go to bench/RESULTS.md.

Usage: python3 bench/bench_word2vec.py [--plinth BIN] [--text FILE] [--arch skipgram,cbow] [--threads 1,2]
                                       [--repeat R] [--epochs 5] [--dim 100] [--window 5] [--negative 5]
                                       [--min-count 5] [--sample 1e-3] [--questions FILE]
Needs gensim (pip install gensim: the bench only; CI does not install it).

Both sides get the same sentences: gensim is fed the text split as plinth splits it (paragraphs at blank
lines; words = lower-cased runs of letters and digits joined across an apostrophe), and the script checks that
the two vocabularies come out the same size. words/s counts, on both sides, the corpus words that survive
--min-count (before subsampling) times the epochs, over the training loop's wall time alone (plinth: its
`done:` line; gensim: model.train(), vocabulary building left out). Runs alternate plinth, gensim; the figure
is the median of --repeat runs, the ratio the ratio of medians; "paired" is the median of each plinth run's
ratio to the gensim run right after it (a slow stretch of a shared host hits both), with the lowest and highest.

Quality, from the last run of each side at each setting: the mean overlap of the 10 nearest neighbours of the 200
most frequent words, and the accuracy on questions-words.txt (gensim ships it) restricted to the questions whose
four words are in both vocabularies, both sides scored by gensim's evaluate_word_analogies on the same file.
For scale, the same overlap between two gensim runs that differ only in the seed (one thread) is shown too.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DONE_RE = re.compile(r"^done: (\d+) words in ([0-9.eE+-]+) s, ([0-9.eE+-]+) words/s", re.M)
VOCAB_RE = re.compile(r"vocabulary: (\d+) words seen")
WORD_RE = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


def sentences(path):
    """plinth's tokenization, in Python: paragraphs (blank lines end them) of lower-cased words."""
    text = open(path, encoding="utf-8").read()
    out = []
    for para in re.split(r"\n[ \t\r]*\n", text):
        words = [w.replace("\u2019", "'") for w in WORD_RE.findall(para.lower())]
        for i in range(0, len(words), 10000):  # plinth cuts sentences at 10,000 words, as gensim's jobs do
            if words[i:i + 10000]:
                out.append(words[i:i + 10000])
    return out


def run_plinth(args, arch, threads, seed, out):
    cmd = [args.plinth, "word2vec", "train", "-f", args.text, "-o", out, "--arch", arch, "--dim", str(args.dim),
           "--window", str(args.window), "--negative", str(args.negative), "--min-count", str(args.min_count),
           "--sample", str(args.sample), "--epochs", str(args.epochs), "--alpha", str(alpha(arch)),
           "-t", str(threads), "--seed", str(seed)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"plinth failed: {' '.join(cmd)}\n{r.stderr}")
    m = DONE_RE.search(r.stderr)
    return int(m.group(1)) / float(m.group(2)), int(VOCAB_RE.search(r.stderr).group(1)), " ".join(cmd)


def alpha(arch):
    return 0.025 if arch == "skipgram" else 0.05  # word2vec.c's defaults, given to both sides


def run_gensim(args, sents, arch, threads, seed):
    from gensim.models import Word2Vec
    m = Word2Vec(vector_size=args.dim, window=args.window, min_count=args.min_count, sample=args.sample,
                 negative=args.negative, hs=0, sg=1 if arch == "skipgram" else 0, cbow_mean=1, workers=threads,
                 seed=seed, alpha=alpha(arch), min_alpha=1e-4, epochs=args.epochs)
    m.build_vocab(sents)
    words = sum(m.wv.get_vecattr(w, "count") for w in m.wv.index_to_key) * args.epochs
    t0 = time.perf_counter()
    m.train(sents, total_examples=len(sents), epochs=args.epochs)
    return words / (time.perf_counter() - t0), m.wv


def overlap(kv_a, kv_b, n=200, k=10):
    """Mean share of common words among the k nearest neighbours of the n most frequent words (in both)."""
    common = [w for w in kv_a.index_to_key if w in kv_b.key_to_index][:n]
    s = 0.0
    for w in common:
        a = {x for x, _ in kv_a.most_similar(w, topn=k)}
        b = {x for x, _ in kv_b.most_similar(w, topn=k)}
        s += len(a & b) / k
    return s / len(common)


def restricted_questions(src, kv_a, kv_b, dst):
    """questions-words.txt keeping only the questions whose words (lower-cased) are in both vocabularies."""
    n = 0
    with open(src) as f, open(dst, "w") as g:
        for line in f:
            if line.startswith(":"):
                g.write(line)
                continue
            ws = line.lower().split()
            if len(ws) == 4 and all(w in kv_a.key_to_index and w in kv_b.key_to_index for w in ws):
                g.write(" ".join(ws) + "\n")
                n += 1
    return n


def analogy_accuracy(kv, questions):
    score, _ = kv.evaluate_word_analogies(questions, restrict_vocab=len(kv), case_insensitive=True)
    return score


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plinth", default=os.path.join(ROOT, "build", "plinth"))
    ap.add_argument("--text", default=os.path.join(ROOT, "data", "train", "austen.txt"))
    ap.add_argument("--arch", default="skipgram,cbow")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--negative", type=int, default=5)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--sample", type=float, default=1e-3)
    ap.add_argument("--questions", default=None)
    args = ap.parse_args()
    import gensim
    from gensim.models import KeyedVectors
    if not os.path.exists(args.text):
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-data.sh")], check=True, stdout=subprocess.DEVNULL)
    questions = args.questions or os.path.join(os.path.dirname(gensim.__file__), "test", "test_data", "questions-words.txt")
    sents = sentences(args.text)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"text: {args.text}, {len(sents)} sentences, {sum(map(len, sents))} words; gensim {gensim.__version__}; "
          f"dim {args.dim}, window {args.window}, negative {args.negative}, min-count {args.min_count}, "
          f"sample {args.sample}, {args.epochs} epochs; median of {args.repeat}", flush=True)
    rows = []
    tmp = tempfile.mkdtemp(prefix="bench_w2v_")
    for arch in args.arch.split(","):
        for threads in [int(t) for t in args.threads.split(",")]:
            ps, gs = [], []
            out = os.path.join(tmp, f"{arch}{threads}.bin")
            for rep in range(args.repeat):
                wps, vocab_p, cmd = run_plinth(args, arch, threads, 1, out)
                ps.append(wps)
                gwps, gkv = run_gensim(args, sents, arch, threads, 1)
                gs.append(gwps)
                if len(gkv) != vocab_p:
                    sys.exit(f"vocabularies differ: plinth {vocab_p} words, gensim {len(gkv)}: tokenization mismatch")
                print(f"  {arch} t={threads} run {rep + 1}: plinth {wps:,.0f} words/s, gensim {gwps:,.0f}", flush=True)
            pkv = KeyedVectors.load_word2vec_format(out, binary=True)
            qfile = os.path.join(tmp, "questions.txt")
            nq = restricted_questions(questions, pkv, gkv, qfile)
            pr = [a / b for a, b in zip(ps, gs)]
            row = dict(arch=arch, threads=threads, plinth=statistics.median(ps), gensim=statistics.median(gs),
                       paired=statistics.median(pr), prmin=min(pr), prmax=max(pr),
                       pmin=min(ps), pmax=max(ps), gmin=min(gs), gmax=max(gs), overlap=overlap(pkv, gkv),
                       acc_p=analogy_accuracy(pkv, qfile), acc_g=analogy_accuracy(gkv, qfile), nq=nq, cmd=cmd)
            if threads == 1:
                _, gkv2 = run_gensim(args, sents, arch, 1, 2)
                row["overlap_gg"] = overlap(gkv, gkv2)
                wps2, _, _ = run_plinth(args, arch, 1, 2, os.path.join(tmp, "seed2.bin"))
                row["overlap_pp"] = overlap(pkv, KeyedVectors.load_word2vec_format(os.path.join(tmp, "seed2.bin"), binary=True))
            rows.append(row)
    print("\n| arch | threads | plinth words/s (min-max) | gensim words/s (min-max) | plinth/gensim | paired (min-max) | "
          "top-10 overlap plinth-gensim | same, gensim seed 1 vs 2 | same, plinth seed 1 vs 2 | analogies (asked) plinth "
          "| gensim |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        gg = f"{r['overlap_gg']:.2f}" if "overlap_gg" in r else "-"
        pp = f"{r['overlap_pp']:.2f}" if "overlap_pp" in r else "-"
        print(f"| {r['arch']} | {r['threads']} | {r['plinth']:,.0f} ({r['pmin']:,.0f}-{r['pmax']:,.0f}) | "
              f"{r['gensim']:,.0f} ({r['gmin']:,.0f}-{r['gmax']:,.0f}) | {r['plinth'] / r['gensim']:.2f} | "
              f"{r['paired']:.2f} ({r['prmin']:.2f}-{r['prmax']:.2f}) | "
              f"{r['overlap']:.2f} | {gg} | {pp} | {100 * r['acc_p']:.1f}% ({r['nq']}) | {100 * r['acc_g']:.1f}% |")
    print("\nplinth commands (last of each setting):")
    for r in rows:
        print("  " + r["cmd"].replace(tmp, "TMP"))


if __name__ == "__main__":
    main()
