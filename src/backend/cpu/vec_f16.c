/* Dot products of f16 / bf16 weight rows with f32 activations (the f16/bf16 rows of the dtype table):
 * a scalar reference and AVX2 (F16C) / AVX-512 variants that convert 8 or 16 halves at a time. */
#include "quant/quant_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PL_X86 1
#endif

void pl_vec_dot_f16_f32_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_fp16 *x = vx;
    const float *y = vy;
    float acc = 0;
    for (int64_t i = 0; i < n; i++) acc += pl_fp16_to_fp32(x[i]) * y[i];
    *s = acc;
}

void pl_vec_dot_bf16_f32_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_bf16 *x = vx;
    const float *y = vy;
    float acc = 0;
    for (int64_t i = 0; i < n; i++) acc += pl_bf16_to_fp32(x[i]) * y[i];
    *s = acc;
}

#ifdef PL_X86
#define AVX2_ATTR __attribute__((target("avx2,fma,f16c")))
#define AVX512_ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c,fma")))

AVX2_ATTR static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2_ATTR static inline __m256 bf16x8_to_f32(const pl_bf16 *p) {
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

AVX2_ATTR void pl_vec_dot_f16_f32_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_fp16 *x = vx;
    const float *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8))), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 16))), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 24))), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))), _mm256_loadu_ps(y + i), a0);
    float acc = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) acc += pl_fp16_to_fp32(x[i]) * y[i];
    *s = acc;
}

AVX2_ATTR void pl_vec_dot_bf16_f32_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_bf16 *x = vx;
    const float *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(bf16x8_to_f32(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(bf16x8_to_f32(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(bf16x8_to_f32(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(bf16x8_to_f32(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(bf16x8_to_f32(x + i), _mm256_loadu_ps(y + i), a0);
    float acc = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) acc += pl_bf16_to_fp32(x[i]) * y[i];
    *s = acc;
}

AVX512_ATTR static inline __m512 bf16x16_to_f32(const pl_bf16 *p) {
    const __m256i h = _mm256_loadu_si256((const __m256i *)p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AVX512_ATTR void pl_vec_dot_f16_f32_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_fp16 *x = vx;
    const float *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 16))), _mm512_loadu_ps(y + i + 16), a1);
    }
    if (i < n) { /* masked tail: up to 31 elements, 16 at a time */
        for (; i < n; i += 16) {
            const int64_t r = n - i < 16 ? n - i : 16;
            const __mmask16 k = (__mmask16)((1u << r) - 1);
            const __m512 xv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, x + i));
            a0 = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(k, y + i), a0);
        }
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

AVX512_ATTR void pl_vec_dot_bf16_f32_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_bf16 *x = vx;
    const float *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(bf16x16_to_f32(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(bf16x16_to_f32(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
    }
    for (; i < n; i += 16) {
        const int64_t r = n - i < 16 ? n - i : 16;
        const __mmask16 k = (__mmask16)((1u << r) - 1);
        const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, x + i));
        a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(h, 16)), _mm512_maskz_loadu_ps(k, y + i), a0);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}
#else
void pl_vec_dot_f16_f32_avx2(int64_t n, float *s, const void *x, const void *y) { pl_vec_dot_f16_f32_scalar(n, s, x, y); }
void pl_vec_dot_bf16_f32_avx2(int64_t n, float *s, const void *x, const void *y) { pl_vec_dot_bf16_f32_scalar(n, s, x, y); }
void pl_vec_dot_f16_f32_avx512(int64_t n, float *s, const void *x, const void *y) { pl_vec_dot_f16_f32_scalar(n, s, x, y); }
void pl_vec_dot_bf16_f32_avx512(int64_t n, float *s, const void *x, const void *y) { pl_vec_dot_bf16_f32_scalar(n, s, x, y); }
#endif
