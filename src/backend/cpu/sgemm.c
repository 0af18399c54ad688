/* plinth's f32 GEMM (C = alpha A B + beta C): the blocked driver, shared by the instruction sets, in the
 * classic form:
 *   for each block of at most KC rows of B (and columns of A; K cut into equal blocks),
 *     for each block of NC columns of B: pack that block into panels of NR columns (L2-sized),
 *       for each A panel of MR rows (packed by the unit that uses it, in the first N block; a row-major A is read
 *       in place instead where the ISA has such a kernel, but for a last partial panel), then in L1, for each B
 *       panel: the MR x NR micro-kernel, which keeps its tile of C in registers.
 * The tile shape, block sizes, packing and kernels are the ISA's (sgemm_isa.h: AVX-512 12 x 32, AVX2 6 x 16),
 * picked per product from pl_cpu_isa(). Packing reads any strides, so the caller passes views as they are.
 * Tiles past the edges compute on zero padding into a scratch tile and copy back. */
#include "backend/cpu/sgemm.h"
#include "backend/cpu/sgemm_isa.h"

#include "core/common.h"
#include "core/cpu.h"
#include "core/tensor.h"

#include <stdlib.h>
#include <string.h>

/* One (K block, N block) step of the product, in two passes that threads can share: pack B's panels, then
 * compute (a unit = one A panel against every B panel of the block). When the K block is new, a unit first packs
 * its A panel (it alone uses it), which then stays in L1 for the block's B panels (level to 0.4% faster than a
 * shared pack pass before: one pass and one wait fewer). */
typedef struct {
    const sgemm_isa *isa;
    float *c, *apack, *bpack;
    int64_t ldc, k0, kc, n0, nc, na; /* na: pack A's panels in this pass (0: packed in an earlier N block) */
    pl_mat a, b;
    float alpha, beta;
    const float *bias; /* added to every row in the first K block (beta then unused), or NULL */
    float *rowsum;     /* += A's row sums, gathered while packing a transposed A, or NULL */
    const pl_sgemm_epi *epi; /* the rest of the epilogue, applied in the last K block, or NULL */
} step_job;

static int64_t pack_b_units(pl_mat b, int64_t kc, int64_t nc, int64_t nr) {
    return b.cs == 1 ? (kc + PL_SGEMM_PACK_B_ROWS - 1) / PL_SGEMM_PACK_B_ROWS : (nc + nr - 1) / nr;
}
static void pack_units(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    step_job *j = arg;
    for (int64_t u = s; u < e; u++) j->isa->pack_b(j->bpack, j->b, j->k0, j->kc, j->n0, j->nc, u);
}

static void compute_units(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    step_job *j = arg;
    const sgemm_isa *isa = j->isa;
    int64_t M = j->a.rows, kc = j->kc, MR = isa->mr, NR = isa->nr;
    const pl_sgemm_epi *pe = j->k0 + kc >= j->a.cols ? j->epi : NULL; /* the epilogue: in the last K block */
    /* whole panels of a row-major A are not packed where the ISA has a kernel that reads them in place */
    bool rows_in_place = isa->kernel_rows && j->a.cs == 1 && j->a.rs != 1;
    for (int64_t p = s; p < e; p++) {
        int64_t m0 = p * MR, mr = PL_MIN(MR, M - m0);
        bool in_place = rows_in_place && mr == MR;
        if (j->na && !in_place) /* packed where it is used: then in L1 */
            isa->pack_a(j->apack, j->a, j->k0, kc, p, j->rowsum);
        const float *ap = in_place ? j->a.p + m0 * j->a.rs + j->k0 : j->apack + p * kc * MR, *bp = j->bpack;
        int64_t lda = in_place ? j->a.rs : 0;
        for (int64_t col = 0; col < j->nc; col += NR, bp += kc * NR) {
            int64_t n = j->n0 + col, nr = PL_MIN(NR, j->nc - col);
            float *cij = j->c + m0 * j->ldc + n;
            const float *bias = j->bias && j->k0 == 0 ? j->bias + n : NULL;
            tile_epi te, *ep = NULL;
            if (pe) {
                te = (tile_epi){.add = pe->add ? pe->add + m0 * pe->ld_add + n : NULL, .ld_add = pe->ld_add,
                                .gelu = pe->gelu ? pe->gelu + m0 * pe->ld_gelu + n : NULL, .ld_gelu = pe->ld_gelu,
                                .gelu_erf = pe->gelu_erf, .gelu_quick = pe->gelu_quick,
                                .gelu_x = pe->gelu_x ? pe->gelu_x + m0 * pe->ld_gelu_x + n : NULL,
                                .ld_gelu_x = pe->ld_gelu_x};
                ep = &te;
            }
            if (nr < NR || mr < MR) isa->kernel_edge(kc, ap, lda, bp, cij, j->ldc, mr, nr, j->alpha, j->beta, bias, ep);
            else if (in_place) isa->kernel_rows(kc, ap, lda, bp, cij, j->ldc, j->alpha, j->beta, bias, ep);
            else isa->kernel(kc, ap, bp, cij, j->ldc, j->alpha, j->beta, bias, ep);
        }
    }
}

/* ctx NULL: all on this thread; else both passes of every step go unit by unit to the pool's free threads,
 * which share the packed panels (each packed once), and a slower core takes fewer units. */
static bool sgemm_run(const sgemm_isa *isa, pl_ctx *ctx, float *c, int64_t ldc, pl_mat a, pl_mat b, float alpha,
                      float beta, const pl_sgemm_epi *epi, float *rowsum) {
    if (!isa) return false;
    int64_t M = a.rows, N = b.cols, K = a.cols, MR = isa->mr, NR = isa->nr, KC = isa->kc;
    const float *bias = epi ? epi->bias : NULL;
    bool more = epi && (epi->add || epi->gelu || epi->gelu_x); /* epilogue beyond the bias */
    if (M <= 0 || N <= 0) return true;
    if (K <= 0) { /* C = beta C, or the bias; an empty product with more epilogue is left to the caller */
        if (more) return false;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) c[i * ldc + j] = bias ? bias[j] : beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return true;
    }
    /* K in blocks of equal size (at most KC, a multiple of 8): 1024 as 3 x ~344, not 384 + 384 + 256 (the
     * weight-gradient products with a short last block ran 2-4% slower) */
    int64_t nkb = (K + KC - 1) / KC, kcb = ((K + nkb - 1) / nkb + 7) / 8 * 8;
    int64_t kcmax = PL_MIN(K, kcb), ncmax = PL_MAX(NR, (isa->bpack_floats / kcmax) / NR * NR);
    ncmax = PL_MIN(ncmax, (N + NR - 1) / NR * NR);
    int64_t npan = (M + MR - 1) / MR; /* A's panels of MR rows, all packed once per K block */
    size_t bytes = (size_t)(kcmax * ncmax + npan * kcmax * MR) * sizeof(float);
    float *bpack = aligned_alloc(64, (bytes + 63) / 64 * 64); /* C11: a size that is a multiple of the alignment */
    if (!bpack) return false;
    step_job j = {.isa = isa, .c = c, .apack = bpack + kcmax * ncmax, .bpack = bpack, .ldc = ldc, .a = a, .b = b,
                  .alpha = alpha, .bias = bias, .rowsum = rowsum,
                  .epi = more ? epi : NULL};
    for (j.k0 = 0; j.k0 < K; j.k0 += kcb) {
        j.kc = PL_MIN(kcb, K - j.k0);
        j.beta = j.k0 == 0 ? beta : 1.0f; /* later K blocks add to what the first wrote */
        for (j.n0 = 0; j.n0 < N; j.n0 += ncmax) {
            j.nc = PL_MIN(ncmax, N - j.n0);
            j.na = j.n0 == 0;
            int64_t units = pack_b_units(b, j.kc, j.nc, NR);
            if (ctx) {
                pl_parallel_for_dynamic(ctx, units, pack_units, &j);
                pl_parallel_for_dynamic(ctx, npan, compute_units, &j);
            } else {
                pack_units(&j, 0, units, 0);
                compute_units(&j, 0, npan, 0);
            }
        }
    }
    free(bpack);
    return true;
}

/* PLINTH_GEMM=blas leaves every product to BLAS (to compare the two); else the kernels of the CPU's ISA, as
 * capped by PLINTH_CPU or pl_cpu_set_max_isa() at the time of the call (NULL below AVX2: the caller uses BLAS) */
static const sgemm_isa *pick(void) {
    static int blas = -1; /* decided once; pool threads may race to the same answer */
    int u = __atomic_load_n(&blas, __ATOMIC_RELAXED);
    if (u < 0) {
        const char *e = getenv("PLINTH_GEMM");
        u = e && strcmp(e, "blas") == 0;
        __atomic_store_n(&blas, u, __ATOMIC_RELAXED);
    }
    if (u) return NULL;
    pl_isa isa = pl_cpu_isa();
    return isa >= PL_ISA_AVX512 ? &pl_sgemm_isa_avx512 : isa >= PL_ISA_AVX2 ? &pl_sgemm_isa_avx2 : NULL;
}
bool pl_sgemm(float *c, int64_t ldc, pl_mat a, pl_mat b, float alpha, float beta) {
    return sgemm_run(pick(), NULL, c, ldc, a, b, alpha, beta, NULL, NULL);
}
bool pl_sgemm_par(pl_ctx *ctx, float *c, int64_t ldc, pl_mat a, pl_mat b, float alpha, float beta) {
    return sgemm_run(pick(), ctx, c, ldc, a, b, alpha, beta, NULL, NULL);
}
bool pl_sgemm_bias_par(pl_ctx *ctx, float *c, int64_t ldc, pl_mat a, pl_mat b, const float *bias) {
    return sgemm_run(pick(), ctx, c, ldc, a, b, 1.0f, 0.0f, &(pl_sgemm_epi){.bias = bias}, NULL);
}
bool pl_sgemm_epi_par(pl_ctx *ctx, float *c, int64_t ldc, pl_mat a, pl_mat b, float beta, const pl_sgemm_epi *epi) {
    return sgemm_run(pick(), ctx, c, ldc, a, b, 1.0f, beta, epi, NULL);
}
bool pl_sgemm_rowsum_par(pl_ctx *ctx, float *c, int64_t ldc, pl_mat a, pl_mat b, float beta, float *rowsum) {
    return a.rs == 1 && a.cols > 0 && sgemm_run(pick(), ctx, c, ldc, a, b, 1.0f, beta, NULL, rowsum);
}
