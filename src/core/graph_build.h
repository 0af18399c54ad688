/* What pl_graph_build's steps share (core/graph.c orders the nodes, core/grad_plan.c decides which gradients
 * exist and which share a buffer, core/fusion.c which consumers a GEMM's write-back computes), and the
 * run-time helper of the backward driver (core/grad_reset.c). Internal to core/. */
#ifndef PL_CORE_GRAPH_BUILD_H
#define PL_CORE_GRAPH_BUILD_H

#include "core/tensor.h"

/* the nodes of a graph being built, in topological order (arena memory) */
typedef struct { pl_tensor **v; int n, cap; } node_list;

/* Build-time marks in pl_tensor.flags, cleared before pl_graph_build returns. */
#define VISITED 0x80000000u    /* reached by the depth-first walk */
#define STRIDED_NO 0x40000000u /* a consumer of this view needs a contiguous gradient */
#define ONE_USE 0x20000000u    /* consumed once ... */
#define MANY_USES 0x10000000u  /* ... or more than once */

/* The index of t among l's first `below` nodes, or -1 (a leaf of another graph, or not before `below`). */
int list_index(const node_list *l, const pl_tensor *t, int below);

/* Mark each node's sources ONE_USE, or MANY_USES when consumed more than once. */
void count_uses(const node_list *l);
/* Mark the nodes a parameter flows into and give each a gradient: its own buffer, or one it shares (a view's
 * window of its base's, an addend's of its sum's). 0, or -1 out of memory. Leaves the use-count marks set. */
int grad_plan(pl_ctx *ctx, const node_list *l);
/* Choose the consumers a matmul's GEMM write-back computes (ctx->fuse off: none). Reads the use-count marks. */
void fusion_decide(const pl_ctx *ctx, const node_list *l, pl_tensor *const *outs, int n_outs);

/* Forward graphs: chain the matmuls that share an input (sib_fwd), so that the first computes the others in the
 * same job (ctx->fuse off: none). */
void siblings_decide(const pl_ctx *ctx, const node_list *l);

/* Zero t's gradient if it is still stale (no op has written it this pass); timed into the context's profile. */
void grad_reset_if_stale(pl_ctx *ctx, pl_tensor *t);
/* Ops whose backward resets their sources' gradients itself (op_grad_beta), overwriting where it can. */
bool grad_reset_by_op(pl_op op);

#endif
