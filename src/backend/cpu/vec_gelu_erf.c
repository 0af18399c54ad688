/* GELU (erf form) rows: with z = |x| / sqrt 2, erfc(z) = t (a1 + t (a2 + ... a5 t)) e^(-z^2), t = 1 / (1 + p z)
 * (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7), then gelu(x) = 0.5 x erfc(z) for x < 0 and 0.5 x (2 - erfc(z))
 * otherwise: the left tail comes from erfc directly, without the cancellation of 1 + erf. libm's erff per
 * element took ~18% of an encoder's forward pass; this form runs 8 or 16 lanes with vec_exp_simd.h's exp (vec_gelu_erf_simd.h, shared with
 * the GEMM write-back). */
#include "backend/cpu/vec_gelu_erf.h"
#include "backend/cpu/vec_gelu_erf_simd.h"
#include "core/cpu.h"

#include <math.h>

void pl_vec_gelu_erf_f32_scalar(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) {
        float z = fabsf(x[i]) * PL_ERF_RSQRT2, t = 1.0f / (1.0f + PL_ERF_P * z);
        float q = t * (PL_ERF_A1 + t * (PL_ERF_A2 + t * (PL_ERF_A3 + t * (PL_ERF_A4 + t * PL_ERF_A5)))) * expf(-z * z);
        y[i] = 0.5f * x[i] * (x[i] < 0 ? q : 2.0f - q);
    }
}

TGT256 void pl_vec_gelu_erf_f32_avx2(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, pl_gelu_erf256(_mm256_loadu_ps(x + i)));
    pl_vec_gelu_erf_f32_scalar(n - i, x + i, y + i);
}

TGT512 void pl_vec_gelu_erf_f32_avx512(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, pl_gelu_erf512(_mm512_loadu_ps(x + i)));
    pl_vec_gelu_erf_f32_scalar(n - i, x + i, y + i);
}

typedef void (*gelu_fn)(int64_t, const float *, float *);
static gelu_fn g_fn;

void pl_vec_gelu_erf_f32(int64_t n, const float *x, float *y) {
    if (!g_fn) {
        pl_isa isa = pl_cpu_isa();
        g_fn = isa >= PL_ISA_AVX512 ? pl_vec_gelu_erf_f32_avx512 : isa >= PL_ISA_AVX2 ? pl_vec_gelu_erf_f32_avx2
                                                                                     : pl_vec_gelu_erf_f32_scalar;
    }
    g_fn(n, x, y);
}
