/* LayerNorm with its affine part in one op: y = (x - mean) * rstd * w + b per row (nn.LayerNorm).
 * One pass forward and one backward instead of the three of pl_layernorm + pl_mul + pl_add; the training
 * GPT uses it. Forward keeps mean and 1/std per row; backward recomputes x-hat from them. */
#include "ops/ops.h"

#include "backend/cpu/vec_exp_simd.h"
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

/* The same, 16 lanes (AVX-512) or 8 (AVX2) at a time: ops/norm_affine_rows.h, included once per ISA */
#define AVX512 __attribute__((target("avx512f")))
AVX512 static inline __m512 ld512(const float *p, int64_t i, int64_t n) {
    return n - i >= 16 ? _mm512_loadu_ps(p + i) : _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), p + i);
}
AVX512 static inline void st512(float *p, int64_t i, int64_t n, __m512 v) {
    if (n - i >= 16) _mm512_storeu_ps(p + i, v);
    else _mm512_mask_storeu_ps(p + i, (__mmask16)((1u << (n - i)) - 1), v);
}
AVX512 static inline __m512 tail0_512(__m512 v, int64_t i, int64_t n) {
    return n - i >= 16 ? v : _mm512_maskz_mov_ps((__mmask16)((1u << (n - i)) - 1), v);
}
#define LN_TGT AVX512
#define LN_SFX(f) f##_avx512
#define LN_V __m512
#define LN_W 16
#define LN_LD ld512
#define LN_ST st512
#define LN_TAIL0 tail0_512
#define LN_SET1 _mm512_set1_ps
#define LN_ZERO _mm512_setzero_ps
#define LN_ADD _mm512_add_ps
#define LN_SUB _mm512_sub_ps
#define LN_MUL _mm512_mul_ps
#define LN_FMA _mm512_fmadd_ps
#define LN_SUM _mm512_reduce_add_ps
#include "ops/norm_affine_rows.h"
#undef LN_TGT
#undef LN_SFX
#undef LN_V
#undef LN_W
#undef LN_LD
#undef LN_ST
#undef LN_TAIL0
#undef LN_SET1
#undef LN_ZERO
#undef LN_ADD
#undef LN_SUB
#undef LN_MUL
#undef LN_FMA
#undef LN_SUM

#define AVX2 __attribute__((target("avx2,fma")))
/* lanes below n - i (at most 8) */
AVX2 static inline __m256i lanes256(int64_t i, int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)PL_MIN(n - i, 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
AVX2 static inline __m256 ld256(const float *p, int64_t i, int64_t n) {
    return n - i >= 8 ? _mm256_loadu_ps(p + i) : _mm256_maskload_ps(p + i, lanes256(i, n));
}
AVX2 static inline void st256(float *p, int64_t i, int64_t n, __m256 v) {
    if (n - i >= 8) _mm256_storeu_ps(p + i, v);
    else _mm256_maskstore_ps(p + i, lanes256(i, n), v);
}
AVX2 static inline __m256 tail0_256(__m256 v, int64_t i, int64_t n) {
    return n - i >= 8 ? v : _mm256_and_ps(v, _mm256_castsi256_ps(lanes256(i, n)));
}
#define LN_TGT AVX2
#define LN_SFX(f) f##_avx2
#define LN_V __m256
#define LN_W 8
#define LN_LD ld256
#define LN_ST st256
#define LN_TAIL0 tail0_256
#define LN_SET1 _mm256_set1_ps
#define LN_ZERO _mm256_setzero_ps
#define LN_ADD _mm256_add_ps
#define LN_SUB _mm256_sub_ps
#define LN_MUL _mm256_mul_ps
#define LN_FMA _mm256_fmadd_ps
#define LN_SUM hsum256
#include "ops/norm_affine_rows.h"

static void ln_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg;
    int64_t n = t->ne[0];
    const float *w = pl_f32(t->src[1]), *b = t->src[2] ? pl_f32(t->src[2]) : NULL;
    pl_isa isa = pl_cpu_isa();
    for (int64_t r = s; r < e; r++) {
        const float *x = op_src_row(t, t->src[0], r);
        float *y = pl_f32(t) + r * n, *out = t->saved + 2 * r;
        if (isa >= PL_ISA_AVX512) ln_row_avx512(x, y, w, b, n, t->p.f[0], out);
        else if (isa >= PL_ISA_AVX2) ln_row_avx2(x, y, w, b, n, t->p.f[0], out);
        else ln_row_scalar(x, y, w, b, n, t->p.f[0], out);
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
    pl_isa isa = pl_cpu_isa();
    for (int64_t r = s; r < e; r++) {
        const float *x = op_src_row(t, t->src[0], r), *g = pl_f32(t->grad) + r * n;
        float *dx = gx ? gx + r * n : NULL;
        float mean = t->saved[2 * r], rstd = t->saved[2 * r + 1];
        if (isa >= PL_ISA_AVX512) ln_grad_row_avx512(x, g, w, mean, rstd, n, dx, pw, pb);
        else if (isa >= PL_ISA_AVX2) ln_grad_row_avx2(x, g, w, mean, rstd, n, dx, pw, pb);
        else ln_grad_row_scalar(x, g, w, mean, rstd, n, dx, pw, pb);
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
