/* Reductions to a scalar: sum and mean (a loss's last step), forward (summed in double) and backward (the
 * scalar's gradient, scaled for mean, added to every element). Inputs: f32 with contiguous rows. */
#include "ops/rows.h"

/* ---- sum / mean -------------------------------------------------------------------------------------- */
static pl_tensor *reduce(pl_ctx *ctx, pl_op op, pl_tensor *x) {
    if (!x) return NULL;
    OP_REQUIRE(rows_f32(x), "%s: f32 input expected", pl_op_name(op));
    return op_new_node(ctx, op, PL_F32, 1, (int64_t[]){1}, x, NULL, NULL, NULL);
}
pl_tensor *pl_sum(pl_ctx *ctx, pl_tensor *x) { return reduce(ctx, PL_OP_SUM, x); }
pl_tensor *pl_mean(pl_ctx *ctx, pl_tensor *x) { return reduce(ctx, PL_OP_MEAN, x); }
static void reduce_forward(pl_ctx *ctx, pl_tensor *t) {
    pl_tensor *x = t->src[0];
    double s = 0;
    for (int64_t r = 0; r < pl_nrows(x); r++) {
        int64_t i1, i2, i3;
        row_index(x, r, &i1, &i2, &i3);
        const float *p = row_ptr(x, i1, i2, i3);
        for (int64_t i = 0; i < x->ne[0]; i++) s += p[i];
    }
    if (t->op == PL_OP_MEAN) s /= (double)pl_nelements(x);
    pl_f32(t)[0] = (float)s;
    (void)ctx;
}
static void reduce_backward(pl_ctx *ctx, pl_tensor *t) {
    float *gx = op_grad(t->src[0]);
    if (!gx) return;
    float g = pl_f32(t->grad)[0];
    if (t->op == PL_OP_MEAN) g /= (float)pl_nelements(t->src[0]);
    for (int64_t i = 0; i < pl_nelements(t->src[0]); i++) gx[i] += g;
    (void)ctx;
}
void op_sum_forward(pl_ctx *ctx, pl_tensor *t) { reduce_forward(ctx, t); }
void op_sum_backward(pl_ctx *ctx, pl_tensor *t) { reduce_backward(ctx, t); }
void op_mean_forward(pl_ctx *ctx, pl_tensor *t) { reduce_forward(ctx, t); }
void op_mean_backward(pl_ctx *ctx, pl_tensor *t) { reduce_backward(ctx, t); }
