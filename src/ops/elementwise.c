/* Element-wise and shape ops: view (backward only), add / sub / mul with broadcasting, scale, GELU,
 * SiLU, SwiGLU, sum, mean, concat, contiguous copy, copy-into-view, and get_rows (embedding lookup).
 * Inputs may be strided views as long as each row (dim 0) is contiguous; outputs are contiguous. */
#include "backend/cpu/vec.h"
#include "backend/cpu/vec_exp.h"
#include "ops/ops.h"

#include <math.h>

/* (i1, i2, i3) of row r of t */
static inline void row_index(const pl_tensor *t, int64_t r, int64_t *i1, int64_t *i2, int64_t *i3) {
    *i1 = r % t->ne[1];
    *i2 = (r / t->ne[1]) % t->ne[2];
    *i3 = r / (t->ne[1] * t->ne[2]);
}
static inline const float *row_ptr(const pl_tensor *t, int64_t i1, int64_t i2, int64_t i3) {
    return (const float *)((const char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3]);
}
static bool rows_f32(const pl_tensor *t) { return t->type == PL_F32 && (t->nb[0] == sizeof(float) || t->ne[0] == 1); }
/* src feeds only t and shares t's gradient buffer (graph.c): t's backward leaves or turns it in place */
static bool grad_is_mine(const pl_tensor *t, const pl_tensor *src) {
    return (src->flags & PL_FLAG_GRAD_ALIAS) && src->grad_owner == t;
}

/* ---- view: scatter the view's gradient into its base's ----------------------------------------------- */
void op_view_forward(pl_ctx *ctx, pl_tensor *t) { (void)ctx; (void)t; }
/* rows s..e of the view: each adds its gradient row into the base's (SIMD where the row is contiguous) */
static void view_grad_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg;
    char *base = (char *)op_grad(t->src[0]) + t->view_offs;
    const float *g = pl_f32(t->grad);
    for (int64_t r = s; r < e; r++) {
        int64_t i1, i2, i3;
        row_index(t, r, &i1, &i2, &i3);
        float *row = (float *)(base + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3]);
        const float *gr = g + r * t->ne[0];
        if (t->nb[0] == sizeof(float)) pl_vec_axpy_f32(t->ne[0], 1.0f, gr, row);
        else
            for (int64_t i0 = 0; i0 < t->ne[0]; i0++) *(float *)((char *)row + i0 * t->nb[0]) += gr[i0];
    }
}
/* whether two elements of the view can be the same base element (a stride of 0, or windows that overlap):
 * then one thread adds, in order. Dims sorted by stride must each step over the whole extent of the last. */
bool op_view_overlaps(const pl_tensor *t) {
    int d[4], n = 0;
    for (int i = 0; i < 4; i++)
        if (t->ne[i] > 1) d[n++] = i;
    for (int i = 1; i < n; i++) /* insertion sort by stride */
        for (int j = i; j > 0 && t->nb[d[j]] < t->nb[d[j - 1]]; j--) { int x = d[j]; d[j] = d[j - 1]; d[j - 1] = x; }
    size_t extent = sizeof(float);
    for (int i = 0; i < n; i++) {
        if (t->nb[d[i]] < extent) return true;
        extent = t->nb[d[i]] * (size_t)t->ne[d[i]];
    }
    return false;
}
void op_view_backward(pl_ctx *ctx, pl_tensor *t) {
    if (!op_grad(t->src[0]) || (t->flags & PL_FLAG_GRAD_ALIAS)) return; /* aliased: consumers wrote the base's */
    if (op_view_overlaps(t) || pl_nelements(t) < 4096) view_grad_rows(t, 0, pl_nrows(t), 0);
    else pl_parallel_for(ctx, pl_nrows(t), view_grad_rows, t);
}

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
 * buffer (graph.c) and needs nothing. a's pass ends before b's reset (a may be b). */
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

/* ---- unary ops ---------------------------------------------------------------------------------------- */

static inline float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
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
            if (t->p.i[0]) pl_vec_gelu_f32(n, in, o);
            else for (int64_t i = 0; i < n; i++) o[i] = gelu_erf(in[i]);
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
        if (t->op == PL_OP_GELU && t->p.i[0]) { pl_vec_gelu_grad_f32(n, in, g, o, j->acc); continue; }
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
void op_swiglu_backward(pl_ctx *ctx, pl_tensor *t) {
    float *gg = op_grad(t->src[0]), *gu = op_grad(t->src[1]);
    int64_t n = t->ne[0];
    for (int64_t r = 0; r < pl_nrows(t); r++) {
        const float *g = op_src_row(t, t->src[0], r), *u = op_src_row(t, t->src[1], r);
        const float *d = pl_f32(t->grad) + r * n;
        for (int64_t i = 0; i < n; i++) {
            if (gg) gg[r * n + i] += d[i] * u[i] * silu_grad(g[i]);
            if (gu) gu[r * n + i] += d[i] * silu(g[i]);
        }
    }
    (void)ctx;
}

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

/* ---- concat ------------------------------------------------------------------------------------------ */
pl_tensor *pl_concat(pl_ctx *ctx, pl_tensor *a, pl_tensor *b, int dim) {
    if (!a || !b) return NULL;
    OP_REQUIRE(dim >= 0 && dim < 4, "concat: dimension %d", dim);
    OP_REQUIRE(rows_f32(a) && rows_f32(b), "concat: f32 inputs expected");
    int64_t ne[4];
    for (int i = 0; i < 4; i++) {
        OP_REQUIRE(i == dim || a->ne[i] == b->ne[i], "concat: shapes differ outside dimension %d", dim);
        ne[i] = i == dim ? a->ne[i] + b->ne[i] : a->ne[i];
    }
    pl_tensor *t = op_new_node(ctx, PL_OP_CONCAT, PL_F32, PL_MAX(PL_MAX(a->n_dims, b->n_dims), dim + 1), ne, a, b, NULL, NULL);
    if (t) t->p.i[0] = dim;
    return t;
}
/* visit every element of t, with the source (a or b) and its index it comes from */
static void concat_walk(pl_tensor *t, bool backward) {
    int dim = t->p.i[0];
    pl_tensor *a = t->src[0], *b = t->src[1];
    float *ga = op_grad(a), *gb = op_grad(b);
    int64_t idx = 0;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < t->ne[0]; i0++, idx++) {
                    int64_t j[4] = {i0, i1, i2, i3};
                    pl_tensor *s = a;
                    float *gs = ga;
                    if (j[dim] >= a->ne[dim]) { j[dim] -= a->ne[dim]; s = b; gs = gb; }
                    if (!backward) pl_f32(t)[idx] = *(const float *)pl_at(s, j[0], j[1], j[2], j[3]);
                    else if (gs) gs[((j[3] * s->ne[2] + j[2]) * s->ne[1] + j[1]) * s->ne[0] + j[0]] += pl_f32(t->grad)[idx];
                }
}
void op_concat_forward(pl_ctx *ctx, pl_tensor *t) { concat_walk(t, false); (void)ctx; }
void op_concat_backward(pl_ctx *ctx, pl_tensor *t) { concat_walk(t, true); (void)ctx; }

/* ---- contiguous copy (any float dtype in, f32 out) ------------------------------------------------------ */
pl_tensor *pl_cont(pl_ctx *ctx, pl_tensor *x) {
    if (!x) return NULL;
    const pl_type_traits *tr = pl_dtype_traits(x->type);
    OP_REQUIRE(tr && tr->to_float, "cont: no conversion from %s", pl_dtype_name(x->type));
    OP_REQUIRE(tr->blck_size == 1 || x->nb[0] == tr->type_size, "cont: quantized rows must be contiguous");
    return op_new_node(ctx, PL_OP_CONT, PL_F32, x->n_dims, x->ne, x, NULL, NULL, NULL);
}
static void cont_rows(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg, *x = t->src[0];
    const pl_type_traits *tr = pl_dtype_traits(x->type);
    int64_t n = t->ne[0];
    for (int64_t r = s; r < e; r++) {
        int64_t i1, i2, i3;
        row_index(t, r, &i1, &i2, &i3);
        float *o = pl_f32(t) + r * n;
        const char *in = (const char *)x->data + i1 * x->nb[1] + i2 * x->nb[2] + i3 * x->nb[3];
        if (tr->blck_size > 1 || x->nb[0] == tr->type_size) tr->to_float(in, o, n);
        else for (int64_t i = 0; i < n; i++) tr->to_float(in + i * x->nb[0], o + i, 1);
    }
}
void op_cont_forward(pl_ctx *ctx, pl_tensor *t) { pl_parallel_for(ctx, pl_nrows(t), cont_rows, t); }
void op_cont_backward(pl_ctx *ctx, pl_tensor *t) {
    float *gx = op_grad(t->src[0]);
    if (gx) pl_vec_axpy_f32(pl_nelements(t), 1.0f, pl_f32(t->grad), gx);
    (void)ctx;
}

/* ---- copy into a view (KV-cache writes) ------------------------------------------------------------------ */
pl_tensor *pl_cpy(pl_ctx *ctx, pl_tensor *src, pl_tensor *dst) {
    if (!src || !dst) return NULL;
    OP_REQUIRE(rows_f32(src), "cpy: f32 source expected");
    OP_REQUIRE(pl_nelements(src) == pl_nelements(dst), "cpy: %lld elements into %lld", (long long)pl_nelements(src),
               (long long)pl_nelements(dst));
    OP_REQUIRE(dst->type == PL_F32 || dst->type == PL_F16 || dst->type == PL_BF16, "cpy: destination must be f32/f16/bf16");
    pl_tensor *t = pl_ctx_alloc(ctx, sizeof *t);
    if (!t) return NULL;
    *t = *dst; /* the node is the destination: same data, shape and strides */
    t->op = PL_OP_CPY;
    t->grad = t->grad_owner = NULL;
    t->flags = 0;
    memset(t->src, 0, sizeof t->src);
    t->src[0] = src;
    t->src[1] = dst;
    return t;
}
/* the common case (a KV-cache write): same shape, contiguous rows on both sides - one conversion per row */
static void cpy_rows(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg, *src = t->src[0];
    const pl_type_traits *tr = pl_dtype_traits(t->type);
    for (int64_t r = s; r < e; r++) {
        int64_t i1, i2, i3;
        row_index(t, r, &i1, &i2, &i3);
        tr->from_float((const float *)op_src_row(t, src, r),
                       (char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3], t->ne[0]);
    }
}
void op_cpy_forward(pl_ctx *ctx, pl_tensor *t) {
    pl_tensor *s = t->src[0];
    const pl_type_traits *tr = pl_dtype_traits(t->type);
    if (pl_same_shape(s, t) && s->nb[0] == sizeof(float) && t->nb[0] == tr->type_size) {
        pl_parallel_for(ctx, pl_nrows(t), cpy_rows, t);
        return;
    }
    int64_t idx = 0;
    float tmp;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < t->ne[0]; i0++, idx++) {
                    /* source in its own logical order, flattened like the destination */
                    int64_t j0 = idx % s->ne[0], j1 = (idx / s->ne[0]) % s->ne[1];
                    int64_t j2 = (idx / (s->ne[0] * s->ne[1])) % s->ne[2], j3 = idx / (s->ne[0] * s->ne[1] * s->ne[2]);
                    tmp = *(const float *)pl_at(s, j0, j1, j2, j3);
                    tr->from_float(&tmp, pl_at(t, i0, i1, i2, i3), 1);
                }
    (void)ctx;
}
void op_cpy_backward(pl_ctx *ctx, pl_tensor *t) { (void)ctx; (void)t; }

/* ---- get_rows: embedding lookup --------------------------------------------------------------------------- */
pl_tensor *pl_get_rows(pl_ctx *ctx, pl_tensor *w, pl_tensor *ids) {
    if (!w || !ids) return NULL;
    const pl_type_traits *tr = pl_dtype_traits(w->type);
    OP_REQUIRE(tr && tr->to_float, "get_rows: no conversion from %s", pl_dtype_name(w->type));
    OP_REQUIRE(ids->type == PL_I32 && pl_is_contiguous(ids) && ids->ne[2] == 1 && ids->ne[3] == 1, "get_rows: ids must be i32 {N[,B]}");
    OP_REQUIRE(w->ne[2] == 1 && w->ne[3] == 1 && pl_is_contiguous(w), "get_rows: table must be a contiguous matrix");
    int64_t ne[3] = {w->ne[0], ids->ne[0], ids->ne[1]};
    return op_new_node(ctx, PL_OP_GET_ROWS, PL_F32, ids->ne[1] > 1 ? 3 : 2, ne, w, ids, NULL, NULL);
}
void op_get_rows_forward(pl_ctx *ctx, pl_tensor *t) {
    pl_tensor *w = t->src[0];
    const int32_t *ids = (const int32_t *)t->src[1]->data;
    const pl_type_traits *tr = pl_dtype_traits(w->type);
    int64_t n = pl_nelements(t->src[1]), c = w->ne[0];
    for (int64_t r = 0; r < n; r++) {
        int32_t id = ids[r];
        float *o = pl_f32(t) + r * c;
        if (id < 0 || id >= w->ne[1]) { memset(o, 0, (size_t)c * sizeof(float)); continue; } /* callers validate ids */
        tr->to_float((const char *)w->data + (size_t)id * w->nb[1], o, c);
    }
    (void)ctx;
}
void op_get_rows_backward(pl_ctx *ctx, pl_tensor *t) {
    float *gw = op_grad(t->src[0]);
    if (!gw) return;
    const int32_t *ids = (const int32_t *)t->src[1]->data;
    int64_t n = pl_nelements(t->src[1]), c = t->ne[0];
    for (int64_t r = 0; r < n; r++)
        if (ids[r] >= 0 && ids[r] < t->src[0]->ne[1]) pl_vec_axpy_f32(c, 1.0f, pl_f32(t->grad) + r * c, gw + (int64_t)ids[r] * c);
    (void)ctx;
}
