/* GELU in its exact (erf) form on one vector, 8 or 16 lanes: the body of vec_gelu_erf.c's row kernels, shared with
 * the GEMM write-back that fuses an encoder's GELU into its up-projection (sgemm_avx2.c, sgemm_avx512.c), so both
 * give the same bits. The formula (Abramowitz & Stegun 7.1.26 for erfc) is explained in vec_gelu_erf.c. */
#ifndef PL_VEC_GELU_ERF_SIMD_H
#define PL_VEC_GELU_ERF_SIMD_H

#include "backend/cpu/vec_exp_simd.h"

#define PL_ERF_P 0.3275911f
#define PL_ERF_A1 0.254829592f
#define PL_ERF_A2 -0.284496736f
#define PL_ERF_A3 1.421413741f
#define PL_ERF_A4 -1.453152027f
#define PL_ERF_A5 1.061405429f
#define PL_ERF_RSQRT2 0.70710678118654752f

TGT256 static inline __m256 pl_gelu_erf256(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
    __m256 z = _mm256_mul_ps(_mm256_andnot_ps(sign, v), _mm256_set1_ps(PL_ERF_RSQRT2));
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(PL_ERF_P), z, one));
    __m256 p = _mm256_fmadd_ps(t, _mm256_set1_ps(PL_ERF_A5), _mm256_set1_ps(PL_ERF_A4));
    p = _mm256_fmadd_ps(t, p, _mm256_set1_ps(PL_ERF_A3));
    p = _mm256_fmadd_ps(t, p, _mm256_set1_ps(PL_ERF_A2));
    p = _mm256_fmadd_ps(t, p, _mm256_set1_ps(PL_ERF_A1));
    __m256 q = _mm256_mul_ps(_mm256_mul_ps(t, p), exp256(_mm256_mul_ps(_mm256_xor_ps(z, sign), z)));
    __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 f = _mm256_blendv_ps(_mm256_sub_ps(two, q), q, neg);
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), f);
}

TGT512 static inline __m512 pl_gelu_erf512(__m512 v) {
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    __m512 z = _mm512_mul_ps(_mm512_abs_ps(v), _mm512_set1_ps(PL_ERF_RSQRT2));
    __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(PL_ERF_P), z, one));
    __m512 p = _mm512_fmadd_ps(t, _mm512_set1_ps(PL_ERF_A5), _mm512_set1_ps(PL_ERF_A4));
    p = _mm512_fmadd_ps(t, p, _mm512_set1_ps(PL_ERF_A3));
    p = _mm512_fmadd_ps(t, p, _mm512_set1_ps(PL_ERF_A2));
    p = _mm512_fmadd_ps(t, p, _mm512_set1_ps(PL_ERF_A1));
    __m512 q = _mm512_mul_ps(_mm512_mul_ps(t, p), exp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), z), z)));
    __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 f = _mm512_mask_mov_ps(_mm512_sub_ps(two, q), neg, q);
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), f);
}

#endif
