/* Exact vector search (vindex.h): a batch of queries is scored against blocks of rows, each block one GEMM
 * (plinth's sgemm, one thread a block: the pool's threads take blocks as they come free, with no wait between
 * blocks) followed by a pass that keeps each query's k best in that thread's heaps; the threads' heaps are
 * merged at the end. A single query: SIMD dot products split over the threads. */
#include "rag/vindex.h"

#include "backend/cpu/sgemm.h"
#include "backend/cpu/vec.h"
#include "core/common.h"
#include "rag/topk.h"

#include <cblas.h>
#include <string.h>

/* rows a block: the block's scores (nq x rows floats a thread, at most SCORE_FLOATS) stay in cache between the
 * GEMM that writes them and the scan that reads them; at most MAX_BLOCK, at least MIN_BLOCK (the GEMM's panels want
 * width). On 1,000 queries of 384 dimensions blocks of 256, 512 and 2048 rows ran alike. */
enum { SCORE_FLOATS = 1 << 19, MIN_BLOCK = 256, MAX_BLOCK = 4096 };

typedef struct {
    const float *vecs, *q;
    int64_t n, block;
    int dim, nq;
    float *scores;  /* batch: nq x block floats a thread */
    pl_topk *heaps; /* batch: nq a thread; single query: one a thread */
} job;

static void single_range(void *arg, int64_t s, int64_t e, int ith) {
    job *j = arg;
    pl_topk *t = &j->heaps[ith];
    for (int64_t r = s; r < e; r++) pl_topk_push_ordered(t, r, pl_vec_dot_f32(j->dim, j->q, j->vecs + r * j->dim));
}

static void scores_block(float *S, const job *j, int64_t base, int64_t blk) { /* S (nq x blk) = Q X_blk^T */
    pl_mat a = {j->q, j->nq, j->dim, j->dim, 1}, b = {j->vecs + base * j->dim, j->dim, blk, 1, j->dim};
    if (pl_sgemm(S, blk, a, b, 1.0f, 0.0f)) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->nq, (int)blk, j->dim, 1.0f, j->q, j->dim,
                j->vecs + base * j->dim, j->dim, 0.0f, S, (int)blk);
}

/* blocks s..e on thread ith, into its own scores and heaps: only scores at or above a heap's floor reach it */
static void batch_blocks(void *arg, int64_t s, int64_t e, int ith) {
    job *j = arg;
    float *S = j->scores + (size_t)ith * j->nq * j->block;
    pl_topk *heaps = j->heaps + (size_t)ith * j->nq;
    for (int64_t u = s; u < e; u++) {
        int64_t base = u * j->block, blk = PL_MIN(j->block, j->n - base);
        scores_block(S, j, base, blk);
        for (int q = 0; q < j->nq; q++) {
            const float *sc = S + (size_t)q * blk;
            pl_topk *t = &heaps[q];
            for (int64_t r = pl_vec_find_ge_f32(blk, sc, pl_topk_floor(t)); r < blk;
                 r += 1 + pl_vec_find_ge_f32(blk - r - 1, sc + r + 1, pl_topk_floor(t)))
                pl_topk_push_ordered(t, base + r, sc[r]);
        }
    }
}

int pl_exact_search(pl_ctx *ctx, const float *vecs, int64_t n, int dim, const float *queries, int nq, int k, pl_hit *out) {
    if (!vecs || !queries || !out || n < 0 || dim <= 0 || nq <= 0 || k <= 0)
        return pl_error(PL_ERR_ARG, "exact search: bad arguments");
    int nt = ctx ? ctx->n_threads : 1, nh = nq == 1 ? nt : nq * nt;
    /* and at least four blocks a thread where n allows, so that threads that run take more of them */
    int64_t block = PL_MIN((int64_t)MAX_BLOCK, PL_MIN(SCORE_FLOATS / nq, (n + 4 * nt - 1) / (4 * nt)));
    block = PL_MAX((int64_t)MIN_BLOCK, (block + 15) / 16 * 16);
    pl_topk *heaps = pl_calloc((size_t)nh, sizeof *heaps);
    float *S = nq > 1 ? pl_malloc((size_t)nt * nq * block * sizeof(float)) : NULL;
    int rc = heaps && (nq == 1 || S) ? PL_OK : PL_ERR_NOMEM;
    for (int i = 0; !rc && i < nh; i++) rc = pl_topk_init(&heaps[i], k);
    job j = {vecs, queries, n, block, dim, nq, S, heaps};
    if (!rc && nq == 1) {
        if (ctx) pl_parallel_for(ctx, n, single_range, &j);
        else single_range(&j, 0, n, 0);
        for (int i = 1; i < nt; i++)
            for (int x = 0; x < heaps[i].n; x++) pl_topk_push_ordered(&heaps[0], heaps[i].h[x].id, heaps[i].h[x].score);
        pl_topk_sorted(&heaps[0], out);
    } else if (!rc) {
        int64_t units = (n + block - 1) / block;
        if (ctx) pl_parallel_for_dynamic(ctx, units, batch_blocks, &j);
        else batch_blocks(&j, 0, units, 0);
        for (int q = 0; q < nq; q++) {
            for (int i = 1; i < nt; i++) {
                const pl_topk *f = &heaps[(size_t)i * nq + q];
                for (int x = 0; x < f->n; x++) pl_topk_push_ordered(&heaps[q], f->h[x].id, f->h[x].score);
            }
            pl_topk_sorted(&heaps[q], out + (size_t)q * k);
        }
    }
    for (int i = 0; heaps && i < nh; i++) pl_topk_free(&heaps[i]);
    free(heaps);
    free(S);
    return rc;
}
