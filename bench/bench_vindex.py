"""plinth's vector search beside hnswlib (HNSW) and FAISS IndexFlatIP (exact), same vectors, same M /
ef_construction / ef, same threads: build time, queries/s, recall@10 against exact search. Two sets of 100,000
unit vectors: uniform random in 32 dimensions (--random-dim; in 384 no graph index gets near recall 0.95 at a
usable ef: the nearest neighbours of a random point are barely nearer than the rest; in 64, hnswlib and plinth
both reach 0.84 at ef 256) and clustered in 384 (1,000 Gaussian clusters
with noise as large as the centres, as sentence embeddings bunch by topic), 1,000 queries each. Needs a Release build and
pip install hnswlib faiss-cpu.

    python3 bench/bench_vindex.py [--n 100000] [--threads 2] [--M 16] [--efc 200] [--sets random,clustered] [--random-dim 32]
                                  [--reps 3] [--graphs DIR]

Queries are timed interleaved: for each ef, plinth's harness (bench/vindex_bench.c, kept running with its graph)
and hnswlib take turns --reps times; the best of each is reported. --graphs DIR keeps plinth's graph between runs
(to compare two builds of the search on one graph without rebuilding it).
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
EFS = [16, 32, 64, 128, 256, 512]


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype("<f4")


def datasets(n, nq, rng, sets, rdim):
    # the random set is drawn even when not asked for, so that the clustered vectors (and a graph kept for them
    # under --graphs) are the same with --sets clustered as with both sets
    rand = unit(rng.standard_normal((n, rdim))), unit(rng.standard_normal((nq, rdim)))
    if "random" in sets:
        yield ("random", *rand)
    if "clustered" not in sets:
        return
    centres = rng.standard_normal((1000, 384))
    pick = lambda m: centres[rng.integers(0, 1000, m)] + rng.standard_normal((m, 384))
    yield "clustered", unit(pick(n)), unit(pick(nq))


def build_harness():
    exe = os.path.join(BUILD, "vindex_bench")
    libs = subprocess.run(["pkg-config", "--libs", "libpcre2-8", "libcjson", "libutf8proc", "sqlite3"], capture_output=True,
                          text=True, check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "bench", "vindex_bench.c"), "-I" + os.path.join(ROOT, "src"),
                    "-I" + os.path.join(ROOT, "include"), os.path.join(BUILD, "libplinth.a"), "-lopenblas", *libs, "-lpthread", "-lm"],
                   check=True)
    return exe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--sets", default="random,clustered")
    ap.add_argument("--random-dim", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3, help="query runs per ef and library, alternating; the best counts")
    ap.add_argument("--graphs", help="a folder where plinth's built graphs are kept and reused (skips its build)")
    a = ap.parse_args()
    import faiss
    import hnswlib
    faiss.omp_set_num_threads(a.threads)
    exe = build_harness()
    k = 10
    for name, base, q in datasets(a.n, a.nq, np.random.default_rng(0), a.sets.split(","), a.random_dim):
        dim = base.shape[1]
        with tempfile.TemporaryDirectory() as d:
            base.tofile(os.path.join(d, "b.f32"))
            q.tofile(os.path.join(d, "q.f32"))
            graph = os.path.join(a.graphs, f"{name}-{a.n}-{dim}-M{a.M}-efc{a.efc}.hnsw") if a.graphs else os.path.join(d, "g")
            proc = subprocess.Popen([exe, os.path.join(d, "b.f32"), os.path.join(d, "q.f32"), str(dim), str(a.M),
                                     str(a.efc), str(k), str(a.threads), graph], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
            p = json.loads(proc.stdout.readline())
        flat = faiss.IndexFlatIP(dim)
        flat.add(base)
        exact_p = faiss_qps = 0
        for _ in range(a.reps):  # the whole batch of queries, alternating with plinth's, best of each
            t0 = time.perf_counter()
            _, truth = flat.search(q, k)
            faiss_qps = max(faiss_qps, a.nq / (time.perf_counter() - t0))
            proc.stdin.write("x\n")
            proc.stdin.flush()
            exact_p = max(exact_p, json.loads(proc.stdout.readline())["exact_qps"])
        t0 = time.perf_counter()
        h = hnswlib.Index(space="ip", dim=dim)
        h.init_index(max_elements=a.n, M=a.M, ef_construction=a.efc, random_seed=1)
        h.add_items(base, num_threads=a.threads)
        hb = time.perf_counter() - t0
        print(f"\n{name}: {a.n} x {dim}, {a.nq} queries, M {a.M}, ef_construction {a.efc}, {a.threads} threads; "
              f"load average {load()}")
        print(f"exact search (best of {a.reps}, alternating): plinth {exact_p:.0f} queries/s, FAISS IndexFlatIP "
              f"{faiss_qps:.0f} ({exact_p / faiss_qps:.2f}x)")
        built = f"{p['build_s']:.1f} s ({a.threads} threads)" if p["build_s"] >= 0 else "(graph loaded from --graphs)"
        print(f"HNSW build: plinth {built}, hnswlib {hb:.1f} s ({a.threads} threads)")
        print(f"queries: best of {a.reps} runs each, plinth's and hnswlib's alternating")
        print("| ef | plinth q/s | plinth recall@10 | hnswlib q/s | hnswlib recall@10 | q/s ratio |\n|---|---|---|---|---|---|")
        for ef in EFS:
            h.set_ef(ef)
            best_p = best_h = 0
            for _ in range(a.reps):
                proc.stdin.write(f"{ef}\n")
                proc.stdin.flush()
                row = json.loads(proc.stdout.readline())
                best_p = max(best_p, row["qps"])
                t0 = time.perf_counter()
                labels, _ = h.knn_query(q, k=k, num_threads=a.threads)
                best_h = max(best_h, a.nq / (time.perf_counter() - t0))
            rec = np.mean([len(set(labels[i]) & set(truth[i])) / k for i in range(a.nq)])
            print(f"| {ef} | {best_p:.0f} | {row['recall']:.3f} | {best_h:.0f} | {rec:.3f} | {best_p / best_h:.2f}x |",
                  flush=True)
        proc.stdin.close()
        proc.wait()
        print(f"load average {load()}")


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


if __name__ == "__main__":
    main()
