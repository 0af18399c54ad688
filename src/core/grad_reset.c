/* Gradient zeroing, just in time: pl_graph_backward (core/graph.c) marks gradients stale at the start of a
 * pass, and each is zeroed right before the first op that adds into it - or overwritten by an op that covers
 * it exactly once (op_grad_beta, which the ops' backwards call: matmul writes with beta = 0). */
#include "core/graph_build.h"
#include "core/op_def.h"
#include "core/profile.h"

/* Zeroed right before the first backward op that adds into it, not all up front, so the zeroed lines are still
 * in cache when the op adds to them (a GPT step's activation gradients are hundreds of MB; zeroing them in one
 * sweep went to memory twice). A buffer worth it is zeroed by all of the pool's threads (the 4.7 MB QKV
 * gradient that attention adds into, per layer of the 10M GPT). */
#define ZERO_CHUNK ((int64_t)1 << 16) /* bytes per work unit */
typedef struct { char *p; int64_t n; } zero_job;
static void zero_chunks(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    zero_job *j = arg;
    int64_t lo = s * ZERO_CHUNK, hi = PL_MIN(j->n, e * ZERO_CHUNK);
    memset(j->p + lo, 0, (size_t)(hi - lo));
}
float op_grad_beta(pl_ctx *ctx, pl_tensor *src, bool once) {
    if (src && (src->flags & PL_FLAG_GRAD_ALIAS)) /* its gradient is (part of) the owner's: reset the owner's */
        return op_grad_beta(ctx, src->grad_owner, once && pl_is_contiguous(src->grad) &&
                                                      pl_nelements(src) == pl_nelements(src->grad_owner));
    if (!src || !src->grad || !(src->flags & PL_FLAG_GRAD_STALE)) return 1.0f;
    src->flags &= ~(uint32_t)PL_FLAG_GRAD_STALE;
    if (once) return 0.0f;
    zero_job j = {src->grad->data, (int64_t)pl_nbytes(src->grad)};
    if (ctx->n_threads > 1 && j.n >= 4 * ZERO_CHUNK) pl_parallel_for(ctx, (j.n + ZERO_CHUNK - 1) / ZERO_CHUNK, zero_chunks, &j);
    else memset(j.p, 0, (size_t)j.n);
    return 1.0f;
}

void grad_reset_if_stale(pl_ctx *ctx, pl_tensor *t) {
    if (!ctx->profile) { op_grad_beta(ctx, t, false); return; }
    double t0 = profile_clock(ctx->profile);
    op_grad_beta(ctx, t, false);
    profile_extra(ctx->profile, "gradient reset", profile_clock(ctx->profile) - t0);
}

bool grad_reset_by_op(pl_op op) {
    return op == PL_OP_MATMUL || op == PL_OP_ADD || op == PL_OP_SUB || op == PL_OP_MUL || op == PL_OP_SCALE ||
           op == PL_OP_GELU || op == PL_OP_SILU;
}
