/* Four-row dot kernels (decode's matrix-vector products): one call dots four weight rows with one quantized
 * activation row. The AVX-512 variants take two blocks per 512-bit register; per pair of blocks the
 * activation codes are loaded once, the bias term (-bias * sum(y), for weight codes made unsigned for
 * vpdpbusd) is computed once and seeds every row's vpdpbusd, and the fp16 scales of the four rows are
 * converted together. q5_0 goes further: four blocks a step, block sums finished in 16-bit lanes, one FMA.
 * Integer block sums equal the scalar reference's; only float rounding (summation order) differs. */
#include "backend/cpu/quant_rows.h"
#include "backend/cpu/vec_exp_simd.h" /* hsum256 */
#include "core/cpu.h"
#include "quant/quant_kernels.h"

#include <string.h>

/* ---- scalar reference: the type's scalar one-row dot, four times ------------------------------------ */
#define ROWS_SCALAR(K) \
    static void rows_##K##_scalar(int64_t n, float *s, const void *x, size_t bx, const void *y) { \
        for (int r = 0; r < PL_DOT_ROWS; r++) pl_vec_dot_##K##_scalar(n, s + r, (const char *)x + r * bx, y); \
    }
ROWS_SCALAR(q4_0_q8_0) ROWS_SCALAR(q4_1_q8_1) ROWS_SCALAR(q5_0_q8_0) ROWS_SCALAR(q5_1_q8_1)
ROWS_SCALAR(q8_0_q8_0) ROWS_SCALAR(q4_K_q8_K) ROWS_SCALAR(q6_K_q8_K)

pl_vec_dot_rows_fn pl_vec_dot_rows_scalar(pl_dtype t) {
    switch (t) {
    case PL_Q4_0: return rows_q4_0_q8_0_scalar;
    case PL_Q4_1: return rows_q4_1_q8_1_scalar;
    case PL_Q5_0: return rows_q5_0_q8_0_scalar;
    case PL_Q5_1: return rows_q5_1_q8_1_scalar;
    case PL_Q8_0: return rows_q8_0_q8_0_scalar;
    case PL_Q4_K: return rows_q4_K_q8_K_scalar;
    case PL_Q6_K: return rows_q6_K_q8_K_scalar;
    default: return NULL;
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stddef.h>

#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"), always_inline)) static inline
#define AVX512_FN __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define LOAD128(p) _mm_loadu_si128((const __m128i *)(p))
#define LOAD256(p) _mm256_loadu_si256((const __m256i *)(p))

/* Software prefetch of the same blocks PF_ROWS rows ahead (the group after next): the hardware prefetcher
 * alone left the four interleaved row streams well below the memory bandwidth (q8_0 out of cache: 5.5 ->
 * 9.5 GB/s on one core with it). Prefetches past the tensor's end are harmless (they never fault). */
#define PF_ROWS (2 * PL_DOT_ROWS)
/* the four row pointers of a call */
#define ROW_PTRS(XT, vx, bx) \
    {vx, (const XT *)((const char *)vx + bx), (const XT *)((const char *)vx + 2 * bx), (const XT *)((const char *)vx + 3 * bx)}
AVX512 void prefetch_block(const char *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

/* 4-bit codes of blocks i (low 256 bits: low nibbles then high nibbles) and i+1 (high 256; zero if !two).
 * Block i's bytes come by a plain broadcast (a pure load); only block i+1's masked broadcast needs an ALU. */
AVX512 __m512i nib_codes(const uint8_t *qs0, const uint8_t *qs1, bool two) {
    const __m512i v = two ? _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(LOAD128(qs0)), 0xFF00, LOAD128(qs1))
                          : _mm512_maskz_broadcast_i32x4(0x00FF, LOAD128(qs0));
    /* 128-bit lanes 1 and 3 take the high nibbles: shift their 64-bit halves right by 4, then mask */
    return _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0)), _mm512_set1_epi8(0x0F));
}
/* the fifth bit: +16 on byte j where bit j of qh (block i: bits 0-31, block i+1: 32-63) is set */
AVX512 __m512i q5_codes(const uint8_t *qs0, const uint8_t *qh0, const uint8_t *qs1, const uint8_t *qh1, bool two) {
    uint32_t h0, h1 = 0;
    memcpy(&h0, qh0, 4);
    if (two) memcpy(&h1, qh1, 4);
    const __m512i c = nib_codes(qs0, qs1, two);
    return _mm512_mask_add_epi8(c, _cvtu64_mask64((uint64_t)h1 << 32 | h0), c, _mm512_set1_epi8(16));
}
/* q8_0 weights as u8 (+128) */
AVX512 __m512i q8_codes(const int8_t *qs0, const int8_t *qs1, bool two) {
    __m512i v = _mm512_zextsi256_si512(LOAD256(qs0));
    if (two) v = _mm512_inserti64x4(v, LOAD256(qs1), 1);
    return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
}

#define CODES_Q4(b0, b1, two) nib_codes((b0)->qs, (b1)->qs, two)
#define CODES_Q5(b0, b1, two) q5_codes((b0)->qs, (b0)->qh, (b1)->qs, (b1)->qh, two)
#define CODES_Q8(b0, b1, two) q8_codes((b0)->qs, (b1)->qs, two)

/* lanes 0-7 take float 2r of a __m256, lanes 8-15 float 2r+1 */
AVX512 __m512 pair_bcast(__m256 v, int r) {
    const __m512i idx = _mm512_set_epi32(2 * r + 1, 2 * r + 1, 2 * r + 1, 2 * r + 1, 2 * r + 1, 2 * r + 1, 2 * r + 1,
                                         2 * r + 1, 2 * r, 2 * r, 2 * r, 2 * r, 2 * r, 2 * r, 2 * r, 2 * r);
    return _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(v));
}
/* the fp16 fields at offset 0 of block b (low half) and of the block after it (high half; 0 if !two), put
 * together in a general register: a 16-bit load and a 32-bit one ending at the next block's field, so the
 * vector unit gets one insert per pair of rows instead of one per field */
AVX512 uint32_t half_pair(const void *b, size_t bytes, bool two) {
    uint16_t lo;
    uint32_t hi = 0;
    memcpy(&lo, b, 2);
    if (two) memcpy(&hi, (const char *)b + bytes - 2, 4);
    return lo | (hi & 0xFFFF0000u);
}
/* eight fp16 (blocks i, i+1 of rows 0..3; i+1 read as 0 when !two) to floats */
#define HALVES8(x, i, f, two) \
    _mm256_cvtph_ps(_mm_set_epi64x((long long)(half_pair(&x[2][i].f, sizeof x[2][i], two) | \
                                               (uint64_t)half_pair(&x[3][i].f, sizeof x[3][i], two) << 32), \
                                   (long long)(half_pair(&x[0][i].f, sizeof x[0][i], two) | \
                                               (uint64_t)half_pair(&x[1][i].f, sizeof x[1][i], two) << 32)))
/* an activation pair's fp16 field, repeated for the four rows */
#define YPAIR(y, i, f, two) _mm256_cvtph_ps(_mm_set1_epi32((int)half_pair(&y[i].f, sizeof y[i], two)))

/* the _1 types' m*s term, summed per (row, block parity) in the eight lanes of accm */
#define MIN_NONE(x, y, i, two, accm) (void)(accm)
#define MIN_MS(x, y, i, two, accm) (*(accm) = _mm256_fmadd_ps(HALVES8(x, i, m, two), YPAIR(y, i, s, two), *(accm)))

/* s[r] = the sum of acc[r]'s lanes + (m[2r] + m[2r+1]), in _mm512_reduce_add_ps's order (halves, then
 * quarters, then pairs) so the result is the four separate reductions' bit for bit, in fewer shuffles */
AVX512 void reduce4(const __m512 acc[4], __m256 accm, float *s) {
    const __m512 a01 = _mm512_add_ps(_mm512_shuffle_f32x4(acc[0], acc[1], 0xEE),
                                     _mm512_shuffle_f32x4(acc[0], acc[1], 0x44));
    const __m512 a23 = _mm512_add_ps(_mm512_shuffle_f32x4(acc[2], acc[3], 0xEE),
                                     _mm512_shuffle_f32x4(acc[2], acc[3], 0x44));
    /* a01 = [r0 lo+hi | r1 lo+hi] as 256-bit halves; now the 128-bit quarters of each row */
    const __m512 q = _mm512_add_ps(_mm512_shuffle_f32x4(a01, a23, 0xDD), _mm512_shuffle_f32x4(a01, a23, 0x88));
    const __m512 p = _mm512_add_ps(q, _mm512_permute_ps(q, 0x4E)); /* lanes (0,1) + (2,3) of each row */
    const __m512 t = _mm512_add_ps(p, _mm512_permute_ps(p, 0xB1)); /* lane 0 + lane 1 */
    const __m512i first = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0);
    const __m128 r = _mm512_castps512_ps128(_mm512_permutexvar_ps(first, t));
    /* m[2r] + m[2r+1]: even lanes to the low half, odd to the high */
    const __m256 mm = _mm256_permutevar8x32_ps(accm, _mm256_set_epi32(7, 5, 3, 1, 6, 4, 2, 0));
    const __m128 m = _mm_add_ps(_mm256_castps256_ps128(mm), _mm256_extractf128_ps(mm, 1));
    _mm_storeu_ps(s, _mm_add_ps(r, m));
}

/* One step over blocks i, i+1 of four rows (block i only if !two). */
#define STEP_DEF(NAME, XT, YT, CODES, BIAS, MIN_TERM) \
    AVX512 void step_##NAME(const XT *const x[4], const YT *y, int64_t i, bool two, __m512 acc[4], __m256 *accm, \
                            size_t bx) { \
        __m512i yv = _mm512_zextsi256_si512(LOAD256(y[i].qs)); \
        if (two) yv = _mm512_inserti64x4(yv, LOAD256(y[i + 1].qs), 1); \
        __m512i seed = _mm512_setzero_si512(); \
        if (BIAS) seed = _mm512_sub_epi32(seed, _mm512_dpbusd_epi32(seed, _mm512_set1_epi8((char)(BIAS)), yv)); \
        const __m256 scale = _mm256_mul_ps(HALVES8(x, i, d, two), YPAIR(y, i, d, two)); \
        MIN_TERM(x, y, i, two, accm); \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) { \
            _mm_prefetch((const char *)&x[r][i] + PF_ROWS * bx, _MM_HINT_T0); /* 44..68 bytes a step */ \
            const __m512i sumi = _mm512_dpbusd_epi32(seed, CODES(&x[r][i], &x[r][i + two], two), yv); \
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), pair_bcast(scale, r), acc[r]); \
        } \
    }

#define ROWS512(NAME, XT, YT, CODES, BIAS, MIN_TERM) \
    STEP_DEF(NAME, XT, YT, CODES, BIAS, MIN_TERM) \
    AVX512_FN static void rows_##NAME##_avx512(int64_t n, float *s, const void *vx, size_t bx, const void *vy) { \
        const XT *const x[4] = ROW_PTRS(XT, vx, bx); \
        const YT *y = vy; \
        const int64_t nb = n / PL_QK; \
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()}; \
        __m256 accm = _mm256_setzero_ps(); \
        int64_t i = 0; \
        for (; i + 1 < nb; i += 2) step_##NAME(x, y, i, true, acc, &accm, bx); \
        if (i < nb) step_##NAME(x, y, i, false, acc, &accm, bx); \
        reduce4(acc, accm, s); \
    }

ROWS512(q4_0_q8_0, pl_block_q4_0, pl_block_q8_0, CODES_Q4, 8, MIN_NONE)
ROWS512(q4_1_q8_1, pl_block_q4_1, pl_block_q8_1, CODES_Q4, 0, MIN_MS)
ROWS512(q5_1_q8_1, pl_block_q5_1, pl_block_q8_1, CODES_Q5, 0, MIN_MS)
ROWS512(q8_0_q8_0, pl_block_q8_0, pl_block_q8_0, CODES_Q8, 0x80, MIN_NONE)

/* ---- q5_0: four blocks a step, their integer sums finished before any float work ------------------------
 * A pair step's vpdpbusd lanes (four products of a code less its bias, |c - bias| <= 16, by an activation code,
 * |y| <= 127 as every q8_0 quantizer makes them) lie within +-8128, so 16-bit lanes hold them and sums of up
 * to four of them (vpackssdw never saturates here). Four rows x four blocks then need one conversion and one
 * FMA, where the pair steps above take a vpermps, a conversion and an FMA per row and block pair; the scales
 * come by masked 16-bit loads instead of general-register assembly. Most of the tree runs on the shuffle
 * port, away from port 0 where the shifts and vpdpbusd queue. */

/* lane L of the quad's integer sums and scales holds block i + QB(L) of row QR(L) */
#define QUAD_LANES(F) F(0, 0), F(0, 1), F(2, 0), F(2, 1), F(1, 0), F(1, 1), F(3, 0), F(3, 1), \
                      F(0, 2), F(0, 3), F(2, 2), F(2, 3), F(1, 2), F(1, 3), F(3, 2), F(3, 3)

/* a[r], b[r]: row r's vpdpbusd lanes over blocks (i, i+1) and (i+2, i+3); the result: their block sums in the
 * QUAD_LANES order */
AVX512 __m512i quad_tree(const __m512i a[4], const __m512i b[4]) {
    const __m512i one = _mm512_set1_epi16(1);
    const __m512i pa01 = _mm512_packs_epi32(a[0], a[1]), pa23 = _mm512_packs_epi32(a[2], a[3]);
    const __m512i pb01 = _mm512_packs_epi32(b[0], b[1]), pb23 = _mm512_packs_epi32(b[2], b[3]);
    /* a block's two quarters added: 128-bit lanes [blk 0: r0 r1 | blk 1: r0 r1 | blk 0: r2 r3 | blk 1: r2 r3] */
    const __m512i ra = _mm512_adds_epi16(_mm512_shuffle_i32x4(pa01, pa23, 0x88), _mm512_shuffle_i32x4(pa01, pa23, 0xDD));
    const __m512i rb = _mm512_adds_epi16(_mm512_shuffle_i32x4(pb01, pb23, 0x88), _mm512_shuffle_i32x4(pb01, pb23, 0xDD));
    /* four words a row to two int32, then the two steps packed side by side and paired */
    return _mm512_madd_epi16(_mm512_packs_epi32(_mm512_madd_epi16(ra, one), _mm512_madd_epi16(rb, one)), one);
}

/* the fp16 fields at offset 0 of blocks i..i+nblk-1 (then 0) of a row: block i + b in 16-bit lane b */
AVX512 uint64_t half_quad(const void *b, size_t bytes, int nblk) {
    const uint64_t lo = half_pair(b, bytes, nblk >= 2);
    return nblk >= 3 ? lo | (uint64_t)half_pair((const char *)b + 2 * bytes, bytes, nblk == 4) << 32 : lo;
}
/* d_x of blocks i..i+nblk-1 of the four rows as floats in the QUAD_LANES order (0 past nblk). Masked 16-bit
 * loads put the fields of rows 0, 1 (2, 3) in one register each: row r's of blocks i, i+1 at words r & 1,
 * 11 + (r & 1) (a block is 22 bytes), of blocks i+2, i+3 at words 16 + (r & 1), 27 + (r & 1); one vpermt2w
 * orders them. No general-register work, and four masks in all (not eight: k registers are few). Masked-off
 * words are never read, so a load may start before the row or reach past a short tail. */
#define DX_WORD(b, r) (((b) == 0 ? 0 : (b) == 1 ? 11 : (b) == 2 ? 16 : 27) + ((r) & 1) + ((r) & 2) * 16)
#define DY_LANE(b, r) (b)
AVX512 __m512 quad_dx(const pl_block_q5_0 *const xr[4], int nblk) {
    _Static_assert(sizeof(pl_block_q5_0) == 22, "block size");
    const __mmask32 ka = nblk >= 2 ? 0x801u : 0x1u, kb = nblk == 4 ? 0x8010000u : nblk == 3 ? 0x10000u : 0;
    __m512i v[2];
    _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
        const char *p0 = (const char *)xr[2 * h], *p1 = (const char *)xr[2 * h + 1];
        v[h] = _mm512_maskz_loadu_epi16(ka, p0);
        v[h] = _mm512_mask_loadu_epi16(v[h], ka << 1, p1 - 2);
        if (kb) {
            v[h] = _mm512_mask_loadu_epi16(v[h], kb, p0 + 2 * 22 - 32);
            v[h] = _mm512_mask_loadu_epi16(v[h], kb << 1, p1 + 2 * 22 - 34);
        }
    }
    static const int16_t pick[32] = {QUAD_LANES(DX_WORD)};
    return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(v[0], _mm512_loadu_si512(pick), v[1])));
}
/* d_x * d_y of blocks i..i+nblk-1 of the four rows, QUAD_LANES order */
AVX512 __m512 quad_scales(const pl_block_q5_0 *const x[4], const pl_block_q8_0 *y, int64_t i, int nblk) {
    const pl_block_q5_0 *const xr[4] = {&x[0][i], &x[1][i], &x[2][i], &x[3][i]};
    static const int32_t spread[16] = {QUAD_LANES(DY_LANE)};
    const __m128 dy = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)half_quad(&y[i], sizeof y[i], nblk)));
    return _mm512_mul_ps(quad_dx(xr, nblk),
                         _mm512_permutexvar_ps(_mm512_loadu_si512(spread), _mm512_castps128_ps512(dy)));
}

/* q5_0 codes of blocks i, i+1 as q5_codes, merged by one ternary-logic op: (nibble & 0x0F) | (0x10 where the
 * fifth bit is set) */
AVX512 __m512i q5_codes_t(const pl_block_q5_0 *b0, const pl_block_q5_0 *b1, bool two) {
    uint32_t h0, h1 = 0;
    memcpy(&h0, b0->qh, 4);
    if (two) memcpy(&h1, b1->qh, 4);
    const __m512i v = two ? _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(LOAD128(b0->qs)), 0xFF00, LOAD128(b1->qs))
                          : _mm512_maskz_broadcast_i32x4(0x00FF, LOAD128(b0->qs));
    const __m512i vs = _mm512_srlv_epi64(v, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    const __m512i fifth = _mm512_maskz_mov_epi8(_cvtu64_mask64((uint64_t)h1 << 32 | h0), _mm512_set1_epi8(0x10));
    return _mm512_ternarylogic_epi32(fifth, vs, _mm512_set1_epi8(0x0F), 0xF8); /* A | (B & C) */
}

/* the four rows' vpdpbusd lanes over blocks i, i+1 (i only if !two), seeded with the bias term */
AVX512 void q5_0_pair_dots(const pl_block_q5_0 *const x[4], const pl_block_q8_0 *y, int64_t i, bool two,
                           __m512i s[4]) {
    __m512i yv = _mm512_zextsi256_si512(LOAD256(y[i].qs));
    if (two) yv = _mm512_inserti64x4(yv, LOAD256(y[i + 1].qs), 1);
    const __m512i seed = _mm512_sub_epi32(_mm512_setzero_si512(),
                                          _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(16), yv));
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)
        s[r] = _mm512_dpbusd_epi32(seed, q5_codes_t(&x[r][i], &x[r][i + two], two), yv);
}

/* blocks i..i+nblk-1 (nblk 1..4) of the four rows into acc (QUAD_LANES order) */
AVX512 void q5_0_quad(const pl_block_q5_0 *const x[4], const pl_block_q8_0 *y, int64_t i, int nblk, size_t bx,
                      __m512 *acc) {
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) { /* 88 bytes a row: two lines */
        _mm_prefetch((const char *)&x[r][i] + PF_ROWS * bx, _MM_HINT_T0);
        _mm_prefetch((const char *)&x[r][i] + PF_ROWS * bx + 64, _MM_HINT_T0);
    }
    __m512i a[4], b[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    q5_0_pair_dots(x, y, i, nblk >= 2, a);
    if (nblk >= 3) q5_0_pair_dots(x, y, i + 2, nblk == 4, b);
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(quad_tree(a, b)), quad_scales(x, y, i, nblk), *acc);
}

AVX512_FN static void rows_q5_0_q8_0_avx512(int64_t n, float *s, const void *vx, size_t bx, const void *vy) {
    const pl_block_q5_0 *const x[4] = ROW_PTRS(pl_block_q5_0, vx, bx);
    const pl_block_q8_0 *y = vy;
    const int64_t nb = n / PL_QK;
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) q5_0_quad(x, y, i, 4, bx, &acc);
    if (i < nb) q5_0_quad(x, y, i, (int)(nb - i), bx, &acc);
    /* rows by lane: 0 1 0 1 | 0 1 0 1 | 2 3 2 3 | 2 3 2 3 */
    const __m512 t = _mm512_add_ps(acc, _mm512_permute_ps(acc, 0x4E));
    const __m512 u = _mm512_add_ps(t, _mm512_shuffle_f32x4(t, t, 0xB1));
    _mm_storel_pi((__m64 *)s, _mm512_castps512_ps128(u));
    _mm_storel_pi((__m64 *)(s + 2), _mm512_extractf32x4_ps(u, 2));
}

/* ---- k-quants: one 256-element super-block per step, the activation's 4 x 64 codes loaded once ---------- */

/* vpshufb selectors: i16 lanes 0-15 take word a of each 128-bit lane, lanes 16-31 word b (one shuffle uop
 * where the cross-lane vpermw takes two) */
AVX512 __m512i words2_sel(int a, int b) {
    return _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * a | (2 * a + 1) << 8)),
                              _mm256_set1_epi16((short)(2 * b | (2 * b + 1) << 8)), 1);
}

/* q4_K's eight 6-bit scales and mins (GGUF packing) as bytes: sc in the low 8 bytes of the result, m above */
AVX512 __m128i k4_scales_mins(const uint8_t *p) {
    uint32_t a, b, c;
    memcpy(&a, p, 4), memcpy(&b, p + 4, 4), memcpy(&c, p + 8, 4);
    const uint32_t sc_lo = a & 0x3f3f3f3f, m_lo = b & 0x3f3f3f3f;
    const uint32_t sc_hi = (c & 0x0f0f0f0f) | ((a >> 6) & 0x03030303) << 4;
    const uint32_t m_hi = ((c >> 4) & 0x0f0f0f0f) | ((b >> 6) & 0x03030303) << 4;
    /* two 64-bit inserts rather than four 32-bit ones */
    return _mm_set_epi64x((long long)((uint64_t)m_hi << 32 | m_lo), (long long)((uint64_t)sc_hi << 32 | sc_lo));
}

AVX512_FN static void rows_q4_K_q8_K_avx512(int64_t n, float *s, const void *vx, size_t bx, const void *vy) {
    const pl_block_q4_K *const x[4] = ROW_PTRS(pl_block_q4_K, vx, bx);
    const pl_block_q8_K *y = vy;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    __m128 accm[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    const __m512i shift = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0), m4 = _mm512_set1_epi8(0x0F);
    const __m512i sel[4] = {words2_sel(0, 1), words2_sel(2, 3), words2_sel(4, 5), words2_sel(6, 7)};
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        __m512i yq[4];
        for (int c = 0; c < 4; c++) yq[c] = _mm512_loadu_si512(y[i].qs + 64 * c);
        /* B_j = bsums[2j] + bsums[2j+1], the activation sum of sub-block j */
        const __m128i bj = _mm_hadd_epi16(LOAD128(y[i].bsums), LOAD128(y[i].bsums + 8));
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
            const pl_block_q4_K *b = &x[r][i];
            prefetch_block((const char *)b + PF_ROWS * bx, sizeof *b);
            const __m128i sm = k4_scales_mins(b->scales);
            const __m512i sc = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(sm)); /* the eight sc words, in every lane */
            __m512i sumi = _mm512_setzero_si512();
            for (int c = 0; c < 4; c++) { /* sub-blocks 2c (low nibbles) and 2c+1 (high) */
                const __m512i q = _mm512_and_si512(_mm512_srlv_epi64(_mm512_broadcast_i64x4(LOAD256(b->qs + 32 * c)), shift), m4);
                sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(q, yq[c]), _mm512_shuffle_epi8(sc, sel[c]));
            }
            const float dy = y[i].d;
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(_cvtsh_ss(b->d) * dy), acc[r]);
            const __m128i mins = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), bj);
            accm[r] = _mm_fmadd_ps(_mm_cvtepi32_ps(mins), _mm_set1_ps(_cvtsh_ss(b->dmin) * dy), accm[r]);
        }
    }
    for (int r = 0; r < 4; r++)
        s[r] = _mm512_reduce_add_ps(acc[r]) - _mm512_reduce_add_ps(_mm512_castps128_ps512(accm[r]));
}

/* q6_K codes (0..63) of elements 128h + 0..63 (*lo) and 128h + 64..127 (*hi) */
AVX512 void q6k_codes64(const pl_block_q6_K *b, int h, __m512i *lo, __m512i *hi) {
    const __m512i ql = _mm512_loadu_si512(b->ql + 64 * h), qh = _mm512_broadcast_i64x4(LOAD256(b->qh + 32 * h));
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x30);
    /* the two high bits: qh bits 0-1 (elements 0-31), 2-3 (32-63), 4-5 (64-95), 6-7 (96-127), moved to bits 4-5 */
    const __m512i h01 = _mm512_and_si512(_mm512_sllv_epi64(qh, _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4)), m2);
    const __m512i h23 = _mm512_and_si512(_mm512_srlv_epi64(qh, _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0)), m2);
    *lo = _mm512_or_si512(_mm512_and_si512(ql, m4), h01);
    *hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), h23);
}

AVX512_FN static void rows_q6_K_q8_K_avx512(int64_t n, float *s, const void *vx, size_t bx, const void *vy) {
    const pl_block_q6_K *const x[4] = ROW_PTRS(pl_block_q6_K, vx, bx);
    const pl_block_q8_K *y = vy;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    /* i16 lane l of the products of chunk k (64 codes, groups 4k..4k+3 of 16) takes scale 4k + l/8 */
    __m512i gidx[4];
    for (int k = 0; k < 4; k++)
        gidx[k] = _mm512_add_epi16(_mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1,
                                                    0, 0, 0, 0, 0, 0, 0, 0), _mm512_set1_epi16((short)(4 * k)));
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        __m512i yq[4];
        for (int c = 0; c < 4; c++) yq[c] = _mm512_loadu_si512(y[i].qs + 64 * c);
        const __m256i bs = LOAD256(y[i].bsums);
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
            const pl_block_q6_K *b = &x[r][i];
            prefetch_block((const char *)b + PF_ROWS * bx, sizeof *b);
            const __m256i sc = _mm256_cvtepi8_epi16(LOAD128(b->scales));
            const __m512i scw = _mm512_castsi256_si512(sc);
            /* codes are q + 32: take 32 * sum_g sc_g * bsums_g off */
            __m512i sumi = _mm512_zextsi256_si512(_mm256_slli_epi32(_mm256_madd_epi16(sc, bs), 5));
            sumi = _mm512_sub_epi32(_mm512_setzero_si512(), sumi);
            for (int h = 0; h < 2; h++) {
                __m512i c[2];
                q6k_codes64(b, h, &c[0], &c[1]);
                for (int k = 0; k < 2; k++)
                    sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(c[k], yq[2 * h + k]),
                                               _mm512_permutexvar_epi16(gidx[2 * h + k], scw));
            }
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(_cvtsh_ss(b->d) * y[i].d), acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) s[r] = _mm512_reduce_add_ps(acc[r]);
}

/* ---- activation quantizers (q8_0, q8_1, q8_K), bit-exact with quant_ref.c's ---------------------------- */
/* round half away from zero, as roundf: truncate, then step away from zero when the dropped part is >= 0.5
 * (v - trunc(v) is exact) */
AVX512 __m512i round_away(__m512 v) {
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512 step = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
    return _mm512_cvttps_epi32(_mm512_mask_add_ps(t, up, t, step));
}
/* 32 values to int8 with d = max|x| / 127; returns d and the codes' sum */
AVX512 int q8_block32(const float *x, int8_t *qs, float *d_out) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512i q0 = round_away(_mm512_mul_ps(v0, _mm512_set1_ps(id)));
    const __m512i q1 = round_away(_mm512_mul_ps(v1, _mm512_set1_ps(id)));
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtepi32_epi8(q1));
    *d_out = d;
    return _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
}
/* q8_0 and q8_1 rows from a 32-value block quantizer BLOCK (x, qs, &d) -> the codes' sum: one definition for
 * each instruction set's block (q8_1 also keeps s = d * sum, from the stored d) */
#define QUANTIZE_Q8_ROWS(SUF, ATTR, BLOCK)                                                   \
    ATTR static void quantize_q8_0_##SUF(const float *x, void *vy, int64_t n) {              \
        pl_block_q8_0 *y = vy;                                                               \
        for (int64_t i = 0; i < n / PL_QK; i++) {                                            \
            float d;                                                                         \
            BLOCK(x + PL_QK * i, y[i].qs, &d);                                               \
            y[i].d = pl_fp32_to_fp16(d);                                                     \
        }                                                                                    \
    }                                                                                        \
    ATTR static void quantize_q8_1_##SUF(const float *x, void *vy, int64_t n) {              \
        pl_block_q8_1 *y = vy;                                                               \
        for (int64_t i = 0; i < n / PL_QK; i++) {                                            \
            float d;                                                                         \
            const int sum = BLOCK(x + PL_QK * i, y[i].qs, &d);                               \
            y[i].d = pl_fp32_to_fp16(d);                                                     \
            y[i].s = pl_fp32_to_fp16(pl_fp16_to_fp32(y[i].d) * (float)sum);                  \
        }                                                                                    \
    }
QUANTIZE_Q8_ROWS(avx512, AVX512_FN, q8_block32)
AVX512_FN static void quantize_q8_K_avx512(const float *x, void *vy, int64_t n) {
    pl_block_q8_K *y = vy;
    for (int64_t i = 0; i < n / PL_QK_K; i++, x += PL_QK_K) {
        __m512 mx = _mm512_setzero_ps();
        for (int g = 0; g < 16; g++) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * g)));
        const float d = _mm512_reduce_max_ps(mx) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = d;
        for (int g = 0; g < 16; g++) { /* one vector of 16 is one bsums group */
            const __m512i q = round_away(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * g), _mm512_set1_ps(id)));
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * g), _mm512_cvtepi32_epi8(q));
            y[i].bsums[g] = (int16_t)_mm512_reduce_add_epi32(q);
        }
    }
}

pl_from_float_fn pl_quantize_act_avx512(pl_dtype t) {
    switch (t) {
    case PL_Q8_0: return quantize_q8_0_avx512;
    case PL_Q8_1: return quantize_q8_1_avx512;
    case PL_Q8_K: return quantize_q8_K_avx512;
    default: return NULL;
    }
}

/* block b of a packed group, the block four ahead fetched on the way (the packed kernels,
 * AVX2's and VNNI's, read the run in order) */
__attribute__((always_inline)) static inline const char *r8p_block(const void *xp, int64_t b) {
    const char *p = (const char *)xp + b * PL_R8_Q8_0_BLOCK;
    for (int o = 0; o < PL_R8_Q8_0_BLOCK; o += 64) _mm_prefetch(p + 4 * PL_R8_Q8_0_BLOCK + o, _MM_HINT_T0);
    return p;
}

/* ---- AVX-512 VNNI: packed q8_0 rows (pl_r8_pack's layout) against any number of activation rows -----------
 * One zmm holds g[2p] | g[2p+1] of a block: 32-bit lane r is row r's bytes 8p..8p+3, lane 8 + r its bytes
 * 8p+4..8p+7. One vpermd spreads the activation's matching four bytes (made unsigned: +128) over the same halves,
 * so one vpdpbusd makes 64 products of eight rows; the +128 comes back off as 128 x the weights' sums, one
 * vpdpbusd a weight vector for all activation rows. Per block and activation row: four vpdpbusd, one conversion
 * and one FMA into sixteen lanes (rows r and 8 + r summed at the end), where the four-row kernel takes a
 * vpdpbusd, a conversion and an FMA per row and pair of blocks. A column's sums do not depend on the others:
 * the same bits for any count of activation rows. */
#define R8V_COLS 8 /* activation rows a pass (accumulators held in registers) */
AVX512 void r8v_cols(int64_t nb, float *s, size_t lds, const char *xp, const char *vy, size_t by, const int nc) {
    __m512 acc[R8V_COLS];
#pragma GCC unroll 8
    for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++) {
        const char *p = r8p_block(xp, b);
        __m512i w[4], corr = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            w[k] = _mm512_loadu_si512(p + 16 + 64 * k);
            corr = _mm512_dpbusd_epi32(corr, bias, w[k]); /* 128 x the weights' sums */
        }
        const __m512 dx = _mm512_broadcast_f32x8(_mm256_cvtph_ps(LOAD128(p))); /* row r's scale in lanes r, 8 + r */
#pragma GCC unroll 8
        for (int c = 0; c < nc; c++) {
            const pl_block_q8_0 *y = (const pl_block_q8_0 *)(vy + c * by) + b;
            const __m512i yv = _mm512_castsi256_si512(_mm256_xor_si256(LOAD256(y->qs), _mm256_set1_epi8((char)0x80)));
            __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) /* dwords 2k (lanes 0-7) and 2k + 1 (lanes 8-15) of the activation */
                isum = _mm512_dpbusd_epi32(isum, _mm512_permutexvar_epi32(_mm512_set_epi32(
                           2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1,
                           2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k), yv), w[k]);
            const __m512 sc = _mm512_mul_ps(dx, _mm512_set1_ps(_cvtsh_ss(y->d)));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(isum, corr)), sc, acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < nc; c++)
        _mm256_storeu_ps(s + c * lds, _mm256_add_ps(_mm512_castps512_ps256(acc[c]), _mm512_extractf32x8_ps(acc[c], 1)));
}
AVX512_FN static void r8v_q8_0_q8_0_avx512(int64_t n, float *s, size_t lds, const void *xp, const void *vy, size_t by,
                                           int64_t n_act) {
    const int64_t nb = n / PL_QK;
    int64_t c = 0;
    for (; c + R8V_COLS <= n_act; c += R8V_COLS) r8v_cols(nb, s + c * lds, lds, xp, (const char *)vy + c * by, by, R8V_COLS);
    const char *y = (const char *)vy + c * by;
    switch (n_act - c) { /* each count its own instance, so the accumulators stay in registers */
    case 7: r8v_cols(nb, s + c * lds, lds, xp, y, by, 7); break;
    case 6: r8v_cols(nb, s + c * lds, lds, xp, y, by, 6); break;
    case 5: r8v_cols(nb, s + c * lds, lds, xp, y, by, 5); break;
    case 4: r8v_cols(nb, s + c * lds, lds, xp, y, by, 4); break;
    case 3: r8v_cols(nb, s + c * lds, lds, xp, y, by, 3); break;
    case 2: r8v_cols(nb, s + c * lds, lds, xp, y, by, 2); break;
    case 1: r8v_cols(nb, s + c * lds, lds, xp, y, by, 1); break;
    default: break;
    }
}
pl_vec_dot_r8p_fn pl_vec_dot_r8p_avx512(pl_dtype t) { return t == PL_Q8_0 ? r8v_q8_0_q8_0_avx512 : NULL; }

pl_vec_dot_rows_fn pl_vec_dot_rows_avx512(pl_dtype t) {
    switch (t) {
    case PL_Q4_0: return rows_q4_0_q8_0_avx512;
    case PL_Q4_1: return rows_q4_1_q8_1_avx512;
    case PL_Q5_0: return rows_q5_0_q8_0_avx512;
    case PL_Q5_1: return rows_q5_1_q8_1_avx512;
    case PL_Q8_0: return rows_q8_0_q8_0_avx512;
    case PL_Q4_K: return rows_q4_K_q8_K_avx512;
    case PL_Q6_K: return rows_q6_K_q8_K_avx512;
    default: return NULL;
    }
}
#else
pl_vec_dot_rows_fn pl_vec_dot_rows_avx512(pl_dtype t) { (void)t; return NULL; }
pl_vec_dot_r8p_fn pl_vec_dot_r8p_avx512(pl_dtype t) { (void)t; return NULL; }
pl_from_float_fn pl_quantize_act_avx512(pl_dtype t) { (void)t; return NULL; }
#endif

pl_from_float_fn pl_quantize_act(pl_dtype t) {
    pl_from_float_fn f = pl_cpu_isa() >= PL_ISA_AVX512 ? pl_quantize_act_avx512(t) : NULL;
    if (!f && pl_cpu_isa() >= PL_ISA_AVX2) f = pl_quantize_act_avx2(t);
    return f ? f : pl_dtype_traits(t)->from_float;
}

/* ---- AVX2 (no VNNI): q8_0, four rows with four independent accumulators --------------------------------
 * The one-row dot's single accumulator chains every block's FMA on the last (4 cycles a block); four rows in one
 * loop keep four chains in flight and load each activation block once for all of them. What makes decoding
 * several sequences at once (one activation row per sequence) pay on AVX2 CPUs. */
#if defined(__x86_64__) || defined(__i386__)
#define AVX2_FN __attribute__((target("avx2,fma,f16c")))
/* one row's block: acc += (a . q) * (da * dy), a * q summed as |a| x (q with a's sign) over 4-byte groups */
#define Q8_ROW(acc, xr)                                                                                           \
    do {                                                                                                          \
        _mm_prefetch((const char *)&(xr)[i] + PF_ROWS * bx, _MM_HINT_T0); /* the rows after next: see PF_ROWS */  \
        const __m256i a_ = LOAD256((xr)[i].qs);                                                                   \
        const __m256i p_ = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(a_, a_), _mm256_sign_epi8(q, a_)), ones); \
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p_), _mm256_set1_ps(_cvtsh_ss((xr)[i].d) * dy), acc);          \
    } while (0)
AVX2_FN static void rows_q8_0_q8_0_avx2(int64_t n, float *s, const void *vx, size_t bx, const void *vy) {
    const pl_block_q8_0 *y = vy, *x0 = vx, *x1 = (const void *)((const char *)vx + bx),
                        *x2 = (const void *)((const char *)vx + 2 * bx), *x3 = (const void *)((const char *)vx + 3 * bx);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / PL_QK; i++) { /* four accumulators in registers: four chains in flight */
        const __m256i q = LOAD256(y[i].qs);
        const float dy = _cvtsh_ss(y[i].d);
        Q8_ROW(a0, x0); Q8_ROW(a1, x1); Q8_ROW(a2, x2); Q8_ROW(a3, x3);
    }
    s[0] = hsum256(a0); s[1] = hsum256(a1); s[2] = hsum256(a2); s[3] = hsum256(a3);
}
#undef Q8_ROW
pl_vec_dot_rows_fn pl_vec_dot_rows_avx2(pl_dtype t) { return t == PL_Q8_0 ? rows_q8_0_q8_0_avx2 : NULL; }

/* four weight rows x two activation rows: eight accumulators, each weight block loaded and made unsigned once */
#define Q8_TILE_ROW(acc0, acc1, xr)                                                                              \
    do {                                                                                                         \
        _mm_prefetch((const char *)&(xr)[i] + PF_ROWS * bx, _MM_HINT_T0);                                         \
        const __m256i a_ = LOAD256((xr)[i].qs), u_ = _mm256_sign_epi8(a_, a_);                                   \
        const float da_ = _cvtsh_ss((xr)[i].d);                                                                   \
        const __m256i p0_ = _mm256_madd_epi16(_mm256_maddubs_epi16(u_, _mm256_sign_epi8(q0, a_)), ones);         \
        const __m256i p1_ = _mm256_madd_epi16(_mm256_maddubs_epi16(u_, _mm256_sign_epi8(q1, a_)), ones);         \
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0_), _mm256_set1_ps(da_ * d0), acc0);                        \
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1_), _mm256_set1_ps(da_ * d1), acc1);                        \
    } while (0)
AVX2_FN static void tile_q8_0_q8_0_avx2(int64_t n, float *s, const void *vx, size_t bx, const void *vy, size_t by) {
    const pl_block_q8_0 *y0 = vy, *y1 = (const void *)((const char *)vy + by), *x0 = vx,
                        *x1 = (const void *)((const char *)vx + bx), *x2 = (const void *)((const char *)vx + 2 * bx),
                        *x3 = (const void *)((const char *)vx + 3 * bx);
    __m256 a00 = _mm256_setzero_ps(), a10 = a00, a20 = a00, a30 = a00, a01 = a00, a11 = a00, a21 = a00, a31 = a00;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / PL_QK; i++) {
        const __m256i q0 = LOAD256(y0[i].qs), q1 = LOAD256(y1[i].qs);
        const float d0 = _cvtsh_ss(y0[i].d), d1 = _cvtsh_ss(y1[i].d);
        Q8_TILE_ROW(a00, a01, x0); Q8_TILE_ROW(a10, a11, x1); Q8_TILE_ROW(a20, a21, x2); Q8_TILE_ROW(a30, a31, x3);
    }
    s[0] = hsum256(a00); s[1] = hsum256(a10); s[2] = hsum256(a20); s[3] = hsum256(a30);
    s[4] = hsum256(a01); s[5] = hsum256(a11); s[6] = hsum256(a21); s[7] = hsum256(a31);
}
#undef Q8_TILE_ROW
pl_vec_dot_tile_fn pl_vec_dot_tile_avx2(pl_dtype t) { return t == PL_Q8_0 ? tile_q8_0_q8_0_avx2 : NULL; }

/* ---- AVX2 q8_0: eight weight rows regrouped, any number of activation rows -------------------------------
 * A one-row dot needs a horizontal sum per block. Here each block of eight rows is regrouped in registers (an
 * 8 x 8 transpose of 32-bit groups) so that one vector holds bytes 4k..4k+3 of all eight rows; four bytes of an
 * activation row, broadcast, then meet the eight rows at once (sign, multiply-add, widen, add) and each lane of
 * the sum is one row's integer dot for the block. Per block and activation row: one conversion and one FMA for
 * all eight rows, no horizontal sums, and the regrouping is paid once for every activation row (the 4 x 2 tile
 * spent ~10 instructions per 32 products, this ~4.5). Arithmetic per row: acc = fma((float)isum_block,
 * d_w * d_y, acc) over the blocks in order, the same for one activation row as for many, so a sequence decoded
 * beside others gets the very bits it gets alone. Measured on a Zen 3 core (SmolLM2's 49152 x 576 head, out of
 * cache): one activation row 16-19 GMAC/s against the one-row dot's 12-13; eight rows 39 against the tile's 28. */
#define R8_PF 2 /* prefetch distance, in groups of eight rows (1 and 4 were slower) */

/* Rows are one run of memory (8 x bx bytes a group of eight); while block b of a group is read, the same share
 * of the run R8_PF groups ahead (8 blocks' bytes) is prefetched, so the run is fetched in order. */
__attribute__((always_inline)) static inline void r8_prefetch(const void *vx, size_t bx, int64_t b, size_t block) {
    const char *pf = (const char *)vx + R8_PF * 8 * bx + (size_t)b * 8 * block;
    for (size_t o = 0; o < 8 * block; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
}

/* g[k] = 32-bit group k of v[0..7] (lane r: bytes 4k..4k+3 of v[r]): an 8 x 8 transpose of 32-bit groups */
__attribute__((target("avx2"), always_inline)) static inline void r8_transpose(__m256i g[8], __m256i v[8]) {
    __m256i t[8];
#pragma GCC unroll 4
    for (int r = 0; r < 8; r += 2) { /* pairs of rows: 32-bit groups interleaved */
        t[r] = _mm256_unpacklo_epi32(v[r], v[r + 1]);
        t[r + 1] = _mm256_unpackhi_epi32(v[r], v[r + 1]);
    }
#pragma GCC unroll 2
    for (int r = 0; r < 8; r += 4) { /* then 64-bit pairs of pairs: four rows' group k per 128-bit lane */
        v[r] = _mm256_unpacklo_epi64(t[r], t[r + 2]);
        v[r + 1] = _mm256_unpackhi_epi64(t[r], t[r + 2]);
        v[r + 2] = _mm256_unpacklo_epi64(t[r + 1], t[r + 3]);
        v[r + 3] = _mm256_unpackhi_epi64(t[r + 1], t[r + 3]);
    }
    /* v[0..3]: rows 0-3, groups (0,4), (1,5), (2,6), (3,7) in the low / high lanes; v[4..7]: rows 4-7 */
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        g[k] = _mm256_permute2x128_si256(v[k], v[k + 4], 0x20);
        g[k + 4] = _mm256_permute2x128_si256(v[k], v[k + 4], 0x31);
    }
}

/* block b of the eight rows, regrouped: g[k] = bytes 4k..4k+3 of rows 0..7 (an 8 x 8 transpose of 32-bit groups),
 * and the rows' scales (gathered in general registers: eight scalar stores read back as one vector would stall
 * store forwarding). The eight rows are one run of memory: the same share of the run R8_PF groups ahead is
 * prefetched, in order. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline __m256 r8_load(__m256i g[8], const char *vx, size_t bx,
                                                                                     int64_t b) {
    const char *x0 = vx + b * sizeof(pl_block_q8_0);
    r8_prefetch(vx, bx, b, sizeof(pl_block_q8_0));
    __m256i v[8];
    uint64_t d03 = 0, d47 = 0;
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) {
        const pl_block_q8_0 *x = (const pl_block_q8_0 *)(x0 + r * bx);
        v[r] = LOAD256(x->qs);
        if (r < 4) d03 |= (uint64_t)x->d << (16 * r);
        else d47 |= (uint64_t)x->d << (16 * (r - 4));
    }
    r8_transpose(g, v);
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)d47, (long long)d03));
}

/* a row block's result for one activation row: o[0..7] += isum * (d_w * d_y) [q4_1 / q5_1: then + m_w * s_y];
 * the same fma order for one activation row as for many. y: the activation block (q8_0 or q8_1, d first). */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void r8_accum(float *o, __m256i is, __m256 dw, __m256 mw,
                                                                                    const char *y, bool one) {
    __m256 acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(((const pl_block_q8_0 *)y)->d))),
                                 _mm256_loadu_ps(o));
    if (one) acc = _mm256_fmadd_ps(mw, _mm256_set1_ps(_cvtsh_ss(((const pl_block_q8_1 *)y)->s)), acc);
    _mm256_storeu_ps(o, acc);
}

/* one group of eight rows' bytes against four bytes of an activation row, broadcast: is += the eight rows' dots */
#define R8_GROUP(is, q, u, a4)                                                                                      \
    is = _mm256_add_epi32(is, _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(_mm256_set1_epi32(a4), q)), ones))

/* One activation row (a lone sequence's decode step), where regrouping a block costs as much as using it: each
 * row's block meets the activation block whole (sign trick as R8_GROUP's), and the eight rows' eight-lane sums
 * become one lane each through a horizontal-add tree. The integer dot of a row and block is exact either way, and
 * the float work after it is r8_accum's, so the result is the regrouped path's, bit for bit (test_kv_batch decodes
 * a sequence alone and beside seven others and compares the bits). */
AVX2_FN static void r8_q8_0_one_avx2(int64_t n, float *s, const void *vx, size_t bx, const void *vy) {
    const __m256i ones = _mm256_set1_epi16(1);
    const pl_block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / PL_QK; b++) {
        const char *x0 = (const char *)vx + b * sizeof(pl_block_q8_0);
        r8_prefetch(vx, bx, b, sizeof(pl_block_q8_0));
        const __m256i a = LOAD256(y[b].qs);
        __m256i p[8];
        uint64_t d03 = 0, d47 = 0;
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            const pl_block_q8_0 *x = (const pl_block_q8_0 *)(x0 + r * bx);
            const __m256i w = LOAD256(x->qs);
            p[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w)), ones);
            if (r < 4) d03 |= (uint64_t)x->d << (16 * r);
            else d47 |= (uint64_t)x->d << (16 * (r - 4));
        }
        const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
        const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
        /* h0: rows 0-3's sums of lanes 0-3 (low half) and 4-7 (high half); h1 the same for rows 4-7 */
        const __m256i is = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
        const __m256 dw = _mm256_cvtph_ps(_mm_set_epi64x((long long)d47, (long long)d03));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(y[b].d))), acc);
    }
    _mm256_storeu_ps(s, acc);
}

/* block b of eight rows, regrouped (g, and u = |g|, the rows' scales dw), against every activation row in turn */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void r8_q8_0_acts(float *s, size_t lds, const __m256i g[8],
                                                                                      const __m256i u[8], __m256 dw, const void *vy,
                                                                                      size_t by, int64_t b, int64_t n_act) {
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t c = 0; c < n_act; c++) {
        const pl_block_q8_0 *y = (const pl_block_q8_0 *)((const char *)vy + c * by) + b;
        __m256i is = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            int32_t a4;
            memcpy(&a4, y->qs + 4 * k, 4);
            R8_GROUP(is, g[k], u[k], a4);
        }
        r8_accum(s + c * lds, is, dw, _mm256_setzero_ps(), (const char *)y, false);
    }
}

/* each regrouped block is used from registers by every activation row in turn; the rows' running sums stay in
 * s (L1) */
AVX2_FN static void r8_q8_0_q8_0_avx2(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                              int64_t n_act) {
    if (n_act == 1) { r8_q8_0_one_avx2(n, s, vx, bx, vy); return; }
    for (int64_t c = 0; c < n_act; c++) memset(s + c * lds, 0, 8 * sizeof(float));
    for (int64_t b = 0; b < n / PL_QK; b++) {
        __m256i g[8], u[8];
        const __m256 dw = r8_load(g, vx, bx, b);
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) u[k] = _mm256_sign_epi8(g[k], g[k]);
        r8_q8_0_acts(s, lds, g, u, dw, vy, by, b, n_act);
    }
}


/* The same product from rows packed at load (pl_r8_pack): each block of a group of eight rows is stored as it is
 * regrouped above - the eight rows' f16 scales, then g[0..7] - so the batched step reads it in order with plain
 * loads and no transposes (the regrouping was ~20% of this kernel's time with eight activation rows). The integer
 * sums and the float steps are r8_q8_0_q8_0_avx2's, so the bits are too. */
AVX2_FN static void r8p_q8_0_q8_0_avx2(int64_t n, float *s, size_t lds, const void *xp, const void *vy, size_t by,
                                       int64_t n_act) {
    for (int64_t c = 0; c < n_act; c++) memset(s + c * lds, 0, 8 * sizeof(float));
    for (int64_t b = 0; b < n / PL_QK; b++) {
        const char *p = r8p_block(xp, b);
        __m256i g[8], u[8];
        const __m256 dw = _mm256_cvtph_ps(LOAD128(p));
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            g[k] = LOAD256(p + 16 + 32 * k);
            u[k] = _mm256_sign_epi8(g[k], g[k]);
        }
        r8_q8_0_acts(s, lds, g, u, dw, vy, by, b, n_act);
    }
}
pl_vec_dot_r8p_fn pl_vec_dot_r8p_avx2(pl_dtype t) { return t == PL_Q8_0 ? r8p_q8_0_q8_0_avx2 : NULL; }

/* The same product with 16-bit operands, for two or more activation rows (a batched step). vpsignb, vpmaddubsw
 * and vpmaddwd share the multiply pipes, three instructions per 32 products; widened to 16 bits (the activations
 * once per product: pl_q8_0_widen; the weights once per block for four activation rows) vpmaddwd alone multiplies,
 * two per 32 products. A 32-bit lane of vpmaddwd holds two products of one row, so four bytes of a packed vector
 * widen to two lanes of that row, and one vphaddd per block and activation row folds them (rows in the order
 * 0 1 4 5 2 3 6 7, the scales permuted to match and the sums put back in order at the end). The integer sums are
 * exact and the float steps are r8_accum's, so the bits are the packed kernel's (test_quant_rows). */
#define R8W_ORDER _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7) /* vphaddd's row order; its own inverse */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void r8w_acts(float *s, size_t lds, const char *p, __m256 dw,
                                                                                  const pl_block_q8_0w *y0, const pl_block_q8_0w *y1,
                                                                                  const pl_block_q8_0w *y2, const pl_block_q8_0w *y3,
                                                                                  const int nc) {
    __m256i l0 = _mm256_setzero_si256(), l1 = l0, l2 = l0, l3 = l0, h0 = l0, h1 = l0, h2 = l0, h3 = l0;
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++) {
        const __m256i wl = _mm256_cvtepi8_epi16(LOAD128(p + 16 + 32 * k)); /* rows 0-3, bytes 4k..4k+3 */
        const __m256i wh = _mm256_cvtepi8_epi16(LOAD128(p + 32 + 32 * k)); /* rows 4-7 */
        int64_t a4;
/* one activation row's four values, broadcast, against the eight rows; the empty asm keeps each sum a chain in
 * its register (GCC otherwise keeps every product and adds them after the loop, spilling them all) */
#define R8W_ROW(y, l, h)                                                                                              \
    {                                                                                                                 \
        memcpy(&a4, (y)->qs + 4 * k, 8);                                                                              \
        const __m256i a = _mm256_set1_epi64x(a4);                                                                     \
        l = _mm256_add_epi32(l, _mm256_madd_epi16(wl, a));                                                            \
        h = _mm256_add_epi32(h, _mm256_madd_epi16(wh, a));                                                            \
        __asm__("" : "+x"(l), "+x"(h));                                                                               \
    }
        R8W_ROW(y0, l0, h0)
        if (nc > 1) R8W_ROW(y1, l1, h1)
        if (nc > 2) R8W_ROW(y2, l2, h2)
        if (nc > 3) R8W_ROW(y3, l3, h3)
#undef R8W_ROW
    }
#define R8W_OUT(c, y, l, h)                                                                                           \
    {                                                                                                                 \
        float *o = s + (c) * lds;                                                                                     \
        _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_hadd_epi32(l, h)),                              \
                                            _mm256_mul_ps(dw, _mm256_set1_ps((y)->d)), _mm256_loadu_ps(o)));          \
    }
    R8W_OUT(0, y0, l0, h0)
    if (nc > 1) R8W_OUT(1, y1, l1, h1)
    if (nc > 2) R8W_OUT(2, y2, l2, h2)
    if (nc > 3) R8W_OUT(3, y3, l3, h3)
#undef R8W_OUT
}

AVX2_FN static void r8w_q8_0_avx2(int64_t n, float *s, size_t lds, const void *xp, const void *vyw, size_t byw, int64_t n_act) {
    for (int64_t c = 0; c < n_act; c++) memset(s + c * lds, 0, 8 * sizeof(float));
    for (int64_t b = 0; b < n / PL_QK; b++) {
        const char *p = r8p_block(xp, b);
        const __m256 dw = _mm256_permutevar8x32_ps(_mm256_cvtph_ps(LOAD128(p)), R8W_ORDER);
#define Y(c) ((const pl_block_q8_0w *)((const char *)vyw + (c) * byw) + b)
        int64_t c = 0;
        for (; c + 4 <= n_act; c += 4) r8w_acts(s + c * lds, lds, p, dw, Y(c), Y(c + 1), Y(c + 2), Y(c + 3), 4);
        switch (n_act - c) { /* the rest, one to three rows */
        case 3: r8w_acts(s + c * lds, lds, p, dw, Y(c), Y(c + 1), Y(c + 2), NULL, 3); break;
        case 2: r8w_acts(s + c * lds, lds, p, dw, Y(c), Y(c + 1), NULL, NULL, 2); break;
        case 1: r8w_acts(s + c * lds, lds, p, dw, Y(c), NULL, NULL, NULL, 1); break;
        }
#undef Y
    }
    for (int64_t c = 0; c < n_act; c++) /* sums back in row order */
        _mm256_storeu_ps(s + c * lds, _mm256_permutevar8x32_ps(_mm256_loadu_ps(s + c * lds), R8W_ORDER));
}
pl_vec_dot_r8w_fn pl_vec_dot_r8w_avx2(pl_dtype t) { return t == PL_Q8_0 ? r8w_q8_0_avx2 : NULL; }

/* pl_r8_pack's layout with r8_load's transpose, block by block */
AVX2_FN static void r8_pack_q8_0_avx2(const void *x, size_t bx, int64_t rows, int64_t n, void *dst) {
    const int64_t nb = n / PL_QK;
    for (int64_t gi = 0; gi < rows / PL_DOT_R8; gi++) {
        const char *x0 = (const char *)x + gi * PL_DOT_R8 * bx;
        for (int64_t b = 0; b < nb; b++) {
            char *o = (char *)dst + (gi * nb + b) * PL_R8_Q8_0_BLOCK;
            __m256i v[8], g[8];
            for (int r = 0; r < 8; r++) {
                const pl_block_q8_0 *blk = (const pl_block_q8_0 *)(x0 + r * bx) + b;
                memcpy(o + 2 * r, &blk->d, 2);
                v[r] = LOAD256(blk->qs);
            }
            r8_transpose(g, v);
            for (int k = 0; k < 8; k++) _mm256_storeu_si256((__m256i *)(o + 16 + 32 * k), g[k]);
        }
    }
}

/* eight packed rows back to f32 (the transpose is its own inverse): out[r * ldo + i] = d_r * q, as to_float */
AVX2_FN static void r8_unpack_q8_0_avx2(const void *xp, int64_t n, float *out, size_t ldo) {
    for (int64_t b = 0; b < n / PL_QK; b++) {
        const char *p = (const char *)xp + b * PL_R8_Q8_0_BLOCK;
        float d[8];
        _mm256_storeu_ps(d, _mm256_cvtph_ps(LOAD128(p)));
        __m256i g[8], v[8];
        for (int k = 0; k < 8; k++) g[k] = LOAD256(p + 16 + 32 * k);
        r8_transpose(v, g);
        for (int r = 0; r < 8; r++) {
            const __m256 dr = _mm256_set1_ps(d[r]);
            float *o = out + r * ldo + b * PL_QK;
            for (int q = 0; q < 4; q++) {
                const __m128i x8 = _mm_loadl_epi64((const __m128i *)((const char *)&v[r] + 8 * q));
                _mm256_storeu_ps(o + 8 * q, _mm256_mul_ps(dr, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(x8))));
            }
        }
    }
}

/* q4_K x q8_K, eight rows. Per super-block: the rows' 6-bit scales and mins unpacked as vectors over the rows;
 * then per 64-value chunk the rows' packed nibbles are regrouped (low nibbles: sub-block 2c, high: 2c+1) and
 * each activation row meets them four values at a time. Unsigned nibbles need no sign trick, and eight
 * products of one sub-block fit int16 (8 x 2 x 15 x 127 < 32768), so one multiply-add by the scales widens a
 * whole sub-block. Per row: acc = fma((float)isum, d * d_y, acc); acc = fma(-(float)msum, dmin * d_y, acc). */
#define R8K_COLS 32 /* activation rows per pass (their integer sums live on the stack) */
typedef struct { __m256i sc[8], mn[4]; __m256 d, dmin; } r8_k4_scales;

/* lane r of v: the dword at byte offset off of row r's block */
__attribute__((target("avx2"), always_inline)) static inline __m256i r8_dwords(const char *x0, size_t bx, size_t off) {
    int32_t w[8];
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) memcpy(&w[r], x0 + r * bx + off, 4);
    return _mm256_setr_epi32(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]);
}
/* the low and the high halves of eight 32-bit lanes, as floats from f16 */
__attribute__((target("avx2,f16c"), always_inline)) static inline __m256 r8_f16_lo(__m256i v) {
    const __m256i h = _mm256_packus_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0xFFFF)), _mm256_setzero_si256());
    return _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64(h, 0x08))); /* qwords 0 and 2 */
}

AVX2_FN static void r8_k4_unpack(r8_k4_scales *k, const char *x0, size_t bx) {
    const __m256i dd = r8_dwords(x0, bx, 0), q0 = r8_dwords(x0, bx, 4), q1 = r8_dwords(x0, bx, 8), q2 = r8_dwords(x0, bx, 12);
    const __m256i m6 = _mm256_set1_epi32(63), m4 = _mm256_set1_epi32(15), m2 = _mm256_set1_epi32(3);
    __m256i sc[8], mn[8];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) { /* see quant_get_scale_min_k4 */
        sc[j] = _mm256_and_si256(_mm256_srli_epi32(q0, 8 * j), m6);
        mn[j] = _mm256_and_si256(_mm256_srli_epi32(q1, 8 * j), m6);
        sc[j + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(q2, 8 * j), m4),
                                    _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(q0, 8 * j + 6), m2), 4));
        mn[j + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(q2, 8 * j + 4), m4),
                                    _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(q1, 8 * j + 6), m2), 4));
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) k->sc[j] = _mm256_or_si256(sc[j], _mm256_slli_epi32(sc[j], 16)); /* (s, s) int16 pairs */
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++) k->mn[t] = _mm256_or_si256(mn[2 * t], _mm256_slli_epi32(mn[2 * t + 1], 16));
    k->d = r8_f16_lo(dd);
    k->dmin = r8_f16_lo(_mm256_srli_epi32(dd, 16));
}

AVX2_FN static void r8_q4_K_q8_K_avx2(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                                      int64_t n_act) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t c = 0; c < n_act; c++) memset(s + c * lds, 0, 8 * sizeof(float));
    for (int64_t c0 = 0; c0 < n_act; c0 += R8K_COLS) {
        const int64_t nc = n_act - c0 < R8K_COLS ? n_act - c0 : R8K_COLS;
        for (int64_t b = 0; b < n / PL_QK_K; b++) {
            const char *x0 = (const char *)vx + b * sizeof(pl_block_q4_K);
            r8_prefetch(vx, bx, b, sizeof(pl_block_q4_K));
            r8_k4_scales k;
            r8_k4_unpack(&k, x0, bx);
            __m256i isum[R8K_COLS];
            for (int64_t c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
            for (int ch = 0; ch < 4; ch++) {
                __m256i v[8], g[8], lo[8], hi[8];
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++) v[r] = LOAD256(((const pl_block_q4_K *)(x0 + r * bx))->qs + 32 * ch);
                r8_transpose(g, v);
#pragma GCC unroll 8
                for (int q = 0; q < 8; q++) {
                    lo[q] = _mm256_and_si256(g[q], m4);
                    hi[q] = _mm256_and_si256(_mm256_srli_epi16(g[q], 4), m4);
                }
                for (int64_t c = 0; c < nc; c++) {
                    const int8_t *a = ((const pl_block_q8_K *)((const char *)vy + (c0 + c) * by) + b)->qs + 64 * ch;
                    __m256i plo = _mm256_setzero_si256(), phi = _mm256_setzero_si256();
#pragma GCC unroll 8
                    for (int q = 0; q < 8; q++) {
                        int32_t al, ah;
                        memcpy(&al, a + 4 * q, 4);
                        memcpy(&ah, a + 32 + 4 * q, 4);
                        plo = _mm256_add_epi16(plo, _mm256_maddubs_epi16(lo[q], _mm256_set1_epi32(al)));
                        phi = _mm256_add_epi16(phi, _mm256_maddubs_epi16(hi[q], _mm256_set1_epi32(ah)));
                    }
                    isum[c] = _mm256_add_epi32(isum[c], _mm256_add_epi32(_mm256_madd_epi16(plo, k.sc[2 * ch]),
                                                                         _mm256_madd_epi16(phi, k.sc[2 * ch + 1])));
                }
            }
            for (int64_t c = 0; c < nc; c++) {
                const pl_block_q8_K *y = (const pl_block_q8_K *)((const char *)vy + (c0 + c) * by) + b;
                __m256i msum = _mm256_setzero_si256();
#pragma GCC unroll 4
                for (int t = 0; t < 4; t++) { /* (B_2t, B_2t+1): the activation sums of sub-blocks 2t, 2t+1 */
                    const int16_t b0 = (int16_t)(y->bsums[4 * t] + y->bsums[4 * t + 1]);
                    const int16_t b1 = (int16_t)(y->bsums[4 * t + 2] + y->bsums[4 * t + 3]);
                    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(k.mn[t], _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)b0 | (uint32_t)(uint16_t)b1 << 16))));
                }
                float *o = s + (c0 + c) * lds;
                const __m256 dy = _mm256_set1_ps(y->d);
                __m256 acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(k.d, dy), _mm256_loadu_ps(o));
                _mm256_storeu_ps(o, _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(k.dmin, dy), acc));
            }
        }
    }
}

/* q6_K x q8_K, eight rows. Per half super-block the rows' low-nibble and high-bit bytes are regrouped and the
 * 6-bit codes (0..63, stored +32) rebuilt four positions at a time; two groups' products fit int16
 * (2 x 2 x 63 x 128 < 32768) before the multiply-add by the 16-value sub-blocks' signed scales. The +32 comes off
 * once per super-block: isum - 32 * sum_g sc_g * bsum_g, exact in int32. Per row: acc = fma((float)isum, d * d_y, acc). */
typedef struct { __m256i sc[16], pair[8]; __m256 d; } r8_k6_scales;

AVX2_FN static void r8_k6_unpack(r8_k6_scales *k, const char *x0, size_t bx) {
    const size_t off = offsetof(pl_block_q6_K, scales);
    __m256i w[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) w[i] = r8_dwords(x0, bx, off + 4 * i);
    __m256i sc[16];
#pragma GCC unroll 16
    for (int g = 0; g < 16; g++) { /* signed byte g of the scales, per row */
        sc[g] = _mm256_srai_epi32(_mm256_slli_epi32(w[g / 4], 24 - 8 * (g % 4)), 24);
        k->sc[g] = _mm256_or_si256(_mm256_and_si256(sc[g], _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(sc[g], 16));
    }
#pragma GCC unroll 8
    for (int t = 0; t < 8; t++)
        k->pair[t] = _mm256_or_si256(_mm256_and_si256(sc[2 * t], _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(sc[2 * t + 1], 16));
    /* d sits in the block's last two bytes: read the dword that ends there (scales 14-15 and d), not past it */
    k->d = r8_f16_lo(_mm256_srli_epi32(r8_dwords(x0, bx, offsetof(pl_block_q6_K, d) - 2), 16));
}

AVX2_FN static void r8_q6_K_q8_K_avx2(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                                      int64_t n_act) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x03);
    for (int64_t c = 0; c < n_act; c++) memset(s + c * lds, 0, 8 * sizeof(float));
    for (int64_t c0 = 0; c0 < n_act; c0 += R8K_COLS) {
        const int64_t nc = n_act - c0 < R8K_COLS ? n_act - c0 : R8K_COLS;
        for (int64_t b = 0; b < n / PL_QK_K; b++) {
            const char *x0 = (const char *)vx + b * sizeof(pl_block_q6_K);
            r8_prefetch(vx, bx, b, sizeof(pl_block_q6_K));
            r8_k6_scales k;
            r8_k6_unpack(&k, x0, bx);
            __m256i isum[R8K_COLS];
            for (int64_t c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
            for (int h = 0; h < 2; h++) {
                __m256i v[8], l0[8], l1[8], hb[8], q[4][8]; /* q[t][k]: codes of positions 32t + 4k.. of the half */
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++) v[r] = LOAD256(((const pl_block_q6_K *)(x0 + r * bx))->ql + 64 * h);
                r8_transpose(l0, v);
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++) v[r] = LOAD256(((const pl_block_q6_K *)(x0 + r * bx))->ql + 64 * h + 32);
                r8_transpose(l1, v);
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++) v[r] = LOAD256(((const pl_block_q6_K *)(x0 + r * bx))->qh + 32 * h);
                r8_transpose(hb, v);
#pragma GCC unroll 8
                for (int g = 0; g < 8; g++) {
                    q[0][g] = _mm256_or_si256(_mm256_and_si256(l0[g], m4), _mm256_slli_epi16(_mm256_and_si256(hb[g], m3), 4));
                    q[1][g] = _mm256_or_si256(_mm256_and_si256(l1[g], m4),
                                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb[g], 2), m3), 4));
                    q[2][g] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0[g], 4), m4),
                                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb[g], 4), m3), 4));
                    q[3][g] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1[g], 4), m4),
                                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb[g], 6), m3), 4));
                }
                for (int64_t c = 0; c < nc; c++) {
                    const int8_t *a = ((const pl_block_q8_K *)((const char *)vy + (c0 + c) * by) + b)->qs + 128 * h;
                    __m256i acc = isum[c];
#pragma GCC unroll 4
                    for (int t = 0; t < 4; t++)
#pragma GCC unroll 4
                        for (int g = 0; g < 8; g += 2) { /* two groups in int16, then the sub-block's scale */
                            int32_t a0, a1;
                            memcpy(&a0, a + 32 * t + 4 * g, 4);
                            memcpy(&a1, a + 32 * t + 4 * g + 4, 4);
                            const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(q[t][g], _mm256_set1_epi32(a0)),
                                                               _mm256_maddubs_epi16(q[t][g + 1], _mm256_set1_epi32(a1)));
                            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, k.sc[8 * h + 2 * t + g / 4]));
                        }
                    isum[c] = acc;
                }
            }
            for (int64_t c = 0; c < nc; c++) {
                const pl_block_q8_K *y = (const pl_block_q8_K *)((const char *)vy + (c0 + c) * by) + b;
                __m256i corr = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int t = 0; t < 8; t++) {
                    int32_t bb;
                    memcpy(&bb, &y->bsums[2 * t], 4); /* (bsum_2t, bsum_2t+1) */
                    corr = _mm256_add_epi32(corr, _mm256_madd_epi16(k.pair[t], _mm256_set1_epi32(bb)));
                }
                const __m256i is = _mm256_sub_epi32(isum[c], _mm256_slli_epi32(corr, 5));
                float *o = s + (c0 + c) * lds;
                _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_mul_ps(k.d, _mm256_set1_ps(y->d)), _mm256_loadu_ps(o)));
            }
        }
    }
}

/* The 16 nibble bytes of the _0/_1 blocks (at p in row 0, rows bx apart), regrouped: g[k] lane r = bytes
 * 4k..4k+3 of row r, whose low nibbles are values 4k..4k+3 and high nibbles values 16+4k.. (rows r and r + 4
 * share a vector, then a 4 x 4 transpose of 32-bit groups per 128-bit lane) */
__attribute__((target("avx2"), always_inline)) static inline void r8_nibble_bytes(__m256i g[4], const char *p, size_t bx) {
    __m256i v[4], t[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) v[r] = _mm256_inserti128_si256(_mm256_castsi128_si256(LOAD128(p + r * bx)), LOAD128(p + (r + 4) * bx), 1);
    t[0] = _mm256_unpacklo_epi32(v[0], v[1]), t[1] = _mm256_unpackhi_epi32(v[0], v[1]);
    t[2] = _mm256_unpacklo_epi32(v[2], v[3]), t[3] = _mm256_unpackhi_epi32(v[2], v[3]);
    g[0] = _mm256_unpacklo_epi64(t[0], t[2]), g[1] = _mm256_unpackhi_epi64(t[0], t[2]);
    g[2] = _mm256_unpacklo_epi64(t[1], t[3]), g[3] = _mm256_unpackhi_epi64(t[1], t[3]);
}
/* the eight nibble groups of a block, values 4k..4k+3 in q[k] (0..15) */
__attribute__((target("avx2"), always_inline)) static inline void r8_nibbles(__m256i q[8], const char *p, size_t bx) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i g[4];
    r8_nibble_bytes(g, p, bx);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) q[k] = _mm256_and_si256(g[k], m4), q[k + 4] = _mm256_and_si256(_mm256_srli_epi16(g[k], 4), m4);
}

/* q4_0 x q8_0 and q4_1 x q8_1, eight rows: nibbles regrouped; q4_0's codes made signed (q - 8) for the sign trick,
 * q4_1's used unsigned (the offset m is the rows' own: + m * s_y, s_y = d_y * sum of the activation block).
 * Eight groups' products fit int16. Per row: acc = fma((float)isum, d_w * d_y, acc) [q4_1: then fma(m, s_y, acc)]. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void r8_q4_x(int64_t n, float *s, size_t lds, const void *vx,
        size_t bx, const void *vy, size_t by, int64_t n_act, const bool one) {
    const size_t xb = one ? sizeof(pl_block_q4_1) : sizeof(pl_block_q4_0), yb = one ? sizeof(pl_block_q8_1) : sizeof(pl_block_q8_0);
    const __m256i ones = _mm256_set1_epi16(1), eight = _mm256_set1_epi8(8);
    for (int64_t c = 0; c < n_act; c++) memset(s + c * lds, 0, 8 * sizeof(float));
    for (int64_t b = 0; b < n / PL_QK; b++) {
        const char *x0 = (const char *)vx + b * xb;
        r8_prefetch(vx, bx, b, xb);
        __m256i q[8], u[8];
        r8_nibbles(q, x0 + (one ? offsetof(pl_block_q4_1, qs) : offsetof(pl_block_q4_0, qs)), bx);
        if (!one)
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) q[k] = _mm256_sub_epi8(q[k], eight), u[k] = _mm256_sign_epi8(q[k], q[k]);
        const __m256i dm = r8_dwords(x0, bx, 0); /* q4_1: d | m << 16; q4_0: d and the first qs bytes */
        const __m256 dw = r8_f16_lo(dm), mw = one ? r8_f16_lo(_mm256_srli_epi32(dm, 16)) : _mm256_setzero_ps();
        for (int64_t c = 0; c < n_act; c++) {
            const char *y = (const char *)vy + c * by + b * yb;
            const int8_t *ya = (const int8_t *)(y + (one ? offsetof(pl_block_q8_1, qs) : offsetof(pl_block_q8_0, qs)));
            __m256i p = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                int32_t a4;
                memcpy(&a4, ya + 4 * k, 4);
                const __m256i a = _mm256_set1_epi32(a4);
                p = _mm256_add_epi16(p, one ? _mm256_maddubs_epi16(q[k], a) : _mm256_maddubs_epi16(u[k], _mm256_sign_epi8(a, q[k])));
            }
            r8_accum(s + c * lds, _mm256_madd_epi16(p, ones), dw, mw, y, one);
        }
    }
}
AVX2_FN static void r8_q4_0_q8_0_avx2(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                                      int64_t n_act) {
    r8_q4_x(n, s, lds, vx, bx, vy, by, n_act, false);
}
AVX2_FN static void r8_q4_1_q8_1_avx2(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                                      int64_t n_act) {
    r8_q4_x(n, s, lds, vx, bx, vy, by, n_act, true);
}

/* q5_0 x q8_0 and q5_1 x q8_1, eight rows. The rows' 16 nibble bytes are regrouped (r8_nibble_bytes) and the
 * fifth bits spread to bytes per group by a shuffle and a compare. q5_0's codes are made signed at once
 * (nibble | (bit ? 0 : 0xF0) is q - 16), so the sign trick of q8_0 follows and eight groups' products fit int16
 * (8 x 2 x 16 x 127 < 32768); q5_1's stay unsigned (0..31, + m * s_y per row) and fit four groups at a time.
 * Per row: acc = fma((float)isum, d_w * d_y, acc) [q5_1: then fma(m, s_y, acc)]. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void r8_q5_x(int64_t n, float *s, size_t lds, const void *vx,
        size_t bx, const void *vy, size_t by, int64_t n_act, const bool one) {
    const size_t xb = one ? sizeof(pl_block_q5_1) : sizeof(pl_block_q5_0), yb = one ? sizeof(pl_block_q8_1) : sizeof(pl_block_q8_0);
    const __m256i m4 = _mm256_set1_epi8(0x0F), hi4 = _mm256_set1_epi8((char)0xF0), b5 = _mm256_set1_epi8(0x10);
    const __m256i ones = _mm256_set1_epi16(1);
    /* per byte of a dword: which bit of its qh byte is that value's fifth bit (the low or the high half) */
    const __m256i bits_lo = _mm256_set1_epi32(0x08040201), bits_hi = _mm256_set1_epi32((int)0x80402010);
    for (int64_t c = 0; c < n_act; c++) memset(s + c * lds, 0, 8 * sizeof(float));
    for (int64_t b = 0; b < n / PL_QK; b++) {
        const char *x0 = (const char *)vx + b * xb;
        r8_prefetch(vx, bx, b, xb);
        __m256i g[4], q[8], u[8];
        /* g[k] lane r: qs bytes 4k..4k+3 of row r (low nibbles: values 4k.., high: 16 + 4k..) */
        r8_nibble_bytes(g, x0 + (one ? offsetof(pl_block_q5_1, qs) : offsetof(pl_block_q5_0, qs)), bx);
        const __m256i qh = r8_dwords(x0, bx, one ? offsetof(pl_block_q5_1, qh) : offsetof(pl_block_q5_0, qh));
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) { /* values 4k..4k+3: fifth bits are bits 4k.. of qh, in its byte k / 2 */
            const __m256i nib = k < 4 ? _mm256_and_si256(g[k], m4) : _mm256_and_si256(_mm256_srli_epi16(g[k - 4], 4), m4);
            const int byte = k / 2;
            const __m256i rep = _mm256_shuffle_epi8(qh, _mm256_setr_epi8(byte, byte, byte, byte, 4 + byte, 4 + byte, 4 + byte, 4 + byte,
                8 + byte, 8 + byte, 8 + byte, 8 + byte, 12 + byte, 12 + byte, 12 + byte, 12 + byte, byte, byte, byte, byte,
                4 + byte, 4 + byte, 4 + byte, 4 + byte, 8 + byte, 8 + byte, 8 + byte, 8 + byte, 12 + byte, 12 + byte, 12 + byte, 12 + byte));
            const __m256i bm = k % 2 ? bits_hi : bits_lo;
            const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(rep, bm), bm);
            if (one) q[k] = _mm256_or_si256(nib, _mm256_and_si256(set, b5));
            else q[k] = _mm256_or_si256(nib, _mm256_andnot_si256(set, hi4)), u[k] = _mm256_sign_epi8(q[k], q[k]);
        }
        const __m256i dm = r8_dwords(x0, bx, 0); /* q5_1: d | m << 16; q5_0: d and the first qh bytes */
        const __m256 dw = r8_f16_lo(dm), mw = one ? r8_f16_lo(_mm256_srli_epi32(dm, 16)) : _mm256_setzero_ps();
        for (int64_t c = 0; c < n_act; c++) {
            const char *y = (const char *)vy + c * by + b * yb;
            const int8_t *ya = (const int8_t *)(y + (one ? offsetof(pl_block_q8_1, qs) : offsetof(pl_block_q8_0, qs)));
            __m256i p[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                int32_t a4;
                memcpy(&a4, ya + 4 * k, 4);
                const __m256i a = _mm256_set1_epi32(a4);
                p[one && k >= 4] = _mm256_add_epi16(p[one && k >= 4], one ? _mm256_maddubs_epi16(q[k], a)
                                                                         : _mm256_maddubs_epi16(u[k], _mm256_sign_epi8(a, q[k])));
            }
            const __m256i is = one ? _mm256_add_epi32(_mm256_madd_epi16(p[0], ones), _mm256_madd_epi16(p[1], ones))
                                   : _mm256_madd_epi16(p[0], ones);
            r8_accum(s + c * lds, is, dw, mw, y, one);
        }
    }
}
AVX2_FN static void r8_q5_0_q8_0_avx2(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                                      int64_t n_act) {
    r8_q5_x(n, s, lds, vx, bx, vy, by, n_act, false);
}
AVX2_FN static void r8_q5_1_q8_1_avx2(int64_t n, float *s, size_t lds, const void *vx, size_t bx, const void *vy, size_t by,
                                      int64_t n_act) {
    r8_q5_x(n, s, lds, vx, bx, vy, by, n_act, true);
}

pl_vec_dot_r8_fn pl_vec_dot_r8_avx2(pl_dtype t) {
    switch (t) {
    case PL_Q8_0: return r8_q8_0_q8_0_avx2;
    case PL_Q4_K: return r8_q4_K_q8_K_avx2;
    case PL_Q6_K: return r8_q6_K_q8_K_avx2;
    case PL_Q5_0: return r8_q5_0_q8_0_avx2;
    case PL_Q4_0: return r8_q4_0_q8_0_avx2;
    case PL_Q4_1: return r8_q4_1_q8_1_avx2;
    case PL_Q5_1: return r8_q5_1_q8_1_avx2;
    default: return NULL;
    }
}
#undef R8_GROUP

/* AVX2 activation quantizers for q8_0 / q8_1, bytes equal to the reference's: the same max, d = amax / 127,
 * one multiply by 1/d, and roundf's rounding (half away from zero) */
AVX2_FN static inline __m256i round_away256(__m256 v) {
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
    const __m256 absd = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
    const __m256 up = _mm256_cmp_ps(absd, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 step = _mm256_and_ps(up, _mm256_or_ps(_mm256_set1_ps(1.0f), sign));
    return _mm256_cvttps_epi32(_mm256_add_ps(t, step));
}
/* 32 values to int8 codes with d = max|x| / 127; returns d and the codes' sum */
AVX2_FN static int q8_block32_avx2(const float *x, int8_t *qs, float *d_out) {
    const __m256 abs = _mm256_set1_ps(-0.0f);
    __m256 v[4], mx = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) { v[k] = _mm256_loadu_ps(x + 8 * k); mx = _mm256_max_ps(mx, _mm256_andnot_ps(abs, v[k])); }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float d = _mm_cvtss_f32(m) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    __m256i q[4];
    for (int k = 0; k < 4; k++) q[k] = round_away256(_mm256_mul_ps(v[k], _mm256_set1_ps(id)));
    /* int32 -> int8 (|q| <= 127, no saturation), then undo the packs' lane interleave */
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256((__m256i *)qs, _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    *d_out = d;
    return _mm_cvtsi128_si32(s4);
}
QUANTIZE_Q8_ROWS(avx2, AVX2_FN, q8_block32_avx2)
pl_from_float_fn pl_quantize_act_avx2(pl_dtype t) {
    return t == PL_Q8_0 ? quantize_q8_0_avx2 : t == PL_Q8_1 ? quantize_q8_1_avx2 : NULL;
}
#else
pl_vec_dot_rows_fn pl_vec_dot_rows_avx2(pl_dtype t) { (void)t; return NULL; }
pl_vec_dot_tile_fn pl_vec_dot_tile_avx2(pl_dtype t) { (void)t; return NULL; }
pl_from_float_fn pl_quantize_act_avx2(pl_dtype t) { (void)t; return NULL; }
pl_vec_dot_r8_fn pl_vec_dot_r8_avx2(pl_dtype t) { (void)t; return NULL; }
pl_vec_dot_r8p_fn pl_vec_dot_r8p_avx2(pl_dtype t) { (void)t; return NULL; }
pl_vec_dot_r8w_fn pl_vec_dot_r8w_avx2(pl_dtype t) { (void)t; return NULL; }
#endif

/* AVX-512 with VNNI: the four-row kernels and the VNNI packed kernel serve, the AVX2 multi-row ones do not */
static bool vnni(void) { return pl_cpu_isa() >= PL_ISA_AVX512 && pl_cpu()->avx512vnni; }

/* AVX2 without VNNI: the eight-row kernels (pl_vec_dot_r8) take full groups of eight rows for any number of
 * activation rows; the 4 x 2 tile and the four-row kernel serve the rows left over */
pl_vec_dot_tile_fn pl_vec_dot_tile(pl_dtype t) {
    if (vnni()) return NULL; /* the VNNI four-row kernels */
    return pl_cpu_isa() >= PL_ISA_AVX2 ? pl_vec_dot_tile_avx2(t) : NULL;
}

pl_vec_dot_r8_fn pl_vec_dot_r8(pl_dtype t) {
    if (vnni()) return NULL; /* the VNNI four-row kernels */
    return pl_cpu_isa() >= PL_ISA_AVX2 ? pl_vec_dot_r8_avx2(t) : NULL;
}

/* packed rows: VNNI's kernel where the CPU has it (its own bits: not the four-row kernel's), else AVX2's */
pl_vec_dot_r8p_fn pl_vec_dot_r8p(pl_dtype t) {
    if (vnni()) return pl_vec_dot_r8p_avx512(t);
    return pl_cpu_isa() >= PL_ISA_AVX2 ? pl_vec_dot_r8p_avx2(t) : NULL;
}
pl_vec_dot_r8w_fn pl_vec_dot_r8w(pl_dtype t) {
    if (vnni()) return NULL; /* VNNI multiplies signed bytes in one step */
    return pl_vec_dot_r8p(t) ? pl_vec_dot_r8w_avx2(t) : NULL;
}

void pl_q8_0_widen(const void *y, void *yw, int64_t n) {
    const pl_block_q8_0 *x = y;
    pl_block_q8_0w *o = yw;
    for (int64_t b = 0; b < n / PL_QK; b++) {
        o[b].d = pl_fp16_to_fp32(x[b].d);
        for (int i = 0; i < PL_QK; i++) o[b].qs[i] = x[b].qs[i];
    }
}

/* ---- rows packed for the eight-row kernels ----------------------------------------------------------------- */
size_t pl_r8_packed_size(pl_dtype t, int64_t rows, int64_t n) {
    if (t != PL_Q8_0 || n % PL_QK || rows < PL_DOT_R8) return 0;
    return (size_t)(rows / PL_DOT_R8) * (size_t)(n / PL_QK) * PL_R8_Q8_0_BLOCK;
}

/* group gi, block b: the eight rows' scales (f16), then for k = 0..7 the 32 bytes g[k] whose 4-byte lane r holds
 * bytes 4k..4k+3 of row r's block (r8_transpose's output); the scalar form is the reference of the AVX2 one */
void pl_r8_pack_scalar(pl_dtype t, const void *x, size_t bx, int64_t rows, int64_t n, void *dst) {
    if (!pl_r8_packed_size(t, rows, n)) return;
    const int64_t nb = n / PL_QK;
    for (int64_t gi = 0; gi < rows / PL_DOT_R8; gi++)
        for (int64_t b = 0; b < nb; b++) {
            char *o = (char *)dst + (gi * nb + b) * PL_R8_Q8_0_BLOCK;
            for (int r = 0; r < PL_DOT_R8; r++) {
                const pl_block_q8_0 *blk = (const pl_block_q8_0 *)((const char *)x + (gi * PL_DOT_R8 + r) * bx) + b;
                memcpy(o + 2 * r, &blk->d, 2);
                for (int k = 0; k < 8; k++) memcpy(o + 16 + 32 * k + 4 * r, blk->qs + 4 * k, 4);
            }
        }
}

void pl_r8_pack(pl_dtype t, const void *x, size_t bx, int64_t rows, int64_t n, void *dst) {
#if defined(__x86_64__) || defined(__i386__)
    if (pl_r8_packed_size(t, rows, n) && pl_cpu_isa() >= PL_ISA_AVX2) { r8_pack_q8_0_avx2(x, bx, rows, n, dst); return; }
#endif
    pl_r8_pack_scalar(t, x, bx, rows, n, dst);
}

void pl_r8_unpack(pl_dtype t, const void *xp, int64_t n, float *out, size_t ldo) {
#if defined(__x86_64__) || defined(__i386__)
    if (t == PL_Q8_0 && pl_cpu_isa() >= PL_ISA_AVX2) { r8_unpack_q8_0_avx2(xp, n, out, ldo); return; }
#endif
    for (int64_t b = 0; t == PL_Q8_0 && b < n / PL_QK; b++) {
        const char *p = (const char *)xp + b * PL_R8_Q8_0_BLOCK;
        for (int r = 0; r < PL_DOT_R8; r++) {
            pl_fp16 h;
            memcpy(&h, p + 2 * r, 2);
            const float d = pl_fp16_to_fp32(h);
            for (int i = 0; i < PL_QK; i++) out[r * ldo + b * PL_QK + i] = d * (float)(int8_t)p[16 + 32 * (i / 4) + 4 * r + i % 4];
        }
    }
}

pl_vec_dot_rows_fn pl_vec_dot_rows(pl_dtype t, int64_t n_act) {
    if (vnni()) return pl_vec_dot_rows_avx512(t);
    if (pl_cpu_isa() >= PL_ISA_AVX2 && n_act > 1) return pl_vec_dot_rows_avx2(t);
    return NULL;
}
