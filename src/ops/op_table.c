/* The op table: each op's name, forward and backward, which the graph's drivers (core/graph.c) dispatch
 * through, and op_new_node, the node constructor every builder in ops/ calls. One row per pl_op. */
#include "ops/ops.h"

const pl_op_def pl_op_table[PL_OP_COUNT] = {
    [PL_OP_NONE] = {"none", NULL, NULL},
#define ROW(OP, n) [PL_OP_##OP] = {#n, op_##n##_forward, op_##n##_backward},
    ROW(VIEW, view) ROW(ADD, add) ROW(SUB, sub) ROW(MUL, mul) ROW(SCALE, scale) ROW(MATMUL, matmul)
    ROW(GET_ROWS, get_rows) ROW(RMSNORM, rmsnorm) ROW(LAYERNORM, layernorm) ROW(ROPE, rope)
    ROW(SOFTMAX, softmax) ROW(ATTENTION, attention) ROW(GELU, gelu) ROW(SILU, silu) ROW(SWIGLU, swiglu)
    ROW(CROSS_ENTROPY, cross_entropy) ROW(SUM, sum) ROW(MEAN, mean) ROW(CONCAT, concat) ROW(CONT, cont)
    ROW(CPY, cpy) ROW(LAYERNORM_AFFINE, layernorm_affine) ROW(KV_STORE, kv_store)
    ROW(ATTENTION_CELLS, attention_cells) ROW(KL_TOPK, kl_topk) ROW(IM2COL_1D, im2col_1d)
    ROW(ATTENTION_SEGMENTS, attention_segments) ROW(CONTRASTIVE, contrastive)
#undef ROW
};

const char *pl_op_name(pl_op op) { return op < PL_OP_COUNT ? pl_op_table[op].name : "?"; }

pl_tensor *op_new_node(pl_ctx *ctx, pl_op op, pl_dtype type, int n_dims, const int64_t *ne,
                       pl_tensor *s0, pl_tensor *s1, pl_tensor *s2, pl_tensor *s3) {
    pl_tensor *t = pl_new(ctx, type, n_dims, ne);
    if (!t) return NULL;
    t->op = op;
    t->src[0] = s0; t->src[1] = s1; t->src[2] = s2; t->src[3] = s3;
    pl_name_suffixed(t, pl_op_name(op), "");
    return t;
}

pl_tensor *op_node_into(pl_ctx *ctx, pl_op op, pl_tensor *dst, pl_tensor *s0, pl_tensor *s1) {
    pl_tensor *t = pl_ctx_alloc(ctx, sizeof *t);
    if (!t) return NULL;
    *t = *dst; /* the node is the destination: same data, shape and strides */
    t->op = op;
    t->grad = t->grad_owner = NULL;
    t->flags = 0;
    memset(t->src, 0, sizeof t->src);
    t->src[0] = s0;
    t->src[1] = s1;
    return t;
}
