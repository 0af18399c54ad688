/* AVX-512 kernels of the fused attention op (attn_kernels.h). The GEMM keeps a 6 x 64 tile of C in 24 zmm
 * registers and streams k: per step 4 row loads of B and 6 broadcasts of A, 24 FMAs; the tile shape is a
 * compile-time instance per (rows, vectors) so the accumulators stay in registers for the tails too.
 * Attention's products are small (rows 32-64, k <= a few hundred), where a BLAS call's packing and dispatch
 * cost more than the arithmetic, so these read A and B in place (K and V arrive packed by pl_attn_pack_t). */
#include "backend/cpu/attn_kernels.h"
#include "backend/cpu/sgemm.h"
#include "backend/cpu/vec_exp_simd.h"

#include <immintrin.h>
#include <math.h>

#define MR 6 /* rows of a C tile */
#define NV 4 /* 16-float vectors across a C tile */
#define INL static inline __attribute__((always_inline))

typedef void (*tile_fn)(int64_t nk, float alpha, const float *A, int64_t sam, int64_t sak, const float *B, int64_t ldb,
                        float *C, int64_t ldc, bool acc, __mmask16 ml);

/* C[mr x 16 nv] (last vector masked by ml) = alpha * sum_{0 <= k < nk} A(r, k) B(k, :) (+ C) */
TGT512 INL void tile(const int mr, const int nv, int64_t nk, float alpha, const float *A, int64_t sam, int64_t sak,
                     const float *B, int64_t ldb, float *C, int64_t ldc, bool acc, __mmask16 ml) {
    __m512 c[MR][NV];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) c[r][v] = _mm512_setzero_ps();
    for (int64_t k = 0; k < nk; k++) {
        const float *b = B + k * ldb, *a = A + k * sak;
        __m512 bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) bv[v] = v == nv - 1 ? _mm512_maskz_loadu_ps(ml, b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            __m512 ar = _mm512_set1_ps(a[r * sam]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) c[r][v] = _mm512_fmadd_ps(ar, bv[v], c[r][v]);
        }
    }
    __m512 al = _mm512_set1_ps(alpha);
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            __mmask16 m = v == nv - 1 ? ml : (__mmask16)0xFFFF;
            float *cp = C + r * ldc + 16 * v;
            __m512 x = acc ? _mm512_fmadd_ps(c[r][v], al, _mm512_maskz_loadu_ps(m, cp)) : _mm512_mul_ps(c[r][v], al);
            _mm512_mask_storeu_ps(cp, m, x);
        }
}

#define TILE(mr, nv)                                                                                                     \
    TGT512 static void tile_##mr##_##nv(int64_t nk, float alpha, const float *A, int64_t sam, int64_t sak,             \
                                        const float *B, int64_t ldb, float *C, int64_t ldc, bool acc, __mmask16 ml) {     \
        tile(mr, nv, nk, alpha, A, sam, sak, B, ldb, C, ldc, acc, ml);                                                   \
    }
#define TILES(mr) TILE(mr, 1) TILE(mr, 2) TILE(mr, 3) TILE(mr, 4)
TILES(1) TILES(2) TILES(3) TILES(4) TILES(5) TILES(6)
#define ROW(mr) {tile_##mr##_1, tile_##mr##_2, tile_##mr##_3, tile_##mr##_4}
static const tile_fn tiles[MR][NV] = {ROW(1), ROW(2), ROW(3), ROW(4), ROW(5), ROW(6)};

static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

/* Loop order: k in chunks of KC, then 64 columns of B, then the row tiles, so that the row tiles take turns
 * on one KC x 64 block of B. (Copying a block to a contiguous buffer first, against L1 set conflicts of B's
 * strided rows, measured slower.) */
#define KC 128
#define BW (16 * NV)
void pl_attn_gemm_avx512(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t sam, int64_t sak,
                         const float *B, int64_t ldb, float *C, int64_t ldc, bool acc, pl_attn_band band, pl_band_use use) {
    if (!band.on) use = PL_BAND_NONE;
    for (int64_t kc = 0; kc == 0 || kc < K; kc += KC) {
        bool add = acc || kc > 0; /* later chunks add to the first's sums */
        int64_t kend = imin(K, kc + KC);
        for (int64_t n0 = 0; n0 < N; n0 += BW) {
            for (int64_t r0 = 0; r0 < M; r0 += MR) {
                int mr = (int)imin(MR, M - r0);
                int64_t nlo = n0, nhi = imin(N, n0 + BW), klo = kc, khi = kend;
                /* rows r0 .. r0+mr-1 together see [lo(r0), diag + r0 + mr) */
                int64_t hi = band.diag + r0 + mr, lo = band.window > 0 ? imax(0, band.diag + r0 + 1 - band.window) : 0;
                if (use == PL_BAND_N) { nlo = imax(nlo, lo & ~(int64_t)15); nhi = imin(nhi, hi); } /* aligned start */
                if (use == PL_BAND_K) { klo = imax(klo, lo); khi = imin(khi, hi); }
                if (use == PL_BAND_KT) { /* query i sees key j iff j - diag <= i < j - diag + window */
                    klo = imax(klo, r0 - band.diag);
                    if (band.window > 0) khi = imin(khi, r0 + mr - 1 - band.diag + band.window);
                }
                if (nlo >= nhi) continue; /* columns this tile never writes (the caller clears them) */
                if (klo > khi) klo = khi;
                if (klo == khi && add) continue; /* nothing to add */
                int64_t nw = nhi - nlo;
                int nv = (int)((nw + 15) / 16);
                __mmask16 ml = (__mmask16)((1u << (nw - 16 * (nv - 1))) - 1);
                tiles[mr - 1][nv - 1](khi - klo, alpha, A + r0 * sam + klo * sak, sam, sak, B + klo * ldb + nlo, ldb,
                                      C + r0 * ldc + nlo, ldc, add, ml);
            }
        }
    }
}

/* keys j0..j1 of X (rows ldx apart) -> T[d][j] (rows ldt apart), 16 keys at a time */
TGT512 void pl_attn_pack_t_avx512(int64_t D, int64_t j0, int64_t j1, const float *X, int64_t ldx, float *T, int64_t ldt) {
    for (int64_t jb = j0; jb < j1; jb += 16) {
        int nj = (int)imin(16, j1 - jb);
        pl_pack_transposed16_avx512(T + jb, ldt, (uint16_t)((1u << nj) - 1), X + jb * ldx, ldx, nj, D);
    }
}

TGT512 void pl_attn_dots_avx512(int64_t D, int64_t j0, int64_t j1, const float *q, const float *K, int64_t ldk, float scale,
                                float *out) {
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        const float *k0 = K + j * ldk;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t d = 0; d < D; d += 16) {
            __mmask16 m = (__mmask16)((1u << imin(16, D - d)) - 1);
            __m512 x = _mm512_maskz_loadu_ps(m, q + d);
            a0 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, k0 + d), a0);
            a1 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, k0 + ldk + d), a1);
            a2 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, k0 + 2 * ldk + d), a2);
            a3 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, k0 + 3 * ldk + d), a3);
        }
        out[j] = scale * _mm512_reduce_add_ps(a0);
        out[j + 1] = scale * _mm512_reduce_add_ps(a1);
        out[j + 2] = scale * _mm512_reduce_add_ps(a2);
        out[j + 3] = scale * _mm512_reduce_add_ps(a3);
    }
    for (; j < j1; j++) {
        __m512 a = _mm512_setzero_ps();
        for (int64_t d = 0; d < D; d += 16) {
            __mmask16 m = (__mmask16)((1u << imin(16, D - d)) - 1);
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), _mm512_maskz_loadu_ps(m, K + j * ldk + d), a);
        }
        out[j] = scale * _mm512_reduce_add_ps(a);
    }
}

/* di = sum_j P_ij dP_ij equals dO_i . O_i (O_i = sum_j P_ij V_j) and needs no read of O: the row pass makes P,
 * sums P dP while P and dP are in registers, then a second pass over the (L1-resident) row forms dS. */
TGT512 void pl_attn_bwd_row_avx512(int64_t n, float *p, float *ds, float lse) {
    __m512 l = _mm512_set1_ps(lse), acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 m = (__mmask16)((1u << imin(16, n - j)) - 1);
        __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + j), l)));
        _mm512_mask_storeu_ps(p + j, m, e);
        acc = _mm512_fmadd_ps(e, _mm512_maskz_loadu_ps(m, ds + j), acc);
    }
    __m512 dv = _mm512_set1_ps(_mm512_reduce_add_ps(acc));
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 m = (__mmask16)((1u << imin(16, n - j)) - 1);
        __m512 e = _mm512_maskz_loadu_ps(m, p + j);
        _mm512_mask_storeu_ps(ds + j, m, _mm512_mul_ps(e, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, ds + j), dv)));
    }
}

/* Masked tails instead of a scalar loop: attention rows have every length from 1 to Tk. */
TGT512 float pl_attn_softmax_avx512(int64_t n, float *x) {
    __m512 vm = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 m = (__mmask16)((1u << imin(16, n - j)) - 1);
        vm = _mm512_max_ps(vm, _mm512_mask_loadu_ps(vm, m, x + j));
    }
    float mx = _mm512_reduce_max_ps(vm);
    __m512 mv = _mm512_set1_ps(mx), vs = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 m = (__mmask16)((1u << imin(16, n - j)) - 1);
        __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), mv)));
        _mm512_mask_storeu_ps(x + j, m, e);
        vs = _mm512_add_ps(vs, e);
    }
    float l = _mm512_reduce_add_ps(vs);
    __m512 inv = _mm512_set1_ps(1.0f / l);
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 m = (__mmask16)((1u << imin(16, n - j)) - 1);
        _mm512_mask_storeu_ps(x + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + j), inv));
    }
    return mx + logf(l);
}
