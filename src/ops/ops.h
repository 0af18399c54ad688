/* Internal interface of the op families: each op has a forward (compute t from t->src) and, where
 * differentiable, a backward that ADDS into its sources' gradients (llm.c's convention). Builders that
 * create the nodes live beside their kernels; core/graph.c dispatches through pl_op_table (ops/op_table.c). */
#ifndef PL_OPS_H
#define PL_OPS_H

#include "core/op_def.h"
#include "core/tensor.h"

/* A new contiguous f32 (or given type) result node with op and sources set. */
pl_tensor *op_new_node(pl_ctx *ctx, pl_op op, pl_dtype type, int n_dims, const int64_t *ne,
                       pl_tensor *s0, pl_tensor *s1, pl_tensor *s2, pl_tensor *s3);
/* A node that writes into dst itself (a copy into a view, a KV-cache store): dst's data, shape and strides,
 * no gradient, sources s0 and s1. */
pl_tensor *op_node_into(pl_ctx *ctx, pl_op op, pl_tensor *dst, pl_tensor *s0, pl_tensor *s1);
/* Source gradient to add into, or NULL when no gradient flows to that source. */
static inline float *op_grad(const pl_tensor *src) { return src && src->grad ? (float *)src->grad->data : NULL; }

#define OP_DECL(x) void op_##x##_forward(pl_ctx *, pl_tensor *); void op_##x##_backward(pl_ctx *, pl_tensor *);
OP_DECL(view) OP_DECL(add) OP_DECL(sub) OP_DECL(mul) OP_DECL(scale) OP_DECL(matmul) OP_DECL(get_rows)
OP_DECL(rmsnorm) OP_DECL(layernorm) OP_DECL(rope) OP_DECL(softmax) OP_DECL(attention) OP_DECL(gelu)
OP_DECL(silu) OP_DECL(swiglu) OP_DECL(cross_entropy) OP_DECL(kl_topk) OP_DECL(sum) OP_DECL(mean) OP_DECL(concat)
OP_DECL(cont) OP_DECL(cpy) OP_DECL(layernorm_affine) OP_DECL(kv_store) OP_DECL(attention_cells) OP_DECL(im2col_1d)
OP_DECL(attention_segments) OP_DECL(contrastive)
#undef OP_DECL

/* Row r, counted in t's row order, of a source with t's shape that may be a strided view (rows contiguous). */
static inline const float *op_src_row(const pl_tensor *t, const pl_tensor *src, int64_t r) {
    int64_t i1 = r % t->ne[1], i2 = (r / t->ne[1]) % t->ne[2], i3 = r / (t->ne[1] * t->ne[2]);
    return (const float *)((const char *)src->data + i1 * src->nb[1] + i2 * src->nb[2] + i3 * src->nb[3]);
}

/* Validation inside builders: a failed shape check leaves a message and makes the builder return NULL. */
#define OP_REQUIRE(cond, ...) do { if (!(cond)) return pl_error_null(PL_ERR_ARG, __VA_ARGS__); } while (0)

#endif
