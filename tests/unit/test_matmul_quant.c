/* pl_matmul over low-precision weights, both paths: few activation rows go through the dot kernels
 * (activations quantized to the weight type's partner), many rows through dequantize + sgemm. Each is held
 * to a double-precision product of the dequantized weights. And the input's gradient through a frozen
 * low-precision weight (LoRA over a quantized base), activations in batches {K, T, B}: dB = dC . A. */
#include "core/tensor.h"
#include "quant/quant.h"
#include "test.h"

static float rnd(unsigned *s) { *s = *s * 1664525u + 1013904223u; return ((*s >> 8) / 16777216.0f) * 2 - 1; }

static double run(pl_ctx *ctx, pl_dtype type, int64_t M, int64_t K, int64_t N, unsigned seed) {
    const pl_type_traits *tr = pl_dtype_traits(type);
    float *wf = malloc((size_t)(M * K) * sizeof(float)), *wd = malloc((size_t)(M * K) * sizeof(float));
    pl_tensor *a = pl_new_2d(ctx, type, K, M), *b = pl_new_2d(ctx, PL_F32, K, N);
    for (int64_t i = 0; i < M * K; i++) wf[i] = rnd(&seed);
    for (int64_t i = 0; i < N * K; i++) pl_f32(b)[i] = rnd(&seed);
    for (int64_t m = 0; m < M; m++) tr->from_float(wf + m * K, (char *)a->data + m * a->nb[1], K);
    for (int64_t m = 0; m < M; m++) tr->to_float((char *)a->data + m * a->nb[1], wd + m * K, K);
    pl_tensor *c = pl_matmul(ctx, a, b);
    pl_graph_forward(ctx, pl_graph_build(ctx, c, false));
    double err = 0, mag = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            double ref = 0;
            for (int64_t k = 0; k < K; k++) ref += (double)wd[m * K + k] * pl_f32(b)[n * K + k];
            err = fmax(err, fabs(pl_f32(c)[n * M + m] - ref));
            mag = fmax(mag, fabs(ref));
        }
    free(wf);
    free(wd);
    return err / mag;
}

/* b {K, T, B} a parameter, a frozen; loss = sum(c * r) with r random, so dB[t,b] = sum_m r[m,t,b] a[m] */
static double run_backward(pl_ctx *ctx, pl_dtype type, int64_t M, int64_t K, int64_t T, int64_t B, unsigned seed) {
    const pl_type_traits *tr = pl_dtype_traits(type);
    float *wf = malloc((size_t)(M * K) * sizeof(float)), *wd = malloc((size_t)(M * K) * sizeof(float));
    pl_tensor *a = pl_new_2d(ctx, type, K, M), *b = pl_new_3d(ctx, PL_F32, K, T, B), *r = pl_new_3d(ctx, PL_F32, M, T, B);
    for (int64_t i = 0; i < M * K; i++) wf[i] = rnd(&seed);
    for (int64_t i = 0; i < K * T * B; i++) pl_f32(b)[i] = rnd(&seed);
    for (int64_t i = 0; i < M * T * B; i++) pl_f32(r)[i] = rnd(&seed);
    for (int64_t m = 0; m < M; m++) tr->from_float(wf + m * K, (char *)a->data + m * a->nb[1], K);
    for (int64_t m = 0; m < M; m++) tr->to_float((char *)a->data + m * a->nb[1], wd + m * K, K);
    pl_param(ctx, b);
    pl_tensor *loss = pl_sum(ctx, pl_mul(ctx, pl_matmul(ctx, a, b), r));
    pl_graph *g = pl_graph_build(ctx, loss, true);
    pl_graph_forward(ctx, g);
    pl_graph_backward_reset(ctx, g);
    double err = 0, mag = 0;
    for (int64_t n = 0; n < T * B; n++)
        for (int64_t k = 0; k < K; k++) {
            double ref = 0;
            for (int64_t m = 0; m < M; m++) ref += (double)pl_f32(r)[n * M + m] * wd[m * K + k];
            err = fmax(err, fabs(pl_f32(b->grad)[n * K + k] - ref));
            mag = fmax(mag, fabs(ref));
        }
    free(wf);
    free(wd);
    return err / mag;
}

int main(void) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
    pl_dtype types[] = {PL_F16, PL_BF16, PL_Q8_0, PL_Q4_0, PL_Q4_1, PL_Q5_0, PL_Q5_1, PL_Q4_K, PL_Q5_K, PL_Q6_K};
    for (size_t i = 0; i < PL_ARRAY_LEN(types); i++) {
        /* 300 rows: more than one 256-row block, and a partial one */
        double dots = run(ctx, types[i], 300, 512, 5, 11 + (unsigned)i);   /* dot kernels */
        double gemm = run(ctx, types[i], 300, 512, 200, 23 + (unsigned)i); /* dequantize + sgemm (200 rows: past q8_0's dot path) */
        bool f16ish = types[i] == PL_F16 || types[i] == PL_BF16;
        CHECKF(gemm <= 1e-5, "%s dequantize+sgemm: relative error %.3g", pl_dtype_name(types[i]), gemm);
        CHECKF(dots <= (f16ish ? 1e-5 : 1e-2), "%s dot kernels: relative error %.3g", pl_dtype_name(types[i]), dots);
        double back = run_backward(ctx, types[i], 600, 512, 7, 3, 37 + (unsigned)i); /* more than one block of rows */
        CHECKF(back <= 1e-5, "%s input gradient through a frozen weight: relative error %.3g", pl_dtype_name(types[i]), back);
        if (getenv("VERBOSE")) printf("%-5s dots %.2e  gemm %.2e  backward %.2e\n", pl_dtype_name(types[i]), dots, gemm, back);
        pl_ctx_reset(ctx);
    }
    pl_ctx_free(ctx);
    TEST_DONE();
}
