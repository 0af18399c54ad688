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
    __m256i w[CHUNK][8], u[CHUNK][8];
    __m256 d[CHUNK];
} regrouped;

/* eight rows' 32-byte code blocks -> eight vectors of one 4-byte group of every row (an 8 x 8 dword transpose) */
AVX2_INL void regroup_block(const pl_block_q8_0 *const x[8], int64_t b, __m256i *w, __m256i *u) {
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
    for (int k = 0; k < 8; k++) u[k] = _mm256_sign_epi8(w[k], w[k]);
}

AVX2_INL void regroup(regrouped *g, const pl_block_q8_0 *const x[8], int64_t b0, int nb) {
    for (int b = 0; b < nb; b++) {
        regroup_block(x, b0 + b, g->w[b], g->u[b]);
        __m128i h = _mm_setzero_si128();
        h = _mm_insert_epi16(h, x[0][b0 + b].d, 0); h = _mm_insert_epi16(h, x[1][b0 + b].d, 1);
        h = _mm_insert_epi16(h, x[2][b0 + b].d, 2); h = _mm_insert_epi16(h, x[3][b0 + b].d, 3);
        h = _mm_insert_epi16(h, x[4][b0 + b].d, 4); h = _mm_insert_epi16(h, x[5][b0 + b].d, 5);
        h = _mm_insert_epi16(h, x[6][b0 + b].d, 6); h = _mm_insert_epi16(h, x[7][b0 + b].d, 7);
        g->d[b] = _mm256_cvtph_ps(h);
    }
}

/* NA activations against the regrouped blocks: acc[c] (eight rows) += each block's exact sum times its scales.
 * The activation's 16-byte halves are broadcast to both 128-bit lanes; an in-lane shuffle picks each group. */
#define GROUP_STEP(NA, k, sh, half)                                                                                   \
    for (int c = 0; c < NA; c++)                                                                                 \
        isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(_mm256_maddubs_epi16(g->u[b][k],                    \
                      _mm256_sign_epi8(_mm256_shuffle_epi32(half[c], sh), g->w[b][k])), ones))
#define DEFINE_ACTS(NA)                                                                                           \
    AVX2_INL void acts_##NA(const regrouped *g, int nb, const pl_block_q8_0 *const y[NA], int64_t b0, float *s) { \
        const __m256i ones = _mm256_set1_epi16(1);                                                                \
        __m256 acc[NA];                                                                                           \
        for (int c = 0; c < NA; c++) acc[c] = _mm256_loadu_ps(s + c * PL_DOT8_ROWS);                              \
        for (int b = 0; b < nb; b++) {                                                                            \
            __m256i isum[NA], lo[NA], hi[NA];                                                                     \
            for (int c = 0; c < NA; c++) {                                                                        \
                isum[c] = _mm256_setzero_si256();                                                                 \
                lo[c] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)y[c][b0 + b].qs));           \
                hi[c] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(y[c][b0 + b].qs + 16)));    \
            }                                                                                                     \
            GROUP_STEP(NA, 0, 0x00, lo); GROUP_STEP(NA, 1, 0x55, lo);                                             \
            GROUP_STEP(NA, 2, 0xAA, lo); GROUP_STEP(NA, 3, 0xFF, lo);                                             \
            GROUP_STEP(NA, 4, 0x00, hi); GROUP_STEP(NA, 5, 0x55, hi);                                             \
            GROUP_STEP(NA, 6, 0xAA, hi); GROUP_STEP(NA, 7, 0xFF, hi);                                             \
            for (int c = 0; c < NA; c++) {                                                                        \
                const __m256 scale = _mm256_mul_ps(g->d[b], _mm256_set1_ps(_cvtsh_ss(y[c][b0 + b].d)));          \
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), scale, acc[c]);                             \
            }                                                                                                     \
        }                                                                                                         \
        for (int c = 0; c < NA; c++) _mm256_storeu_ps(s + c * PL_DOT8_ROWS, acc[c]);                             \
    }
DEFINE_ACTS(4)
DEFINE_ACTS(2)
DEFINE_ACTS(1)
#undef DEFINE_ACTS
#undef GROUP_STEP

AVX2_FN static void dot8_q8_0_avx2(int64_t n, float *s, const void *vx, size_t bx, const void *vy, size_t by, int n_act) {
    const pl_block_q8_0 *x[8];
    for (int r = 0; r < 8; r++) x[r] = (const void *)((const char *)vx + r * bx);
    const int64_t nblk = n / PL_QK;
    memset(s, 0, (size_t)n_act * PL_DOT8_ROWS * sizeof *s);
    regrouped g;
    for (int64_t b0 = 0; b0 < nblk; b0 += CHUNK) {
        const int nb = (int)(nblk - b0 < CHUNK ? nblk - b0 : CHUNK);
        /* the next chunk of every row is on its way while this one is used (eight streams are more than the
         * hardware prefetcher follows well) */
        for (int r = 0; r < 8; r++)
            for (size_t o = 0; o < CHUNK * sizeof(pl_block_q8_0); o += 64) _mm_prefetch((const char *)&x[r][b0 + CHUNK] + o, _MM_HINT_T0);
        regroup(&g, x, b0, nb);
        int c = 0;
        for (; c + 4 <= n_act; c += 4) {
            const pl_block_q8_0 *y[4];
            for (int i = 0; i < 4; i++) y[i] = (const void *)((const char *)vy + (c + i) * by);
            acts_4(&g, nb, y, b0, s + c * PL_DOT8_ROWS);
        }
        for (; c + 2 <= n_act; c += 2) {
            const pl_block_q8_0 *y[2] = {(const void *)((const char *)vy + c * by), (const void *)((const char *)vy + (c + 1) * by)};
            acts_2(&g, nb, y, b0, s + c * PL_DOT8_ROWS);
        }
        for (; c < n_act; c++) {
            const pl_block_q8_0 *y[1] = {(const void *)((const char *)vy + c * by)};
            acts_1(&g, nb, y, b0, s + c * PL_DOT8_ROWS);
        }
    }
}

pl_dot8_fn pl_dot8_q8_0_avx2(void) { return dot8_q8_0_avx2; }
#else
pl_dot8_fn pl_dot8_q8_0_avx2(void) { return NULL; }
#endif

/* the variant for this CPU (eight rows at a time); NULL: use pl_dot8_q8_0_scalar */
pl_dot8_fn pl_dot8_q8_0(void) { return pl_cpu_isa() >= PL_ISA_AVX2 ? pl_dot8_q8_0_avx2() : NULL; }
