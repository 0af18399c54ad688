/* Fused scaled-dot-product attention: O = softmax(scale * Q K^T [+ causal mask]) V for every (batch, head),
 * with grouped-query heads (several query heads share one key/value head). Forward keeps each query row's
 * log-sum-exp; backward recomputes the probabilities from it (as FlashAttention does) instead of storing
 * Tq x Tk of them. q, k, v may be strided views (e.g. slices of a fused QKV projection or a KV cache). */
#include "backend/cpu/vec.h"
#include "ops/ops.h"

#include <math.h>

pl_tensor *pl_attention(pl_ctx *ctx, pl_tensor *q, pl_tensor *k, pl_tensor *v, float scale, bool causal) {
    if (!q || !k || !v) return NULL;
    OP_REQUIRE(q->type == PL_F32 && k->type == PL_F32 && v->type == PL_F32, "attention: f32 q, k, v expected");
    OP_REQUIRE(q->nb[0] == 4 && k->nb[0] == 4 && v->nb[0] == 4, "attention: rows of q, k, v must be contiguous");
    OP_REQUIRE(q->ne[0] == k->ne[0] && pl_same_shape(k, v), "attention: head sizes or k/v shapes differ");
    OP_REQUIRE(k->ne[2] > 0 && q->ne[2] % k->ne[2] == 0, "attention: %lld query heads for %lld kv heads", (long long)q->ne[2],
               (long long)k->ne[2]);
    OP_REQUIRE(q->ne[3] == k->ne[3], "attention: batch sizes differ");
    OP_REQUIRE(!causal || q->ne[1] <= k->ne[1], "attention: more queries than keys under a causal mask");
    int64_t ne[4] = {q->ne[0], q->ne[2], q->ne[1], q->ne[3]};
    pl_tensor *t = op_new_node(ctx, PL_OP_ATTENTION, PL_F32, 4, ne, q, k, v, NULL);
    if (!t) return NULL;
    t->p.f[0] = scale;
    t->p.i[1] = causal;
    t->saved = pl_ctx_alloc(ctx, (size_t)(q->ne[1] * q->ne[2] * q->ne[3]) * sizeof(float));
    return t->saved ? t : NULL;
}

#define ROW(x, i, h, b) ((float *)((char *)(x)->data + (i) * (x)->nb[1] + (h) * (x)->nb[2] + (b) * (x)->nb[3]))

/* work item = (batch, query head, query row) */
static void attn_fwd_range(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    int64_t D = q->ne[0], Tq = q->ne[1], Hq = q->ne[2], Tk = k->ne[1], grp = Hq / k->ne[2];
    float scale = t->p.f[0];
    float *p = malloc((size_t)Tk * sizeof(float));
    for (int64_t w = s; w < e; w++) {
        int64_t i = w % Tq, h = (w / Tq) % Hq, b = w / (Tq * Hq), hk = h / grp;
        int64_t lim = t->p.i[1] ? Tk - Tq + i + 1 : Tk;
        const float *qi = ROW(q, i, h, b);
        float m = -INFINITY;
        for (int64_t j = 0; j < lim; j++) {
            p[j] = scale * pl_vec_dot_f32(D, qi, ROW(k, j, hk, b));
            m = fmaxf(m, p[j]);
        }
        double l = 0;
        for (int64_t j = 0; j < lim; j++) { p[j] = expf(p[j] - m); l += p[j]; }
        float *o = pl_f32(t) + ((b * Tq + i) * Hq + h) * D;
        memset(o, 0, (size_t)D * sizeof(float));
        for (int64_t j = 0; j < lim; j++) pl_vec_axpy_f32(D, p[j], ROW(v, j, hk, b), o);
        pl_vec_scale_f32(D, (float)(1.0 / l), o);
        t->saved[(b * Hq + h) * Tq + i] = m + (float)log(l);
    }
    free(p);
}
void op_attention_forward(pl_ctx *ctx, pl_tensor *t) {
    pl_tensor *q = t->src[0];
    pl_parallel_for(ctx, q->ne[1] * q->ne[2] * q->ne[3], attn_fwd_range, t);
}

/* work item = (batch, kv head): the only writer of that head's dK, dV and of its query heads' dQ */
static void attn_bwd_range(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    int64_t D = q->ne[0], Tq = q->ne[1], Hq = q->ne[2], Tk = k->ne[1], Hk = k->ne[2], grp = Hq / Hk;
    float scale = t->p.f[0];
    float *gq = op_grad(q), *gk = op_grad(k), *gv = op_grad(v);
    float *p = malloc((size_t)Tk * 2 * sizeof(float)), *dp = p + Tk;
    for (int64_t w = s; w < e; w++) {
        int64_t hk = w % Hk, b = w / Hk;
        for (int64_t h = hk * grp; h < (hk + 1) * grp; h++)
            for (int64_t i = 0; i < Tq; i++) {
                int64_t lim = t->p.i[1] ? Tk - Tq + i + 1 : Tk;
                const float *qi = ROW(q, i, h, b);
                const float *o = pl_f32(t) + ((b * Tq + i) * Hq + h) * D, *go = pl_f32(t->grad) + ((b * Tq + i) * Hq + h) * D;
                float lse = t->saved[(b * Hq + h) * Tq + i], di = pl_vec_dot_f32(D, go, o);
                for (int64_t j = 0; j < lim; j++) {
                    p[j] = expf(scale * pl_vec_dot_f32(D, qi, ROW(k, j, hk, b)) - lse);
                    dp[j] = p[j] * (pl_vec_dot_f32(D, go, ROW(v, j, hk, b)) - di); /* dS = P (dP - D) */
                }
                for (int64_t j = 0; j < lim; j++) {
                    if (gv) pl_vec_axpy_f32(D, p[j], go, gv + ((b * Hk + hk) * Tk + j) * D);
                    if (gk) pl_vec_axpy_f32(D, scale * dp[j], qi, gk + ((b * Hk + hk) * Tk + j) * D);
                    if (gq) pl_vec_axpy_f32(D, scale * dp[j], ROW(k, j, hk, b), gq + ((b * Hq + h) * Tq + i) * D);
                }
            }
    }
    free(p);
}
void op_attention_backward(pl_ctx *ctx, pl_tensor *t) {
    pl_tensor *k = t->src[1];
    if (op_grad(t->src[0]) || op_grad(k) || op_grad(t->src[2])) pl_parallel_for(ctx, k->ne[2] * k->ne[3], attn_bwd_range, t);
}
