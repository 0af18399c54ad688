/* The graph: a topological list of the nodes an output depends on, and the drivers that run it. Forward runs
 * each node's kernel in order; backward seeds d out = 1 and runs each op's backward in reverse, which adds into
 * the sources' gradients. Building also plans the gradients (grad_plan.c) and the GEMM fusions (fusion.c);
 * running resets stale gradients just in time (grad_reset.c) and times each op into the profile (profile.c). */
#include "core/graph_build.h"
#include "core/op_def.h"
#include "core/profile.h"

/* ---- building ---------------------------------------------------------------------------------------- */
static int list_push(pl_ctx *ctx, node_list *l, pl_tensor *t) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 256;
        pl_tensor **v = pl_ctx_alloc(ctx, (size_t)cap * sizeof *v);
        if (!v) return -1;
        if (l->n) memcpy(v, l->v, (size_t)l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = t;
    return 0;
}

int list_index(const node_list *l, const pl_tensor *t, int below) {
    for (int i = 0; i < below; i++)
        if (l->v[i] == t) return i;
    return -1;
}

/* Iterative DFS (graphs of deep models would overflow a recursive one). Marks visited with a bit in flags. */
static int visit(pl_ctx *ctx, node_list *out, pl_tensor *root) {
    typedef struct { pl_tensor *t; int next_src; } frame;
    int cap = 1024, sp = 0;
    frame *stack = malloc((size_t)cap * sizeof *stack);
    if (!stack) return pl_error(PL_ERR_NOMEM, "out of memory building a graph");
    if (root->flags & VISITED) { free(stack); return 0; }
    stack[sp++] = (frame){root, 0};
    root->flags |= VISITED;
    while (sp > 0) {
        frame *f = &stack[sp - 1];
        if (f->next_src < PL_MAX_SRC) {
            pl_tensor *s = f->t->src[f->next_src++];
            if (s && !(s->flags & VISITED)) {
                s->flags |= VISITED;
                if (sp == cap) {
                    frame *ns = realloc(stack, (size_t)cap * 2 * sizeof *stack);
                    if (!ns) { free(stack); return pl_error(PL_ERR_NOMEM, "out of memory building a graph"); }
                    stack = ns;
                    cap *= 2;
                }
                stack[sp++] = (frame){s, 0};
            }
        } else {
            if (list_push(ctx, out, f->t)) { free(stack); return PL_ERR_NOMEM; }
            sp--;
        }
    }
    free(stack);
    return 0;
}

static pl_graph *build(pl_ctx *ctx, pl_tensor **outs, int n_outs, bool backward, bool fuse_forward, bool any_shape) {
    for (int i = 0; i < n_outs; i++)
        if (!outs[i]) return NULL; /* a builder failed: its message is already set */
    node_list l = {0};
    for (int i = 0; i < n_outs; i++)
        if (visit(ctx, &l, outs[i])) return NULL;
    for (int i = 0; i < l.n; i++) {
        pl_tensor *t = l.v[i];
        t->flags &= ~(uint32_t)(VISITED | PL_FLAG_FUSED_FWD | PL_FLAG_FUSED_BWD);
        t->epi_fwd = t->epi_bwd = t->sib_fwd = NULL;
    }
    pl_graph *g = pl_ctx_alloc(ctx, sizeof *g);
    if (!g) return NULL;
    g->nodes = l.v;
    g->n_nodes = l.n;
    g->out = outs[n_outs - 1];
    g->backward = backward;
    if (!backward && !fuse_forward) { siblings_decide(ctx, &l); return g; }
    if (backward && !any_shape && pl_nelements(g->out) != 1) return pl_error_null(PL_ERR_ARG, "backward needs a scalar output");
    if (backward ? grad_plan(ctx, &l) != 0 : (count_uses(&l), false)) return NULL;
    fusion_decide(ctx, &l, outs, n_outs);
    if (!backward) siblings_decide(ctx, &l);
    for (int i = 0; i < l.n; i++) l.v[i]->flags &= ~(STRIDED_NO | ONE_USE | MANY_USES);
    return g;
}

pl_graph *pl_graph_build_multi(pl_ctx *ctx, pl_tensor **outs, int n_outs, bool backward) {
    return build(ctx, outs, n_outs, backward, false, false);
}

pl_graph *pl_graph_build_fused(pl_ctx *ctx, pl_tensor *out) { return build(ctx, &out, 1, false, true, false); }

pl_graph *pl_graph_build(pl_ctx *ctx, pl_tensor *out, bool backward) { return pl_graph_build_multi(ctx, &out, 1, backward); }
pl_graph *pl_graph_build_seeded(pl_ctx *ctx, pl_tensor *out) { return build(ctx, &out, 1, true, false, true); }

/* ---- running ------------------------------------------------------------------------------------------ */
static void run_op(pl_ctx *ctx, pl_tensor *t, int dir) {
    void (*fn)(pl_ctx *, pl_tensor *) = dir ? pl_op_table[t->op].backward : pl_op_table[t->op].forward;
    if (!fn) return;
    if (!ctx->profile) { fn(ctx, t); return; }
    double t0 = profile_clock(ctx->profile);
    fn(ctx, t);
    double dt = profile_clock(ctx->profile) - t0;
    profile_op(ctx->profile, t->op, dir, dt);
    if (t->op != PL_OP_MATMUL || dir) return;
    double rows = 0; /* a matmul that computed later ones of its input with it: the time shared by their rows */
    for (const pl_tensor *u = t; u; u = ctx->observe ? NULL : u->sib_fwd) rows += (double)u->ne[0];
    for (const pl_tensor *u = t; u; u = ctx->observe ? NULL : u->sib_fwd) profile_matmul(ctx->profile, u, dt * (double)u->ne[0] / rows);
}

void pl_graph_forward(pl_ctx *ctx, pl_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i]->op == PL_OP_NONE) continue;
        if ((g->nodes[i]->flags & PL_FLAG_FUSED_FWD) && !ctx->observe) continue; /* its producer computed it */
        run_op(ctx, g->nodes[i], 0);
        if (ctx->observe) ctx->observe(ctx->observe_ud, ctx, g->nodes[i]);
    }
}

static void backward(pl_ctx *ctx, pl_graph *g, bool reset_params, const float *seed) {
    for (int i = 0; i < g->n_nodes; i++) {
        pl_tensor *t = g->nodes[i];
        if (t->grad && !(t->flags & PL_FLAG_GRAD_ALIAS) && (reset_params || !(t->flags & PL_FLAG_PARAM)))
            t->flags |= PL_FLAG_GRAD_STALE;
    }
    if (g->out->grad) {
        if (seed) { /* d loss / d out, from the graph above this one */
            memcpy(g->out->grad->data, seed, pl_nbytes(g->out->grad));
            g->out->flags &= ~(uint32_t)PL_FLAG_GRAD_STALE;
        } else {
            grad_reset_if_stale(ctx, g->out);
            pl_f32(g->out->grad)[0] = 1.0f;
        }
        for (int i = g->n_nodes - 1; i >= 0; i--) {
            pl_tensor *t = g->nodes[i];
            if (!t->grad || t->op == PL_OP_NONE) continue;
            grad_reset_if_stale(ctx, t); /* no consumer wrote it: a zero gradient flows back */
            if (t->flags & PL_FLAG_FUSED_BWD) continue; /* done by its consumer's backward */
            if (!grad_reset_by_op(t->op))
                for (int s = 0; s < PL_MAX_SRC; s++) grad_reset_if_stale(ctx, t->src[s]);
            run_op(ctx, t, 1);
        }
    } /* else nothing trainable reaches the output */
    for (int i = 0; i < g->n_nodes; i++) grad_reset_if_stale(ctx, g->nodes[i]); /* leaves no op reached */
}
void pl_graph_backward(pl_ctx *ctx, pl_graph *g) { backward(ctx, g, false, NULL); }
/* A trainer's first micro-batch: its parameters' gradients are reset like the intermediates' - zeroed right
 * before their first writer, or overwritten by it (the weight-gradient products then run with beta = 0) - instead
 * of by a sweep over all of them before the pass. */
void pl_graph_backward_reset(pl_ctx *ctx, pl_graph *g) { backward(ctx, g, true, NULL); }
void pl_graph_backward_seed(pl_ctx *ctx, pl_graph *g, const float *seed) { backward(ctx, g, false, seed); }
