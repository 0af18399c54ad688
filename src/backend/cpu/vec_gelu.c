/* GELU with the tanh approximation, forward and backward: the scalar reference (libm expf) and AVX2 /
 * AVX-512 variants, all in the form of vec_gelu_simd.h: gelu(x) = x / (1 + e^(-2u)), u = sqrt(2/pi) (x +
 * 0.044715 x^3), which equals 0.5 x (1 + tanh(u)) without its cancellation where x is very negative; with
 * s = 1 / (1 + e^(-2u)), gelu'(x) = s (1 + x (1 - s) 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2)).
 * The SIMD variants are vec_gelu_simd.h's inline functions, shared with the GEMM's fused write-back; the AVX2
 * and AVX-512 ones give the same bits. QuickGELU (CLIP's x sigmoid(1.702 x)) the same way, below. */
#include "backend/cpu/vec.h"
#include "backend/cpu/vec_exp_simd.h"
#include "backend/cpu/vec_gelu_simd.h"
#include "core/cpu.h"

#include <immintrin.h>
#include <math.h>

#define K0 PL_GELU_K0
#define K1 PL_GELU_K1

static inline float em2u(float x) { return expf(-2.0f * K0 * (x + K1 * x * x * x)); } /* e^(-2u); inf far left */

void pl_vec_gelu_f32_scalar(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + em2u(x[i]));
}
void pl_vec_gelu_grad_f32_scalar(int64_t n, const float *x, const float *g, float *dx, bool acc) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], s = 1.0f / (1.0f + em2u(v));
        float d = g[i] * (s * (1.0f + v * (1.0f - s) * (2.0f * K0 + 6.0f * K0 * K1 * v * v)));
        dx[i] = acc ? dx[i] + d : d;
    }
}

void pl_vec_qgelu_f32_scalar(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-PL_QGELU_A * x[i]));
}
void pl_vec_qgelu_grad_f32_scalar(int64_t n, const float *x, const float *g, float *dx, bool acc) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], s = 1.0f / (1.0f + expf(-PL_QGELU_A * v)), d = g[i] * (s * (1.0f + PL_QGELU_A * v * (1.0f - s)));
        dx[i] = acc ? dx[i] + d : d;
    }
}

/* ---- AVX-512 and AVX2: a vector at a time, the tail by the scalar reference ---- */
/* y = f(x), and dx = g f'(x) (acc: dx += g f'(x)), for activation NAME on one ISA: W floats a vector of type V */
#define GELU_ROWS(TGT, SUF, W, V, LOAD, STORE, ADD, FWD, GRAD, NAME)                                               \
    TGT void pl_vec_##NAME##_f32_##SUF(int64_t n, const float *x, float *y) {                                     \
        int64_t i = 0;                                                                                           \
        for (; i + W <= n; i += W) STORE(y + i, FWD(LOAD(x + i)));                                               \
        pl_vec_##NAME##_f32_scalar(n - i, x + i, y + i);                                                         \
    }                                                                                                            \
    TGT void pl_vec_##NAME##_grad_f32_##SUF(int64_t n, const float *x, const float *g, float *dx, bool acc) {     \
        int64_t i = 0;                                                                                           \
        for (; i + W <= n; i += W) {                                                                             \
            V d = GRAD(LOAD(x + i), LOAD(g + i));                                                                \
            STORE(dx + i, acc ? ADD(LOAD(dx + i), d) : d);                                                       \
        }                                                                                                        \
        pl_vec_##NAME##_grad_f32_scalar(n - i, x + i, g + i, dx + i, acc);                                       \
    }

GELU_ROWS(TGT512, avx512, 16, __m512, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps, pl_gelu512, pl_gelu_grad512, gelu)
GELU_ROWS(TGT256, avx2, 8, __m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, pl_gelu256, pl_gelu_grad256, gelu)
GELU_ROWS(TGT512, avx512, 16, __m512, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps, pl_qgelu512, pl_qgelu_grad512, qgelu)
GELU_ROWS(TGT256, avx2, 8, __m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps, pl_qgelu256, pl_qgelu_grad256, qgelu)

typedef void (*gelu_fn)(int64_t, const float *, float *);
typedef void (*gelu_grad_fn)(int64_t, const float *, const float *, float *, bool);
static gelu_fn g_gelu, g_qgelu;
static gelu_grad_fn g_gelu_grad, g_qgelu_grad;
static void pick(void) {
    pl_isa isa = pl_cpu_isa();
    g_qgelu = isa >= PL_ISA_AVX512 ? pl_vec_qgelu_f32_avx512 : isa >= PL_ISA_AVX2 ? pl_vec_qgelu_f32_avx2 : pl_vec_qgelu_f32_scalar;
    g_qgelu_grad = isa >= PL_ISA_AVX512 ? pl_vec_qgelu_grad_f32_avx512
                 : isa >= PL_ISA_AVX2 ? pl_vec_qgelu_grad_f32_avx2 : pl_vec_qgelu_grad_f32_scalar;
    g_gelu = isa >= PL_ISA_AVX512 ? pl_vec_gelu_f32_avx512 : isa >= PL_ISA_AVX2 ? pl_vec_gelu_f32_avx2 : pl_vec_gelu_f32_scalar;
    g_gelu_grad = isa >= PL_ISA_AVX512 ? pl_vec_gelu_grad_f32_avx512
                : isa >= PL_ISA_AVX2 ? pl_vec_gelu_grad_f32_avx2 : pl_vec_gelu_grad_f32_scalar;
}
void pl_vec_gelu_f32(int64_t n, const float *x, float *y) {
    if (!g_gelu) pick();
    g_gelu(n, x, y);
}
void pl_vec_gelu_grad_f32(int64_t n, const float *x, const float *g, float *dx, bool acc) {
    if (!g_gelu_grad) pick();
    g_gelu_grad(n, x, g, dx, acc);
}
void pl_vec_qgelu_f32(int64_t n, const float *x, float *y) {
    if (!g_qgelu) pick();
    g_qgelu(n, x, y);
}
void pl_vec_qgelu_grad_f32(int64_t n, const float *x, const float *g, float *dx, bool acc) {
    if (!g_qgelu_grad) pick();
    g_qgelu_grad(n, x, g, dx, acc);
}
