/* plinth's own f32 matrix product for AVX-512 and AVX2 CPUs: C = alpha * A B + beta * C with A and B given by
 * element strides, so plain, transposed and other strided views need no copies by the caller. pl_sgemm runs on
 * the calling thread, pl_sgemm_par on a context's pool; each takes the kernels of pl_cpu_isa() at the time of
 * the call. Callers fall back to BLAS where they return false (a CPU below AVX2, PLINTH_GEMM=blas, or no memory
 * for the packing buffers). */
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
/* Up to 16 lines of src, each contiguous along k, written transposed: dst[k*w + j] = src[j*sj + k] for k < kc
 * and the lanes j set in keep (lanes j >= nj get 0). GEMM and attention pack their panels with it. */
void pl_pack_transposed16_avx512(float *dst, int64_t w, uint16_t keep, const float *src, int64_t sj, int64_t nj,
                                 int64_t kc);

/* The same on the context's thread pool: the packed panels are shared, and the tiles go to whichever thread
 * is free (bit-identical to the single-threaded product). Call from the context's own thread only. */
struct pl_ctx;
bool pl_sgemm_par(struct pl_ctx *ctx, float *c, int64_t ldc, pl_mat a, pl_mat b, float alpha, float beta);

/* C = A B + bias, the N floats of bias added to every row (a linear layer's bias) in the product's own
 * write-back: the same bits as C = bias then C = A B + C, without that extra pass over C. ctx may be NULL
 * (this thread only). */
bool pl_sgemm_bias_par(struct pl_ctx *ctx, float *c, int64_t ldc, pl_mat a, pl_mat b, const float *bias);
/* A product's epilogue: what its write-back does besides C = A B + beta C, while the tile is in registers.
 * bias: N floats added to every row, as pl_sgemm_bias_par (beta then unused). The rest applies to the final
 * value of C (in the last K block): add: C += an M x N matrix (a residual connection); gelu: gelu(C) (tanh
 * approximation, or the erf form with gelu_erf) also written to an M x N matrix; gelu_x: C = C * gelu'(x) for an M x N matrix x (GELU's
 * backward, the product being the GELU output's gradient). Each gives the bits of the separate pass
 * (pl_vec_gelu_f32 and pl_vec_gelu_grad_f32 where rows are a multiple of the vector width, 16 floats on AVX-512 and
 * 8 on AVX2; their scalar tails may differ in the last bit). */
typedef struct {
    const float *bias;
    const float *add;
    int64_t ld_add;
    float *gelu;
    int64_t ld_gelu;
    bool gelu_erf;            /* gelu is the exact (erf) form, pl_vec_gelu_erf_f32's bits (BERT's), not tanh's */
    bool gelu_quick;          /* gelu is QuickGELU, x sigmoid(1.702 x), pl_vec_qgelu_f32's bits (CLIP's) */
    const float *gelu_x;
    int64_t ld_gelu_x;
} pl_sgemm_epi;
bool pl_sgemm_epi_par(struct pl_ctx *ctx, float *c, int64_t ldc, pl_mat a, pl_mat b, float beta, const pl_sgemm_epi *epi);
/* C = A B + beta C, and rowsum[r] += the sum of A's row r (in column order), gathered while A is packed: a
 * linear layer's weight gradient dC^T X and its bias gradient (dC's column sums) in one pass over dC.
 * false (nothing done) unless A is a transposed view (unit row stride) and plinth's GEMM is in use. */
bool pl_sgemm_rowsum_par(struct pl_ctx *ctx, float *c, int64_t ldc, pl_mat a, pl_mat b, float beta, float *rowsum);

#endif
