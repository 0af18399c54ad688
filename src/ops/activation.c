/* Unary element-wise maps: scale and the activations GELU (tanh, erf), SiLU, and SwiGLU (silu(gate) * up),
 * forward and backward. Inputs may be strided views as long as each row (dim 0) is contiguous. */
#include "backend/cpu/vec.h"
#include "backend/cpu/vec_exp.h"
#include "backend/cpu/vec_gelu_erf.h"
#include "ops/rows.h"

#include <math.h>

/* ---- unary ops ---------------------------------------------------------------------------------------- */

static inline float gelu_erf_grad(float x) {
    return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) + x * expf(-0.5f * x * x) * 0.3989422804014327f;
}
static inline float silu(float x) { return x / (1.0f + expf(-x)); }
static inline float silu_grad(float x) { float s = 1.0f / (1.0f + expf(-x)); return s * (1.0f + x * (1.0f - s)); }

static pl_tensor *unary(pl_ctx *ctx, pl_op op, pl_tensor *x) {
    if (!x) return NULL;
    OP_REQUIRE(rows_f32(x), "%s: f32 input with contiguous rows expected", pl_op_name(op));
    return op_new_node(ctx, op, PL_F32, x->n_dims, x->ne, x, NULL, NULL, NULL);
}
pl_tensor *pl_scale(pl_ctx *ctx, pl_tensor *a, float s) {
    pl_tensor *t = unary(ctx, PL_OP_SCALE, a);
    if (t) t->p.f[0] = s;
    return t;
}
pl_tensor *pl_gelu(pl_ctx *ctx, pl_tensor *x, bool tanh_approx) {
    pl_tensor *t = unary(ctx, PL_OP_GELU, x);
    if (t) t->p.i[0] = tanh_approx;
    return t;
}
pl_tensor *pl_quick_gelu(pl_ctx *ctx, pl_tensor *x) {
    pl_tensor *t = unary(ctx, PL_OP_GELU, x);
    if (t) t->p.i[0] = PL_GELU_QUICK;
    return t;
}
pl_tensor *pl_silu(pl_ctx *ctx, pl_tensor *x) { return unary(ctx, PL_OP_SILU, x); }

static void unary_rows(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg;
    int64_t n = t->ne[0];
    for (int64_t r = s; r < e; r++) {
        const float *in = op_src_row(t, t->src[0], r);
        float *o = pl_f32(t) + r * n;
        switch (t->op) {
        case PL_OP_SCALE: for (int64_t i = 0; i < n; i++) o[i] = in[i] * t->p.f[0]; break;
        case PL_OP_GELU:
            if (t->p.i[0] == PL_GELU_QUICK) pl_vec_qgelu_f32(n, in, o);
            else if (t->p.i[0]) pl_vec_gelu_f32(n, in, o);
            else pl_vec_gelu_erf_f32(n, in, o);
            break;
        case PL_OP_SILU: for (int64_t i = 0; i < n; i++) o[i] = silu(in[i]); break;
        default: break;
        }
    }
}
typedef struct { pl_tensor *t; bool acc; } unary_grad_job;
static void unary_grad_rows(void *arg, int64_t s, int64_t e, int ith) {
    unary_grad_job *j = arg;
    pl_tensor *t = j->t, *x = t->src[0];
    int64_t n = t->ne[0];
    float *gx = op_grad(x);
    for (int64_t r = s; r < e; r++) {
        const float *in = op_src_row(t, x, r), *g = pl_f32(t->grad) + r * n;
        float *o = gx + r * n;
        if (t->op == PL_OP_GELU && t->p.i[0]) { /* tanh and quick: written in place where the gradient is shared */
            (t->p.i[0] == PL_GELU_QUICK ? pl_vec_qgelu_grad_f32 : pl_vec_gelu_grad_f32)(n, in, g, o, j->acc);
            continue;
        }
        if (!j->acc) memset(o, 0, (size_t)n * sizeof(float)); /* first writer: the row is zeroed in L1 */
        switch (t->op) {
        case PL_OP_SCALE: pl_vec_axpy_f32(n, t->p.f[0], g, o); break;
        case PL_OP_GELU: for (int64_t i = 0; i < n; i++) o[i] += g[i] * gelu_erf_grad(in[i]); break;
        case PL_OP_SILU: for (int64_t i = 0; i < n; i++) o[i] += g[i] * silu_grad(in[i]); break;
        default: break;
        }
    }
}
static void unary_forward(pl_ctx *ctx, pl_tensor *t) { pl_parallel_for(ctx, pl_nrows(t), unary_rows, t); }
/* resets its source's gradient itself (op_grad_beta): a stale one is written, not zeroed and added to; one that
 * shares t's buffer (a tanh GELU's sole input) is written in place over t's gradient */
static void unary_backward(pl_ctx *ctx, pl_tensor *t) {
    if (!op_grad(t->src[0])) return;
    unary_grad_job j = {t, !grad_is_mine(t, t->src[0]) && op_grad_beta(ctx, t->src[0], true) != 0.0f};
    pl_parallel_for(ctx, pl_nrows(t), unary_grad_rows, &j);
}
void op_scale_forward(pl_ctx *ctx, pl_tensor *t) { unary_forward(ctx, t); }
void op_scale_backward(pl_ctx *ctx, pl_tensor *t) { unary_backward(ctx, t); }
void op_gelu_forward(pl_ctx *ctx, pl_tensor *t) { unary_forward(ctx, t); }
void op_gelu_backward(pl_ctx *ctx, pl_tensor *t) { unary_backward(ctx, t); }
void op_silu_forward(pl_ctx *ctx, pl_tensor *t) { unary_forward(ctx, t); }
void op_silu_backward(pl_ctx *ctx, pl_tensor *t) { unary_backward(ctx, t); }

/* ---- SwiGLU: silu(gate) * up ---------------------------------------------------------------------------- */
pl_tensor *pl_swiglu(pl_ctx *ctx, pl_tensor *gate, pl_tensor *up) {
    if (!gate || !up) return NULL;
    OP_REQUIRE(rows_f32(gate) && rows_f32(up) && pl_same_shape(gate, up), "swiglu: gate and up must be f32 of one shape");
    return op_new_node(ctx, PL_OP_SWIGLU, PL_F32, gate->n_dims, gate->ne, gate, up, NULL, NULL);
}
static void swiglu_rows(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg;
    int64_t n = t->ne[0];
    for (int64_t r = s; r < e; r++) {
        const float *g = op_src_row(t, t->src[0], r), *u = op_src_row(t, t->src[1], r);
        float *o = pl_f32(t) + r * n;
        pl_vec_swiglu_f32(n, g, u, o); /* silu(g) * u, SIMD exp */
    }
}
void op_swiglu_forward(pl_ctx *ctx, pl_tensor *t) { pl_parallel_for(ctx, pl_nrows(t), swiglu_rows, t); }
/* rows in parallel, one exp an element (a LoRA step spent 4% of its time here when it ran on one thread, two exps) */
static void swiglu_grad_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg;
    float *gg = op_grad(t->src[0]), *gu = op_grad(t->src[1]);
    int64_t n = t->ne[0];
    for (int64_t r = s; r < e; r++) {
        const float *g = op_src_row(t, t->src[0], r), *u = op_src_row(t, t->src[1], r);
        const float *d = pl_f32(t->grad) + r * n;
        for (int64_t i = 0; i < n; i++) {
            float sg = 1.0f / (1.0f + expf(-g[i])); /* silu(g) = g sg, silu'(g) = sg (1 + g (1 - sg)) */
            if (gg) gg[r * n + i] += d[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
            if (gu) gu[r * n + i] += d[i] * g[i] * sg;
        }
    }
}
void op_swiglu_backward(pl_ctx *ctx, pl_tensor *t) { pl_parallel_for(ctx, pl_nrows(t), swiglu_grad_rows, t); }
