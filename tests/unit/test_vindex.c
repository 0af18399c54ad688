/* Vector search (rag/exact.c, rag/hnsw.c): exact search equals a double-precision scan for single queries and
 * batches, with and without the pool, and keeps the same rows of tied scores (in id order) on the pool as on one
 * thread; HNSW's recall@10 against exact search on random unit vectors >= 0.95; a saved graph loads to the same
 * answers (and the same recall through the search's generic path, on a scalar CPU); truncated, altered or
 * mismatched blobs are refused. The graph built on two threads (parallel insertion under per-node locks) holds
 * the same recall, every list within its bounds. */
#include "core/common.h"
#include "core/cpu.h"
#include "rag/vindex.h"
#include "test.h"

#include <string.h>

static float *random_unit(int64_t n, int dim, uint64_t seed) {
    float *v = malloc((size_t)n * dim * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        double ss = 0;
        for (int c = 0; c < dim; c++) {
            float x = (float)((pl_splitmix64(&seed) >> 40) / 16777216.0 * 2 - 1);
            v[i * dim + c] = x; ss += (double)x * x;
        }
        for (int c = 0; c < dim; c++) v[i * dim + c] /= (float)sqrt(ss);
    }
    return v;
}

static double recall(const pl_hit *a, const pl_hit *b, int nq, int k) {
    int hit = 0;
    for (int q = 0; q < nq; q++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) hit += a[q * k + i].id == b[q * k + j].id;
    return (double)hit / (nq * k);
}

int main(void) {
    int64_t n = test_fast() ? 2000 : 10000;
    int dim = 32, nq = 200, k = 10;
    float *v = random_unit(n, dim, 1), *q = random_unit(nq, dim, 2);
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
    pl_hit *ex = calloc((size_t)nq * k, sizeof *ex), *one = calloc((size_t)k, sizeof *one), *hn = calloc((size_t)nq * k, sizeof *hn);

    /* exact: a batch on the pool; each query alone, single-threaded, gives the same; both match a double scan */
    CHECK(pl_exact_search(ctx, v, n, dim, q, nq, k, ex) == PL_OK);
    int same = 0, scan_ok = 0;
    for (int i = 0; i < nq; i++) {
        CHECK(pl_exact_search(i % 2 ? ctx : NULL, v, n, dim, q + i * dim, 1, k, one) == PL_OK);
        same += !memcmp(one, ex + i * k, (size_t)k * sizeof *one) || recall(one, ex + i * k, 1, k) == 1.0;
        double best = -2; int64_t arg = -1;
        for (int64_t r = 0; r < n; r++) {
            double d = 0;
            for (int c = 0; c < dim; c++) d += (double)q[i * dim + c] * v[r * dim + c];
            if (d > best) { best = d; arg = r; }
        }
        scan_ok += ex[i * k].id == arg && fabs(ex[i * k].score - best) < 1e-5;
    }
    CHECKF(same == nq, "%d of %d single queries agree with the batch", same, nq);
    CHECKF(scan_ok == nq, "%d of %d best rows equal the double-precision scan's", scan_ok, nq);
    for (int i = 1; i < k; i++) CHECK(ex[i - 1].score >= ex[i].score);
    pl_hit few[4];
    CHECK(pl_exact_search(NULL, v, 2, dim, q, 1, 4, few) == PL_OK && few[2].id == -1 && few[3].id == -1);

    /* ties (each row three times): a batch on the pool, scanned in blocks by whichever thread is free, keeps the
     * same hits as one thread, equal scores in id order (the lower first) */
    {
        int64_t nd = 3000;
        float *dup = malloc((size_t)nd * dim * sizeof(float));
        for (int64_t r = 0; r < nd; r++) memcpy(dup + r * dim, v + (r % 1000) * dim, dim * sizeof(float));
        pl_hit *t1 = calloc((size_t)nq * k, sizeof *t1), *t2 = calloc((size_t)nq * k, sizeof *t2);
        CHECK(pl_exact_search(ctx, dup, nd, dim, q, nq, k, t1) == PL_OK && pl_exact_search(NULL, dup, nd, dim, q, nq, k, t2) == PL_OK);
        int agree = 0, ordered = 0;
        for (int i = 0; i < nq * k; i++) {
            agree += t1[i].id == t2[i].id && t1[i].score == t2[i].score;
            ordered += i % k == 0 || t1[i - 1].score > t1[i].score || t1[i - 1].id < t1[i].id;
        }
        CHECKF(agree == nq * k && ordered == nq * k, "ties: %d of %d agree, %d in order", agree, nq * k, ordered);
        CHECK(t1[0].id < 1000 && t1[1].id == t1[0].id + 1000 && t1[2].id == t1[0].id + 2000); /* the best row, thrice */
        free(dup); free(t1); free(t2);
    }

    /* HNSW: recall@10 at ef 64 */
    pl_hnsw *h = pl_hnsw_new(dim, &(pl_hnsw_params){.M = 16, .ef_construction = 100, .seed = 3});
    CHECK(pl_hnsw_add(h, v, n / 2) == PL_OK && pl_hnsw_add(h, v, n) == PL_OK); /* in two steps */
    CHECK(pl_hnsw_count(h) == n);
    CHECK(pl_hnsw_search(ctx, h, q, nq, k, 64, hn) == PL_OK);
    double r = recall(hn, ex, nq, k);
    printf("hnsw recall@10 %.4f (n %lld, dim %d, M 16, ef 64)\n", r, (long long)n, dim);
    CHECKF(r >= 0.95, "recall@10 %.4f", r);

    /* save / load: the same answers; damaged blobs refused */
    void *blob; size_t len;
    CHECK(pl_hnsw_save(h, &blob, &len) == PL_OK);
    pl_hnsw *h2 = pl_hnsw_load(blob, len, v, n, dim);
    CHECK(h2 != NULL);
    pl_hit *hn2 = calloc((size_t)nq * k, sizeof *hn2);
    CHECK(h2 && pl_hnsw_search(NULL, h2, q, nq, k, 64, hn2) == PL_OK && !memcmp(hn, hn2, (size_t)nq * k * sizeof *hn));
    /* the search without the inlined AVX2 dot product (hnsw.c's search_any: a scalar CPU, a dimension not a multiple
     * of 8), over the same graph: the same recall */
    pl_isa top = pl_cpu_isa();
    pl_cpu_set_max_isa(PL_ISA_SCALAR);
    pl_hnsw *hs = pl_hnsw_load(blob, len, v, n, dim);
    pl_cpu_set_max_isa(top);
    pl_hit *hn3 = calloc((size_t)nq * k, sizeof *hn3);
    CHECK(hs && pl_hnsw_search(ctx, hs, q, nq, k, 64, hn3) == PL_OK);
    double rs = recall(hn3, ex, nq, k);
    CHECKF(fabs(rs - r) < 0.01, "recall@10 %.4f without the inlined dot product, %.4f with it", rs, r);
    free(hn3); pl_hnsw_free(hs);
    CHECK(pl_hnsw_load(blob, len - 4, v, n, dim) == NULL);          /* truncated */
    CHECK(pl_hnsw_load(blob, len, v, n - 1, dim) == NULL);          /* another vector count */
    CHECK(pl_hnsw_load(blob, len, v, n, dim + 1) == NULL);          /* another dimension */
    int32_t bad = (int32_t)n + 5;                                   /* a link out of range */
    memcpy((char *)blob + 28 + n + 4, &bad, 4);
    CHECK(pl_hnsw_load(blob, len, v, n, dim) == NULL);
    memcpy(blob, "XXXXXXXX", 8);
    CHECK(pl_hnsw_load(blob, len, v, n, dim) == NULL);

    /* built on the pool's two threads, after a first part on one: the same recall, and its saved lists load */
    pl_hnsw *hp = pl_hnsw_new(dim, &(pl_hnsw_params){.M = 16, .ef_construction = 100, .seed = 3});
    CHECK(pl_hnsw_add_par(ctx, hp, v, 10) == PL_OK && pl_hnsw_add_par(ctx, hp, v, n) == PL_OK);
    CHECK(pl_hnsw_count(hp) == n);
    CHECK(pl_hnsw_search(ctx, hp, q, nq, k, 64, hn2) == PL_OK);
    double rp = recall(hn2, ex, nq, k);
    printf("hnsw recall@10 %.4f built on 2 threads\n", rp);
    CHECKF(rp >= 0.95, "recall@10 %.4f (parallel build)", rp);
    void *blob2; size_t len2;
    CHECK(pl_hnsw_save(hp, &blob2, &len2) == PL_OK);
    pl_hnsw *hp2 = pl_hnsw_load(blob2, len2, v, n, dim); /* load checks every link's count and range */
    CHECK(hp2 != NULL);
    free(blob2); pl_hnsw_free(hp2); pl_hnsw_free(hp);

    free(blob); free(hn2); pl_hnsw_free(h2); pl_hnsw_free(h);
    free(v); free(q); free(ex); free(one); free(hn);
    pl_ctx_free(ctx);
    TEST_DONE();
}
