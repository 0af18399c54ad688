/* LayerNorm with its affine part in one op: y = (x - mean) * rstd * w + b per row (nn.LayerNorm).
 * One pass forward and one backward instead of the three of pl_layernorm + pl_mul + pl_add; the training
 * GPT uses it. Forward keeps mean and 1/std per row; backward recomputes x-hat from them. */
#include "ops/ops.h"

#include <math.h>
#include <string.h>

pl_tensor *pl_layernorm_affine(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, pl_tensor *b, float eps) {
    if (!x || !w) return NULL;
    OP_REQUIRE(x->type == PL_F32 && x->nb[0] == sizeof(float), "layernorm: f32 rows expected");
    OP_REQUIRE(w->type == PL_F32 && pl_is_contiguous(w) && pl_nelements(w) == x->ne[0] &&
                   (!b || (b->type == PL_F32 && pl_is_contiguous(b) && pl_nelements(b) == x->ne[0])),
               "layernorm: weight and bias must be f32 vectors of the row length %lld", (long long)x->ne[0]);
    pl_tensor *t = op_new_node(ctx, PL_OP_LAYERNORM_AFFINE, PL_F32, x->n_dims, x->ne, x, w, b, NULL);
    if (!t) return NULL;
    t->p.f[0] = eps;
    /* mean and rstd per row, then one slice of (dw, db) partial sums per thread for backward */
    int nt = ctx->n_threads > 0 ? ctx->n_threads : 1;
    t->saved = pl_ctx_alloc(ctx, ((size_t)pl_nrows(t) * 2 + (size_t)nt * 2 * (size_t)x->ne[0]) * sizeof(float));
    return t->saved ? t : NULL;
}

static void ln_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg;
    int64_t n = t->ne[0];
    const float *w = pl_f32(t->src[1]), *b = t->src[2] ? pl_f32(t->src[2]) : NULL;
    for (int64_t r = s; r < e; r++) {
        const float *x = op_src_row(t, t->src[0], r);
        float *y = pl_f32(t) + r * n;
        float sum = 0, sq = 0;
        for (int64_t i = 0; i < n; i++) sum += x[i];
        float mean = sum / (float)n;
        for (int64_t i = 0; i < n; i++) { float d = x[i] - mean; sq += d * d; }
        float rstd = 1.0f / sqrtf(sq / (float)n + t->p.f[0]);
        if (b) for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * w[i] + b[i];
        else for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * w[i];
        t->saved[2 * r] = mean;
        t->saved[2 * r + 1] = rstd;
    }
}
void op_layernorm_affine_forward(pl_ctx *ctx, pl_tensor *t) { pl_parallel_for(ctx, pl_nrows(t), ln_rows, t); }

/* with gy = g * w and xh = x-hat:  dx = rstd * (gy - mean(gy) - xh * mean(gy * xh));  dw += g * xh;  db += g.
 * dw and db are sums over rows: each thread adds into its own slice of `part`, reduced afterwards. */
typedef struct { pl_tensor *t; float *part; } ln_job;
static void ln_grad_rows(void *arg, int64_t s, int64_t e, int ith) {
    ln_job *j = arg;
    pl_tensor *t = j->t;
    int64_t n = t->ne[0];
    const float *w = pl_f32(t->src[1]);
    float *gx = op_grad(t->src[0]);
    float *pw = j->part ? j->part + (size_t)ith * 2 * n : NULL, *pb = pw ? pw + n : NULL;
    for (int64_t r = s; r < e; r++) {
        const float *x = op_src_row(t, t->src[0], r), *g = pl_f32(t->grad) + r * n;
        float mean = t->saved[2 * r], rstd = t->saved[2 * r + 1];
        if (pw)
            for (int64_t i = 0; i < n; i++) { pw[i] += g[i] * (x[i] - mean) * rstd; pb[i] += g[i]; }
        if (!gx) continue;
        float sg = 0, sgx = 0;
        for (int64_t i = 0; i < n; i++) {
            float gy = g[i] * w[i];
            sg += gy;
            sgx += gy * (x[i] - mean) * rstd;
        }
        sg /= (float)n;
        sgx /= (float)n;
        float *o = gx + r * n;
        for (int64_t i = 0; i < n; i++) o[i] += rstd * (g[i] * w[i] - sg - (x[i] - mean) * rstd * sgx);
    }
}
void op_layernorm_affine_backward(pl_ctx *ctx, pl_tensor *t) {
    int64_t n = t->ne[0];
    float *gw = op_grad(t->src[1]), *gb = op_grad(t->src[2]);
    int nt = ctx->n_threads > 0 ? ctx->n_threads : 1;
    ln_job j = {t, gw || gb ? t->saved + pl_nrows(t) * 2 : NULL};
    if (j.part) memset(j.part, 0, (size_t)nt * 2 * (size_t)n * sizeof(float));
    if (j.part || op_grad(t->src[0])) pl_parallel_for(ctx, pl_nrows(t), ln_grad_rows, &j);
    for (int k = 0; j.part && k < nt; k++) {
        const float *pw = j.part + (size_t)k * 2 * n, *pb = pw + n;
        if (gw) for (int64_t i = 0; i < n; i++) gw[i] += pw[i];
        if (gb) for (int64_t i = 0; i < n; i++) gb[i] += pb[i];
    }
}
