/* Row addressing shared by the element-wise op files (view.c, binary.c, activation.c, reduce.c, concat.c):
 * where row r of a tensor with contiguous rows lies, whether a tensor is f32 with contiguous rows, and whether
 * a source shares its consumer's gradient buffer (core/grad_plan.c). */
#ifndef PL_OPS_ROWS_H
#define PL_OPS_ROWS_H

#include "ops/ops.h"

/* (i1, i2, i3) of row r of t */
static inline void row_index(const pl_tensor *t, int64_t r, int64_t *i1, int64_t *i2, int64_t *i3) {
    *i1 = r % t->ne[1];
    *i2 = (r / t->ne[1]) % t->ne[2];
    *i3 = r / (t->ne[1] * t->ne[2]);
}
static inline const float *row_ptr(const pl_tensor *t, int64_t i1, int64_t i2, int64_t i3) {
    return (const float *)((const char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3]);
}
static inline bool rows_f32(const pl_tensor *t) { return t->type == PL_F32 && (t->nb[0] == sizeof(float) || t->ne[0] == 1); }
/* src feeds only t and shares t's gradient buffer (core/grad_plan.c): t's backward leaves or turns it in place */
static inline bool grad_is_mine(const pl_tensor *t, const pl_tensor *src) {
    return (src->flags & PL_FLAG_GRAD_ALIAS) && src->grad_owner == t;
}

#endif
