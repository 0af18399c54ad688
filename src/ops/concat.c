/* Concatenation of two f32 tensors along one dimension: forward copies each element from the source it comes
 * from, backward adds each gradient element into that source's gradient. */
#include "ops/rows.h"

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
