/* Views and copies: a view's backward (scatter its gradient into its base's; a view has no forward work),
 * pl_cont (a contiguous f32 copy of any view or float dtype) and pl_cpy (write into a view: KV-cache writes).
 * Inputs may be strided views as long as each row (dim 0) is contiguous. */
#include "backend/cpu/vec.h"
#include "ops/rows.h"

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
void op_view_backward(pl_ctx *ctx, pl_tensor *t) {
    if (!op_grad(t->src[0]) || (t->flags & PL_FLAG_GRAD_ALIAS)) return; /* aliased: consumers wrote the base's */
    if (pl_view_overlaps(t) || pl_nelements(t) < 4096) view_grad_rows(t, 0, pl_nrows(t), 0);
    else pl_parallel_for(ctx, pl_nrows(t), view_grad_rows, t);
}

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
    return op_node_into(ctx, PL_OP_CPY, dst, src, dst);
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
