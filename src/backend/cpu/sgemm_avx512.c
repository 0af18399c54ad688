/* plinth's f32 GEMM on AVX-512 (the instruction-set half; sgemm.c drives it): tiles of 12 x 32, kept in 24 zmm
 * registers by the micro-kernel (12 broadcasts of A against two vectors of B per k), A panels of 12 rows and B
 * panels of 32 columns; K blocks of at most 384 and a packed B block of 384 x 384 floats (within L2). Packing
 * reads any strides, with 16 x 16 register transposes for the transposed layouts. */
#include "backend/cpu/sgemm_isa.h"
#include "backend/cpu/vec_gelu_erf_simd.h"
#include "backend/cpu/vec_gelu_simd.h"

#include "core/common.h"

#include <immintrin.h>

#define MR 12
#define NR 32
#define KC 384
#define BPACK_FLOATS (KC * 384) /* the packed block of B: KC x NC floats, 576 KiB, within L2 (512 columns: 1-3% slower) */

#undef TGT512 /* vec_exp_simd.h's, for its own functions */
#define TGT512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))

/* ---- packing -------------------------------------------------------------------------------------------- */

/* in-register transpose of 16 vectors of 16 floats */
TGT512 static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    /* r[4a + e] holds, in its 128-bit lane l, rows 4a..4a+3 of column 4l + e: a 4 x 4 transpose of lanes */
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
    }
}

/* pl_pack_transposed16_avx512 (sgemm.h): 16 x 16 blocks transposed in registers */
TGT512 void pl_pack_transposed16_avx512(float *dst, int64_t w, uint16_t keep, const float *src, int64_t sj, int64_t nj,
                                        int64_t kc) {
    __m512 r[16];
    for (int64_t k = 0; k < kc; k += 16) {
        int64_t kt = PL_MIN(16, kc - k);
        __mmask16 lm = (__mmask16)((1u << kt) - 1);
        /* every loop fully unrolled with constant indices, so r[] lives in registers (a runtime bound on an
         * index made GCC keep the whole transpose on the stack: half the speed) */
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) r[j] = _mm512_maskz_loadu_ps(j < nj ? lm : 0, src + j * sj + k); /* 0: no read */
        transpose16(r);
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            if (i < kt) _mm512_mask_storeu_ps(dst + (k + i) * w, keep, r[i]);
    }
}

/* sgemm_isa.pack_b: a row-major B's rows are each read once left to right and dealt into every panel (panel by
 * panel, each row was read in 128-byte pieces far apart: 4% slower products) */
TGT512 static void pack_b(float *dst, pl_mat b, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int64_t u) {
    if (b.cs == 1) {
        for (int64_t k = u * PL_SGEMM_PACK_B_ROWS; k < PL_MIN(kc, (u + 1) * PL_SGEMM_PACK_B_ROWS); k++) {
            const float *s = b.p + (k0 + k) * b.rs + n0;
            for (int64_t j = 0; j < nc; j += NR) {
                int64_t nj = PL_MIN(NR, nc - j);
                __mmask16 m0 = (__mmask16)(nj >= 16 ? 0xFFFF : (1u << nj) - 1);
                __mmask16 m1 = (__mmask16)(nj >= 32 ? 0xFFFF : nj <= 16 ? 0 : (1u << (nj - 16)) - 1);
                float *d = dst + j * kc + k * NR;
                _mm512_store_ps(d, _mm512_maskz_loadu_ps(m0, s + j));
                _mm512_store_ps(d + 16, _mm512_maskz_loadu_ps(m1, s + j + 16));
            }
        }
        return;
    }
    int64_t j = u * NR, nj = PL_MIN(NR, nc - j);
    const float *s = b.p + k0 * b.rs + (n0 + j) * b.cs;
    dst += j * kc;
    if (b.rs == 1) {
        pl_pack_transposed16_avx512(dst, NR, 0xFFFF, s, b.cs, PL_MIN(16, nj), kc);
        pl_pack_transposed16_avx512(dst + 16, NR, 0xFFFF, s + 16 * b.cs, b.cs, nj > 16 ? nj - 16 : 0, kc);
    } else {
        for (int64_t k = 0; k < kc; k++)
            for (int64_t n = 0; n < NR; n++) dst[k * NR + n] = n < nj ? s[k * b.rs + n * b.cs] : 0.0f;
    }
}

/* sgemm_isa.pack_a: panels of 12 rows, each packed by the unit that computes with it. Where A's columns are
 * contiguous (a transposed view), each k of the panel is 12 adjacent floats: one masked copy per k, the panel
 * written in one sequential run (dealing every row out to all panels at once wrote to ~100 pages at a time: 5%
 * slower products). */
/* the k rows of a transposed A are a matrix row apart, a stride no hardware prefetcher follows: packing
 * fetches PFA rows ahead (weight-gradient products ~3% faster) */
#define PFA 16
TGT512 static void pack_a(float *dst, pl_mat a, int64_t k0, int64_t kc, int64_t u, float *rowsum) {
    int64_t M = a.rows;
    if (a.rs == 1) {
        int64_t m0 = u * MR, mr = PL_MIN(MR, M - m0);
        __mmask16 m = (__mmask16)((1u << mr) - 1);
        const float *s = a.p + k0 * a.cs + m0;
        float *d = dst + u * kc * MR;
        /* rowsum: the row sums on the way, added in k order (as a loop over A's columns would) */
        __m512 acc = rowsum ? _mm512_maskz_loadu_ps(m, rowsum + m0) : _mm512_setzero_ps();
        for (int64_t k = 0; k < kc; k++) {
            _mm_prefetch((const char *)(s + (k + PFA) * a.cs), _MM_HINT_T0);
            __m512 v = _mm512_maskz_loadu_ps(m, s + k * a.cs);
            _mm512_mask_storeu_ps(d + k * MR, 0x0FFF, v);
            if (rowsum) acc = _mm512_add_ps(acc, v);
        }
        if (rowsum) _mm512_mask_storeu_ps(rowsum + m0, m, acc);
        return;
    }
    int64_t m0 = u * MR, mr = PL_MIN(MR, M - m0); /* (whole panels of a row-major A are read in place instead) */
    const float *s = a.p + m0 * a.rs + k0 * a.cs;
    dst += u * kc * MR;
    if (a.cs == 1) pl_pack_transposed16_avx512(dst, MR, 0x0FFF, s, a.rs, mr, kc);
    else
        for (int64_t k = 0; k < kc; k++)
            for (int64_t i = 0; i < MR; i++) dst[k * MR + i] = i < mr ? s[i * a.rs + k * a.cs] : 0.0f;
}

/* ---- the micro-kernel ----------------------------------------------------------------------------------- */

/* A kernel's 24 accumulators for its 12 x 32 tile of C (c00..cB1), zeroed, and the tile's lines of C
 * prefetched: they come in while the products run. */
#define TILE_BEGIN()                                                                                                   \
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;   \
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;                   \
    __m512 c80 = c00, c81 = c00, c90 = c00, c91 = c00, cA0 = c00, cA1 = c00, cB0 = c00, cB1 = c00;                   \
    for (int i_ = 0; i_ < MR; i_++) {                                                                                  \
        _mm_prefetch((const char *)(c + i_ * ldc), _MM_HINT_T0);                                                       \
        _mm_prefetch((const char *)(c + i_ * ldc + 16), _MM_HINT_T0);                                                  \
    }


/* Row i of a tile (accumulators r0, r1; the columns in masks k0, k1) to C at ci: C = alpha acc + beta C with
 * one rounding (beta == 0 never reads C), or alpha acc + bias; then the epilogue: + add, gelu(C) to its own
 * matrix, or C * gelu'(x) - the same vector code as the separate passes, so the same bits. */
TGT512 static inline __attribute__((always_inline)) void row_out(float *ci, __m512 r0, __m512 r1, __mmask16 k0,
                                                                 __mmask16 k1, float alpha, float beta,
                                                                 const float *bias, const tile_epi *ep, int64_t i) {
    __m512 va = _mm512_set1_ps(alpha), v0, v1;
    if (bias) {
        v0 = _mm512_fmadd_ps(va, r0, _mm512_maskz_loadu_ps(k0, bias));
        v1 = _mm512_fmadd_ps(va, r1, _mm512_maskz_loadu_ps(k1, bias + 16));
    } else if (beta == 0.0f) {
        v0 = _mm512_mul_ps(va, r0);
        v1 = _mm512_mul_ps(va, r1);
    } else {
        __m512 vb = _mm512_set1_ps(beta);
        v0 = _mm512_fmadd_ps(va, r0, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(k0, ci)));
        v1 = _mm512_fmadd_ps(va, r1, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(k1, ci + 16)));
    }
    if (ep) {
        if (ep->add) {
            const float *x = ep->add + i * ep->ld_add;
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(k0, x));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(k1, x + 16));
        }
        if (ep->gelu) {
            float *g = ep->gelu + i * ep->ld_gelu;
            _mm512_mask_storeu_ps(g, k0, ep->gelu_erf ? pl_gelu_erf512(v0) : ep->gelu_quick ? pl_qgelu512(v0) : pl_gelu512(v0));
            _mm512_mask_storeu_ps(g + 16, k1, ep->gelu_erf ? pl_gelu_erf512(v1) : ep->gelu_quick ? pl_qgelu512(v1) : pl_gelu512(v1));
        }
        if (ep->gelu_x) {
            const float *x = ep->gelu_x + i * ep->ld_gelu_x;
            v0 = pl_gelu_grad512(_mm512_maskz_loadu_ps(k0, x), v0);
            v1 = pl_gelu_grad512(_mm512_maskz_loadu_ps(k1, x + 16), v1);
        }
    }
    _mm512_mask_storeu_ps(ci, k0, v0);
    _mm512_mask_storeu_ps(ci + 16, k1, v1);
}

/* The write-back of a kernel's 12 x 32 tile (accumulators c00..cB1) */
#define TILE_OUT()                                                                                                     \
    do {                                                                                                               \
        OUT(0, c00, c01); OUT(1, c10, c11); OUT(2, c20, c21); OUT(3, c30, c31);                                        \
        OUT(4, c40, c41); OUT(5, c50, c51); OUT(6, c60, c61); OUT(7, c70, c71);                                        \
        OUT(8, c80, c81); OUT(9, c90, c91); OUT(10, cA0, cA1); OUT(11, cB0, cB1);                                      \
    } while (0)
#define OUT(i, r0, r1) row_out(c + (i) * ldc, r0, r1, 0xFFFF, 0xFFFF, alpha, beta, bias, ep, i)

/* sgemm_isa.kernel: C[12][32] = alpha * Ap^T Bp + beta * C over kc (TILE_OUT: or + bias). B's rows stream
 * from L2: they are prefetched PFB rows ahead. */
#define PFB 4
TGT512 static void kernel_12x32(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc,
                                float alpha, float beta, const float *bias, const tile_epi *ep) {
    TILE_BEGIN();
#define ROW(i, r0, r1)                                                                                                 \
    do {                                                                                                               \
        __m512 av = _mm512_set1_ps(ap[i]);                                                                             \
        r0 = _mm512_fmadd_ps(av, b0, r0);                                                                              \
        r1 = _mm512_fmadd_ps(av, b1, r1);                                                                              \
    } while (0)
#pragma GCC unroll 4 /* fewer loop uops: the loop issues ~3.4 uops a cycle, near the front end's limit */
    for (int64_t k = 0; k < kc; k++, ap += MR, bp += NR) {
        __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
        _mm_prefetch((const char *)(bp + PFB * NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(bp + PFB * NR + 16), _MM_HINT_T0);
        ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21); ROW(3, c30, c31);
        ROW(4, c40, c41); ROW(5, c50, c51); ROW(6, c60, c61); ROW(7, c70, c71);
        ROW(8, c80, c81); ROW(9, c90, c91); ROW(10, cA0, cA1); ROW(11, cB0, cB1);
    }
#undef ROW
    TILE_OUT();
}

/* sgemm_isa.kernel_rows: the same product with 12 rows of a row-major A read in place instead of a packed panel.
 * Packing such an A cost 8-10% of a product with N = 384: a pass over A through L3 and back. Four row pointers
 * and one scaled index reach all 12 rows. */
TGT512 static void kernel_12x32_rows(int64_t kc, const float *a, int64_t lda, const float *bp, float *c,
                                     int64_t ldc, float alpha, float beta, const float *bias, const tile_epi *ep) {
    TILE_BEGIN();
    const float *a0 = a, *a3 = a + 3 * lda, *a6 = a + 6 * lda, *a9 = a + 9 * lda;
#define ROW(p, o, r0, r1)                                                                                              \
    do {                                                                                                               \
        __m512 av = _mm512_set1_ps(p[o]);                                                                              \
        r0 = _mm512_fmadd_ps(av, b0, r0);                                                                              \
        r1 = _mm512_fmadd_ps(av, b1, r1);                                                                              \
    } while (0)
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++, a0++, a3++, a6++, a9++, bp += NR) {
        __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
        _mm_prefetch((const char *)(bp + PFB * NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(bp + PFB * NR + 16), _MM_HINT_T0);
        ROW(a0, 0, c00, c01); ROW(a0, lda, c10, c11); ROW(a0, 2 * lda, c20, c21);
        ROW(a3, 0, c30, c31); ROW(a3, lda, c40, c41); ROW(a3, 2 * lda, c50, c51);
        ROW(a6, 0, c60, c61); ROW(a6, lda, c70, c71); ROW(a6, 2 * lda, c80, c81);
        ROW(a9, 0, c90, c91); ROW(a9, lda, cA0, cA1); ROW(a9, 2 * lda, cB0, cB1);
    }
#undef ROW
    TILE_OUT();
}

/* a tile cut by the matrix's edge: the full tile into scratch, then its mr x nr part written back as the
 * kernels do (row_out, masked). lda != 0: A in place. */
TGT512 static void kernel_edge(int64_t kc, const float *ap, int64_t lda, const float *bp, float *c,
                               int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta, const float *bias,
                               const tile_epi *ep) {
    float tile[MR * NR] __attribute__((aligned(64)));
    if (lda) kernel_12x32_rows(kc, ap, lda, bp, tile, NR, 1.0f, 0.0f, NULL, NULL); /* ap: A's rows in place */
    else kernel_12x32(kc, ap, bp, tile, NR, 1.0f, 0.0f, NULL, NULL);
    __mmask16 k0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
    __mmask16 k1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
    for (int64_t i = 0; i < mr; i++)
        row_out(c + i * ldc, _mm512_load_ps(tile + i * NR), _mm512_load_ps(tile + i * NR + 16), k0, k1, alpha, beta,
                bias, ep, i);
}

const sgemm_isa pl_sgemm_isa_avx512 = {
    .mr = MR, .nr = NR, .kc = KC, .bpack_floats = BPACK_FLOATS, .pack_b = pack_b, .pack_a = pack_a,
    .kernel = kernel_12x32, .kernel_rows = kernel_12x32_rows, .kernel_edge = kernel_edge,
};
