/* q8_0 weights against any number of q8_0 activation rows (decoding one sequence or many at once): eight
 * weight rows ride in the eight lanes of a vector. Eight blocks of the eight rows at a time are regrouped into
 * an L1 scratch so that one 32-byte load holds four codes of every row; each activation's four codes are
 * broadcast against it, and the exact integer block sums meet the scales with one FMA a block.
 * A (row, activation) result is sum over blocks b, in order, of fma((float)isum_b, dw_b * dy_b): integer
 * sums are exact and the float steps are the same in every variant, so the bits do not depend on the
 * instruction set, on the other rows of the batch or on how many there are: batching changes nothing. */
#include "backend/cpu/quant_rows.h"
#include "core/cpu.h"
#include "quant/quant_kernels.h"

#include <math.h>
#include <string.h>

/* ---- scalar reference ------------------------------------------------------------------------------- */
void pl_dot8_q8_0_scalar(int64_t n, float *s, const void *vx, size_t bx, int rows, const void *vy, size_t by, int n_act) {
    for (int c = 0; c < n_act; c++)
        for (int r = 0; r < rows; r++) {
            const pl_block_q8_0 *x = (const void *)((const char *)vx + r * bx), *y = (const void *)((const char *)vy + c * by);
            float acc = 0;
            for (int64_t b = 0; b < n / PL_QK; b++) {
                int32_t isum = 0;
                for (int j = 0; j < PL_QK; j++) isum += x[b].qs[j] * y[b].qs[j];
                const float scale = quant_fp16(x[b].d) * quant_fp16(y[b].d);
                acc = fmaf((float)isum, scale, acc);
            }
            s[c * PL_DOT8_ROWS + r] = acc;
        }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2_FN __attribute__((target("avx2,fma,f16c")))
#define AVX2_INL __attribute__((target("avx2,fma,f16c"), always_inline)) static inline
#define CHUNK 8 /* blocks regrouped at a time: 8 x 8 x 32 codes, 2 KiB of codes and 2 KiB of their magnitudes */

/* The eight rows' blocks b0 .. b0+nb regrouped: w[b][k] holds codes 4k..4k+3 of rows 0..7 (row r in lane r),
 * u[b][k] their magnitudes (maddubs' unsigned operand), d[b] the eight scales as floats. */
typedef struct {
    __m256i w[CHUNK][8];
    __m256 d[CHUNK];
} regrouped;

/* eight rows' 32-byte code blocks -> eight vectors of one 4-byte group of every row (an 8 x 8 dword transpose) */
AVX2_INL void regroup_block(const pl_block_q8_0 *const x[8], int64_t b, __m256i *w) {
    __m256i v[8], t[8], q[8];
    for (int r = 0; r < 8; r++) v[r] = _mm256_loadu_si256((const __m256i *)x[r][b].qs);
    for (int p = 0; p < 4; p++) { /* rows 2p, 2p+1 interleaved: groups 0,1 | 4,5 (lo) and 2,3 | 6,7 (hi) */
        t[2 * p] = _mm256_unpacklo_epi32(v[2 * p], v[2 * p + 1]);
        t[2 * p + 1] = _mm256_unpackhi_epi32(v[2 * p], v[2 * p + 1]);
    }
    for (int h = 0; h < 2; h++) /* rows 0-3 (h = 0) and 4-7: q[4h + j] holds groups j | j + 4 */
        for (int j = 0; j < 2; j++) {
            q[4 * h + 2 * j] = _mm256_unpacklo_epi64(t[4 * h + j], t[4 * h + 2 + j]);
            q[4 * h + 2 * j + 1] = _mm256_unpackhi_epi64(t[4 * h + j], t[4 * h + 2 + j]);
        }
    for (int k = 0; k < 4; k++) {
        w[k] = _mm256_permute2x128_si256(q[k], q[4 + k], 0x20);
        w[k + 4] = _mm256_permute2x128_si256(q[k], q[4 + k], 0x31);
    }
}

AVX2_INL __m256 scales8(const pl_block_q8_0 *const x[8], int64_t b) {
    __m128i h = _mm_setzero_si128();
    h = _mm_insert_epi16(h, x[0][b].d, 0); h = _mm_insert_epi16(h, x[1][b].d, 1);
    h = _mm_insert_epi16(h, x[2][b].d, 2); h = _mm_insert_epi16(h, x[3][b].d, 3);
    h = _mm_insert_epi16(h, x[4][b].d, 4); h = _mm_insert_epi16(h, x[5][b].d, 5);
    h = _mm_insert_epi16(h, x[6][b].d, 6); h = _mm_insert_epi16(h, x[7][b].d, 7);
    return _mm256_cvtph_ps(h);
}
AVX2_INL void regroup(regrouped *g, const pl_block_q8_0 *const x[8], int64_t b0, int nb) {
    for (int b = 0; b < nb; b++) {
        regroup_block(x, b0 + b, g->w[b]);
        g->d[b] = scales8(x, b0 + b);
    }
}

/* NA activations against the regrouped blocks: acc[c] (eight rows) += each block's exact sum times its scales.
 * The activation's 16-byte halves are broadcast to both 128-bit lanes; an in-lane shuffle picks each group. */
#define UNROLL _Pragma("GCC unroll 8")
#define GROUP_STEP(NA, k, sh, half)                                                                               \
    do {                                                                                                          \
        const __m256i w_ = g->w[b][k], u_ = _mm256_sign_epi8(w_, w_);                                             \
        UNROLL for (int c = 0; c < NA; c++)                                                                       \
            isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(_mm256_maddubs_epi16(u_,                        \
                          _mm256_sign_epi8(_mm256_shuffle_epi32(half[c], sh), w_)), ones));                       \
    } while (0)
#define DEFINE_ACTS(NA)                                                                                           \
    AVX2_INL void acts_##NA(const regrouped *g, int nb, const pl_block_q8_0 *const y[NA], int64_t b0, float *s) { \
        const __m256i ones = _mm256_set1_epi16(1);                                                                \
        __m256 acc[NA];                                                                                           \
        UNROLL for (int c = 0; c < NA; c++) acc[c] = _mm256_loadu_ps(s + c * PL_DOT8_ROWS);                              \
        for (int b = 0; b < nb; b++) {                                                                            \
            __m256i isum[NA], lo[NA], hi[NA];                                                                     \
            UNROLL for (int c = 0; c < NA; c++) {                                                                 \
                isum[c] = _mm256_setzero_si256();                                                                 \
                lo[c] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)y[c][b0 + b].qs));           \
                hi[c] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(y[c][b0 + b].qs + 16)));    \
            }                                                                                                     \
            GROUP_STEP(NA, 0, 0x00, lo); GROUP_STEP(NA, 1, 0x55, lo);                                             \
            GROUP_STEP(NA, 2, 0xAA, lo); GROUP_STEP(NA, 3, 0xFF, lo);                                             \
            GROUP_STEP(NA, 4, 0x00, hi); GROUP_STEP(NA, 5, 0x55, hi);                                             \
            GROUP_STEP(NA, 6, 0xAA, hi); GROUP_STEP(NA, 7, 0xFF, hi);                                             \
            UNROLL for (int c = 0; c < NA; c++) {                                                                 \
                const __m256 scale = _mm256_mul_ps(g->d[b], _mm256_set1_ps(_cvtsh_ss(y[c][b0 + b].d)));          \
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), scale, acc[c]);                             \
            }                                                                                                     \
        }                                                                                                         \
        UNROLL for (int c = 0; c < NA; c++) _mm256_storeu_ps(s + c * PL_DOT8_ROWS, acc[c]);                             \
    }
DEFINE_ACTS(4)
#undef DEFINE_ACTS
#undef GROUP_STEP

/* One activation against the eight rows as they lie: each row's block dot in a vector of eight partial sums,
 * the eight vectors reduced to one (row r's exact sum in lane r) by a tree of horizontal adds. No regrouping:
 * what one to three activations want, the regrouping costing more than it saves there. */
AVX2_INL __m256i reduce8(const __m256i p[8]) {
    const __m256i t0 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    const __m256i t1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(t0, t1, 0x20), _mm256_permute2x128_si256(t0, t1, 0x31));
}
AVX2_INL void act_1(const pl_block_q8_0 *const x[8], int64_t nblk, const pl_block_q8_0 *y, float *s, size_t PF_AHEAD) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nblk; b++) {
        for (int r = 0; r < 8; r++) _mm_prefetch((const char *)&x[r][b] + PF_AHEAD, _MM_HINT_T0);
        const __m256i q = _mm256_loadu_si256((const __m256i *)y[b].qs);
        __m256i p[8];
        UNROLL for (int r = 0; r < 8; r++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)x[r][b].qs);
            p[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(q, w)), ones);
        }
        const __m256 scale = _mm256_mul_ps(scales8(x, b), _mm256_set1_ps(_cvtsh_ss(y[b].d)));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8(p)), scale, acc);
    }
    _mm256_storeu_ps(s, acc);
}

AVX2_FN static void dot8_q8_0_avx2(int64_t n, float *s, const void *vx, size_t bx, const void *vy, size_t by, int n_act) {
    /* Software prefetch of the same blocks of the next eight rows, which the next call reads: eight row streams
     * are more than the hardware prefetcher follows well, and a whole group ahead covers memory's latency.
     * (Past the tensor's end it is harmless: prefetches never fault.) */
    const size_t PF_AHEAD = 8 * bx;
    const pl_block_q8_0 *x[8];
    for (int r = 0; r < 8; r++) x[r] = (const void *)((const char *)vx + r * bx);
    const int64_t nblk = n / PL_QK;
    const int n4 = n_act / 4 * 4; /* activations in fours: against regrouped blocks; the rest one by one */
    if (n4) memset(s, 0, (size_t)n4 * PL_DOT8_ROWS * sizeof *s);
    regrouped g;
    for (int64_t b0 = 0; n4 && b0 < nblk; b0 += CHUNK) {
        const int nb = (int)(nblk - b0 < CHUNK ? nblk - b0 : CHUNK);
        for (int r = 0; r < 8; r++)
            for (size_t o = 0; o < (size_t)nb * sizeof(pl_block_q8_0); o += 64) _mm_prefetch((const char *)&x[r][b0] + PF_AHEAD + o, _MM_HINT_T0);
        regroup(&g, x, b0, nb);
        for (int c = 0; c < n4; c += 4) {
            const pl_block_q8_0 *y[4];
            for (int i = 0; i < 4; i++) y[i] = (const void *)((const char *)vy + (c + i) * by);
            acts_4(&g, nb, y, b0, s + c * PL_DOT8_ROWS);
        }
    }
    for (int c = n4; c < n_act; c++) act_1(x, nblk, (const void *)((const char *)vy + c * by), s + c * PL_DOT8_ROWS, c == n4 ? PF_AHEAD : 0);
}

pl_dot8_fn pl_dot8_q8_0_avx2(void) { return dot8_q8_0_avx2; }
#else
pl_dot8_fn pl_dot8_q8_0_avx2(void) { return NULL; }
#endif

/* the variant for this CPU (eight rows at a time); NULL: use pl_dot8_q8_0_scalar */
pl_dot8_fn pl_dot8_q8_0(void) { return pl_cpu_isa() >= PL_ISA_AVX2 ? pl_dot8_q8_0_avx2() : NULL; }
