/* The contract between the graph (core/graph.c runs nodes) and the op families (ops/): the table of each op's
 * forward and backward, defined in ops/op_table.c, and the just-in-time gradient reset the ops' backwards call
 * (core/grad_reset.c). Declared here so that core/ includes nothing from the layers above it. */
#ifndef PL_CORE_OP_DEF_H
#define PL_CORE_OP_DEF_H

#include "core/tensor.h"

typedef struct {
    const char *name;
    void (*forward)(pl_ctx *ctx, pl_tensor *t);
    void (*backward)(pl_ctx *ctx, pl_tensor *t); /* NULL: not differentiable */
} pl_op_def;

extern const pl_op_def pl_op_table[PL_OP_COUNT];

/* The beta for a backward op's products into src's gradient. pl_graph_backward leaves intermediate gradients
 * stale until their first writer: a stale one is overwritten (0) when the caller's products cover it exactly
 * once (once), else zeroed here and added to (1), as a fresh one is. */
float op_grad_beta(pl_ctx *ctx, pl_tensor *src, bool once);

#endif
