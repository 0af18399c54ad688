/* AVX-512 variants of the quant kernels. The _0/_1 dots take two blocks per 512-bit register and use VNNI
 * (vpdpbusd: u8 x s8 summed in fours straight into i32); signed codes are biased to unsigned and the bias
 * times sum(y) taken off with a second vpdpbusd. The k-quant dots scale 16-bit pair sums with vpdpwssd.
 * The dispatcher picks the integer dots here only when the CPU has AVX-512 VNNI. Integer sums equal the
 * scalar reference's; dequantize gives its floats bit for bit. */
#include "quant/quant_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define LOAD256(p) _mm256_loadu_si256((const __m256i *)(p))
/* F16C conversion (exact, like pl_fp16_to_fp32, without the call) */
AVX512 static inline float h2f(pl_fp16 h) { return _cvtsh_ss(h); }
#define JOIN256(a, b) _mm512_inserti64x4(_mm512_castsi256_si512(a), (b), 1)

AVX512 static inline __m256i nibbles32(const uint8_t *p) {
    const __m128i b = _mm_loadu_si128((const __m128i *)p), m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

/* byte j = 0x10 where bit j of the 32-bit mask is set */
AVX512 static inline __m256i q5_high_bits(const uint8_t *qh) {
    uint32_t h;
    memcpy(&h, qh, 4);
    return _mm256_maskz_mov_epi8((__mmask32)h, _mm256_set1_epi8(0x10));
}

/* codes (u8) of one block and the bias that maps them back to signed values */
#define CODES_Q4_0(b) nibbles32((b).qs)
#define CODES_Q4_1(b) nibbles32((b).qs)
#define CODES_Q5_0(b) _mm256_or_si256(nibbles32((b).qs), q5_high_bits((b).qh))
#define CODES_Q5_1(b) _mm256_or_si256(nibbles32((b).qs), q5_high_bits((b).qh))
#define CODES_Q8_0(b) _mm256_xor_si256(LOAD256((b).qs), _mm256_set1_epi8((char)0x80))
#define MIN_TERM_NONE(xb, yb) 0.0f
#define MIN_TERM_M(xb, yb) (h2f((xb).m) * h2f((yb).s))

#define DOT512(NAME, XT, YT, CODES, BIAS, MIN_TERM) \
    AVX512 void pl_vec_dot_##NAME##_avx512(int64_t n, float *s, const void *vx, const void *vy) { \
        const XT *x = vx; \
        const YT *y = vy; \
        const int64_t nb = n / PL_QK; \
        const __m512i bias = _mm512_set1_epi8((char)(BIAS)); \
        __m512 acc = _mm512_setzero_ps(); \
        float summs = 0; \
        int64_t i = 0; \
        for (; i + 1 < nb; i += 2) { \
            const __m512i q = JOIN256(CODES(x[i]), CODES(x[i + 1])); \
            const __m512i yv = JOIN256(LOAD256(y[i].qs), LOAD256(y[i + 1].qs)); \
            __m512i sumi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, yv); \
            if (BIAS) sumi = _mm512_sub_epi32(sumi, _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, yv)); \
            const __m512 d = _mm512_insertf32x8(_mm512_set1_ps(h2f(x[i].d) * h2f(y[i].d)), \
                                                _mm256_set1_ps(h2f(x[i + 1].d) * h2f(y[i + 1].d)), 1); \
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), d, acc); \
            summs += MIN_TERM(x[i], y[i]) + MIN_TERM(x[i + 1], y[i + 1]); \
        } \
        float tail = 0; \
        if (i < nb) { \
            const __m256i yv = LOAD256(y[i].qs); \
            __m256i sumi = _mm256_dpbusd_epi32(_mm256_setzero_si256(), CODES(x[i]), yv); \
            if (BIAS) sumi = _mm256_sub_epi32(sumi, _mm256_dpbusd_epi32(_mm256_setzero_si256(), \
                                                                         _mm512_castsi512_si256(bias), yv)); \
            tail = _mm512_reduce_add_ps(_mm512_castps256_ps512(_mm256_cvtepi32_ps(sumi))) * \
                   (h2f(x[i].d) * h2f(y[i].d)); \
            summs += MIN_TERM(x[i], y[i]); \
        } \
        *s = _mm512_reduce_add_ps(acc) + tail + summs; \
    }

DOT512(q4_0_q8_0, pl_block_q4_0, pl_block_q8_0, CODES_Q4_0, 8, MIN_TERM_NONE)
DOT512(q4_1_q8_1, pl_block_q4_1, pl_block_q8_1, CODES_Q4_1, 0, MIN_TERM_M)
DOT512(q5_0_q8_0, pl_block_q5_0, pl_block_q8_0, CODES_Q5_0, 16, MIN_TERM_NONE)
DOT512(q5_1_q8_1, pl_block_q5_1, pl_block_q8_1, CODES_Q5_1, 0, MIN_TERM_M)
DOT512(q8_0_q8_0, pl_block_q8_0, pl_block_q8_0, CODES_Q8_0, 0x80, MIN_TERM_NONE)

static inline int k4_scales_and_mins(const uint8_t *packed, const int16_t *bsums, uint8_t sc[8]) {
    int sum_m = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t m;
        quant_get_scale_min_k4(j, packed, &sc[j], &m);
        sum_m += m * (bsums[2 * j] + bsums[2 * j + 1]);
    }
    return sum_m;
}

/* codes of sub-blocks 2c (low nibbles) and 2c+1 (high), with their fifth bits for q5_K (qh may be NULL) */
AVX512 static inline __m512i k_codes64(const uint8_t *qs, const uint8_t *qh, int c) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), q = LOAD256(qs + 32 * c);
    __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    if (qh) {
        const __m256i h = LOAD256(qh), b5 = _mm256_set1_epi8(0x10);
        lo = _mm256_or_si256(lo, _mm256_maskz_mov_epi8(_mm256_test_epi8_mask(h, _mm256_set1_epi8((char)(1 << (2 * c)))), b5));
        hi = _mm256_or_si256(hi, _mm256_maskz_mov_epi8(_mm256_test_epi8_mask(h, _mm256_set1_epi8((char)(2 << (2 * c)))), b5));
    }
    return JOIN256(lo, hi);
}

/* acc += d*dy * sum_j sc_j (codes . y over sub-block j); returns the min term dmin*dy*sum_j m_j B_j */
AVX512 static inline float dot_k4_superblock(const uint8_t *qs, const uint8_t *qh, const uint8_t *packed,
                                             const pl_block_q8_K *y, float d, float dmin, __m512 *acc) {
    uint8_t sc[8];
    const int sum_m = k4_scales_and_mins(packed, y->bsums, sc);
    __m512i sumi = _mm512_setzero_si512();
    for (int c = 0; c < 4; c++) {
        const __m512i p = _mm512_maddubs_epi16(k_codes64(qs, qh, c), _mm512_loadu_si512(y->qs + 64 * c));
        const __m512i scv = JOIN256(_mm256_set1_epi16(sc[2 * c]), _mm256_set1_epi16(sc[2 * c + 1]));
        sumi = _mm512_dpwssd_epi32(sumi, p, scv);
    }
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d * y->d), *acc);
    return (dmin * y->d) * (float)sum_m;
}

AVX512 void pl_vec_dot_q4_K_q8_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q4_K *x = vx;
    const pl_block_q8_K *y = vy;
    __m512 acc = _mm512_setzero_ps();
    float accm = 0;
    for (int64_t i = 0; i < n / PL_QK_K; i++)
        accm += dot_k4_superblock(x[i].qs, NULL, x[i].scales, &y[i], h2f(x[i].d), h2f(x[i].dmin), &acc);
    *s = _mm512_reduce_add_ps(acc) - accm;
}

AVX512 void pl_vec_dot_q5_K_q8_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q5_K *x = vx;
    const pl_block_q8_K *y = vy;
    __m512 acc = _mm512_setzero_ps();
    float accm = 0;
    for (int64_t i = 0; i < n / PL_QK_K; i++)
        accm += dot_k4_superblock(x[i].qs, x[i].qh, x[i].scales, &y[i], h2f(x[i].d), h2f(x[i].dmin), &acc);
    *s = _mm512_reduce_add_ps(acc) - accm;
}

/* q6_K codes (0..63) of positions 128h + 32k .. +31 for k = 0..3, as two 64-byte vectors */
AVX512 static inline void q6k_codes(const pl_block_q6_K *b, int h, __m512i *c01, __m512i *c23) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    const __m256i l0 = LOAD256(b->ql + 64 * h), l1 = LOAD256(b->ql + 64 * h + 32), qh = LOAD256(b->qh + 32 * h);
    *c01 = JOIN256(_mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)),
                   _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)));
    *c23 = JOIN256(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2)),
                   _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2)));
}

AVX512 void pl_vec_dot_q6_K_q8_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q6_K *x = vx;
    const pl_block_q8_K *y = vy;
    /* i16 lane l of a 64-code vector belongs to group l/8 (+ base) */
    const __m512i lane_group = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2,
                                                1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    float acc = 0;
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales)));
        const __m256i bs = LOAD256(y[i].bsums);
        const int corr = _mm512_reduce_add_epi32(_mm512_castsi256_si512(_mm256_madd_epi16(_mm512_castsi512_si256(sc16), bs)) );
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i c[2];
            q6k_codes(&x[i], h, &c[0], &c[1]);
            for (int k = 0; k < 2; k++) {
                const __m512i p = _mm512_maddubs_epi16(c[k], _mm512_loadu_si512(y[i].qs + 128 * h + 64 * k));
                const __m512i idx = _mm512_add_epi16(lane_group, _mm512_set1_epi16((short)(8 * h + 4 * k)));
                sumi = _mm512_dpwssd_epi32(sumi, p, _mm512_permutexvar_epi16(idx, sc16));
            }
        }
        acc += (h2f(x[i].d) * y[i].d) * (float)(_mm512_reduce_add_epi32(sumi) - 32 * corr);
    }
    *s = acc;
}

/* ---- dequantize ------------------------------------------------------------------------------------ */

/* y[0..31] = d * (q - off) + m for 32 byte codes (m = 0 adds nothing; every d*q here is exact) */
AVX512 static inline void store_codes32(float *y, __m256i q, int off, float d, float m) {
    const __m512 dv = _mm512_set1_ps(d), mv = _mm512_set1_ps(m);
    const __m512i o = _mm512_set1_epi32(off);
    for (int k = 0; k < 2; k++) {
        const __m128i part = k ? _mm256_extracti128_si256(q, 1) : _mm256_castsi256_si128(q);
        const __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(part), o));
        _mm512_storeu_ps(y + 16 * k, m != 0 ? _mm512_add_ps(_mm512_mul_ps(dv, f), mv) : _mm512_mul_ps(dv, f));
    }
}

AVX512 void pl_dequantize_q4_0_avx512(const void *vx, float *y, int64_t n) {
    const pl_block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++) store_codes32(y + 32 * i, CODES_Q4_0(x[i]), 8, h2f(x[i].d), 0);
}
AVX512 void pl_dequantize_q4_1_avx512(const void *vx, float *y, int64_t n) {
    const pl_block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++)
        store_codes32(y + 32 * i, CODES_Q4_1(x[i]), 0, h2f(x[i].d), h2f(x[i].m));
}
AVX512 void pl_dequantize_q5_0_avx512(const void *vx, float *y, int64_t n) {
    const pl_block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++) store_codes32(y + 32 * i, CODES_Q5_0(x[i]), 16, h2f(x[i].d), 0);
}
AVX512 void pl_dequantize_q5_1_avx512(const void *vx, float *y, int64_t n) {
    const pl_block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++)
        store_codes32(y + 32 * i, CODES_Q5_1(x[i]), 0, h2f(x[i].d), h2f(x[i].m));
}
AVX512 void pl_dequantize_q8_0_avx512(const void *vx, float *y, int64_t n) {
    const pl_block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++) {
        const __m512 d = _mm512_set1_ps(h2f(x[i].d));
        for (int k = 0; k < 2; k++) {
            const __m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(x[i].qs + 16 * k)));
            _mm512_storeu_ps(y + 32 * i + 16 * k, _mm512_mul_ps(_mm512_cvtepi32_ps(q), d));
        }
    }
}

/* 64 codes of two sub-blocks: y = dl * q - ml with each sub-block's dl, ml */
AVX512 static inline void store_k64(float *y, __m512i q, float dl0, float ml0, float dl1, float ml1) {
    for (int k = 0; k < 4; k++) {
        const __m512 dv = _mm512_set1_ps(k < 2 ? dl0 : dl1), mv = _mm512_set1_ps(k < 2 ? ml0 : ml1);
        __m128i pk;
        switch (k) {
        case 0: pk = _mm512_extracti32x4_epi32(q, 0); break;
        case 1: pk = _mm512_extracti32x4_epi32(q, 1); break;
        case 2: pk = _mm512_extracti32x4_epi32(q, 2); break;
        default: pk = _mm512_extracti32x4_epi32(q, 3); break;
        }
        _mm512_storeu_ps(y + 16 * k, _mm512_sub_ps(_mm512_mul_ps(dv, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(pk))), mv));
    }
}

AVX512 static inline void dequant_k4(const uint8_t *qs, const uint8_t *qh, const uint8_t *packed, pl_fp16 dh,
                                     pl_fp16 dminh, float *y) {
    const float d = h2f(dh), dmin = h2f(dminh);
    for (int c = 0; c < 4; c++) {
        uint8_t s0, m0, s1, m1;
        quant_get_scale_min_k4(2 * c, packed, &s0, &m0);
        quant_get_scale_min_k4(2 * c + 1, packed, &s1, &m1);
        store_k64(y + 64 * c, k_codes64(qs, qh, c), d * s0, dmin * m0, d * s1, dmin * m1);
    }
}

AVX512 void pl_dequantize_q4_K_avx512(const void *vx, float *y, int64_t n) {
    const pl_block_q4_K *x = vx;
    for (int64_t i = 0; i < n / PL_QK_K; i++) dequant_k4(x[i].qs, NULL, x[i].scales, x[i].d, x[i].dmin, y + 256 * i);
}
AVX512 void pl_dequantize_q5_K_avx512(const void *vx, float *y, int64_t n) {
    const pl_block_q5_K *x = vx;
    for (int64_t i = 0; i < n / PL_QK_K; i++) dequant_k4(x[i].qs, x[i].qh, x[i].scales, x[i].d, x[i].dmin, y + 256 * i);
}

AVX512 void pl_dequantize_q6_K_avx512(const void *vx, float *y, int64_t n) {
    const pl_block_q6_K *x = vx;
    for (int64_t i = 0; i < n / PL_QK_K; i++, y += PL_QK_K) {
        const float d = h2f(x[i].d);
        for (int h = 0; h < 2; h++) {
            __m512i c[2];
            q6k_codes(&x[i], h, &c[0], &c[1]);
            for (int k = 0; k < 8; k++) { /* 16 codes = one scale group each */
                const int g = 8 * h + k;
                __m128i pk;
                switch (k % 4) {
                case 0: pk = _mm512_extracti32x4_epi32(c[k / 4], 0); break;
                case 1: pk = _mm512_extracti32x4_epi32(c[k / 4], 1); break;
                case 2: pk = _mm512_extracti32x4_epi32(c[k / 4], 2); break;
                default: pk = _mm512_extracti32x4_epi32(c[k / 4], 3); break;
                }
                const __m512i v = _mm512_sub_epi32(_mm512_cvtepu8_epi32(pk), _mm512_set1_epi32(32));
                _mm512_storeu_ps(y + 16 * g, _mm512_mul_ps(_mm512_set1_ps(d * (float)x[i].scales[g]), _mm512_cvtepi32_ps(v)));
            }
        }
    }
}

#else /* not x86: the variants are the reference */
#define FWD_DOT(K) void pl_vec_dot_##K##_avx512(int64_t n, float *s, const void *x, const void *y) { pl_vec_dot_##K##_scalar(n, s, x, y); }
#define FWD_DEQ(K) void pl_dequantize_##K##_avx512(const void *x, float *y, int64_t n) { pl_dequantize_##K##_scalar(x, y, n); }
FWD_DOT(q4_0_q8_0) FWD_DOT(q4_1_q8_1) FWD_DOT(q5_0_q8_0) FWD_DOT(q5_1_q8_1) FWD_DOT(q8_0_q8_0)
FWD_DOT(q4_K_q8_K) FWD_DOT(q5_K_q8_K) FWD_DOT(q6_K_q8_K)
PL_QK_DEQUANTS(FWD_DEQ)
#endif
