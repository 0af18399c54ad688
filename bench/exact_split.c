/* Where exact search's time goes (issue 19): pl_exact_search on a batch of queries against the GEMMs alone (the
 * same products, blocks of 4096 rows through pl_sgemm_par, no k-best pass), each run's FLOP rate per wall second
 * and per CPU second of the process (on a shared host, the work done, where wall time is also the others').
 * FLOPs: 2 nq n dim. Vectors from bench_vindex.py's sets, written as raw float32 files.
 *
 * usage: exact_split BASE.f32 QUERIES.f32 DIM THREADS RUNS
 * build: cc -O2 -o build/exact_split bench/exact_split.c -Isrc -Iinclude -Ibench build/libplinth.a -lopenblas \
 *        $(pkg-config --libs libpcre2-8 libcjson libutf8proc sqlite3) -lpthread -lm */
#include "backend/cpu/sgemm.h"
#include "core/common.h"
#include "rag/vindex.h"
#include "bench_vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: exact_split BASE.f32 QUERIES.f32 DIM THREADS RUNS\n"); return 2; }
    int dim = atoi(argv[3]), nt = atoi(argv[4]), runs = atoi(argv[5]), blk = 4096;
    int64_t n, nq;
    float *base = load(argv[1], dim, &n), *q = load(argv[2], dim, &nq);
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = nt, .arena_bytes = 1 << 20});
    pl_hit *hits = malloc((size_t)nq * 10 * sizeof *hits);
    float *S = malloc((size_t)nq * blk * sizeof(float));
    double gf = 2.0 * (double)nq * (double)n * dim / 1e9;
    for (int r = 0; r < runs; r++) {
        double c0 = cpu_s(), t0 = pl_time_s();
        pl_exact_search(ctx, base, n, dim, q, (int)nq, 10, hits);
        double te = pl_time_s() - t0, ce = cpu_s() - c0;
        c0 = cpu_s(); t0 = pl_time_s();
        for (int64_t b0 = 0; b0 < n; b0 += blk) {
            int64_t m = PL_MIN(blk, n - b0);
            pl_sgemm_par(ctx, S, m, (pl_mat){q, nq, dim, dim, 1}, (pl_mat){base + b0 * dim, dim, m, 1, dim}, 1.0f, 0.0f);
        }
        double tg = pl_time_s() - t0, cg = cpu_s() - c0;
        printf("exact search %.0f queries/s: %.1f GFLOP/s, %.1f per CPU s | GEMMs alone %.1f GFLOP/s, %.1f per CPU s\n",
               nq / te, gf / te, gf / ce, gf / tg, gf / cg);
    }
    free(hits); free(S); free(base); free(q);
    pl_ctx_free(ctx);
    return 0;
}
