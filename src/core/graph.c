/* The graph: a topological list of the nodes an output depends on. Forward runs each node's kernel in
 * order; backward seeds d out = 1 and runs each op's backward in reverse, which adds into the sources'
 * gradients. Parameters keep their gradients between passes (accumulation); intermediates are zeroed. */
#include "ops/ops.h"

const pl_op_def pl_op_table[PL_OP_COUNT] = {
    [PL_OP_NONE] = {"none", NULL, NULL},
#define ROW(OP, n) [PL_OP_##OP] = {#n, op_##n##_forward, op_##n##_backward},
    ROW(VIEW, view) ROW(ADD, add) ROW(SUB, sub) ROW(MUL, mul) ROW(SCALE, scale) ROW(MATMUL, matmul)
    ROW(GET_ROWS, get_rows) ROW(RMSNORM, rmsnorm) ROW(LAYERNORM, layernorm) ROW(ROPE, rope)
    ROW(SOFTMAX, softmax) ROW(ATTENTION, attention) ROW(GELU, gelu) ROW(SILU, silu) ROW(SWIGLU, swiglu)
    ROW(CROSS_ENTROPY, cross_entropy) ROW(SUM, sum) ROW(MEAN, mean) ROW(CONCAT, concat) ROW(CONT, cont)
    ROW(CPY, cpy) ROW(LAYERNORM_AFFINE, layernorm_affine)
#undef ROW
};

const char *pl_op_name(pl_op op) { return op < PL_OP_COUNT ? pl_op_table[op].name : "?"; }

pl_tensor *op_new_node(pl_ctx *ctx, pl_op op, pl_dtype type, int n_dims, const int64_t *ne,
                       pl_tensor *s0, pl_tensor *s1, pl_tensor *s2, pl_tensor *s3) {
    pl_tensor *t = pl_new(ctx, type, n_dims, ne);
    if (!t) return NULL;
    t->op = op;
    t->src[0] = s0; t->src[1] = s1; t->src[2] = s2; t->src[3] = s3;
    snprintf(t->name, sizeof t->name, "%s", pl_op_name(op));
    return t;
}

/* ---- building ---------------------------------------------------------------------------------------- */
typedef struct { pl_tensor **v; int n, cap; } node_list;

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

/* Iterative DFS (graphs of deep models would overflow a recursive one). Marks visited with a bit in flags. */
#define VISITED 0x80000000u
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

pl_graph *pl_graph_build_multi(pl_ctx *ctx, pl_tensor **outs, int n_outs, bool backward) {
    for (int i = 0; i < n_outs; i++)
        if (!outs[i]) return NULL; /* a builder failed: its message is already set */
    node_list l = {0};
    for (int i = 0; i < n_outs; i++)
        if (visit(ctx, &l, outs[i])) return NULL;
    for (int i = 0; i < l.n; i++) l.v[i]->flags &= ~VISITED;
    pl_graph *g = pl_ctx_alloc(ctx, sizeof *g);
    if (!g) return NULL;
    g->nodes = l.v;
    g->n_nodes = l.n;
    g->out = outs[n_outs - 1];
    g->backward = backward;
    if (!backward) return g;
    if (pl_nelements(g->out) != 1) return pl_error_null(PL_ERR_ARG, "backward needs a scalar output");
    for (int i = 0; i < l.n; i++) {
        pl_tensor *t = l.v[i];
        bool needs = (t->flags & PL_FLAG_PARAM) != 0;
        for (int s = 0; s < PL_MAX_SRC && !needs; s++)
            needs = t->src[s] && (t->src[s]->flags & PL_FLAG_NEEDS_GRAD) && t->op != PL_OP_CPY;
        if (!needs) continue;
        t->flags |= PL_FLAG_NEEDS_GRAD;
        if (!t->grad) {
            t->grad = pl_new(ctx, PL_F32, t->n_dims, t->ne);
            if (!t->grad) return NULL;
        }
    }
    return g;
}

pl_graph *pl_graph_build(pl_ctx *ctx, pl_tensor *out, bool backward) { return pl_graph_build_multi(ctx, &out, 1, backward); }

/* PLINTH_PROFILE=1: time spent per op and direction, summed over the process, printed by pl_profile_print. */
static double g_prof[PL_OP_COUNT][2];
static long g_prof_n[PL_OP_COUNT][2];
static int g_prof_on = -1;
static bool profiling(void) {
    if (g_prof_on < 0) g_prof_on = getenv("PLINTH_PROFILE") != NULL;
    return g_prof_on;
}

void pl_profile_print(FILE *f) {
    if (!profiling()) return;
    double total = 0;
    for (int o = 0; o < PL_OP_COUNT; o++) total += g_prof[o][0] + g_prof[o][1];
    fprintf(f, "%-14s %10s %10s %8s %10s %8s\n", "op", "fwd s", "calls", "fwd %", "bwd s", "bwd %");
    for (int o = 0; o < PL_OP_COUNT; o++)
        if (g_prof_n[o][0] || g_prof_n[o][1])
            fprintf(f, "%-14s %10.3f %10ld %7.1f%% %10.3f %7.1f%%\n", pl_op_name((pl_op)o), g_prof[o][0], g_prof_n[o][0],
                    100 * g_prof[o][0] / total, g_prof[o][1], 100 * g_prof[o][1] / total);
    fprintf(f, "total %.3f s in ops\n", total);
}

static void run_op(pl_ctx *ctx, pl_tensor *t, int dir) {
    void (*fn)(pl_ctx *, pl_tensor *) = dir ? pl_op_table[t->op].backward : pl_op_table[t->op].forward;
    if (!fn) return;
    if (!profiling()) { fn(ctx, t); return; }
    double t0 = pl_time_s();
    fn(ctx, t);
    g_prof[t->op][dir] += pl_time_s() - t0;
    g_prof_n[t->op][dir]++;
}

void pl_graph_forward(pl_ctx *ctx, pl_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i]->op == PL_OP_NONE) continue;
        run_op(ctx, g->nodes[i], 0);
        if (ctx->observe) ctx->observe(ctx->observe_ud, ctx, g->nodes[i]);
    }
}

/* Gradients of intermediate nodes are zeroed just in time, not all up front: right before the first backward
 * op that adds into one, so the zeroed lines are still in cache when the op adds to them (a GPT step's
 * activation gradients are hundreds of MB; zeroing them in one sweep went to memory twice). matmul zeroes its
 * own sources' gradients (op_grad_beta), and writes them with beta = 0 where one product covers the buffer. */
float op_grad_beta(pl_tensor *src, bool once) {
    if (!src || !src->grad || !(src->flags & PL_FLAG_GRAD_STALE)) return 1.0f;
    src->flags &= ~(uint32_t)PL_FLAG_GRAD_STALE;
    if (once) return 0.0f;
    memset(src->grad->data, 0, pl_nbytes(src->grad));
    return 1.0f;
}
static void grad_zero_if_stale(pl_tensor *t) { op_grad_beta(t, false); }

void pl_graph_backward(pl_ctx *ctx, pl_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        pl_tensor *t = g->nodes[i];
        if (t->grad && !(t->flags & PL_FLAG_PARAM)) t->flags |= PL_FLAG_GRAD_STALE;
    }
    if (g->out->grad) {
        grad_zero_if_stale(g->out);
        pl_f32(g->out->grad)[0] = 1.0f;
        for (int i = g->n_nodes - 1; i >= 0; i--) {
            pl_tensor *t = g->nodes[i];
            if (!t->grad || t->op == PL_OP_NONE) continue;
            grad_zero_if_stale(t); /* no consumer wrote it: a zero gradient flows back */
            if (t->op != PL_OP_MATMUL)
                for (int s = 0; s < PL_MAX_SRC; s++) grad_zero_if_stale(t->src[s]);
            run_op(ctx, t, 1);
        }
    } /* else nothing trainable reaches the output */
    for (int i = 0; i < g->n_nodes; i++) grad_zero_if_stale(g->nodes[i]); /* leaves no op reached */
}
