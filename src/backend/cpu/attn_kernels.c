/* The fused attention op's kernels (attn_kernels.h), for AVX-512 and for AVX2 + FMA: one body
 * (attn_simd.h) compiled for each over a small vector abstraction, plus each ISA's transpose for packing.
 * The GEMM keeps a tile of C in registers and streams k: AVX-512 a 6 x 64 tile in 24 zmm registers (per step
 * 4 row loads of B, 6 broadcasts of A, 24 FMAs), AVX2 a 6 x 16 tile in 12 of the 16 ymm registers (2 loads,
 * 6 broadcasts, 12 FMAs); the tile shape is a compile-time instance per (rows, vectors) so the accumulators
 * stay in registers for the tails too. Attention's products are small (rows 32-64, k <= a few hundred),
 * where a BLAS call's packing and dispatch cost more than the arithmetic, so these read A and B in place
 * (K and V arrive packed by pl_attn_pack_t). */
#include "backend/cpu/attn_kernels.h"
#include "backend/cpu/sgemm.h"
#include "backend/cpu/vec_exp_simd.h"

#include <immintrin.h>
#include <math.h>

static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define SFX(name) CAT(name, ISA_SFX)

/* ---- AVX-512: every vector masked (a mask register is free), the kernels as tuned on Intel ---- */
#define ISA_SFX _avx512
#define TGT TGT512
#define DRV_TGT
#define VLEN 16
#define MR 6
#define NV 4
#define KC 128
#define vec __m512
#define vmask __mmask16
#define M_ALL ((__mmask16)0xFFFF)
#define M_FIRST(n) ((__mmask16)((1u << (n)) - 1))
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_FMADD(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_MUL(a, b) _mm512_mul_ps(a, b)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_SUB(a, b) _mm512_sub_ps(a, b)
#define V_MAX(a, b) _mm512_max_ps(a, b)
#define V_EXP(x) exp512(x)
#define V_HSUM(x) _mm512_reduce_add_ps(x)
#define V_HMAX(x) _mm512_reduce_max_ps(x)
#define V_LOADZ(m, p, part) _mm512_maskz_loadu_ps(m, p)
#define V_LOADKEEP(v, m, p, part) _mm512_mask_loadu_ps(v, m, p)
#define V_STOREM(p, m, x, part) _mm512_mask_storeu_ps(p, m, x)
#define V_MASKZ(m, x, part) _mm512_maskz_mov_ps(m, x)
#define V_SPLIT 0
#define TGT_H TGT512
#define V_LOADH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p))) /* 16 f16 values, widened exactly */
/* eight rows' V_HSUM at once, in _mm512_reduce_add_ps's order of additions per row (halves, then quarters, then
 * lanes 0 + 2 and 1 + 3, then those two), times scale, to out[0..8): 15 shuffles and 15 adds for eight rows where
 * eight reductions take 56 of each */
#define V_HSUM8(a, scale, out) hsum8_avx512(a, scale, out)
TGT512 static inline __attribute__((always_inline)) void hsum8_avx512(const __m512 a[8], float scale, float *out) {
    __m512 h[4], g[2];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) /* rows 2i | 2i+1, eight lanes each: low half + high half */
        h[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44), _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xEE));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) /* rows 4i..4i+3, four lanes each: quarter + quarter */
        g[i] = _mm512_add_ps(_mm512_shuffle_f32x4(h[2 * i], h[2 * i + 1], 0x88), _mm512_shuffle_f32x4(h[2 * i], h[2 * i + 1], 0xDD));
    /* 128-bit lane k: row k (t0 + t2, t1 + t3), row k + 4 (the same) */
    const __m512 c = _mm512_add_ps(_mm512_shuffle_ps(g[0], g[1], 0x44), _mm512_shuffle_ps(g[0], g[1], 0xEE));
    const __m512 sum = _mm512_add_ps(c, _mm512_permute_ps(c, 0xB1)); /* row k at 4k, row k + 4 at 4k + 2 */
    const __m512 rows = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0), sum);
    _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_set1_ps(scale), _mm512_castps512_ps256(rows)));
}
#include "backend/cpu/attn_simd.h"

/* keys j0..j1 of X (rows ldx apart) -> T[d][j] (rows ldt apart), 16 keys at a time */
TGT512 void pl_attn_pack_t_avx512(int64_t D, int64_t j0, int64_t j1, const float *X, int64_t ldx, float *T, int64_t ldt) {
    for (int64_t jb = j0; jb < j1; jb += 16) {
        int nj = (int)imin(16, j1 - jb);
        pl_pack_transposed16_avx512(T + jb, ldt, (uint16_t)((1u << nj) - 1), X + jb * ldx, ldx, nj, D);
    }
}

/* ---- AVX2 + FMA: no mask registers; a partial vector goes through vmaskmovps with a vector of lane masks
 * (the first n of mask_first + 8 - n), whole vectors through plain loads and stores ---- */
static const int32_t mask_first[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
#define ISA_SFX _avx2
#define TGT TGT256
#define DRV_TGT TGT256
#define VLEN 8
#define MR 6
#define NV 2
#define KC 128
#define vec __m256
#define vmask __m256i
#define M_ALL _mm256_set1_epi32(-1)
#define M_FIRST(n) _mm256_loadu_si256((const __m256i *)(mask_first + 8 - (n)))
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_FMADD(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_MUL(a, b) _mm256_mul_ps(a, b)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_SUB(a, b) _mm256_sub_ps(a, b)
#define V_MAX(a, b) _mm256_max_ps(a, b)
#define V_EXP(x) exp256(x)
#define V_HSUM(x) hsum256(x)
#define V_HMAX(x) hmax256(x)
#define V_LOADZ(m, p, part) ((part) ? _mm256_maskload_ps(p, m) : _mm256_loadu_ps(p))
#define V_LOADKEEP(v, m, p, part)                                                                              \
    ((part) ? _mm256_blendv_ps(v, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m)) : _mm256_loadu_ps(p))
#define V_STOREM(p, m, x, part) ((part) ? _mm256_maskstore_ps(p, m, x) : _mm256_storeu_ps(p, x))
#define V_MASKZ(m, x, part) ((part) ? _mm256_and_ps(_mm256_castsi256_ps(m), x) : (x))
#define V_SPLIT 1
#define TGT_H __attribute__((target("avx2,fma,f16c")))
#define V_LOADH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p))) /* 8 f16 values, widened exactly */
/* eight rows' V_HSUM at once, in V_HSUM's own order of additions per row (hsum256: halves, then t0 + t2 and
 * t1 + t3, then those two), times scale, to out[0..8): the 8-row decode dots' reduction */
#define V_HSUM8(a, scale, out) hsum8_avx2(a, scale, out)
TGT256 static inline __attribute__((always_inline)) void hsum8_avx2(const __m256 a[8], float scale, float *out) {
    __m256 h[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) /* rows 2i | 2i+1: t = low half + high half */
        h[i] = _mm256_add_ps(_mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x20), _mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x31));
    /* per row (t0 + t2, t1 + t3): rows 0, 2 | 1, 3 and 4, 6 | 5, 7 */
    const __m256 c0 = _mm256_add_ps(_mm256_shuffle_ps(h[0], h[1], 0x44), _mm256_shuffle_ps(h[0], h[1], 0xEE));
    const __m256 c1 = _mm256_add_ps(_mm256_shuffle_ps(h[2], h[3], 0x44), _mm256_shuffle_ps(h[2], h[3], 0xEE));
    const __m256 sum = _mm256_hadd_ps(c0, c1); /* rows 0 2 4 6 | 1 3 5 7 */
    _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_set1_ps(scale), _mm256_permutevar8x32_ps(sum, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))));
}

/* in-register transpose of 8 vectors of 8 floats: r[i][j] <- r[j][i] */
TGT256 static inline __attribute__((always_inline)) void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* t[2i], t[2i+1]: rows 2i and 2i+1 interleaved (lanes 0,1,4,5 / 2,3,6,7) */
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) { /* u[4h + c]: rows 4h..4h+3 of columns c (low half) and c + 4 (high half) */
        u[4 * h] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
        u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[c + 4] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

/* keys j0..j1 of X -> T[d][j], 8 keys x 8 dimensions at a time; columns past j1 are left as they are */
TGT256 void pl_attn_pack_t_avx2(int64_t D, int64_t j0, int64_t j1, const float *X, int64_t ldx, float *T, int64_t ldt) {
    for (int64_t jb = j0; jb < j1; jb += 8) {
        int nj = (int)imin(8, j1 - jb);
        __m256i sm = M_FIRST(nj);
        const float *x = X + jb * ldx;
        for (int64_t d = 0; d < D; d += 8) {
            int kt = (int)imin(8, D - d);
            __m256i lm = M_FIRST(kt);
            __m256 r[8];
            /* fully unrolled with constant indices, so that r[] stays in registers */
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                r[j] = j >= nj ? _mm256_setzero_ps() : V_LOADZ(lm, x + j * ldx + d, kt < 8);
            transpose8(r);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                if (i < kt) V_STOREM(T + (d + i) * ldt + jb, sm, r[i], nj < 8);
        }
    }
}

#include "backend/cpu/attn_simd.h"

static const pl_attn_kernels k_avx512 = {pl_attn_gemm_avx512,    pl_attn_pack_t_avx512,   pl_attn_dots_avx512,
                                         pl_attn_softmax_avx512, pl_attn_bwd_row_avx512,  pl_attn_rows_dots_avx512,
                                         pl_attn_rows_wsum_avx512, pl_attn_rows_dots_h_avx512, pl_attn_rows_wsum_h_avx512, 16};
static const pl_attn_kernels k_avx2 = {pl_attn_gemm_avx2,    pl_attn_pack_t_avx2,   pl_attn_dots_avx2,
                                       pl_attn_softmax_avx2, pl_attn_bwd_row_avx2,  pl_attn_rows_dots_avx2,
                                       pl_attn_rows_wsum_avx2, pl_attn_rows_dots_h_avx2, pl_attn_rows_wsum_h_avx2, 8};
const pl_attn_kernels *pl_attn_kernels_for(pl_isa isa) {
    return isa >= PL_ISA_AVX512 ? &k_avx512 : isa >= PL_ISA_AVX2 ? &k_avx2 : NULL;
}
