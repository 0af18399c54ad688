/* 1-D convolution (Whisper's audio front-end) as im2col + matmul: im2col lays each output position's window
 * (every input channel times K taps, zero outside the input) out as one row, so a convolution is one GEMM of
 * the (O, C*K) weight with those rows, bias added in its write-back. Backward of im2col scatter-adds each row
 * back into the input positions it was read from. */
#include "ops/ops.h"

#include <string.h>

pl_tensor *pl_im2col_1d(pl_ctx *ctx, pl_tensor *x, int k, int stride, int pad) {
    if (!x) return NULL;
    OP_REQUIRE(x->type == PL_F32 && x->ne[2] == 1 && x->ne[3] == 1, "im2col_1d: f32 {T, C} input expected");
    OP_REQUIRE(k > 0 && stride > 0 && pad >= 0, "im2col_1d: kernel %d, stride %d, padding %d", k, stride, pad);
    int64_t T = x->ne[0], C = x->ne[1], To = (T + 2 * pad - k) / stride + 1;
    OP_REQUIRE(To > 0, "im2col_1d: %lld input positions are fewer than the kernel's %d", (long long)T, k);
    int64_t ne[2] = {C * k, To};
    pl_tensor *t = op_new_node(ctx, PL_OP_IM2COL_1D, PL_F32, 2, ne, x, NULL, NULL, NULL);
    if (!t) return NULL;
    t->p.i[0] = k; t->p.i[1] = stride; t->p.i[2] = pad;
    return t;
}

pl_tensor *pl_conv1d(pl_ctx *ctx, pl_tensor *w, pl_tensor *bias, pl_tensor *x, int stride, int pad) {
    if (!w || !x) return NULL;
    OP_REQUIRE(pl_is_contiguous(w) && w->ne[3] == 1 && x->ne[1] == w->ne[1],
               "conv1d: weight {K, C, O} with C = %lld input channels expected", (long long)x->ne[1]);
    pl_tensor *cols = pl_im2col_1d(ctx, x, (int)w->ne[0], stride, pad);
    pl_tensor *w2 = pl_reshape_2d(ctx, w, w->ne[0] * w->ne[1], w->ne[2]);
    return bias ? pl_matmul_bias(ctx, w2, cols, bias) : pl_matmul(ctx, w2, cols);
}

/* row o of the output: for each channel c, taps j: x[c][o*stride + j - pad] */
static void im2col_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg, *x = t->src[0];
    int k = t->p.i[0], stride = t->p.i[1], pad = t->p.i[2];
    int64_t T = x->ne[0], C = x->ne[1];
    for (int64_t o = s; o < e; o++) {
        float *row = pl_f32(t) + o * t->ne[0];
        for (int64_t c = 0; c < C; c++)
            for (int j = 0; j < k; j++) {
                int64_t i = o * stride + j - pad;
                row[c * k + j] = i >= 0 && i < T ? *(const float *)((const char *)x->data + i * x->nb[0] + c * x->nb[1]) : 0.0f;
            }
    }
}
void op_im2col_1d_forward(pl_ctx *ctx, pl_tensor *t) { pl_parallel_for(ctx, t->ne[1], im2col_rows, t); }

/* channels c of dx: sum over the windows that read each position (one thread per channel range: no races) */
static void im2col_grad(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg, *x = t->src[0];
    int k = t->p.i[0], stride = t->p.i[1], pad = t->p.i[2];
    int64_t T = x->ne[0];
    const pl_tensor *gx = x->grad; /* x's shape; strided when it is a window of another gradient (grad_plan.c) */
    const float *g = pl_f32(t->grad);
    for (int64_t c = s; c < e; c++)
        for (int64_t o = 0; o < t->ne[1]; o++)
            for (int j = 0; j < k; j++) {
                int64_t i = o * stride + j - pad;
                if (i >= 0 && i < T) *(float *)((char *)gx->data + i * gx->nb[0] + c * gx->nb[1]) += g[o * t->ne[0] + c * k + j];
            }
}
void op_im2col_1d_backward(pl_ctx *ctx, pl_tensor *t) {
    if (op_grad(t->src[0])) pl_parallel_for(ctx, t->src[0]->ne[1], im2col_grad, t);
}
