/* GELU (erf form) rows: with z = |x| / sqrt 2, erfc(z) = t (a1 + t (a2 + ... a5 t)) e^(-z^2), t = 1 / (1 + p z)
 * (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7), then gelu(x) = 0.5 x erfc(z) for x < 0 and 0.5 x (2 - erfc(z))
 * otherwise: the left tail comes from erfc directly, without the cancellation of 1 + erf. libm's erff per
 * element took ~18% of an encoder's forward pass; this form runs 8 or 16 lanes with vec_exp_simd.h's exp. */
#include "backend/cpu/vec_gelu_erf.h"
#include "backend/cpu/vec_exp_simd.h"
#include "core/cpu.h"

#include <math.h>

#define P 0.3275911f
#define A1 0.254829592f
#define A2 -0.284496736f
#define A3 1.421413741f
#define A4 -1.453152027f
#define A5 1.061405429f
#define RSQRT2 0.70710678118654752f

void pl_vec_gelu_erf_f32_scalar(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) {
        float z = fabsf(x[i]) * RSQRT2, t = 1.0f / (1.0f + P * z);
        float q = t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5)))) * expf(-z * z);
        y[i] = 0.5f * x[i] * (x[i] < 0 ? q : 2.0f - q);
    }
}

TGT256 void pl_vec_gelu_erf_f32_avx2(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i), z = _mm256_mul_ps(_mm256_andnot_ps(sign, v), _mm256_set1_ps(RSQRT2));
        __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(P), z, one));
        __m256 p = _mm256_fmadd_ps(t, _mm256_set1_ps(A5), _mm256_set1_ps(A4));
        p = _mm256_fmadd_ps(t, p, _mm256_set1_ps(A3));
        p = _mm256_fmadd_ps(t, p, _mm256_set1_ps(A2));
        p = _mm256_fmadd_ps(t, p, _mm256_set1_ps(A1));
        __m256 q = _mm256_mul_ps(_mm256_mul_ps(t, p), exp256(_mm256_mul_ps(_mm256_xor_ps(z, sign), z)));
        __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
        __m256 f = _mm256_blendv_ps(_mm256_sub_ps(two, q), q, neg);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), f));
    }
    pl_vec_gelu_erf_f32_scalar(n - i, x + i, y + i);
}

TGT512 void pl_vec_gelu_erf_f32_avx512(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i), z = _mm512_mul_ps(_mm512_abs_ps(v), _mm512_set1_ps(RSQRT2));
        __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(P), z, one));
        __m512 p = _mm512_fmadd_ps(t, _mm512_set1_ps(A5), _mm512_set1_ps(A4));
        p = _mm512_fmadd_ps(t, p, _mm512_set1_ps(A3));
        p = _mm512_fmadd_ps(t, p, _mm512_set1_ps(A2));
        p = _mm512_fmadd_ps(t, p, _mm512_set1_ps(A1));
        __m512 q = _mm512_mul_ps(_mm512_mul_ps(t, p), exp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), z), z)));
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        __m512 f = _mm512_mask_mov_ps(_mm512_sub_ps(two, q), neg, q);
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), f));
    }
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
