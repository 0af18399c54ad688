/* Binary element-wise ops with broadcasting: add, sub, mul (b broadcasts to a's shape), forward and backward.
 * Inputs may be strided views as long as each row (dim 0) is contiguous; outputs are contiguous. */
#include "backend/cpu/vec.h"
#include "ops/rows.h"

/* ---- binary ops with broadcasting ------------------------------------------------------------------- */
static pl_tensor *binary(pl_ctx *ctx, pl_op op, pl_tensor *a, pl_tensor *b) {
    if (!a || !b) return NULL;
    OP_REQUIRE(rows_f32(a) && rows_f32(b), "%s: f32 operands with contiguous rows expected", pl_op_name(op));
    for (int i = 0; i < 4; i++)
        OP_REQUIRE(b->ne[i] > 0 && a->ne[i] % b->ne[i] == 0, "%s: cannot broadcast [%lld,%lld,%lld,%lld] to [%lld,%lld,%lld,%lld]",
                   pl_op_name(op), (long long)b->ne[0], (long long)b->ne[1], (long long)b->ne[2], (long long)b->ne[3],
                   (long long)a->ne[0], (long long)a->ne[1], (long long)a->ne[2], (long long)a->ne[3]);
    return op_new_node(ctx, op, PL_F32, a->n_dims, a->ne, a, b, NULL, NULL);
}
pl_tensor *pl_add(pl_ctx *ctx, pl_tensor *a, pl_tensor *b) { return binary(ctx, PL_OP_ADD, a, b); }
pl_tensor *pl_sub(pl_ctx *ctx, pl_tensor *a, pl_tensor *b) { return binary(ctx, PL_OP_SUB, a, b); }
pl_tensor *pl_mul(pl_ctx *ctx, pl_tensor *a, pl_tensor *b) { return binary(ctx, PL_OP_MUL, a, b); }

static void binary_rows(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg, *a = t->src[0], *b = t->src[1];
    int64_t ne0 = t->ne[0], bn0 = b->ne[0];
    for (int64_t r = s; r < e; r++) {
        int64_t i1, i2, i3;
        row_index(t, r, &i1, &i2, &i3);
        const float *x = row_ptr(a, i1, i2, i3), *y = row_ptr(b, i1 % b->ne[1], i2 % b->ne[2], i3 % b->ne[3]);
        float *o = pl_f32(t) + r * ne0;
        if (bn0 == ne0) { /* the common case, in loops the compiler vectorizes */
            if (t->op == PL_OP_ADD) for (int64_t i = 0; i < ne0; i++) o[i] = x[i] + y[i];
            else if (t->op == PL_OP_SUB) for (int64_t i = 0; i < ne0; i++) o[i] = x[i] - y[i];
            else for (int64_t i = 0; i < ne0; i++) o[i] = x[i] * y[i];
        } else
            for (int64_t i = 0; i < ne0; i++) {
                float yv = y[i % bn0];
                o[i] = t->op == PL_OP_ADD ? x[i] + yv : t->op == PL_OP_SUB ? x[i] - yv : x[i] * yv;
            }
    }
}
static void binary_forward(pl_ctx *ctx, pl_tensor *t) { pl_parallel_for(ctx, pl_nrows(t), binary_rows, t); }
void op_add_forward(pl_ctx *ctx, pl_tensor *t) { binary_forward(ctx, t); }
void op_sub_forward(pl_ctx *ctx, pl_tensor *t) { binary_forward(ctx, t); }
void op_mul_forward(pl_ctx *ctx, pl_tensor *t) { binary_forward(ctx, t); }

/* Backward for rows [s, e). which = 0: into a's gradient (rows of a are rows of t, so threads never collide);
 * which = 1: into b's gradient (threaded only when b is not broadcast, else called for all rows at once). */
typedef struct { pl_tensor *t; int which; bool acc; } binary_grad_job;
/* acc false: the source's gradient is stale and these rows are its only writer - write it, do not add */
static void binary_grad_set(const binary_grad_job *j, const float *g, const float *x, const float *y, float *o) {
    int64_t n = j->t->ne[0], bn0 = j->t->src[1]->ne[0];
    if (j->t->op == PL_OP_MUL && j->which) for (int64_t i = 0; i < n; i++) o[i] = g[i] * x[i];
    else if (j->t->op == PL_OP_MUL && bn0 == n) for (int64_t i = 0; i < n; i++) o[i] = g[i] * y[i];
    else if (j->t->op == PL_OP_MUL) for (int64_t i = 0; i < n; i++) o[i] = g[i] * y[i % bn0]; /* b broadcast */
    else if (j->t->op == PL_OP_SUB && j->which) for (int64_t i = 0; i < n; i++) o[i] = -g[i];
    else memcpy(o, g, (size_t)n * sizeof(float));
}
static void binary_grad_rows(void *arg, int64_t s, int64_t e, int ith) {
    binary_grad_job *j = arg;
    pl_tensor *t = j->t, *a = t->src[0], *b = t->src[1];
    int64_t ne0 = t->ne[0], bn0 = b->ne[0];
    float *gd = op_grad(j->which ? b : a);
    float sign = t->op == PL_OP_SUB && j->which ? -1.0f : 1.0f;
    for (int64_t r = s; r < e; r++) {
        int64_t i1, i2, i3;
        row_index(t, r, &i1, &i2, &i3);
        const float *g = pl_f32(t->grad) + r * ne0;
        const float *x = row_ptr(a, i1, i2, i3), *y = row_ptr(b, i1 % b->ne[1], i2 % b->ne[2], i3 % b->ne[3]);
        if (!j->acc) binary_grad_set(j, g, x, y, gd + r * ne0); /* b then has t's shape: its row r is t's */
        else if (j->which == 0) {
            float *o = gd + r * ne0;
            if (t->op != PL_OP_MUL) pl_vec_axpy_f32(ne0, 1.0f, g, o);
            else if (bn0 == ne0) for (int64_t i = 0; i < ne0; i++) o[i] += g[i] * y[i];
            else for (int64_t i = 0; i < ne0; i++) o[i] += g[i] * y[i % bn0];
        } else {
            int64_t brow = ((i3 % b->ne[3]) * b->ne[2] + i2 % b->ne[2]) * b->ne[1] + i1 % b->ne[1];
            float *o = gd + brow * bn0;
            if (t->op != PL_OP_MUL && bn0 == ne0) pl_vec_axpy_f32(ne0, sign, g, o);
            else if (bn0 == ne0) for (int64_t i = 0; i < ne0; i++) o[i] += g[i] * x[i];
            else for (int64_t i = 0; i < ne0; i++) o[i % bn0] += t->op == PL_OP_MUL ? g[i] * x[i] : sign * g[i];
        }
    }
}
/* Each source's gradient is reset here (op_grad_beta), not by the graph beforehand: a stale one that these rows
 * cover once (a's always, b's when not broadcast) is written instead of zeroed and added to, so the residual
 * stream's x + f(x) hands x its gradient with one copy; f(x), which feeds only the sum, shares the sum's gradient
 * buffer (core/grad_plan.c) and needs nothing. a's pass ends before b's reset (a may be b). */
static void binary_backward(pl_ctx *ctx, pl_tensor *t) {
    pl_tensor *a = t->src[0], *b = t->src[1];
    bool full = pl_same_shape(t, b);
    if (op_grad(a) && !grad_is_mine(t, a)) {
        binary_grad_job ja = {t, 0, op_grad_beta(ctx, a, true) != 0.0f};
        pl_parallel_for(ctx, pl_nrows(t), binary_grad_rows, &ja);
    }
    if (op_grad(b) && !grad_is_mine(t, b)) {
        binary_grad_job jb = {t, 1, op_grad_beta(ctx, b, full) != 0.0f};
        if (full) pl_parallel_for(ctx, pl_nrows(t), binary_grad_rows, &jb);
        else binary_grad_rows(&jb, 0, pl_nrows(t), 0);
    }
}
void op_add_backward(pl_ctx *ctx, pl_tensor *t) { binary_backward(ctx, t); }
void op_sub_backward(pl_ctx *ctx, pl_tensor *t) { binary_backward(ctx, t); }
void op_mul_backward(pl_ctx *ctx, pl_tensor *t) { binary_backward(ctx, t); }
