/* GELU (tanh approximation) on 16 floats (AVX-512) or 8 (AVX2) at a time, as static inline functions: the
 * element kernels of vec_gelu.c and the GEMM write-back that fuses GELU into a linear layer (sgemm_avx512.c,
 * sgemm_avx2.c) compile the same code, so a fused product gives the same bits as the product followed by
 * pl_vec_gelu_f32.
 *
 * gelu(x) = 0.5 x (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3) is computed as x / (1 + e^(-2u))
 * (1 + tanh(u) = 2 / (1 + e^(-2u))): one exponential and one division, and no cancellation in 1 + tanh(u)
 * where x is very negative. With s = 1 / (1 + e^(-2u)), the derivative is
 * gelu'(x) = s + x s (1 - s) du/dx * 2 = s (1 + x (1 - s) (2 sqrt(2/pi)) (1 + 3 * 0.044715 x^2)).
 *
 * e^(-2u) = 2^t with t = -2u log2(e): k = round(t), f = t - k in [-1/2, 1/2], 2^f by its Taylor series to f^6
 * (relative error ~1e-7) evaluated in Estrin's scheme, then scaled by 2^k (vscalefps, which also gives 0 and
 * infinity out of range). The short dependency chains matter: the Horner form with a division at the end kept
 * so many instructions waiting that the core ran it at half the speed its ports allow. AVX2 has no vscalefps:
 * its 2^k is two factors built from exponent bits, which round as vscalefps does, so both ISAs give the same
 * bits.
 *
 * QuickGELU (CLIP's): x sigmoid(1.702 x) = x / (1 + 2^t), t = -1.702 log2(e) x, on the same 2^t; with
 * s = 1 / (1 + 2^t), its derivative is s (1 + 1.702 x (1 - s)). */
#ifndef PL_VEC_GELU_SIMD_H
#define PL_VEC_GELU_SIMD_H

#include <immintrin.h>

#define PL_GELU_K0 0.7978845608028654f /* sqrt(2/pi) */
#define PL_GELU_K1 0.044715f
#define PL_GELU_TGT __attribute__((target("avx512f"), always_inline))
#define PL_GELU_TGT256 __attribute__((target("avx2,fma"), always_inline))

/* t = -2u log2(e) for input x: x (c + c K1 x^2), c = -2 sqrt(2/pi) log2(e) */
PL_GELU_TGT static inline __m512 pl_gelu_t512(__m512 x) {
    const float c = -2.0f * PL_GELU_K0 * 1.4426950408889634f;
    return _mm512_mul_ps(x, _mm512_fmadd_ps(_mm512_mul_ps(x, x), _mm512_set1_ps(c * PL_GELU_K1), _mm512_set1_ps(c)));
}
/* 2^t, t clamped to [-150, 128] (0 and infinity at the ends) */
PL_GELU_TGT static inline __m512 pl_gelu_exp2_512(__m512 t) {
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-150.0f)), _mm512_set1_ps(128.0f));
    __m512 k = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), f = _mm512_sub_ps(t, k);
    const float l = 0.6931471805599453f, l2 = l * l, l3 = l2 * l, l4 = l3 * l, l5 = l4 * l, l6 = l5 * l;
    __m512 f2 = _mm512_mul_ps(f, f), f4 = _mm512_mul_ps(f2, f2);
    __m512 p01 = _mm512_fmadd_ps(f, _mm512_set1_ps(l), _mm512_set1_ps(1.0f));
    __m512 p23 = _mm512_fmadd_ps(f, _mm512_set1_ps(l3 / 6), _mm512_set1_ps(l2 / 2));
    __m512 p46 = _mm512_fmadd_ps(f2, _mm512_set1_ps(l6 / 720), _mm512_fmadd_ps(f, _mm512_set1_ps(l5 / 120), _mm512_set1_ps(l4 / 24)));
    return _mm512_scalef_ps(_mm512_fmadd_ps(f4, p46, _mm512_fmadd_ps(f2, p23, p01)), k);
}
/* gelu(x) */
PL_GELU_TGT static inline __m512 pl_gelu512(__m512 x) {
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), pl_gelu_exp2_512(pl_gelu_t512(x))));
}
/* g gelu'(x) */
PL_GELU_TGT static inline __m512 pl_gelu_grad512(__m512 x, __m512 g) {
    __m512 one = _mm512_set1_ps(1.0f);
    __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, pl_gelu_exp2_512(pl_gelu_t512(x))));
    __m512 du = _mm512_fmadd_ps(_mm512_mul_ps(x, x), _mm512_set1_ps(6.0f * PL_GELU_K0 * PL_GELU_K1), _mm512_set1_ps(2.0f * PL_GELU_K0));
    __m512 r = _mm512_fmadd_ps(_mm512_mul_ps(x, _mm512_sub_ps(one, s)), du, one);
    return _mm512_mul_ps(g, _mm512_mul_ps(s, r));
}

/* ---- the same on 8 floats (AVX2), operation for operation ---- */
PL_GELU_TGT256 static inline __m256 pl_gelu_t256(__m256 x) {
    const float c = -2.0f * PL_GELU_K0 * 1.4426950408889634f;
    return _mm256_mul_ps(x, _mm256_fmadd_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(c * PL_GELU_K1), _mm256_set1_ps(c)));
}
/* 2^t, t clamped to [-150, 128]: p = 2^f as above, times 2^k as 2^(k>>1) 2^(k - (k>>1)), both factors normal floats
 * for every k in range; p 2^(k>>1) is exact (p is within [0.7, 1.5]), so the product rounds once, as vscalefps:
 * subnormal results alike, 0 at t = -150 (2^-150 rounds to even), infinity at 128 */
PL_GELU_TGT256 static inline __m256 pl_gelu_exp2_256(__m256 t) {
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-150.0f)), _mm256_set1_ps(128.0f));
    __m256 k = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), f = _mm256_sub_ps(t, k);
    const float l = 0.6931471805599453f, l2 = l * l, l3 = l2 * l, l4 = l3 * l, l5 = l4 * l, l6 = l5 * l;
    __m256 f2 = _mm256_mul_ps(f, f), f4 = _mm256_mul_ps(f2, f2);
    __m256 p01 = _mm256_fmadd_ps(f, _mm256_set1_ps(l), _mm256_set1_ps(1.0f));
    __m256 p23 = _mm256_fmadd_ps(f, _mm256_set1_ps(l3 / 6), _mm256_set1_ps(l2 / 2));
    __m256 p46 = _mm256_fmadd_ps(f2, _mm256_set1_ps(l6 / 720), _mm256_fmadd_ps(f, _mm256_set1_ps(l5 / 120), _mm256_set1_ps(l4 / 24)));
    __m256 p = _mm256_fmadd_ps(f4, p46, _mm256_fmadd_ps(f2, p23, p01));
    __m256i ki = _mm256_cvtps_epi32(k), k1 = _mm256_srai_epi32(ki, 1), k2 = _mm256_sub_epi32(ki, k1);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}
PL_GELU_TGT256 static inline __m256 pl_gelu256(__m256 x) {
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), pl_gelu_exp2_256(pl_gelu_t256(x))));
}
PL_GELU_TGT256 static inline __m256 pl_gelu_grad256(__m256 x, __m256 g) {
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, pl_gelu_exp2_256(pl_gelu_t256(x))));
    __m256 du = _mm256_fmadd_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(6.0f * PL_GELU_K0 * PL_GELU_K1), _mm256_set1_ps(2.0f * PL_GELU_K0));
    __m256 r = _mm256_fmadd_ps(_mm256_mul_ps(x, _mm256_sub_ps(one, s)), du, one);
    return _mm256_mul_ps(g, _mm256_mul_ps(s, r));
}

/* ---- QuickGELU, both widths ---- */
#define PL_QGELU_A 1.702f
PL_GELU_TGT static inline __m512 pl_qgelu512(__m512 x) {
    __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(-PL_QGELU_A * 1.4426950408889634f));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), pl_gelu_exp2_512(t)));
}
PL_GELU_TGT static inline __m512 pl_qgelu_grad512(__m512 x, __m512 g) {
    __m512 one = _mm512_set1_ps(1.0f), t = _mm512_mul_ps(x, _mm512_set1_ps(-PL_QGELU_A * 1.4426950408889634f));
    __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, pl_gelu_exp2_512(t)));
    __m512 r = _mm512_fmadd_ps(_mm512_mul_ps(x, _mm512_sub_ps(one, s)), _mm512_set1_ps(PL_QGELU_A), one);
    return _mm512_mul_ps(g, _mm512_mul_ps(s, r));
}
PL_GELU_TGT256 static inline __m256 pl_qgelu256(__m256 x) {
    __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(-PL_QGELU_A * 1.4426950408889634f));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), pl_gelu_exp2_256(t)));
}
PL_GELU_TGT256 static inline __m256 pl_qgelu_grad256(__m256 x, __m256 g) {
    __m256 one = _mm256_set1_ps(1.0f), t = _mm256_mul_ps(x, _mm256_set1_ps(-PL_QGELU_A * 1.4426950408889634f));
    __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, pl_gelu_exp2_256(t)));
    __m256 r = _mm256_fmadd_ps(_mm256_mul_ps(x, _mm256_sub_ps(one, s)), _mm256_set1_ps(PL_QGELU_A), one);
    return _mm256_mul_ps(g, _mm256_mul_ps(s, r));
}

#endif
