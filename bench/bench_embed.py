"""Sentence-embedding throughput, plinth embed against sentence-transformers on the same texts and threads:
sentences/s over the lines of data/corpus/en.txt and the paragraphs of docs/ (short and long texts), all-MiniLM-L6-v2,
batch 32, best of --runs alternating runs each. Needs a Release build and pip install sentence-transformers.

    python3 bench/bench_embed.py [--threads 2] [--runs 3] [--baseline OTHER_PLINTH] [--sets short,paragraphs] [--limit N]

--baseline times another plinth binary (an earlier build) in the same alternation, to compare two builds on a
shared host. The load average is printed before and after each set. --limit N keeps the first N texts of each set
(a cheaper run; the paragraphs take most of the time).
"""
import argparse
import glob
import os
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLINTH = os.environ.get("PLINTH_BIN", os.path.join(ROOT, "build", "plinth"))
MODEL = os.path.join(ROOT, "models", "all-minilm-l6-v2")


def texts():
    short = [l for l in open(os.path.join(ROOT, "data/corpus/en.txt"), encoding="utf-8").read().splitlines() if l.strip()]
    paras = []
    for f in sorted(glob.glob(os.path.join(ROOT, "docs/*.md"))):
        paras += [p.replace("\n", " ") for p in open(f, encoding="utf-8").read().split("\n\n") if len(p) > 200]
    return {"short": ("short lines (data/corpus/en.txt)", short), "paragraphs": ("paragraphs (docs/*.md)", paras)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--baseline", help="another plinth binary, timed in the same alternation")
    ap.add_argument("--sets", default="short,paragraphs")
    ap.add_argument("--limit", type=int, default=0, help="the first N texts of each set (0: all)")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(MODEL, device="cpu")
    for key, (name, t) in texts().items():
        if key not in a.sets.split(","):
            continue
        t = t[:a.limit] if a.limit else t
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
            f.write("\n".join(t) + "\n")
        st.encode(t[:64], batch_size=32)
        load0 = loadavg()
        bins = [PLINTH] + ([a.baseline] if a.baseline else [])
        best = [0.0] * len(bins)
        best_s = 0
        for r in range(a.runs):
            # which binary goes first rotates: on a busy host the first plinth run after sentence-transformers' ran
            # up to 2x slower, whichever build held that slot (huge pages to compact after torch's run, likely)
            for i in [(r + j) % len(bins) for j in range(len(bins))]:
                b = bins[i]
                t0 = time.perf_counter()
                subprocess.run([b, "embed", "-m", MODEL, "-f", f.name, "-t", str(a.threads), "-q", "--format", "f32"],
                               stdout=subprocess.DEVNULL, check=True)
                best[i] = max(best[i], len(t) / (time.perf_counter() - t0))  # whole command: loading included
            t0 = time.perf_counter()
            st.encode(t, batch_size=32)
            best_s = max(best_s, len(t) / (time.perf_counter() - t0))  # encode only: the model is loaded
        os.unlink(f.name)
        extra = f"; baseline {best[1]:.1f} ({best[1] / best_s:.2f}x)" if a.baseline else ""
        print(f"{name}: {len(t)} texts: plinth {best[0]:.1f} sentences/s, sentence-transformers {best_s:.1f} "
              f"({best[0] / best_s:.2f}x){extra}, {a.threads} threads; load average {load0} -> {loadavg()}", flush=True)


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


if __name__ == "__main__":
    main()
