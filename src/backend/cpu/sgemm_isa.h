/* The instruction-set half of plinth's f32 GEMM: each ISA's tile shape, block sizes, packing routines and
 * micro-kernels as one table (sgemm_avx512.c: 12 x 32 tiles in zmm registers; sgemm_avx2.c: 6 x 16 in ymm),
 * which the blocked driver in sgemm.c picks at run time and works through. Internal to the GEMM. */
#ifndef PL_SGEMM_ISA_H
#define PL_SGEMM_ISA_H

#include "backend/cpu/sgemm.h"

/* A row-major B is packed 16 of its rows per unit of work (each row read once, dealt into every panel) */
#define PL_SGEMM_PACK_B_ROWS 16

/* What a tile's write-back does besides C = alpha acc + beta C, in the product's last K block: the product's
 * pl_sgemm_epi with its pointers at the tile's first element (its bias goes to the kernels apart: first K block) */
typedef pl_sgemm_epi tile_epi;

typedef struct {
    int mr, nr;           /* the micro-kernel's tile of C: mr rows (an A panel), nr columns (a B panel) */
    int kc;               /* at most this many values of k per block, a multiple of 8 */
    int64_t bpack_floats; /* the packed block of B, kc x nc floats at most: sized to stay in L2 */
    /* B's rows k0..k0+kc, columns n0..n0+nc -> panels of nr columns, each [kc][nr], zero beyond nc. Unit u of
     * work: PL_SGEMM_PACK_B_ROWS rows of a row-major B (b.cs == 1), else panel u. */
    void (*pack_b)(float *dst, pl_mat b, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int64_t u);
    /* A's columns k0..k0+kc, rows of panel u (mr rows): [kc][mr] at dst + u*kc*mr, zero past M. rowsum (a
     * transposed A only, a.rs == 1): += the panel's row sums, added in k order. */
    void (*pack_a)(float *dst, pl_mat a, int64_t k0, int64_t kc, int64_t u, float *rowsum);
    /* C[mr][nr] (leading dimension ldc) = alpha * Ap^T Bp + beta * C over kc (or alpha Ap^T Bp + bias where bias is
     * given: the first K block), then ep; beta == 0 never reads C. Ap: [kc][mr]; Bp: a packed panel [kc][nr]. */
    void (*kernel)(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, float alpha, float beta,
                   const float *bias, const tile_epi *ep);
    /* The same with A's mr rows read in place from a row-major A (lda floats apart): the same FMAs in the same
     * order, so the same bits. NULL: such an A is packed too. */
    void (*kernel_rows)(int64_t kc, const float *a, int64_t lda, const float *bp, float *c, int64_t ldc, float alpha,
                        float beta, const float *bias, const tile_epi *ep);
    /* A tile cut by the matrix's edge: only its mr x nr corner written. lda != 0: ap is A's rows in place. */
    void (*kernel_edge)(int64_t kc, const float *ap, int64_t lda, const float *bp, float *c, int64_t ldc, int64_t mr,
                        int64_t nr, float alpha, float beta, const float *bias, const tile_epi *ep);
} sgemm_isa;

extern const sgemm_isa pl_sgemm_isa_avx512, pl_sgemm_isa_avx2;

#endif
