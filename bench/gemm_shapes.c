/* The f32 products of one training step of the ~10M GPT (issue 2: 6 layers, width 384, 1024 tokens a step),
 * timed one call at a time for plinth's GEMM (pl_sgemm), OpenBLAS's cblas_sgemm and, where a library path is
 * given, MKL's SGEMM from the PyTorch wheel (loaded with dlopen: no MKL headers or link needed). All run on one
 * thread, interleaved shape by shape and repetition by repetition so that a slow stretch of a shared host hits
 * all of them alike; each figure is the best of the repetitions. "cold" flushes the caches (a 64 MB sweep)
 * before every call, as the step's operands mostly arrive from memory. Built and run by bench/bench_gemm.sh.
 *
 * usage: gemm_shapes REPS [MKL_LIBRARY]   (env PL_GEMM_COLD=1: flush before each call) */
#include "backend/cpu/sgemm.h"
#include "bench_common.h"
#include "core/cpu.h"

#include <cblas.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void openblas_set_num_threads(int);

typedef void (*fortran_sgemm)(const char *, const char *, const int *, const int *, const int *, const float *,
                              const float *, const int *, const float *, const int *, const float *, float *, const int *);

/* M x N x K and where they come from: x.W^T forward (B transposed), dY.W input gradient, dY^T.X weight gradient */
static const struct { int m, n, k; const char *what; } SHAPES[] = {
    {1024, 1152, 384, "fwd qkv"},  {1024, 384, 384, "fwd proj"},  {1024, 1536, 384, "fwd fc"},
    {1024, 384, 1536, "fwd fc2"},  {1024, 256, 384, "fwd head"},  {1024, 384, 1152, "dX qkv"},
    {1024, 384, 384, "dX proj"},   {1024, 384, 1536, "dX fc"},    {1024, 1536, 384, "dX fc2"},
    {1024, 384, 256, "dX head"},   {1152, 384, 1024, "dW qkv"},   {384, 384, 1024, "dW proj"},
    {1536, 384, 1024, "dW fc"},    {384, 1536, 1024, "dW fc2"},   {256, 384, 1024, "dW head"},
};
#define NSHAPES (int)(sizeof SHAPES / sizeof *SHAPES)

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 10, cold = getenv("PL_GEMM_COLD") && atoi(getenv("PL_GEMM_COLD"));
    fortran_sgemm mkl = NULL;
    if (argc > 2) {
        void *h = dlopen(argv[2], RTLD_NOW | RTLD_GLOBAL);
        if (!h) { fprintf(stderr, "gemm_shapes: cannot load %s: %s\n", argv[2], dlerror()); return 1; }
        mkl = (fortran_sgemm)dlsym(h, "SGEMM");
        void (*set_threads)(int) = (void (*)(int))dlsym(h, "mkl_serv_set_num_threads");
        if (!mkl) { fprintf(stderr, "gemm_shapes: no SGEMM in %s\n", argv[2]); return 1; }
        if (set_threads) set_threads(1);
    }
    openblas_set_num_threads(1);
    size_t n = 4u << 20; /* floats per operand: the largest shape needs 1536 x 1024 */
    float *A = huge_alloc(n * 4), *B = huge_alloc(n * 4), *C = huge_alloc(n * 4);
    float *sweep = calloc(SWEEP_FLOATS, sizeof(float));
    if (!A || !B || !C || !sweep) { fprintf(stderr, "gemm_shapes: out of memory\n"); return 1; }
    srand(1);
    for (size_t i = 0; i < n; i++) A[i] = rand() / (float)RAND_MAX - 0.5f, B[i] = rand() / (float)RAND_MAX - 0.5f, C[i] = 0;
    enum { PLINTH, OPENBLAS, MKL, NLIB };
    const char *names[NLIB] = {"plinth", "openblas", "mkl"};
    double best[NLIB][NSHAPES];
    for (int l = 0; l < NLIB; l++)
        for (int s = 0; s < NSHAPES; s++) best[l][s] = 1e30;
    for (int r = 0; r < reps; r++)
        for (int s = 0; s < NSHAPES; s++)
            for (int i = 0; i < NLIB; i++) {
                int l = (i + r) % NLIB; /* each library takes each place in turn: the first after a change of
                                            shape ran a few percent slow, whichever it was */
                if (l == MKL && !mkl) continue;
                int M = SHAPES[s].m, N = SHAPES[s].n, K = SHAPES[s].k, fwd = s < 5, dw = s >= 10;
                /* the step's layouts: A transposed for dW (dY^T), B transposed in the forward (W^T); the forward
                 * and dW products add to C (bias, gradient accumulation), dX writes it */
                float beta = fwd || dw ? 1.0f : 0.0f, one = 1.0f;
                pl_mat a = dw ? (pl_mat){A, M, K, 1, M} : (pl_mat){A, M, K, K, 1};
                pl_mat b = fwd ? (pl_mat){B, K, N, 1, K} : (pl_mat){B, K, N, N, 1};
                if (cold) flush(sweep);
                double t = now();
                if (l == PLINTH) {
                    if (!pl_sgemm(C, N, a, b, 1.0f, beta)) { fprintf(stderr, "gemm_shapes: pl_sgemm declined (no AVX2?)\n"); return 1; }
                } else if (l == OPENBLAS)
                    cblas_sgemm(CblasRowMajor, dw ? CblasTrans : CblasNoTrans, fwd ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A,
                                dw ? M : K, B, fwd ? K : N, beta, C, N);
                else { /* column-major: C^T (N x M) = B^T A^T */
                    int lda = dw ? M : K, ldb = fwd ? K : N;
                    mkl(fwd ? "T" : "N", dw ? "T" : "N", &N, &M, &K, &one, B, &ldb, A, &lda, &beta, C, &N);
                }
                t = now() - t;
                if (t < best[l][s]) best[l][s] = t;
            }
    printf("GFLOP/s per shape, one thread, best of %d, %s caches; plinth's %s kernels\n%-9s", reps, cold ? "cold" : "warm",
           pl_cpu_isa() >= PL_ISA_AVX512 ? "AVX-512" : "AVX2", "");
    for (int s = 0; s < NSHAPES; s++) printf(" %8.8s", SHAPES[s].what);
    printf(" | all %d shapes\n", NSHAPES);
    for (int l = 0; l < NLIB; l++) {
        if (l == MKL && !mkl) continue;
        double total = 0, flops = 0;
        printf("%-9s", names[l]);
        for (int s = 0; s < NSHAPES; s++) {
            double f = 2.0 * SHAPES[s].m * SHAPES[s].n * SHAPES[s].k;
            printf(" %8.0f", f / best[l][s] / 1e9);
            total += best[l][s], flops += f;
        }
        printf(" | %.2f ms, %.1f GFLOP/s\n", total * 1e3, flops / total / 1e9);
    }
    free(A), free(B), free(C), free(sweep);
    return 0;
}
