/* What the fused write-backs of a training step cost plinth's GEMM (issue 2): each product of the ~10M GPT that
 * carries an epilogue, timed beside the same product bare, on the same operands. fc: x W^T + bias, then GELU
 * written to its own matrix; proj: x W^T + bias + the residual; fc2's input gradient: dY W, times GELU'(x).
 * Caches are flushed (a 64 MB sweep) before every call, as the step's operands mostly come from memory; each
 * figure is the best of the repetitions, the variants interleaved so that a slow stretch of a shared host hits
 * all alike. Built and run by bench/bench_gemm.sh.
 *
 * usage: gemm_epilogue REPS [THREADS] */
#include "backend/cpu/sgemm.h"
#include "core/tensor.h"
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>

enum { FC, FC_GELU, PROJ, PROJ_ADD, DX_FC2, DX_FC2_GELU, NVAR };
static const char *NAMES[NVAR] = {"fc fwd, bias", "fc fwd, bias + GELU", "proj fwd, bias", "proj fwd, bias + residual",
                                  "fc2 dX", "fc2 dX, x GELU'(x)"};
static int64_t cols(int v) { return v == PROJ || v == PROJ_ADD ? 384 : 1536; } /* N; M = 1024, K = 384 for all */

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 10, threads = argc > 2 ? atoi(argv[2]) : 1;
    if (reps < 1 || threads < 1) {
        fprintf(stderr, "usage: gemm_epilogue REPS [THREADS]\n");
        return 2;
    }
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 1 << 20, .n_threads = threads});
    size_t n = (size_t)1024 * 1536; /* floats in the largest operand (M x N of fc) */
    float *a = huge_alloc(n * 4), *b = huge_alloc(n * 4), *c = huge_alloc(n * 4), *g = huge_alloc(n * 4),
          *x = huge_alloc(n * 4), *bias = huge_alloc(1536 * 4);
    float *sweep = calloc(SWEEP_FLOATS, sizeof(float));
    if (!ctx || !a || !b || !c || !g || !x || !bias || !sweep) {
        fprintf(stderr, "gemm_epilogue: out of memory\n");
        return 1;
    }
    srand(1);
    for (size_t i = 0; i < n; i++)
        a[i] = rand() / (float)RAND_MAX - 0.5f, b[i] = rand() / (float)RAND_MAX - 0.5f, x[i] = rand() / (float)RAND_MAX - 0.5f;
    for (int i = 0; i < 1536; i++) bias[i] = 0.01f * (float)(i % 7);
    double best[NVAR];
    for (int v = 0; v < NVAR; v++) best[v] = 1e30;
    for (int r = 0; r < reps; r++)
        for (int v = 0; v < NVAR; v++) {
            int64_t M = 1024, K = 384, N = cols(v);
            bool fwd = v < DX_FC2; /* the forward reads W transposed */
            pl_mat am = {a, M, K, K, 1}, bm = fwd ? (pl_mat){b, K, N, 1, K} : (pl_mat){b, K, N, N, 1};
            pl_sgemm_epi e = {.bias = fwd ? bias : NULL};
            if (v == FC_GELU) e.gelu = g, e.ld_gelu = N;
            if (v == PROJ_ADD) e.add = x, e.ld_add = N;
            if (v == DX_FC2_GELU) e.gelu_x = x, e.ld_gelu_x = N;
            flush(sweep);
            double t = now();
            bool ok = pl_sgemm_epi_par(ctx, c, N, am, bm, 0.0f, &e);
            t = now() - t;
            if (!ok) {
                fprintf(stderr, "gemm_epilogue: pl_sgemm declined (no AVX2?)\n");
                return 1;
            }
            if (t < best[v]) best[v] = t;
        }
    printf("plinth's GEMM with and without its epilogue, %d thread%s, best of %d, cold caches\n", threads,
           threads == 1 ? "" : "s", reps);
    for (int v = 0; v < NVAR; v++) {
        double f = 2.0 * 1024 * (double)cols(v) * 384;
        printf("%-27s %7.3f ms %6.1f GFLOP/s", NAMES[v], best[v] * 1e3, f / best[v] / 1e9);
        if (v % 2) printf("   epilogue %+.3f ms", (best[v] - best[v - 1]) * 1e3);
        printf("\n");
    }
    pl_ctx_free(ctx);
    free(a), free(b), free(c), free(g), free(x), free(bias), free(sweep);
    return 0;
}
