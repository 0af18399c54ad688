/* Exact vector search (vindex.h): a batch of queries against blocks of vectors as one GEMM each (plinth's
 * sgemm on the pool), a single query as SIMD dot products split over the threads; a k-best heap per query. */
#include "rag/vindex.h"

#include "backend/cpu/sgemm.h"
#include "backend/cpu/vec.h"
#include "core/common.h"
#include "rag/topk.h"

#include <cblas.h>
#include <string.h>

enum { BLOCK = 4096 };

typedef struct {
    const float *vecs, *q;
    int64_t n;
    int dim, k, nq;
    const float *scores;   /* batch: nq x blk scores of rows base .. base+blk */
    int64_t base, blk;
    pl_topk *heaps;        /* one per query (batch) or per thread (single) */
} job;

static void single_range(void *arg, int64_t s, int64_t e, int ith) {
    job *j = arg;
    pl_topk *t = &j->heaps[ith];
    for (int64_t r = s; r < e; r++) pl_topk_push(t, r, pl_vec_dot_f32(j->dim, j->q, j->vecs + r * j->dim));
}

static void batch_range(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    job *j = arg;
    for (int64_t q = s; q < e; q++) {
        const float *sc = j->scores + q * j->blk;
        pl_topk *t = &j->heaps[q];
        for (int64_t r = 0; r < j->blk; r++)
            if (sc[r] > pl_topk_floor(t)) pl_topk_push(t, j->base + r, sc[r]);
    }
}

static void scores_block(pl_ctx *ctx, float *S, const job *j) { /* S (nq x blk) = Q X_blk^T */
    pl_mat a = {j->q, j->nq, j->dim, j->dim, 1}, b = {j->vecs + j->base * j->dim, j->dim, j->blk, 1, j->dim};
    if (ctx ? pl_sgemm_par(ctx, S, j->blk, a, b, 1.0f, 0.0f) : pl_sgemm(S, j->blk, a, b, 1.0f, 0.0f)) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->nq, (int)j->blk, j->dim, 1.0f, j->q, j->dim,
                j->vecs + j->base * j->dim, j->dim, 0.0f, S, (int)j->blk);
}

int pl_exact_search(pl_ctx *ctx, const float *vecs, int64_t n, int dim, const float *queries, int nq, int k, pl_hit *out) {
    if (!vecs || !queries || !out || n < 0 || dim <= 0 || nq <= 0 || k <= 0)
        return pl_error(PL_ERR_ARG, "exact search: bad arguments");
    int nt = ctx ? ctx->n_threads : 1, nh = nq == 1 ? nt : nq;
    pl_topk *heaps = pl_calloc((size_t)nh, sizeof *heaps);
    float *S = nq > 1 ? pl_malloc((size_t)nq * BLOCK * sizeof(float)) : NULL;
    int rc = heaps && (nq == 1 || S) ? PL_OK : PL_ERR_NOMEM;
    for (int i = 0; !rc && i < nh; i++) rc = pl_topk_init(&heaps[i], k);
    job j = {vecs, queries, n, dim, k, nq, S, 0, 0, heaps};
    if (!rc && nq == 1) {
        if (ctx) pl_parallel_for(ctx, n, single_range, &j);
        else single_range(&j, 0, n, 0);
        for (int i = 1; i < nt; i++) pl_topk_merge(&heaps[0], &heaps[i]);
        pl_topk_sorted(&heaps[0], out);
    } else if (!rc) {
        for (j.base = 0; j.base < n; j.base += BLOCK) {
            j.blk = PL_MIN((int64_t)BLOCK, n - j.base);
            scores_block(ctx, S, &j);
            if (ctx) pl_parallel_for(ctx, nq, batch_range, &j);
            else batch_range(&j, 0, nq, 0);
        }
        for (int q = 0; q < nq; q++) pl_topk_sorted(&heaps[q], out + (size_t)q * k);
    }
    for (int i = 0; heaps && i < nh; i++) pl_topk_free(&heaps[i]);
    free(heaps);
    free(S);
    return rc;
}
