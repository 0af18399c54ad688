/* LayerNorm with its affine part in one op: y = (x - mean) * rstd * w + b per row (nn.LayerNorm).
 * One pass forward and one backward instead of the three of pl_layernorm + pl_mul + pl_add; the training
 * GPT uses it. Forward keeps mean and 1/std per row; backward recomputes x-hat from them. */
#include "ops/ops.h"

#include "core/cpu.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

pl_tensor *pl_layernorm_affine(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, pl_tensor *b, float eps) {
    if (!x || !w) return NULL;
    OP_REQUIRE(x->type == PL_F32 && x->nb[0] == sizeof(float), "layernorm: f32 rows expected");
    OP_REQUIRE(w->type == PL_F32 && pl_is_contiguous(w) && pl_nelements(w) == x->ne[0] &&
                   (!b || (b->type == PL_F32 && pl_is_contiguous(b) && pl_nelements(b) == x->ne[0])),
               "layernorm: weight and bias must be f32 vectors of the row length %lld", (long long)x->ne[0]);
    pl_tensor *t = op_new_node(ctx, PL_OP_LAYERNORM_AFFINE, PL_F32, x->n_dims, x->ne, x, w, b, NULL);
    if (!t) return NULL;
    t->p.f[0] = eps;
    /* mean and rstd per row, then one slice of (dw, db) partial sums per thread for backward */
    int nt = ctx->n_threads > 0 ? ctx->n_threads : 1;
    t->saved = pl_ctx_alloc(ctx, ((size_t)pl_nrows(t) * 2 + (size_t)nt * 2 * (size_t)x->ne[0]) * sizeof(float));
    return t->saved ? t : NULL;
}

/* one row forward: y = (x - mean) * rstd * w + b; returns mean, rstd (scalar reference) */
static void ln_row_scalar(const float *x, float *y, const float *w, const float *b, int64_t n, float eps, float *out) {
    float sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    float mean = sum / (float)n;
    for (int64_t i = 0; i < n; i++) { float d = x[i] - mean; sq += d * d; }
    float rstd = 1.0f / sqrtf(sq / (float)n + eps);
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * w[i] + (b ? b[i] : 0.0f);
    out[0] = mean;
    out[1] = rstd;
}

/* one row backward: dx += rstd * (g w - mean(g w) - xh mean(g w xh)); pw += g xh; pb += g (reference) */
static void ln_grad_row_scalar(const float *x, const float *g, const float *w, float mean, float rstd, int64_t n,
                               float *dx, float *pw, float *pb) {
    float sg = 0, sgx = 0;
    for (int64_t i = 0; i < n; i++) {
        float xh = (x[i] - mean) * rstd, gy = g[i] * w[i];
        if (pw) { pw[i] += g[i] * xh; pb[i] += g[i]; }
        sg += gy;
        sgx += gy * xh;
    }
    if (!dx) return;
    sg /= (float)n;
    sgx /= (float)n;
    for (int64_t i = 0; i < n; i++) dx[i] += rstd * (g[i] * w[i] - sg - (x[i] - mean) * rstd * sgx);
}

/* the same 16 lanes at a time (sums in another order: equal to the reference up to float rounding) */
#define AVX512 __attribute__((target("avx512f")))
AVX512 static inline __m512 ld(const float *p, int64_t i, int64_t n) {
    return n - i >= 16 ? _mm512_loadu_ps(p + i) : _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), p + i);
}
AVX512 static inline void st(float *p, int64_t i, int64_t n, __m512 v) {
    if (n - i >= 16) _mm512_storeu_ps(p + i, v);
    else _mm512_mask_storeu_ps(p + i, (__mmask16)((1u << (n - i)) - 1), v);
}
AVX512 static void ln_row_avx512(const float *x, float *y, const float *w, const float *b, int64_t n, float eps,
                                 float *out) {
    __m512 s = _mm512_setzero_ps(), q = s;
    for (int64_t i = 0; i < n; i += 16) s = _mm512_add_ps(s, ld(x, i, n));
    float mean = _mm512_reduce_add_ps(s) / (float)n;
    __m512 vm = _mm512_set1_ps(mean);
    for (int64_t i = 0; i < n; i += 16) {
        __m512 d = _mm512_sub_ps(ld(x, i, n), vm);
        if (n - i < 16) d = _mm512_maskz_mov_ps((__mmask16)((1u << (n - i)) - 1), d);
        q = _mm512_fmadd_ps(d, d, q);
    }
    float rstd = 1.0f / sqrtf(_mm512_reduce_add_ps(q) / (float)n + eps);
    __m512 vr = _mm512_set1_ps(rstd);
    for (int64_t i = 0; i < n; i += 16) {
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(ld(x, i, n), vm), vr), ld(w, i, n));
        st(y, i, n, b ? _mm512_add_ps(v, ld(b, i, n)) : v);
    }
    out[0] = mean;
    out[1] = rstd;
}
AVX512 static void ln_grad_row_avx512(const float *x, const float *g, const float *w, float mean, float rstd, int64_t n,
                                      float *dx, float *pw, float *pb) {
    __m512 vm = _mm512_set1_ps(mean), vr = _mm512_set1_ps(rstd), sg = _mm512_setzero_ps(), sgx = sg;
    for (int64_t i = 0; i < n; i += 16) {
        __m512 xh = _mm512_mul_ps(_mm512_sub_ps(ld(x, i, n), vm), vr), gv = ld(g, i, n), gy = _mm512_mul_ps(gv, ld(w, i, n));
        if (pw) { st(pw, i, n, _mm512_fmadd_ps(gv, xh, ld(pw, i, n))); st(pb, i, n, _mm512_add_ps(gv, ld(pb, i, n))); }
        sg = _mm512_add_ps(sg, gy);
        sgx = _mm512_fmadd_ps(gy, xh, sgx);
    }
    if (!dx) return;
    __m512 vsg = _mm512_set1_ps(_mm512_reduce_add_ps(sg) / (float)n), vsgx = _mm512_set1_ps(_mm512_reduce_add_ps(sgx) / (float)n);
    for (int64_t i = 0; i < n; i += 16) {
        __m512 xh = _mm512_mul_ps(_mm512_sub_ps(ld(x, i, n), vm), vr);
        __m512 t = _mm512_sub_ps(_mm512_sub_ps(_mm512_mul_ps(ld(g, i, n), ld(w, i, n)), vsg), _mm512_mul_ps(xh, vsgx));
        st(dx, i, n, _mm512_fmadd_ps(vr, t, ld(dx, i, n)));
    }
}

static void ln_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg;
    int64_t n = t->ne[0];
    const float *w = pl_f32(t->src[1]), *b = t->src[2] ? pl_f32(t->src[2]) : NULL;
    bool simd = pl_cpu_isa() >= PL_ISA_AVX512;
    for (int64_t r = s; r < e; r++) {
        const float *x = op_src_row(t, t->src[0], r);
        if (simd) ln_row_avx512(x, pl_f32(t) + r * n, w, b, n, t->p.f[0], t->saved + 2 * r);
        else ln_row_scalar(x, pl_f32(t) + r * n, w, b, n, t->p.f[0], t->saved + 2 * r);
    }
}
void op_layernorm_affine_forward(pl_ctx *ctx, pl_tensor *t) { pl_parallel_for(ctx, pl_nrows(t), ln_rows, t); }

/* dw and db are sums over rows: each thread adds into its own slice of `part`, reduced afterwards. */
typedef struct { pl_tensor *t; float *part; } ln_job;
static void ln_grad_rows(void *arg, int64_t s, int64_t e, int ith) {
    ln_job *j = arg;
    pl_tensor *t = j->t;
    int64_t n = t->ne[0];
    const float *w = pl_f32(t->src[1]);
    float *gx = op_grad(t->src[0]);
    float *pw = j->part ? j->part + (size_t)ith * 2 * n : NULL, *pb = pw ? pw + n : NULL;
    bool simd = pl_cpu_isa() >= PL_ISA_AVX512;
    for (int64_t r = s; r < e; r++) {
        const float *x = op_src_row(t, t->src[0], r), *g = pl_f32(t->grad) + r * n;
        float *dx = gx ? gx + r * n : NULL;
        if (simd) ln_grad_row_avx512(x, g, w, t->saved[2 * r], t->saved[2 * r + 1], n, dx, pw, pb);
        else ln_grad_row_scalar(x, g, w, t->saved[2 * r], t->saved[2 * r + 1], n, dx, pw, pb);
    }
}
void op_layernorm_affine_backward(pl_ctx *ctx, pl_tensor *t) {
    int64_t n = t->ne[0];
    float *gw = op_grad(t->src[1]), *gb = op_grad(t->src[2]);
    int nt = ctx->n_threads > 0 ? ctx->n_threads : 1;
    ln_job j = {t, gw || gb ? t->saved + pl_nrows(t) * 2 : NULL};
    if (j.part) memset(j.part, 0, (size_t)nt * 2 * (size_t)n * sizeof(float));
    if (j.part || op_grad(t->src[0])) pl_parallel_for(ctx, pl_nrows(t), ln_grad_rows, &j);
    for (int k = 0; j.part && k < nt; k++) {
        const float *pw = j.part + (size_t)k * 2 * n, *pb = pw + n;
        if (gw) for (int64_t i = 0; i < n; i++) gw[i] += pw[i];
        if (gb) for (int64_t i = 0; i < n; i++) gb[i] += pb[i];
    }
}
