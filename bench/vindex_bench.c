/* Vector-index timings for bench/bench_vindex.py: reads n x dim float32 base vectors and nq queries, builds
 * plinth's HNSW (M, ef_construction; or loads the graph saved by an earlier run from GRAPH when it exists, else
 * saves it there), prints one JSON line (build seconds, exact search queries/s), then answers lines on standard
 * input: "EF" -> one JSON line with the HNSW queries/s (and CPU microseconds a query) and recall@k at that ef
 * against plinth's exact search; "x" -> the exact search's queries/s once more. So the caller can time a peer
 * between two of plinth's runs (interleaved on a shared host).
 * usage: vindex_bench BASE.f32 QUERIES.f32 DIM M EF_CONSTRUCTION K THREADS [GRAPH] */
#include "core/common.h"
#include "rag/vindex.h"
#include "bench_vectors.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pl_hnsw *graph(pl_ctx *ctx, const char *path, const float *base, int64_t n, int dim, int M, int efc, double *t_build) {
    size_t len;
    char *blob = path ? pl_read_file(path, &len) : NULL;
    pl_hnsw *h = blob ? pl_hnsw_load(blob, len, base, n, dim) : NULL;
    free(blob);
    *t_build = -1; /* loaded: not built here */
    if (h) return h;
    double t0 = pl_time_s();
    h = pl_hnsw_new(dim, &(pl_hnsw_params){.M = M, .ef_construction = efc, .seed = 1});
    if (!h || pl_hnsw_add_par(ctx, h, base, n)) { fprintf(stderr, "vindex_bench: %s\n", pl_last_error()); exit(1); }
    *t_build = pl_time_s() - t0;
    void *b;
    if (path && !pl_hnsw_save(h, &b, &len)) { pl_write_file_atomic(path, b, len); free(b); }
    return h;
}

int main(int argc, char **argv) {
    if (argc < 8) { fprintf(stderr, "usage: vindex_bench BASE QUERIES DIM M EFC K THREADS [GRAPH]\n"); return 2; }
    int dim = atoi(argv[3]), M = atoi(argv[4]), efc = atoi(argv[5]), k = atoi(argv[6]), nt = atoi(argv[7]);
    int64_t n, nq;
    float *base = load(argv[1], dim, &n), *q = load(argv[2], dim, &nq);
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = nt, .arena_bytes = 1 << 20});
    pl_hit *ex = malloc((size_t)nq * k * sizeof *ex), *hn = malloc((size_t)nq * k * sizeof *hn);
    double t0 = pl_time_s();
    pl_exact_search(ctx, base, n, dim, q, (int)nq, k, ex);
    double t_exact = pl_time_s() - t0, t_build;
    pl_hnsw *h = graph(ctx, argc > 8 ? argv[8] : NULL, base, n, dim, M, efc, &t_build);
    printf("{\"n\": %lld, \"nq\": %lld, \"build_s\": %.3f, \"exact_qps\": %.1f}\n", (long long)n, (long long)nq, t_build,
           nq / t_exact);
    fflush(stdout);
    char word[16];
    while (scanf("%15s", word) == 1) {
        if (word[0] == 'x') {
            t0 = pl_time_s();
            pl_exact_search(ctx, base, n, dim, q, (int)nq, k, hn);
            printf("{\"exact_qps\": %.1f}\n", nq / (pl_time_s() - t0));
            fflush(stdout);
            continue;
        }
        int ef = atoi(word);
        double c0 = cpu_s();
        t0 = pl_time_s();
        pl_hnsw_search(ctx, h, q, (int)nq, k, ef, hn);
        double t = pl_time_s() - t0, c = cpu_s() - c0;
        int64_t hit = 0;
        for (int64_t i = 0; i < nq; i++)
            for (int x = 0; x < k; x++)
                for (int y = 0; y < k; y++) hit += hn[i * k + x].id == ex[i * k + y].id;
        printf("{\"ef\": %d, \"qps\": %.1f, \"cpu_us_per_query\": %.2f, \"recall\": %.4f}\n", ef, nq / t, 1e6 * c / nq,
               (double)hit / (nq * k));
        fflush(stdout);
    }
    pl_hnsw_free(h);
    pl_ctx_free(ctx);
    free(base); free(q); free(ex); free(hn);
    return 0;
}
