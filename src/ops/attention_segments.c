/* Bidirectional attention over a batch of sequences packed end to end (an encoder's batch: BERT and friends):
 * each token sees every token of its own sequence and none of the others, so a batch of sentences of different
 * lengths needs no padding and no mask, and a sentence's result does not depend on what it is batched with.
 * One work item = (sequence, head), its queries in blocks of ATT_QB: S = scale Q K^T, P = softmax(S), O = P V, on
 * the register-blocked kernels of backend/cpu/attn_kernels.c (K packed once an item), or on sgemm below AVX2
 * (the reference path). Forward only (inference); training attends within a batch through ops/attention.c. */
#include "backend/cpu/attn_kernels.h"
#include "backend/cpu/vec_exp.h"
#include "ops/ops.h"

#include <cblas.h>

enum { ATT_QB = 64 };

static bool seg_ok(const pl_tensor *seg, int64_t n_tok) {
    if (!seg || seg->type != PL_I32 || !pl_is_contiguous(seg) || pl_nelements(seg) < 2) return false;
    const int32_t *s = seg->data;
    int64_t n = pl_nelements(seg);
    if (s[0] != 0 || s[n - 1] != n_tok) return false;
    for (int64_t i = 1; i < n; i++)
        if (s[i] <= s[i - 1]) return false; /* every sequence holds at least one token */
    return true;
}

pl_tensor *pl_attention_segments(pl_ctx *ctx, pl_tensor *q, pl_tensor *k, pl_tensor *v, pl_tensor *seg, float scale) {
    if (!q || !k || !v || !seg) return NULL;
    OP_REQUIRE(q->type == PL_F32 && k->type == PL_F32 && v->type == PL_F32, "attention_segments: f32 q, k, v expected");
    OP_REQUIRE(q->nb[0] == 4 && k->nb[0] == 4 && v->nb[0] == 4, "attention_segments: rows of q, k, v must be contiguous");
    OP_REQUIRE(pl_same_shape(q, k) && pl_same_shape(k, v), "attention_segments: q, k, v shapes differ");
    OP_REQUIRE(seg_ok(seg, q->ne[2]), "attention_segments: the offsets do not cut %lld tokens into sequences",
               (long long)q->ne[2]);
    int64_t ne[3] = {q->ne[0], q->ne[1], q->ne[2]};
    pl_tensor *t = op_new_node(ctx, PL_OP_ATTENTION_SEGMENTS, PL_F32, 3, ne, q, k, v, seg);
    if (t) t->p.f[0] = scale;
    return t;
}

static int64_t blocks(int64_t n) { return (n + ATT_QB - 1) / ATT_QB; }

/* work item w -> (first token of its sequence, its length, head, query block) */
static bool item_of(const pl_tensor *t, int64_t w, int64_t *start, int64_t *len, int64_t *h, int64_t *qb) {
    const int32_t *s = t->src[3]->data;
    int64_t H = t->ne[1], n_seg = pl_nelements(t->src[3]) - 1;
    for (int64_t i = 0; i < n_seg; i++) {
        int64_t n = H * blocks(s[i + 1] - s[i]);
        if (w < n) { *start = s[i]; *len = s[i + 1] - s[i]; *h = w % H; *qb = w / H; return true; }
        w -= n;
    }
    return false;
}

static int64_t n_items(const pl_tensor *t) {
    const int32_t *s = t->src[3]->data;
    int64_t n = 0;
    for (int64_t i = 0; i + 1 < pl_nelements(t->src[3]); i++) n += t->ne[1] * blocks(s[i + 1] - s[i]);
    return n;
}

/* the rows of head h from token i on: row j at base + j * ld floats */
static const float *rows_of(const pl_tensor *x, int64_t h, int64_t i) {
    return (const float *)((const char *)x->data + h * x->nb[1] + i * x->nb[2]);
}

static void seg_fwd_range(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    int64_t D = q->ne[0], H = q->ne[1], longest = 0;
    const int32_t *sg = t->src[3]->data;
    for (int64_t i = 0; i + 1 < pl_nelements(t->src[3]); i++) longest = PL_MAX(longest, sg[i + 1] - sg[i]);
    float *S = malloc((size_t)(ATT_QB * longest) * sizeof(float));
    if (!S) { pl_error(PL_ERR_NOMEM, "attention: no memory for scores"); return; }
    int ldq = (int)(q->nb[2] / 4), ldk = (int)(k->nb[2] / 4), ldv = (int)(v->nb[2] / 4);
    for (int64_t w = s; w < e; w++) {
        int64_t start, n, h, qb;
        if (!item_of(t, w, &start, &n, &h, &qb)) break;
        int64_t i0 = start + qb * ATT_QB, rows = PL_MIN(ATT_QB, start + n - i0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n, (int)D, t->p.f[0], rows_of(q, h, i0), ldq,
                    rows_of(k, h, start), ldk, 0.0f, S, (int)n);
        for (int64_t i = 0; i < rows; i++) pl_vec_softmax_f32(n, S + i * n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)D, (int)n, 1.0f, S, (int)n,
                    rows_of(v, h, start), ldv, 0.0f, pl_f32(t) + (i0 * H + h) * D, (int)(H * D));
    }
    free(S);
}

/* The SIMD path: work item w = (sequence, head), whichever thread is free takes the next one (sentences of a
 * batch differ in length, so items differ in cost). K^T is packed once an item; every query block's scores,
 * softmax and P V are computed from the sequence's own rows only, so a sentence's result does not depend on what
 * it is batched with nor on which thread runs it. */
static int64_t round16(int64_t n) { return (n + 15) & ~(int64_t)15; }

static void seg_fwd_fast(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    const pl_attn_kernels *kr = pl_attn_kernels_for(pl_cpu_isa());
    const int32_t *sg = t->src[3]->data;
    int64_t D = q->ne[0], H = q->ne[1], ldq = q->nb[2] / 4, ldk = k->nb[2] / 4, ldv = v->nb[2] / 4;
    pl_attn_band none = {0};
    for (int64_t w = s; w < e; w++) {
        int64_t seq = w / H, h = w % H, start = sg[seq], n = sg[seq + 1] - start, ld = round16(n);
        float *S = aligned_alloc(64, (size_t)(PL_MIN(n, ATT_QB) + D) * (size_t)ld * sizeof(float)), *Kt;
        if (!S) { pl_error(PL_ERR_NOMEM, "attention: no memory for scores"); return; }
        Kt = S + PL_MIN(n, ATT_QB) * ld;
        kr->pack_t(D, 0, n, rows_of(k, h, start), ldk, Kt, ld); /* (D, n): column j = key j */
        for (int64_t i0 = 0; i0 < n; i0 += ATT_QB) {
            int64_t rows = PL_MIN(ATT_QB, n - i0);
            kr->gemm(rows, n, D, t->p.f[0], rows_of(q, h, start + i0), ldq, 1, Kt, ld, S, ld, false, none, PL_BAND_NONE);
            for (int64_t i = 0; i < rows; i++) kr->softmax(n, S + i * ld);
            kr->gemm(rows, D, n, 1.0f, S, ld, 1, rows_of(v, h, start), ldv, pl_f32(t) + ((start + i0) * H + h) * D, H * D,
                     false, none, PL_BAND_NONE);
        }
        free(S);
    }
}

void op_attention_segments_forward(pl_ctx *ctx, pl_tensor *t) {
    if (pl_attn_kernels_for(pl_cpu_isa()))
        pl_parallel_for_dynamic(ctx, (pl_nelements(t->src[3]) - 1) * t->ne[1], seg_fwd_fast, t);
    else
        pl_parallel_for(ctx, n_items(t), seg_fwd_range, t);
}
void op_attention_segments_backward(pl_ctx *ctx, pl_tensor *t) { (void)ctx; (void)t; }
