/* plinth's own single-threaded f32 matrix product for AVX-512 CPUs: C = alpha * A B + beta * C with A and B
 * given by element strides, so plain, transposed and other strided views need no copies by the caller.
 * Callers split the work across threads (ops/matmul.c splits C's rows) and fall back to BLAS where
 * pl_sgemm returns false (a CPU without AVX-512, or no memory for the packing buffers). */
#ifndef PL_SGEMM_H
#define PL_SGEMM_H

#include <stdbool.h>
#include <stdint.h>

/* A strided f32 matrix: element (r, c) at p[r*rs + c*cs]. */
typedef struct { const float *p; int64_t rows, cols, rs, cs; } pl_mat;

/* C (A.rows x B.cols, row-major with leading dimension ldc) = alpha * A B + beta * C; beta == 0 never reads C.
 * Every element is summed in the same order whatever the split of rows, so row-split callers are
 * deterministic across thread counts. */
bool pl_sgemm(float *c, int64_t ldc, pl_mat a, pl_mat b, float alpha, float beta);
bool pl_sgemm_avx512(float *c, int64_t ldc, pl_mat a, pl_mat b, float alpha, float beta);

#endif
