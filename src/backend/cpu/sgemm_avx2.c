/* plinth's f32 GEMM on AVX2 + FMA (the instruction-set half; sgemm.c drives it): tiles of 6 x 16, kept in 12 of
 * the 16 ymm registers by the micro-kernel (6 broadcasts of A against two vectors of B per k, 2 registers for
 * B and 1 for the broadcast), A panels of 6 rows and B panels of 16 columns (one cache line a k). The blocks are
 * sized for Zen 3's 512 KiB L2 and 32 KiB L1d. Packing reads any strides, with 8 x 8 register transposes for
 * the transposed layouts. The layout of the AVX-512 half, at half the width. */
#include "backend/cpu/sgemm_isa.h"
#include "backend/cpu/vec_gelu_erf_simd.h"
#include "backend/cpu/vec_gelu_simd.h"

#include "core/common.h"

#include <immintrin.h>

#define MR 6
#define NR 16
#define KC 384
#define BPACK_FLOATS (KC * 192) /* the packed block of B: KC x NC floats, 288 KiB, within L2 */

#define TGT256 __attribute__((target("avx2,fma")))
#define INLINE256 __attribute__((target("avx2,fma"), always_inline)) static inline

/* the lanes below n (0 to 8) set: a mask for maskload / maskstore */
INLINE256 __m256i lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)PL_MAX(0, PL_MIN(n, 8))), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* ---- packing -------------------------------------------------------------------------------------------- */

/* in-register transpose of 8 vectors of 8 floats */
INLINE256 void transpose8(__m256 r[8]) {
    __m256 t[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    /* r[4a + e] holds, in its 128-bit half h, rows 4a..4a+3 of column 4h + e */
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) r[i] = t[i];
}

/* the first w floats of v (8, or 6: an A panel's row) to d */
INLINE256 void store_w(float *d, __m256 v, int w) {
    if (w == 8) _mm256_storeu_ps(d, v);
    else {
        _mm_storeu_ps(d, _mm256_castps256_ps128(v));
        _mm_storel_pi((__m64 *)(d + 4), _mm256_extractf128_ps(v, 1));
    }
}

/* Up to 8 lines of src, each contiguous along k, written transposed: dst[k*ldd + j] = src[j*sj + k] for k < kc and
 * j < w (8, or 6 for an A panel; lines j >= nj give 0 and are not read). 8 x 8 blocks transposed in registers,
 * every loop unrolled with constant indices so that r[] stays in registers. */
INLINE256 void pack_transposed8(float *dst, int64_t ldd, int w, const float *src, int64_t sj, int64_t nj, int64_t kc) {
    __m256 r[8];
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) r[j] = j < nj ? _mm256_loadu_ps(src + j * sj + k) : _mm256_setzero_ps();
        transpose8(r);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) store_w(dst + (k + i) * ldd, r[i], w);
    }
    if (k < kc) { /* the last kc % 8 values of k: masked loads, which read nothing past the line's end */
        int64_t kt = kc - k;
        __m256i m = lanes(kt);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) r[j] = j < nj ? _mm256_maskload_ps(src + j * sj + k, m) : _mm256_setzero_ps();
        transpose8(r);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++)
            if (i < kt) store_w(dst + (k + i) * ldd, r[i], w);
    }
}

/* sgemm_isa.pack_b: a row-major B's rows are each read once left to right and dealt into every panel, as in the
 * AVX-512 half */
TGT256 static void pack_b(float *dst, pl_mat b, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int64_t u) {
    if (b.cs == 1) {
        for (int64_t k = u * PL_SGEMM_PACK_B_ROWS; k < PL_MIN(kc, (u + 1) * PL_SGEMM_PACK_B_ROWS); k++) {
            const float *s = b.p + (k0 + k) * b.rs + n0;
            for (int64_t j = 0; j < nc; j += NR) {
                int64_t nj = nc - j;
                float *d = dst + j * kc + k * NR;
                if (nj >= NR) {
                    _mm256_store_ps(d, _mm256_loadu_ps(s + j));
                    _mm256_store_ps(d + 8, _mm256_loadu_ps(s + j + 8));
                } else {
                    _mm256_store_ps(d, _mm256_maskload_ps(s + j, lanes(nj)));
                    _mm256_store_ps(d + 8, _mm256_maskload_ps(s + j + 8, lanes(nj - 8)));
                }
            }
        }
        return;
    }
    int64_t j = u * NR, nj = PL_MIN(NR, nc - j);
    const float *s = b.p + k0 * b.rs + (n0 + j) * b.cs;
    dst += j * kc;
    if (b.rs == 1) {
        pack_transposed8(dst, NR, 8, s, b.cs, PL_MIN(8, nj), kc);
        pack_transposed8(dst + 8, NR, 8, s + 8 * b.cs, b.cs, nj - 8, kc);
    } else {
        for (int64_t k = 0; k < kc; k++)
            for (int64_t n = 0; n < NR; n++) dst[k * NR + n] = n < nj ? s[k * b.rs + n * b.cs] : 0.0f;
    }
}

/* sgemm_isa.pack_a: panels of 6 rows, each packed by the unit that computes with it. A transposed A: each k of
 * the panel is 6 adjacent floats (one masked load), its source rows a matrix row apart, fetched PFA rows ahead
 * (no hardware prefetcher follows that stride). */
#define PFA 16
TGT256 static void pack_a(float *dst, pl_mat a, int64_t k0, int64_t kc, int64_t u, float *rowsum) {
    int64_t m0 = u * MR, mr = PL_MIN(MR, a.rows - m0);
    dst += u * kc * MR;
    if (a.rs == 1) {
        __m256i m = lanes(mr);
        const float *s = a.p + k0 * a.cs + m0;
        /* rowsum: the row sums on the way, added in k order (as a loop over A's columns would) */
        __m256 acc = rowsum ? _mm256_maskload_ps(rowsum + m0, m) : _mm256_setzero_ps();
        for (int64_t k = 0; k < kc; k++) {
            _mm_prefetch((const char *)(s + (k + PFA) * a.cs), _MM_HINT_T0);
            __m256 v = _mm256_maskload_ps(s + k * a.cs, m);
            store_w(dst + k * MR, v, MR);
            if (rowsum) acc = _mm256_add_ps(acc, v);
        }
        if (rowsum) _mm256_maskstore_ps(rowsum + m0, m, acc);
        return;
    }
    const float *s = a.p + m0 * a.rs + k0 * a.cs;
    if (a.cs == 1) pack_transposed8(dst, MR, MR, s, a.rs, mr, kc); /* a last partial panel of a row-major A */
    else
        for (int64_t k = 0; k < kc; k++)
            for (int64_t i = 0; i < MR; i++) dst[k * MR + i] = i < mr ? s[i * a.rs + k * a.cs] : 0.0f;
}

/* ---- the micro-kernel ----------------------------------------------------------------------------------- */

/* A kernel's 12 accumulators for its 6 x 16 tile of C (c00..c51), zeroed, and the tile's lines of C prefetched */
#define TILE_BEGIN()                                                                                                   \
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;                           \
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;                                           \
    prefetch_rows(c, ldc);                                                                                             \
    if (ep) prefetch_epi(ep)

/* the tile's rows of an M x N matrix (leading dimension ld) toward L1, two lines a row (NR floats may straddle) */
INLINE256 void prefetch_rows(const float *p, int64_t ld) {
    for (int i = 0; i < MR; i++) {
        _mm_prefetch((const char *)(p + i * ld), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + i * ld + NR - 1), _MM_HINT_T0);
    }
}
/* and the epilogue's matrices, whose rows the write-back reads or writes once: fetched while the k loop runs,
 * else each first touch waits on memory (bench/gemm_epilogue.c, cold caches: the residual add cost 0.28-0.41 ms
 * over a ~3.5 ms product without this, 0.08-0.16 with it) */
INLINE256 void prefetch_epi(const tile_epi *ep) {
    if (ep->add) prefetch_rows(ep->add, ep->ld_add);
    if (ep->gelu) prefetch_rows(ep->gelu, ep->ld_gelu);
    if (ep->gelu_x) prefetch_rows(ep->gelu_x, ep->ld_gelu_x);
}

/* Row i of a tile (accumulators r0, r1) to C at ci, as the AVX-512 half's row_out: C = alpha acc + beta C with one
 * rounding (beta == 0 never reads C), or alpha acc + bias; then the epilogue. full: all 16 columns, else those
 * in masks m0, m1 (masked loads read nothing outside them). */
INLINE256 __m256 load_m(const float *p, __m256i m, bool full) {
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}
INLINE256 void store_m(float *p, __m256i m, bool full, __m256 v) {
    if (full) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, m, v);
}
INLINE256 void row_out(float *ci, __m256 r0, __m256 r1, __m256i m0, __m256i m1, bool full, float alpha, float beta,
                       const float *bias, const tile_epi *ep, int64_t i) {
    __m256 va = _mm256_set1_ps(alpha), v0, v1;
    if (bias) {
        v0 = _mm256_fmadd_ps(va, r0, load_m(bias, m0, full));
        v1 = _mm256_fmadd_ps(va, r1, load_m(bias + 8, m1, full));
    } else if (beta == 0.0f) {
        v0 = _mm256_mul_ps(va, r0);
        v1 = _mm256_mul_ps(va, r1);
    } else {
        __m256 vb = _mm256_set1_ps(beta);
        v0 = _mm256_fmadd_ps(va, r0, _mm256_mul_ps(vb, load_m(ci, m0, full)));
        v1 = _mm256_fmadd_ps(va, r1, _mm256_mul_ps(vb, load_m(ci + 8, m1, full)));
    }
    if (ep) {
        if (ep->add) {
            const float *x = ep->add + i * ep->ld_add;
            v0 = _mm256_add_ps(v0, load_m(x, m0, full));
            v1 = _mm256_add_ps(v1, load_m(x + 8, m1, full));
        }
        if (ep->gelu) {
            float *g = ep->gelu + i * ep->ld_gelu;
            store_m(g, m0, full, ep->gelu_erf ? pl_gelu_erf256(v0) : ep->gelu_quick ? pl_qgelu256(v0) : pl_gelu256(v0));
            store_m(g + 8, m1, full, ep->gelu_erf ? pl_gelu_erf256(v1) : ep->gelu_quick ? pl_qgelu256(v1) : pl_gelu256(v1));
        }
        if (ep->gelu_x) {
            const float *x = ep->gelu_x + i * ep->ld_gelu_x;
            v0 = pl_gelu_grad256(load_m(x, m0, full), v0);
            v1 = pl_gelu_grad256(load_m(x + 8, m1, full), v1);
        }
    }
    store_m(ci, m0, full, v0);
    store_m(ci + 8, m1, full, v1);
}

/* The write-back of a kernel's whole 6 x 16 tile (accumulators c00..c51) */
#define TILE_OUT()                                                                                                     \
    do {                                                                                                               \
        __m256i all = _mm256_set1_epi32(-1);                                                                           \
        OUT(0, c00, c01); OUT(1, c10, c11); OUT(2, c20, c21); OUT(3, c30, c31); OUT(4, c40, c41); OUT(5, c50, c51);    \
    } while (0)
#define OUT(i, r0, r1) row_out(c + (i) * ldc, r0, r1, all, all, true, alpha, beta, bias, ep, i)

/* sgemm_isa.kernel: C[6][16] = alpha * Ap^T Bp + beta * C over kc (TILE_OUT: or + bias). B's rows (a line each)
 * stream from L2, prefetched PFB rows ahead. */
#define PFB 8
TGT256 static void kernel_6x16(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, float alpha,
                               float beta, const float *bias, const tile_epi *ep) {
    TILE_BEGIN();
#define ROW(i, r0, r1)                                                                                                 \
    do {                                                                                                               \
        __m256 av = _mm256_broadcast_ss(ap + (i));                                                                     \
        r0 = _mm256_fmadd_ps(av, b0, r0);                                                                              \
        r1 = _mm256_fmadd_ps(av, b1, r1);                                                                              \
    } while (0)
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++, ap += MR, bp += NR) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        _mm_prefetch((const char *)(bp + PFB * NR), _MM_HINT_T0);
        ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21); ROW(3, c30, c31); ROW(4, c40, c41); ROW(5, c50, c51);
    }
#undef ROW
    TILE_OUT();
}

/* sgemm_isa.kernel_rows: the same product with 6 rows of a row-major A read in place instead of a packed panel
 * (two row pointers and one scaled index reach them) */
TGT256 static void kernel_6x16_rows(int64_t kc, const float *a, int64_t lda, const float *bp, float *c, int64_t ldc,
                                    float alpha, float beta, const float *bias, const tile_epi *ep) {
    TILE_BEGIN();
    const float *a0 = a, *a3 = a + 3 * lda;
#define ROW(p, o, r0, r1)                                                                                              \
    do {                                                                                                               \
        __m256 av = _mm256_broadcast_ss(p + (o));                                                                      \
        r0 = _mm256_fmadd_ps(av, b0, r0);                                                                              \
        r1 = _mm256_fmadd_ps(av, b1, r1);                                                                              \
    } while (0)
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++, a0++, a3++, bp += NR) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        _mm_prefetch((const char *)(bp + PFB * NR), _MM_HINT_T0);
        ROW(a0, 0, c00, c01); ROW(a0, lda, c10, c11); ROW(a0, 2 * lda, c20, c21);
        ROW(a3, 0, c30, c31); ROW(a3, lda, c40, c41); ROW(a3, 2 * lda, c50, c51);
    }
#undef ROW
    TILE_OUT();
}

/* a tile cut by the matrix's edge: the full tile into scratch, then its mr x nr part written back as the kernels
 * do (row_out, masked). lda != 0: A in place. */
TGT256 static void kernel_edge(int64_t kc, const float *ap, int64_t lda, const float *bp, float *c, int64_t ldc,
                               int64_t mr, int64_t nr, float alpha, float beta, const float *bias, const tile_epi *ep) {
    float tile[MR * NR] __attribute__((aligned(32)));
    if (lda) kernel_6x16_rows(kc, ap, lda, bp, tile, NR, 1.0f, 0.0f, NULL, NULL);
    else kernel_6x16(kc, ap, bp, tile, NR, 1.0f, 0.0f, NULL, NULL);
    __m256i m0 = lanes(nr), m1 = lanes(nr - 8);
    for (int64_t i = 0; i < mr; i++)
        row_out(c + i * ldc, _mm256_load_ps(tile + i * NR), _mm256_load_ps(tile + i * NR + 8), m0, m1, false, alpha,
                beta, bias, ep, i);
}

const sgemm_isa pl_sgemm_isa_avx2 = {
    .mr = MR, .nr = NR, .kc = KC, .bpack_floats = BPACK_FLOATS, .pack_b = pack_b, .pack_a = pack_a,
    .kernel = kernel_6x16, .kernel_rows = kernel_6x16_rows, .kernel_edge = kernel_edge,
};
