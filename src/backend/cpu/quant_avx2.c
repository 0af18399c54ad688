/* AVX2 (+FMA, F16C) variants of the quant kernels. Integer sums per block are the scalar reference's
 * exactly (maddubs pairs never saturate for these code ranges); only the float accumulation order
 * differs. Dequantize gives the scalar's floats bit for bit (every d*q product here is exact). */
#include "quant/quant_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 16 bytes of nibbles -> 32 bytes: low nibbles first (elements 0..15), then high (16..31). */
AVX2 static inline __m256i nibbles32(const uint8_t *p) {
    const __m128i b = _mm_loadu_si128((const __m128i *)p), m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

/* 32 bits -> 32 bytes, byte j = 0x10 where bit j is set (the fifth bit of a Q5 code). */
AVX2 static inline __m256i q5_high_bits(const uint8_t *qh) {
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

/* sum over 4-byte groups of u8 x s8 products, as 8 x i32 */
AVX2 static inline __m256i dot_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
/* the same for signed x signed (x never -128 in y) */
AVX2 static inline __m256i dot_s8s8(__m256i x, __m256i y) {
    return dot_u8s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

#define LOAD256(p) _mm256_loadu_si256((const __m256i *)(p))
/* F16C conversion (exact, like pl_fp16_to_fp32, without the call) */
AVX2 static inline float h2f(pl_fp16 h) { return _cvtsh_ss(h); }

AVX2 void pl_vec_dot_q4_0_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q4_0 *x = vx;
    const pl_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / PL_QK; i++) {
        const __m256i q = _mm256_sub_epi8(nibbles32(x[i].qs), _mm256_set1_epi8(8));
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_s8s8(q, LOAD256(y[i].qs))), d, acc);
    }
    *s = hsum_ps(acc);
}

AVX2 void pl_vec_dot_q4_1_q8_1_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q4_1 *x = vx;
    const pl_block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int64_t i = 0; i < n / PL_QK; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_u8s8(nibbles32(x[i].qs), LOAD256(y[i].qs))), d, acc);
        summs += h2f(x[i].m) * h2f(y[i].s);
    }
    *s = hsum_ps(acc) + summs;
}

AVX2 void pl_vec_dot_q5_0_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q5_0 *x = vx;
    const pl_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / PL_QK; i++) {
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nibbles32(x[i].qs), q5_high_bits(x[i].qh)), _mm256_set1_epi8(16));
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_s8s8(q, LOAD256(y[i].qs))), d, acc);
    }
    *s = hsum_ps(acc);
}

AVX2 void pl_vec_dot_q5_1_q8_1_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q5_1 *x = vx;
    const pl_block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int64_t i = 0; i < n / PL_QK; i++) {
        const __m256i q = _mm256_or_si256(nibbles32(x[i].qs), q5_high_bits(x[i].qh));
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_u8s8(q, LOAD256(y[i].qs))), d, acc);
        summs += h2f(x[i].m) * h2f(y[i].s);
    }
    *s = hsum_ps(acc) + summs;
}

AVX2 void pl_vec_dot_q8_0_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q8_0 *x = vx;
    const pl_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / PL_QK; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_s8s8(LOAD256(x[i].qs), LOAD256(y[i].qs))), d, acc);
    }
    *s = hsum_ps(acc);
}

/* sum_j m_j * (bsums of sub-block j) for q4_K/q5_K, and the 8 scales. */
static inline int k4_scales_and_mins(const uint8_t *packed, const int16_t *bsums, uint8_t sc[8]) {
    int sum_m = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t m;
        quant_get_scale_min_k4(j, packed, &sc[j], &m);
        sum_m += m * (bsums[2 * j] + bsums[2 * j + 1]);
    }
    return sum_m;
}

AVX2 void pl_vec_dot_q4_K_q8_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q4_K *x = vx;
    const pl_block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0;
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        uint8_t sc[8];
        const int sum_m = k4_scales_and_mins(x[i].scales, y[i].bsums, sc);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q = LOAD256(x[i].qs + 32 * c);
            const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const __m256i plo = _mm256_maddubs_epi16(lo, LOAD256(y[i].qs + 64 * c));
            const __m256i phi = _mm256_maddubs_epi16(hi, LOAD256(y[i].qs + 64 * c + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_set1_epi16(sc[2 * c])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_set1_epi16(sc[2 * c + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(h2f(x[i].d) * y[i].d), acc);
        accm += (h2f(x[i].dmin) * y[i].d) * (float)sum_m;
    }
    *s = hsum_ps(acc) - accm;
}

AVX2 void pl_vec_dot_q5_K_q8_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q5_K *x = vx;
    const pl_block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F), b5 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0;
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        uint8_t sc[8];
        const int sum_m = k4_scales_and_mins(x[i].scales, y[i].bsums, sc);
        const __m256i qh = LOAD256(x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q = LOAD256(x[i].qs + 32 * c);
            const __m256i bl = _mm256_set1_epi8((char)(1 << (2 * c))), bh = _mm256_set1_epi8((char)(1 << (2 * c + 1)));
            const __m256i hl = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bl), bl), b5);
            const __m256i hh = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bh), bh), b5);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), hl);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), hh);
            const __m256i plo = _mm256_maddubs_epi16(lo, LOAD256(y[i].qs + 64 * c));
            const __m256i phi = _mm256_maddubs_epi16(hi, LOAD256(y[i].qs + 64 * c + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_set1_epi16(sc[2 * c])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_set1_epi16(sc[2 * c + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(h2f(x[i].d) * y[i].d), acc);
        accm += (h2f(x[i].dmin) * y[i].d) * (float)sum_m;
    }
    *s = hsum_ps(acc) - accm;
}

/* q6_K codes (0..63) of positions 32k..32k+31 of half h: see quant_scalar.c for the layout. */
AVX2 void pl_vec_dot_q6_K_q8_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q6_K *x = vx;
    const pl_block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        int corr = 0; /* codes are stored +32: sum_g sc_g * 32 * bsums_g comes off */
        for (int g = 0; g < 16; g++) corr += x[i].scales[g] * y[i].bsums[g];
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = LOAD256(x[i].ql + 64 * h), l1 = LOAD256(x[i].ql + 64 * h + 32), qh = LOAD256(x[i].qh + 32 * h);
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)),
                _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2)),
            };
            for (int k = 0; k < 4; k++) {
                const int g = 8 * h + 2 * k;
                const __m256i p = _mm256_maddubs_epi16(q[k], LOAD256(y[i].qs + 128 * h + 32 * k));
                const __m256i scv = _mm256_set_m128i(_mm_set1_epi16(x[i].scales[g + 1]), _mm_set1_epi16(x[i].scales[g]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scv));
            }
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(h2f(x[i].d) * y[i].d), acc);
    }
    *s = hsum_ps(acc);
}

/* ---- dequantize ------------------------------------------------------------------------------------ */

/* y[0..31] = d * (q - off) + m for 32 unsigned byte codes (m = 0 adds nothing: exact either way) */
AVX2 static inline void store_codes32(float *y, __m256i q, int off, float d, float m) {
    const __m256 dv = _mm256_set1_ps(d), mv = _mm256_set1_ps(m);
    const __m256i o = _mm256_set1_epi32(off);
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; k++) {
        const __m256 f = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(parts[k]), o));
        _mm256_storeu_ps(y + 8 * k, m != 0 ? _mm256_add_ps(_mm256_mul_ps(dv, f), mv) : _mm256_mul_ps(dv, f));
    }
}

AVX2 void pl_dequantize_q4_0_avx2(const void *vx, float *y, int64_t n) {
    const pl_block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++) store_codes32(y + 32 * i, nibbles32(x[i].qs), 8, h2f(x[i].d), 0);
}
AVX2 void pl_dequantize_q4_1_avx2(const void *vx, float *y, int64_t n) {
    const pl_block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++)
        store_codes32(y + 32 * i, nibbles32(x[i].qs), 0, h2f(x[i].d), h2f(x[i].m));
}
AVX2 void pl_dequantize_q5_0_avx2(const void *vx, float *y, int64_t n) {
    const pl_block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++)
        store_codes32(y + 32 * i, _mm256_or_si256(nibbles32(x[i].qs), q5_high_bits(x[i].qh)), 16, h2f(x[i].d), 0);
}
AVX2 void pl_dequantize_q5_1_avx2(const void *vx, float *y, int64_t n) {
    const pl_block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++)
        store_codes32(y + 32 * i, _mm256_or_si256(nibbles32(x[i].qs), q5_high_bits(x[i].qh)), 0, h2f(x[i].d),
                      h2f(x[i].m));
}
AVX2 void pl_dequantize_q8_0_avx2(const void *vx, float *y, int64_t n) {
    const pl_block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d));
        for (int k = 0; k < 4; k++) {
            const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x[i].qs + 8 * k)));
            _mm256_storeu_ps(y + 32 * i + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
        }
    }
}

/* y[0..31] = dl * q - ml for 32 byte codes (dl*q exact, so FMA or not gives the same float) */
AVX2 static inline void store_k32(float *y, __m256i q, float dl, float ml) {
    const __m256 dv = _mm256_set1_ps(dl), mv = _mm256_set1_ps(ml);
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; k++)
        _mm256_storeu_ps(y + 8 * k, _mm256_sub_ps(_mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]))), mv));
}

AVX2 void pl_dequantize_q4_K_avx2(const void *vx, float *y, int64_t n) {
    const pl_block_q4_K *x = vx;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        const float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t s0, m0, s1, m1;
            quant_get_scale_min_k4(2 * c, x[i].scales, &s0, &m0);
            quant_get_scale_min_k4(2 * c + 1, x[i].scales, &s1, &m1);
            const __m256i q = LOAD256(x[i].qs + 32 * c);
            store_k32(y, _mm256_and_si256(q, m4), d * s0, dmin * m0);
            store_k32(y + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), d * s1, dmin * m1);
            y += 64;
        }
    }
}

AVX2 void pl_dequantize_q5_K_avx2(const void *vx, float *y, int64_t n) {
    const pl_block_q5_K *x = vx;
    const __m256i m4 = _mm256_set1_epi8(0x0F), b5 = _mm256_set1_epi8(0x10);
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        const float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
        const __m256i qh = LOAD256(x[i].qh);
        for (int c = 0; c < 4; c++) {
            uint8_t s0, m0, s1, m1;
            quant_get_scale_min_k4(2 * c, x[i].scales, &s0, &m0);
            quant_get_scale_min_k4(2 * c + 1, x[i].scales, &s1, &m1);
            const __m256i q = LOAD256(x[i].qs + 32 * c);
            const __m256i bl = _mm256_set1_epi8((char)(1 << (2 * c))), bh = _mm256_set1_epi8((char)(1 << (2 * c + 1)));
            const __m256i hl = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bl), bl), b5);
            const __m256i hh = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bh), bh), b5);
            store_k32(y, _mm256_or_si256(_mm256_and_si256(q, m4), hl), d * s0, dmin * m0);
            store_k32(y + 32, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), hh), d * s1, dmin * m1);
            y += 64;
        }
    }
}

AVX2 void pl_dequantize_q6_K_avx2(const void *vx, float *y, int64_t n) {
    const pl_block_q6_K *x = vx;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        const float d = h2f(x[i].d);
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = LOAD256(x[i].ql + 64 * h), l1 = LOAD256(x[i].ql + 64 * h + 32), qh = LOAD256(x[i].qh + 32 * h);
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)),
                _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2)),
            };
            for (int k = 0; k < 4; k++) {
                const int g = 8 * h + 2 * k;
                float *out = y + 128 * h + 32 * k;
                const __m128i lo = _mm256_castsi256_si128(q[k]), hi = _mm256_extracti128_si256(q[k], 1);
                const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
                for (int p = 0; p < 4; p++) {
                    const __m256 dv = _mm256_set1_ps(d * (float)x[i].scales[g + p / 2]);
                    const __m256i v = _mm256_sub_epi32(_mm256_cvtepu8_epi32(parts[p]), _mm256_set1_epi32(32));
                    _mm256_storeu_ps(out + 8 * p, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(v)));
                }
            }
        }
        y += PL_QK_K;
    }
}

#else /* not x86: the variants are the reference */
#define FWD_DOT(K) void pl_vec_dot_##K##_avx2(int64_t n, float *s, const void *x, const void *y) { pl_vec_dot_##K##_scalar(n, s, x, y); }
#define FWD_DEQ(K) void pl_dequantize_##K##_avx2(const void *x, float *y, int64_t n) { pl_dequantize_##K##_scalar(x, y, n); }
FWD_DOT(q4_0_q8_0) FWD_DOT(q4_1_q8_1) FWD_DOT(q5_0_q8_0) FWD_DOT(q5_1_q8_1) FWD_DOT(q8_0_q8_0)
FWD_DOT(q4_K_q8_K) FWD_DOT(q5_K_q8_K) FWD_DOT(q6_K_q8_K)
PL_QK_DEQUANTS(FWD_DEQ)
#endif
