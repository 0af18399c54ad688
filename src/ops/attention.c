/* Fused scaled-dot-product attention: O = softmax(scale * Q K^T [+ causal mask]) V for every (batch, head),
 * with grouped-query heads (several query heads share one key/value head). Forward keeps each query row's
 * log-sum-exp; backward recomputes the probabilities from it (as FlashAttention does) instead of storing
 * Tq x Tk of them. Two paths with the same work split: the reference one calls sgemm for the products; with
 * AVX-512 or AVX2 the products run on the small register-blocked kernels of backend/cpu/attn_kernels.c, which
 * skip the masked tiles and whose per-call cost suits these tiny products (rows 32-64, k <= a few hundred).
 * q, k, v may be strided views (e.g. slices of a fused QKV projection or a KV cache). */
#include "backend/cpu/attn_kernels.h"
#include "backend/cpu/vec.h"
#include "backend/cpu/vec_exp.h"
#include "core/cpu.h"
#include "ops/ops.h"

#include <cblas.h>
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

/* sliding window (Gemma 3's local layers): p.i[2] = window (0: none); a row of n causal keys keeps its last
 * `window` of them. The softmax ranges of forward and backward read it. */
pl_tensor *pl_attention_window(pl_ctx *ctx, pl_tensor *q, pl_tensor *k, pl_tensor *v, float scale, int window) {
    pl_tensor *t = pl_attention(ctx, q, k, v, scale, true);
    if (t) t->p.i[2] = window > 0 ? window : 0;
    return t;
}
static int64_t window_lo(const pl_tensor *t, int64_t n) { /* first key a row of n causal keys sees */
    return t->p.i[2] > 0 && n > t->p.i[2] ? n - t->p.i[2] : 0;
}

/* The rows of (head h, batch b) of q, k or v: row i at base + i*ld floats. */
static const float *head_base(const pl_tensor *x, int64_t h, int64_t b) {
    return (const float *)((const char *)x->data + h * x->nb[2] + b * x->nb[3]);
}
static int head_ld(const pl_tensor *x) { /* BLAS wants ld >= row length even when there is one row */
    int64_t ld = (int64_t)(x->nb[1] / sizeof(float));
    return (int)(x->ne[1] == 1 || ld < x->ne[0] ? x->ne[0] : ld);
}

/* The gradient rows of (head h, batch b) of q, k or v, through the gradient's own strides: it may be a window of
 * the fused projection's gradient that q, k and v are views of (core/grad_plan.c aliases such view gradients). */
static float *grad_head(const pl_tensor *x, int64_t h, int64_t b) {
    return (float *)((char *)x->grad->data + h * x->grad->nb[2] + b * x->grad->nb[3]);
}

/* Forward work item = (batch, query head, block of ATT_QB query rows). Under the causal mask query row i sees
 * keys 0 .. Tk-Tq+i only, so a block computes scores against the keys its last row sees, not all Tk: half the
 * products and exps of a prefill. S = scale Q K^T, P = softmax(S) (keeping log-sum-exp), O = P V. */
#define ATT_QB 64
static void attn_fwd_range(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    int64_t D = q->ne[0], Tq = q->ne[1], Hq = q->ne[2], Tk = k->ne[1], grp = Hq / k->ne[2];
    int64_t nqb = (Tq + ATT_QB - 1) / ATT_QB;
    bool causal = t->p.i[1];
    float *S = malloc((size_t)(PL_MIN(Tq, ATT_QB) * Tk) * sizeof(float));
    if (!S) { pl_error(PL_ERR_NOMEM, "attention: no memory for scores"); return; } /* the output keeps what it held */
    for (int64_t w = s; w < e; w++) {
        int64_t qb = w % nqb, h = (w / nqb) % Hq, b = w / (nqb * Hq);
        int64_t i0 = qb * ATT_QB, rows = PL_MIN(ATT_QB, Tq - i0);
        int64_t nk = causal ? Tk - Tq + i0 + rows : Tk; /* keys the block's last row sees */
        int ldq = head_ld(q), ldk = head_ld(k);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)nk, (int)D, t->p.f[0],
                    head_base(q, h, b) + i0 * ldq, ldq, head_base(k, h / grp, b), ldk, 0.0f, S, (int)nk);
        for (int64_t i = 0; i < rows; i++) {
            float *row = S + i * nk;
            int64_t n = causal ? Tk - Tq + i0 + i + 1 : Tk;
            int64_t lo = window_lo(t, n); /* sliding window: keys before lo are masked too */
            t->saved[(b * Hq + h) * Tq + i0 + i] = pl_vec_softmax_f32(n - lo, row + lo);
            for (int64_t j = 0; j < lo; j++) row[j] = 0.0f;
            for (int64_t j = n; j < nk; j++) row[j] = 0.0f; /* masked */
        }
        /* O rows of this head sit Hq*D apart in the output {D, Hq, Tq, B} */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)D, (int)nk, 1.0f, S, (int)nk,
                    head_base(v, h / grp, b), head_ld(v), 0.0f, pl_f32(t) + ((b * Tq + i0) * Hq + h) * D, (int)(Hq * D));
    }
    free(S);
}

/* The SIMD forward (AVX-512 or AVX2 kernels), same work items. K^T is packed (D x keys, so the score kernel
 * streams a vector of keys at a time) once per (batch, kv head) and grown as the thread's consecutive blocks
 * see more keys; blocks of fewer than ATT_PACK_MIN rows (decode) take dot products against K in place instead.
 * Tiles above the causal diagonal or before a window are skipped in both products. */
#define ATT_PACK_MIN 4
static int64_t round16(int64_t n) { return (n + 15) & ~(int64_t)15; }
/* Scratch of n floats on a 64-byte boundary: with every row length a multiple of 16 floats, the kernels'
 * vector loads never straddle two cache lines (which halves their speed). */
static float *scratch(int64_t n) { return aligned_alloc(64, (size_t)round16(n) * sizeof(float)); }
static pl_attn_band block_band(const pl_tensor *t, int64_t i0) { /* the rows of the block starting at query i0 */
    const pl_tensor *q = t->src[0], *k = t->src[1];
    return (pl_attn_band){.on = t->p.i[1], .diag = k->ne[1] - q->ne[1] + i0, .window = t->p.i[2]};
}
static void attn_fwd_fast(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    const pl_attn_kernels *kr = pl_attn_kernels_for(pl_cpu_isa());
    int64_t D = q->ne[0], Tq = q->ne[1], Hq = q->ne[2], Tk = k->ne[1], grp = Hq / k->ne[2];
    int64_t nqb = (Tq + ATT_QB - 1) / ATT_QB, qrows = PL_MIN(Tq, ATT_QB), ldt = round16(Tk);
    int64_t ldq = head_ld(q), ldk = head_ld(k), ldv = head_ld(v);
    bool causal = t->p.i[1], pack = qrows >= ATT_PACK_MIN;
    float scale = t->p.f[0];
    float *S = scratch(qrows * ldt + (pack ? D * ldt : 0)), *Kt = S + qrows * ldt;
    if (!S) { pl_error(PL_ERR_NOMEM, "attention: no memory for scores"); return; } /* the output keeps what it held */
    int64_t pb = -1, phk = -1, packed = 0; /* Kt holds keys [0, packed) of (batch pb, kv head phk) */
    for (int64_t w = s; w < e; w++) {
        int64_t qb = w % nqb, h = (w / nqb) % Hq, b = w / (nqb * Hq), hk = h / grp;
        int64_t i0 = qb * ATT_QB, rows = PL_MIN(ATT_QB, Tq - i0);
        int64_t nk = causal ? Tk - Tq + i0 + rows : Tk, lds = round16(nk); /* keys the block's last row sees */
        const float *Q = head_base(q, h, b) + i0 * ldq, *K = head_base(k, hk, b);
        pl_attn_band band = block_band(t, i0);
        if (pack && rows >= ATT_PACK_MIN) {
            if (b != pb || hk != phk) { pb = b; phk = hk; packed = 0; }
            if (packed < nk) { kr->pack_t(D, packed, nk, K, ldk, Kt, ldt); packed = nk; }
            kr->gemm(rows, nk, D, scale, Q, ldq, 1, Kt, ldt, S, lds, false, band, PL_BAND_N);
        }
        for (int64_t i = 0; i < rows; i++) {
            float *row = S + i * lds;
            int64_t n = causal ? Tk - Tq + i0 + i + 1 : Tk;
            int64_t lo = window_lo(t, n);
            if (!pack || rows < ATT_PACK_MIN) kr->dots(D, lo, n, Q + i * ldq, K, ldk, scale, row);
            t->saved[(b * Hq + h) * Tq + i0 + i] = kr->softmax(n - lo, row + lo);
            for (int64_t j = 0; j < lo; j++) row[j] = 0.0f;
            for (int64_t j = n; j < nk; j++) row[j] = 0.0f; /* masked, or never written (a skipped tile) */
        }
        kr->gemm(rows, D, nk, 1.0f, S, lds, 1, head_base(v, hk, b), ldv, pl_f32(t) + ((b * Tq + i0) * Hq + h) * D,
                 Hq * D, false, band, PL_BAND_K);
    }
    free(S);
}

/* The SIMD kernels (AVX-512, AVX2) serve training (the op's output has a gradient). Inference keeps the sgemm
 * path: its scores do not depend on how query rows are grouped into blocks, which exact KV-cache reuse needs (a
 * chat that re-prefills a suffix after reusing a cached prefix must reproduce a fresh prefill bit for bit); the
 * fast path takes dot products for blocks under ATT_PACK_MIN rows and a tiled product otherwise. */
void op_attention_forward(pl_ctx *ctx, pl_tensor *t) {
    pl_tensor *q = t->src[0];
    bool fast = pl_attn_kernels_for(pl_cpu_isa()) && t->grad;
    pl_parallel_for(ctx, q->ne[2] * q->ne[3] * ((q->ne[1] + ATT_QB - 1) / ATT_QB), fast ? attn_fwd_fast : attn_fwd_range, t);
}

/* work item = (batch, kv head): the only writer of that head's dK, dV and of its query heads' dQ. Query rows go
 * in blocks of ATT_BQB; under the causal mask a block needs only the keys its last row sees.
 * P = softmax(S) recomputed per row; dP = dO V^T; dS = P (dP - rowsum(dO O)); dQ += scale dS K; dK += scale dS^T Q;
 * dV += P^T dO */
#define ATT_BQB 32
static void attn_bwd_range(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    int64_t D = q->ne[0], Tq = q->ne[1], Hq = q->ne[2], Tk = k->ne[1], Hk = k->ne[2], grp = Hq / Hk;
    float scale = t->p.f[0];
    bool causal = t->p.i[1];
    bool gq = op_grad(q), gk = op_grad(k), gv = op_grad(v);
    int64_t qb = PL_MIN(Tq, ATT_BQB);
    float *P = malloc((size_t)(qb * Tk) * 2 * sizeof(float)), *dS = P + qb * Tk;
    if (!P) { pl_error(PL_ERR_NOMEM, "attention: no memory for scores"); return; } /* gradients miss this share */
    int ldo = (int)(Hq * D), ldq = head_ld(q), ldk = head_ld(k), ldv = head_ld(v);
    int ldgq = gq ? head_ld(q->grad) : 0, ldgk = gk ? head_ld(k->grad) : 0, ldgv = gv ? head_ld(v->grad) : 0;
    for (int64_t w = s; w < e; w++) {
        int64_t hk = w % Hk, b = w / Hk;
        const float *K = head_base(k, hk, b), *V = head_base(v, hk, b);
        for (int64_t h = hk * grp; h < (hk + 1) * grp; h++)
            for (int64_t i0 = 0; i0 < Tq; i0 += ATT_BQB) {
                int64_t rows = PL_MIN(ATT_BQB, Tq - i0), nk = causal ? Tk - Tq + i0 + rows : Tk;
                const float *Q = head_base(q, h, b) + i0 * ldq;
                const float *O = pl_f32(t) + ((b * Tq + i0) * Hq + h) * D, *dO = pl_f32(t->grad) + ((b * Tq + i0) * Hq + h) * D;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)nk, (int)D, scale, Q, ldq, K, ldk,
                            0.0f, P, (int)nk);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)nk, (int)D, 1.0f, dO, ldo, V, ldv,
                            0.0f, dS, (int)nk);
                for (int64_t i = 0; i < rows; i++) {
                    /* P's row again: softmax over the keys the row sees (SIMD exp); masked entries 0 */
                    float di = pl_vec_dot_f32(D, dO + i * ldo, O + i * ldo);
                    float *p = P + i * nk, *ds = dS + i * nk;
                    int64_t n = causal ? Tk - Tq + i0 + i + 1 : Tk, lo = window_lo(t, n);
                    pl_vec_softmax_f32(n - lo, p + lo);
                    for (int64_t j = lo; j < n; j++) ds[j] = p[j] * (ds[j] - di);
                    for (int64_t j = 0; j < lo; j++) p[j] = ds[j] = 0.0f;
                    for (int64_t j = n; j < nk; j++) p[j] = ds[j] = 0.0f;
                }
                if (gq)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)D, (int)nk, scale, dS, (int)nk, K,
                                ldk, 1.0f, grad_head(q, h, b) + i0 * ldgq, ldgq);
                if (gk)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nk, (int)D, (int)rows, scale, dS, (int)nk, Q,
                                ldq, 1.0f, grad_head(k, hk, b), ldgk);
                if (gv)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nk, (int)D, (int)rows, 1.0f, P, (int)nk, dO,
                                ldo, 1.0f, grad_head(v, hk, b), ldgv);
            }
    }
    free(P);
}

/* The SIMD backward, same work items: K^T and V^T packed once per (batch, kv head); per block of query
 * rows P and dP from the score kernel, the row pass P = exp(S - lse), dS = P (dP - di) on the keys each row
 * sees (di = rowsum(P dP), equal to rowsum(dO O) and taken in the same pass without reading O), then dQ, dK
 * (from dS^T, read transposed in place) and dV (from P^T), skipping the masked tiles. */
#define ATT_FBQB 64
static void attn_bwd_fast(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    const pl_attn_kernels *kr = pl_attn_kernels_for(pl_cpu_isa());
    int64_t D = q->ne[0], Tq = q->ne[1], Hq = q->ne[2], Tk = k->ne[1], Hk = k->ne[2], grp = Hq / Hk;
    float scale = t->p.f[0];
    bool causal = t->p.i[1];
    bool gq = op_grad(q), gk = op_grad(k), gv = op_grad(v);
    int64_t ldgq = gq ? head_ld(q->grad) : 0, ldgk = gk ? head_ld(k->grad) : 0, ldgv = gv ? head_ld(v->grad) : 0;
    int64_t qb = PL_MIN(Tq, ATT_FBQB), ldt = round16(Tk);
    float *P = scratch(2 * qb * ldt + 2 * D * ldt);
    if (!P) { pl_error(PL_ERR_NOMEM, "attention: no memory for scores"); return; } /* gradients miss this share */
    float *dS = P + qb * ldt, *Kt = dS + qb * ldt, *Vt = Kt + D * ldt;
    int64_t ldo = Hq * D, ldq = head_ld(q), ldk = head_ld(k), ldv = head_ld(v);
    for (int64_t w = s; w < e; w++) {
        int64_t hk = w % Hk, b = w / Hk;
        const float *K = head_base(k, hk, b), *V = head_base(v, hk, b);
        kr->pack_t(D, 0, Tk, K, ldk, Kt, ldt);
        kr->pack_t(D, 0, Tk, V, ldv, Vt, ldt);
        for (int64_t h = hk * grp; h < (hk + 1) * grp; h++)
            for (int64_t i0 = 0; i0 < Tq; i0 += ATT_FBQB) {
                int64_t rows = PL_MIN(ATT_FBQB, Tq - i0), nk = causal ? Tk - Tq + i0 + rows : Tk, lds = round16(nk);
                const float *Q = head_base(q, h, b) + i0 * ldq;
                const float *dO = pl_f32(t->grad) + ((b * Tq + i0) * Hq + h) * D;
                pl_attn_band band = block_band(t, i0);
                kr->gemm(rows, nk, D, scale, Q, ldq, 1, Kt, ldt, P, lds, false, band, PL_BAND_N);
                kr->gemm(rows, nk, D, 1.0f, dO, ldo, 1, Vt, ldt, dS, lds, false, band, PL_BAND_N);
                for (int64_t i = 0; i < rows; i++) {
                    float *p = P + i * lds, *ds = dS + i * lds;
                    int64_t n = causal ? Tk - Tq + i0 + i + 1 : Tk, lo = window_lo(t, n);
                    kr->bwd_row(n - lo, p + lo, ds + lo, t->saved[(b * Hq + h) * Tq + i0 + i]);
                    for (int64_t j = 0; j < lo; j++) p[j] = ds[j] = 0.0f;
                    for (int64_t j = n; j < nk; j++) p[j] = ds[j] = 0.0f;
                }
                if (gq)
                    kr->gemm(rows, D, nk, scale, dS, lds, 1, K, ldk, grad_head(q, h, b) + i0 * ldgq, ldgq, true, band,
                             PL_BAND_K);
                if (gk)
                    kr->gemm(nk, D, rows, scale, dS, 1, lds, Q, ldq, grad_head(k, hk, b), ldgk, true, band, PL_BAND_KT);
                if (gv)
                    kr->gemm(nk, D, rows, 1.0f, P, 1, lds, dO, ldo, grad_head(v, hk, b), ldgv, true, band, PL_BAND_KT);
            }
    }
    free(P);
}

void op_attention_backward(pl_ctx *ctx, pl_tensor *t) {
    pl_tensor *k = t->src[1];
    bool fast = pl_attn_kernels_for(pl_cpu_isa());
    if (op_grad(t->src[0]) || op_grad(k) || op_grad(t->src[2]))
        pl_parallel_for(ctx, k->ne[2] * k->ne[3], fast ? attn_bwd_fast : attn_bwd_range, t);
}
