/* Vector-index timings for bench/bench_vindex.py: reads n x dim float32 base vectors and nq queries, builds
 * plinth's HNSW (M, ef_construction), and prints one JSON line: build seconds, HNSW queries/s and recall@k at
 * each ef against plinth's exact search, and exact search queries/s (the whole query batch as GEMMs).
 * usage: vindex_bench BASE.f32 QUERIES.f32 DIM M EF_CONSTRUCTION K THREADS EF... */
#include "core/common.h"
#include "rag/vindex.h"

#include <stdio.h>
#include <stdlib.h>

static float *load(const char *path, int dim, int64_t *n) {
    size_t len;
    char *p = pl_read_file(path, &len);
    if (!p) { fprintf(stderr, "%s: %s\n", path, pl_last_error()); exit(1); }
    *n = (int64_t)(len / (sizeof(float) * dim));
    return (float *)p;
}

int main(int argc, char **argv) {
    if (argc < 9) { fprintf(stderr, "usage: vindex_bench BASE QUERIES DIM M EFC K THREADS EF...\n"); return 2; }
    int dim = atoi(argv[3]), M = atoi(argv[4]), efc = atoi(argv[5]), k = atoi(argv[6]), nt = atoi(argv[7]);
    int64_t n, nq;
    float *base = load(argv[1], dim, &n), *q = load(argv[2], dim, &nq);
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = nt, .arena_bytes = 1 << 20});
    pl_hit *ex = malloc((size_t)nq * k * sizeof *ex), *hn = malloc((size_t)nq * k * sizeof *hn);
    double t0 = pl_time_s();
    pl_exact_search(ctx, base, n, dim, q, (int)nq, k, ex);
    double t_exact = pl_time_s() - t0;
    t0 = pl_time_s();
    pl_hnsw *h = pl_hnsw_new(dim, &(pl_hnsw_params){.M = M, .ef_construction = efc, .seed = 1});
    pl_hnsw_add(h, base, n);
    double t_build = pl_time_s() - t0;
    printf("{\"n\": %lld, \"nq\": %lld, \"build_s\": %.3f, \"exact_qps\": %.1f, \"hnsw\": [", (long long)n, (long long)nq,
           t_build, nq / t_exact);
    for (int a = 8; a < argc; a++) {
        int ef = atoi(argv[a]);
        t0 = pl_time_s();
        pl_hnsw_search(ctx, h, q, (int)nq, k, ef, hn);
        double t = pl_time_s() - t0;
        int64_t hit = 0;
        for (int64_t i = 0; i < nq; i++)
            for (int x = 0; x < k; x++)
                for (int y = 0; y < k; y++) hit += hn[i * k + x].id == ex[i * k + y].id;
        printf("%s{\"ef\": %d, \"qps\": %.1f, \"recall\": %.4f}", a > 8 ? ", " : "", ef, nq / t, (double)hit / (nq * k));
    }
    printf("]}\n");
    pl_hnsw_free(h);
    pl_ctx_free(ctx);
    free(base); free(q); free(ex); free(hn);
    return 0;
}
