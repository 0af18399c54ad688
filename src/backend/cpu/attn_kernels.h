/* SIMD building blocks of the fused attention op (ops/attention.c), for AVX-512 and for AVX2 + FMA: a
 * register-blocked small GEMM whose rows may skip the keys a causal / sliding-window band masks, a block
 * transpose (16x16 / 8x8) that packs K or V as D x n columns, query-key dot products for a few query rows
 * (decode), the forward's row softmax and the backward's row pass (P = exp(S - lse), dS = P (dP - di)).
 * Callers pick a set with pl_attn_kernels_for(pl_cpu_isa()). */
#ifndef PL_ATTN_KERNELS_H
#define PL_ATTN_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cpu.h"

/* Which entries a block of attention rows can see. Query row r (of the block) sees keys
 * [lo(r), diag + r + 1) with lo(r) = window > 0 ? max(0, diag + r + 1 - window) : 0. on == false: all keys. */
typedef struct {
    bool on;
    int64_t diag, window;
} pl_attn_band;

/* How the band applies to C = alpha A B (+ C): */
typedef enum {
    PL_BAND_NONE, /* every entry */
    PL_BAND_N,    /* C rows are queries, C columns keys (S = Q K^T): entries outside a row tile's band are not written */
    PL_BAND_K,    /* C rows are queries, k runs over keys (O = P V): k outside the tile's band is skipped (A is 0 there) */
    PL_BAND_KT,   /* C rows are keys, k runs over queries (dK = dS^T Q): queries not seeing the tile's keys skipped */
} pl_band_use;

/* C[M x N] = alpha * A B (+ C when acc), A(m, k) at A[m*sam + k*sak], B row k at B + k*ldb (N contiguous
 * floats), C row m at C + m*ldc. Skipped parts (band) read A entries that must be 0 there and leave C as is. */
void pl_attn_gemm_avx512(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t sam, int64_t sak,
                         const float *B, int64_t ldb, float *C, int64_t ldc, bool acc, pl_attn_band band, pl_band_use use);

/* Columns [j0, j1) of T (D rows of ldt floats) <- rows j0..j1-1 of X (row j at X + j*ldx, D floats). */
void pl_attn_pack_t_avx512(int64_t D, int64_t j0, int64_t j1, const float *X, int64_t ldx, float *T, int64_t ldt);

/* out[j] = scale * dot(q, K row j) for j in [j0, j1), D floats each. */
void pl_attn_dots_avx512(int64_t D, int64_t j0, int64_t j1, const float *q, const float *K, int64_t ldk, float scale,
                         float *out);

/* x <- softmax(x) on n >= 1 floats; returns the log-sum-exp of the input (as pl_vec_softmax_f32). */
float pl_attn_softmax_avx512(int64_t n, float *x);

/* Decode over rows that lie anywhere (a batch's KV cells, row j at rows[j], D floats): out[j] = scale * dot(q,
 * rows[j]) for j < n; and out[0..D) = sum_j p[j] rows[j] (written). */
void pl_attn_rows_dots_avx512(int64_t D, int64_t n, const float *const *rows, const float *q, float scale, float *out);
void pl_attn_rows_wsum_avx512(int64_t D, int64_t n, const float *const *rows, const float *p, float *out, bool acc);
/* The same over f16 rows (an f16 KV cache), D a multiple of the vector width (16; AVX2: 8): the results of the two
 * above on the rows widened to f32 first, bit for bit. */
void pl_attn_rows_dots_h_avx512(int64_t D, int64_t n, const uint16_t *const *rows, const float *q, float scale,
                                float *out);
void pl_attn_rows_wsum_h_avx512(int64_t D, int64_t n, const uint16_t *const *rows, const float *p, float *out, bool acc);

/* On [0, n): p[j] <- exp(p[j] - lse), ds[j] <- p[j] * (ds[j] - di) with di = sum_j p[j] ds[j] (p holds scores,
 * ds holds dP, the row's whole band: di is dO . O computed without O). */
void pl_attn_bwd_row_avx512(int64_t n, float *p, float *ds, float lse);

/* The same for AVX2 + FMA (8-float vectors, 6 x 16 GEMM tiles, 8x8 transposes). */
void pl_attn_gemm_avx2(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t sam, int64_t sak,
                       const float *B, int64_t ldb, float *C, int64_t ldc, bool acc, pl_attn_band band,
                       pl_band_use use);
void pl_attn_pack_t_avx2(int64_t D, int64_t j0, int64_t j1, const float *X, int64_t ldx, float *T, int64_t ldt);
void pl_attn_dots_avx2(int64_t D, int64_t j0, int64_t j1, const float *q, const float *K, int64_t ldk, float scale,
                       float *out);
float pl_attn_softmax_avx2(int64_t n, float *x);
void pl_attn_rows_dots_avx2(int64_t D, int64_t n, const float *const *rows, const float *q, float scale, float *out);
void pl_attn_rows_wsum_avx2(int64_t D, int64_t n, const float *const *rows, const float *p, float *out, bool acc);
void pl_attn_rows_dots_h_avx2(int64_t D, int64_t n, const uint16_t *const *rows, const float *q, float scale, float *out);
void pl_attn_rows_wsum_h_avx2(int64_t D, int64_t n, const uint16_t *const *rows, const float *p, float *out, bool acc);
void pl_attn_bwd_row_avx2(int64_t n, float *p, float *ds, float lse);

/* One ISA's set of the kernels above. */
typedef struct {
    void (*gemm)(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t sam, int64_t sak, const float *B,
                 int64_t ldb, float *C, int64_t ldc, bool acc, pl_attn_band band, pl_band_use use);
    void (*pack_t)(int64_t D, int64_t j0, int64_t j1, const float *X, int64_t ldx, float *T, int64_t ldt);
    void (*dots)(int64_t D, int64_t j0, int64_t j1, const float *q, const float *K, int64_t ldk, float scale,
                 float *out);
    float (*softmax)(int64_t n, float *x);
    void (*bwd_row)(int64_t n, float *p, float *ds, float lse);
    void (*rows_dots)(int64_t D, int64_t n, const float *const *rows, const float *q, float scale, float *out);
    void (*rows_wsum)(int64_t D, int64_t n, const float *const *rows, const float *p, float *out, bool acc);
    void (*rows_dots_h)(int64_t D, int64_t n, const uint16_t *const *rows, const float *q, float scale, float *out);
    void (*rows_wsum_h)(int64_t D, int64_t n, const uint16_t *const *rows, const float *p, float *out, bool acc);
    int vlen; /* floats a vector: the f16 kernels take D % vlen == 0 */
} pl_attn_kernels;

/* The set for an ISA level (AVX-512's or AVX2's), NULL below AVX2: the caller keeps its sgemm path there. */
const pl_attn_kernels *pl_attn_kernels_for(pl_isa isa);

#endif
