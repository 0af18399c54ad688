/* RMSNorm and LayerNorm over each row (dim 0), without the affine part (models multiply/add their
 * weights with pl_mul / pl_add). Forward keeps 1/std per row for backward. */
#include "backend/cpu/vec.h"
#include "ops/ops.h"

#include <math.h>

static pl_tensor *norm_node(pl_ctx *ctx, pl_op op, pl_tensor *x, float eps) {
    if (!x) return NULL;
    OP_REQUIRE(x->type == PL_F32 && x->nb[0] == sizeof(float), "%s: f32 rows expected", pl_op_name(op));
    pl_tensor *t = op_new_node(ctx, op, PL_F32, x->n_dims, x->ne, x, NULL, NULL, NULL);
    if (!t) return NULL;
    t->p.f[0] = eps;
    t->saved = pl_ctx_alloc(ctx, (size_t)pl_nrows(t) * sizeof(float));
    return t->saved ? t : NULL;
}
pl_tensor *pl_rmsnorm(pl_ctx *ctx, pl_tensor *x, float eps) { return norm_node(ctx, PL_OP_RMSNORM, x, eps); }
pl_tensor *pl_layernorm(pl_ctx *ctx, pl_tensor *x, float eps) { return norm_node(ctx, PL_OP_LAYERNORM, x, eps); }

static void norm_rows(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg;
    int64_t n = t->ne[0];
    float eps = t->p.f[0];
    for (int64_t r = s; r < e; r++) {
        const float *x = op_src_row(t, t->src[0], r);
        float *y = pl_f32(t) + r * n;
        if (t->op == PL_OP_RMSNORM) { /* the inference hot path: SIMD sum of squares, one scaling pass */
            float rstd = (float)(1.0 / sqrt(pl_vec_dot_f32(n, x, x) / n + eps));
            for (int64_t i = 0; i < n; i++) y[i] = x[i] * rstd;
            t->saved[r] = rstd;
            continue;
        }
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++) mean += x[i];
        mean /= n;
        for (int64_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
        float rstd = (float)(1.0 / sqrt(var / n + eps));
        for (int64_t i = 0; i < n; i++) y[i] = (float)(x[i] - mean) * rstd;
        t->saved[r] = rstd;
    }
}

/* rms:  dx = rstd * (g - y * mean(g*y));   layer: dx = rstd * (g - mean(g) - y * mean(g*y)) */
static void norm_grad_rows(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg;
    int64_t n = t->ne[0];
    float *gx = op_grad(t->src[0]);
    for (int64_t r = s; r < e; r++) {
        const float *y = pl_f32(t) + r * n, *g = pl_f32(t->grad) + r * n;
        double gy = 0, gm = 0;
        for (int64_t i = 0; i < n; i++) { gy += g[i] * y[i]; gm += g[i]; }
        gy /= n;
        gm = t->op == PL_OP_LAYERNORM ? gm / n : 0;
        float rstd = t->saved[r];
        float *o = gx + r * n;
        for (int64_t i = 0; i < n; i++) o[i] += rstd * (float)(g[i] - gm - y[i] * gy);
    }
}

static void norm_forward(pl_ctx *ctx, pl_tensor *t) { pl_parallel_for(ctx, pl_nrows(t), norm_rows, t); }
static void norm_backward(pl_ctx *ctx, pl_tensor *t) {
    if (op_grad(t->src[0])) pl_parallel_for(ctx, pl_nrows(t), norm_grad_rows, t);
}
void op_rmsnorm_forward(pl_ctx *ctx, pl_tensor *t) { norm_forward(ctx, t); }
void op_rmsnorm_backward(pl_ctx *ctx, pl_tensor *t) { norm_backward(ctx, t); }
void op_layernorm_forward(pl_ctx *ctx, pl_tensor *t) { norm_forward(ctx, t); }
void op_layernorm_backward(pl_ctx *ctx, pl_tensor *t) { norm_backward(ctx, t); }
