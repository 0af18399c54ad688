/* get_rows: embedding lookup (rows of a table of any type with a to_float, by i32 ids) and its scatter-add
 * backward. */
#include "backend/cpu/vec.h"
#include "ops/ops.h"

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
