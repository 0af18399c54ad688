/* The graph: a topological list of the nodes an output depends on. Forward runs each node's kernel in
 * order; backward seeds d out = 1 and runs each op's backward in reverse, which adds into the sources'
 * gradients. Parameters keep their gradients between passes (accumulation); intermediates are zeroed. */
#include "ops/ops.h"

#include <time.h>

const pl_op_def pl_op_table[PL_OP_COUNT] = {
    [PL_OP_NONE] = {"none", NULL, NULL},
#define ROW(OP, n) [PL_OP_##OP] = {#n, op_##n##_forward, op_##n##_backward},
    ROW(VIEW, view) ROW(ADD, add) ROW(SUB, sub) ROW(MUL, mul) ROW(SCALE, scale) ROW(MATMUL, matmul)
    ROW(GET_ROWS, get_rows) ROW(RMSNORM, rmsnorm) ROW(LAYERNORM, layernorm) ROW(ROPE, rope)
    ROW(SOFTMAX, softmax) ROW(ATTENTION, attention) ROW(GELU, gelu) ROW(SILU, silu) ROW(SWIGLU, swiglu)
    ROW(CROSS_ENTROPY, cross_entropy) ROW(SUM, sum) ROW(MEAN, mean) ROW(CONCAT, concat) ROW(CONT, cont)
    ROW(CPY, cpy) ROW(LAYERNORM_AFFINE, layernorm_affine) ROW(KV_STORE, kv_store)
    ROW(ATTENTION_CELLS, attention_cells)
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

/* ---- view gradients that alias their base's ----------------------------------------------------------------
 * A view of a contiguous f32 base (q, k, v sliced from a fused projection; a reshape) can take as its gradient
 * the window of the base's gradient with the view's own strides and offset: its consumers then add straight
 * into the base's gradient, and the view's backward (a scatter) has nothing left to do. Exact when no two
 * elements of the view are one base element. Every op writes a contiguous gradient correctly, so a view that is
 * a contiguous window always qualifies; a strided one only when every consumer in the graph writes its source's
 * gradient through the gradient tensor's strides (grad_strides_honoured). Parameters keep their own gradients
 * (they accumulate across passes, in an order callers may rely on). */
#define STRIDED_NO 0x40000000u /* build-time mark: a consumer of this view needs a contiguous gradient */
static bool grad_strides_honoured(pl_op op, int slot) { return op == PL_OP_ATTENTION && slot < 3; }
static void mark_strided_consumers(const node_list *l) {
    for (int i = 0; i < l->n; i++)
        for (int s = 0; s < PL_MAX_SRC; s++) {
            pl_tensor *src = l->v[i]->src[s];
            if (src && src->op == PL_OP_VIEW && !grad_strides_honoured(l->v[i]->op, s)) src->flags |= STRIDED_NO;
        }
}
static bool view_grad_can_alias(const pl_tensor *v) {
    const pl_tensor *b = v->src[0];
    if (v->op != PL_OP_VIEW || !b || !b->grad || ((v->flags | b->flags) & PL_FLAG_PARAM)) return false;
    if (v->type != PL_F32 || b->type != PL_F32 || !pl_is_contiguous(b) || !pl_is_contiguous(b->grad)) return false;
    if (b->flags & PL_FLAG_GRAD_ALIAS) return false; /* (a base is never a view; kept simple if that changes) */
    if (pl_is_contiguous(v)) return true;
    return !(v->flags & STRIDED_NO) && v->nb[0] == sizeof(float) && !op_view_overlaps(v);
}
static pl_tensor *view_grad_alias(pl_ctx *ctx, pl_tensor *v) {
    pl_tensor *g = pl_new_mapped(ctx, PL_F32, v->n_dims, v->ne, (char *)v->src[0]->grad->data + v->view_offs);
    if (!g) return NULL;
    memcpy(g->nb, v->nb, sizeof g->nb);
    v->flags |= PL_FLAG_GRAD_ALIAS;
    v->grad_owner = v->src[0];
    return g;
}

/* An addend of t = a + b (same shape) whose only consumer is t has t's gradient as its own: d t / d addend is
 * the identity and nothing else adds into it, so it can share t's buffer - the sum's backward copies nothing to
 * it (a transformer block's f(x) in x + f(x)). Likewise the input of a tanh GELU that feeds only it: the GELU's
 * backward turns its gradient into the input's in place (element by element), saving a buffer's worth of memory
 * traffic. Sources are visited in reverse order, so t's gradient exists. */
#define ONE_USE 0x20000000u  /* build-time marks: consumed once, more than once */
#define MANY_USES 0x10000000u
static void count_uses(const node_list *l) {
    for (int i = 0; i < l->n; i++)
        for (int s = 0; s < PL_MAX_SRC; s++) {
            pl_tensor *src = l->v[i]->src[s];
            if (src) src->flags |= (src->flags & ONE_USE) ? MANY_USES : ONE_USE;
        }
}
static int list_index(const node_list *l, const pl_tensor *t, int below);
/* The residual stream x of t = x + f(x), consumed also by f's first op (a LayerNorm): it may share t's gradient
 * buffer too when f is a matmul sharing it (f's backward is then the buffer's only reader) and x's other
 * consumers all come before f in the forward order - their backwards, which add into x's gradient, then run
 * after f's backward has read d t, and before the layer below reads the sum as its own d t. The sum's backward
 * then copies nothing at all, and a whole residual stream has one gradient buffer. */
static bool residual_can_share(const node_list *l, int ti, pl_tensor *t, pl_tensor *x, pl_tensor *f) {
    if (!f || f == x || f->op != PL_OP_MATMUL || f->grad != t->grad) return false;
    int fi = list_index(l, f, ti);
    if (fi < 0) return false;
    for (int i = 0; i < l->n; i++) {
        pl_tensor *c = l->v[i];
        if (c == t) continue;
        for (int s = 0; s < PL_MAX_SRC; s++)
            if (c->src[s] == x && (i >= fi || c->op == PL_OP_VIEW)) return false;
    }
    return true;
}
static void share_sum_grad(const node_list *l, int ti) {
    pl_tensor *t = l->v[ti];
    bool in_place = t->op == PL_OP_GELU && t->p.i[0];
    if ((t->op != PL_OP_ADD && !in_place) || !t->grad) return;
    if (in_place && (t->flags & PL_FLAG_GRAD_ALIAS)) return; /* the buffer is another's too (both addends of a sum
                                                                 share it): turning it in place would corrupt theirs */
    /* pass 0: addends that feed only t; pass 1 (sums): a residual stream, once the matmul beside it shares */
    for (int pass = 0; pass < (in_place ? 1 : 2); pass++) {
        for (int s = 0; s < (in_place ? 1 : 2); s++) {
            pl_tensor *x = t->src[s];
            if (!x || x->grad || !(x->flags & PL_FLAG_NEEDS_GRAD) || (x->flags & PL_FLAG_PARAM) ||
                x->op == PL_OP_VIEW || x->type != PL_F32 || !pl_same_shape(x, t) || !pl_is_contiguous(t->grad))
                continue;
            if ((x->flags & MANY_USES) && (pass == 0 || !residual_can_share(l, ti, t, x, t->src[1 - s]))) continue;
            x->grad = t->grad;
            x->grad_owner = t;
            x->flags |= PL_FLAG_GRAD_ALIAS;
        }
    }
}

/* Fusions into a matrix product's GEMM write-back (ops/matmul.c, backend/cpu/sgemm.c's pl_sgemm_epi), decided
 * here for training graphs, where every consumer is known:
 *  - forward, a matmul whose only consumer is a tanh GELU of its output: the product writes both (the linear
 *    layer before a GELU);
 *  - forward, a matmul whose only consumer is a same-shape sum with another tensor: the product writes the sum
 *    (a residual connection x + f(x)); the matmul's own output is then not written - nothing reads it in
 *    training, where its gradient is the sum's;
 *  - backward, a matmul whose right operand is a tanh GELU's output consumed by it alone, the GELU's input sharing
 *    its gradient buffer (share_sum_grad): the product giving the GELU output's gradient multiplies it by
 *    gelu'(input) as it writes it, which is the input's gradient.
 * The consumer is marked (PL_FLAG_FUSED_FWD / _BWD: the graph runs nothing for it) and the matmul points at it;
 * the matmul computes the consumer's part itself whatever path its product takes. A graph built later over the
 * same nodes decides again. PLINTH_FUSE=0 turns them off (to compare: the results are the same bits). */
static int list_index(const node_list *l, const pl_tensor *t, int below) {
    for (int i = 0; i < below; i++)
        if (l->v[i] == t) return i;
    return -1; /* not in the list (a leaf of another graph), or not before `below` */
}
static bool plain_f32(const pl_tensor *t) { return t->type == PL_F32 && pl_is_contiguous(t); }
static void decide_fusions(const node_list *l, pl_tensor *const *outs, int n_outs) {
    const char *e = getenv("PLINTH_FUSE");
    if (e && !strcmp(e, "0")) return;
    for (int i = 0; i < l->n; i++) {
        pl_tensor *u = l->v[i];
        for (int s = 0; s < 2; s++) {
            pl_tensor *t = u->src[s];
            if (!t || t->op != PL_OP_MATMUL || (t->flags & MANY_USES) || t->epi_fwd || !plain_f32(t) || !plain_f32(u) ||
                !pl_same_shape(t, u) || (u->flags & PL_FLAG_FUSED_FWD))
                continue;
            bool out = false;
            for (int o = 0; o < n_outs; o++) out |= outs[o] == t;
            if (out) continue;
            int ti = list_index(l, t, i);
            if (u->op == PL_OP_GELU && u->p.i[0]) {
                t->epi_fwd = u;
                u->flags |= PL_FLAG_FUSED_FWD;
            } else if (u->op == PL_OP_ADD && !u->src[2]) {
                pl_tensor *x = u->src[1 - s];
                /* the other addend must be ready when the product runs: a leaf, or computed before it */
                bool ready = x && (x->op == PL_OP_NONE || (ti >= 0 && list_index(l, x, ti) >= 0));
                if (ready && x != t && plain_f32(x) && pl_same_shape(x, u)) {
                    t->epi_fwd = u;
                    u->flags |= PL_FLAG_FUSED_FWD;
                }
            }
        }
        /* backward: u = matmul(w, gelu(h)) */
        pl_tensor *gl = u->src[1], *h = gl ? gl->src[0] : NULL;
        if (u->op == PL_OP_MATMUL && gl && gl->op == PL_OP_GELU && gl->p.i[0] && u->src[0] != gl &&
            !(gl->flags & (MANY_USES | PL_FLAG_FUSED_BWD)) && gl->grad && h && h->grad == gl->grad && plain_f32(h) &&
            plain_f32(gl) && pl_same_shape(h, gl)) {
            u->epi_bwd = gl;
            gl->flags |= PL_FLAG_FUSED_BWD;
        }
    }
}

pl_graph *pl_graph_build_multi(pl_ctx *ctx, pl_tensor **outs, int n_outs, bool backward) {
    for (int i = 0; i < n_outs; i++)
        if (!outs[i]) return NULL; /* a builder failed: its message is already set */
    node_list l = {0};
    for (int i = 0; i < n_outs; i++)
        if (visit(ctx, &l, outs[i])) return NULL;
    for (int i = 0; i < l.n; i++) {
        pl_tensor *t = l.v[i];
        t->flags &= ~(uint32_t)(VISITED | PL_FLAG_FUSED_FWD | PL_FLAG_FUSED_BWD);
        t->epi_fwd = t->epi_bwd = NULL;
    }
    pl_graph *g = pl_ctx_alloc(ctx, sizeof *g);
    if (!g) return NULL;
    g->nodes = l.v;
    g->n_nodes = l.n;
    g->out = outs[n_outs - 1];
    g->backward = backward;
    if (!backward) return g;
    if (pl_nelements(g->out) != 1) return pl_error_null(PL_ERR_ARG, "backward needs a scalar output");
    mark_strided_consumers(&l);
    count_uses(&l);
    for (int i = 0; i < l.n; i++) {
        pl_tensor *t = l.v[i];
        bool needs = (t->flags & PL_FLAG_PARAM) != 0;
        for (int s = 0; s < PL_MAX_SRC && !needs; s++)
            needs = t->src[s] && (t->src[s]->flags & PL_FLAG_NEEDS_GRAD) && t->op != PL_OP_CPY;
        if (!needs) continue;
        t->flags |= PL_FLAG_NEEDS_GRAD;
        if ((t->flags & PL_FLAG_GRAD_ALIAS) && (t->op != PL_OP_VIEW || !view_grad_can_alias(t))) {
            t->flags &= ~(uint32_t)PL_FLAG_GRAD_ALIAS; /* an earlier graph's sharing: decided again below */
            t->grad = t->grad_owner = NULL;
        }
    }
    /* gradients: sums' first (reverse order), so that an addend can share its sum's; then views (forward order),
     * whose bases then have theirs; then everything else */
    for (int i = l.n - 1; i >= 0; i--) {
        pl_tensor *t = l.v[i];
        if (!(t->flags & PL_FLAG_NEEDS_GRAD) || t->op == PL_OP_VIEW) continue;
        if (!t->grad && !(t->grad = pl_new(ctx, PL_F32, t->n_dims, t->ne))) return NULL;
        share_sum_grad(&l, i);
    }
    for (int i = 0; i < l.n; i++) {
        pl_tensor *t = l.v[i];
        if (!(t->flags & PL_FLAG_NEEDS_GRAD) || t->op != PL_OP_VIEW || t->grad) continue;
        t->grad = view_grad_can_alias(t) ? view_grad_alias(ctx, t) : pl_new(ctx, PL_F32, t->n_dims, t->ne);
        if (!t->grad) return NULL;
    }
    decide_fusions(&l, outs, n_outs);
    for (int i = 0; i < l.n; i++) l.v[i]->flags &= ~(STRIDED_NO | ONE_USE | MANY_USES);
    return g;
}

pl_graph *pl_graph_build(pl_ctx *ctx, pl_tensor *out, bool backward) { return pl_graph_build_multi(ctx, &out, 1, backward); }

/* PLINTH_PROFILE=1: time spent per op and direction, summed over the process, printed by pl_profile_print. */
static double g_prof[PL_OP_COUNT][2];
static long g_prof_n[PL_OP_COUNT][2];
static int g_prof_on = -1;
static bool profiling(void) {
    if (g_prof_on < 0) {
        const char *e = getenv("PLINTH_PROFILE");
        g_prof_on = !e ? 0 : !strcmp(e, "cpu") ? 2 : 1;
    }
    return g_prof_on;
}
/* PLINTH_PROFILE=cpu: the calling thread's CPU time instead of the wall clock - on a shared, noisy host the
 * time other processes take the core is left out (exact at one thread; with more it sees the caller's share) */
static double prof_clock(void) {
    if (g_prof_on != 2) return pl_time_s();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* time spent outside the ops, by what (the graph's gradient resets, a trainer's optimizer step, ...) */
static struct { const char *what; double s; long n; } g_prof_extra[8];
bool pl_profiling(void) { return profiling(); }
double pl_profile_clock(void) { return profiling() ? prof_clock() : pl_time_s(); }
void pl_profile_add(const char *what, double seconds) {
    for (int i = 0; i < 8; i++)
        if (!g_prof_extra[i].what || !strcmp(g_prof_extra[i].what, what)) {
            g_prof_extra[i].what = what;
            g_prof_extra[i].s += seconds;
            g_prof_extra[i].n++;
            return;
        }
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
    for (int i = 0; i < 8 && g_prof_extra[i].what; i++)
        fprintf(f, "outside ops: %-16s %8.3f s in %ld calls\n", g_prof_extra[i].what, g_prof_extra[i].s,
                g_prof_extra[i].n);
}

static void run_op(pl_ctx *ctx, pl_tensor *t, int dir) {
    void (*fn)(pl_ctx *, pl_tensor *) = dir ? pl_op_table[t->op].backward : pl_op_table[t->op].forward;
    if (!fn) return;
    if (!profiling()) { fn(ctx, t); return; }
    double t0 = prof_clock();
    fn(ctx, t);
    g_prof[t->op][dir] += prof_clock() - t0;
    g_prof_n[t->op][dir]++;
}

void pl_graph_forward(pl_ctx *ctx, pl_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i]->op == PL_OP_NONE) continue;
        if ((g->nodes[i]->flags & PL_FLAG_FUSED_FWD) && !ctx->observe) continue; /* its producer computed it */
        run_op(ctx, g->nodes[i], 0);
        if (ctx->observe) ctx->observe(ctx->observe_ud, ctx, g->nodes[i]);
    }
}

/* Gradients of intermediate nodes are zeroed just in time, not all up front: right before the first backward
 * op that adds into one, so the zeroed lines are still in cache when the op adds to them (a GPT step's
 * activation gradients are hundreds of MB; zeroing them in one sweep went to memory twice). matmul zeroes its
 * own sources' gradients (op_grad_beta), and writes them with beta = 0 where one product covers the buffer.
 * A buffer worth it is zeroed by all of the pool's threads (the 4.7 MB QKV gradient that attention adds into,
 * per layer of the 10M GPT). */
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
static void grad_zero_if_stale(pl_ctx *ctx, pl_tensor *t) {
    if (!profiling()) { op_grad_beta(ctx, t, false); return; }
    double t0 = prof_clock();
    op_grad_beta(ctx, t, false);
    pl_profile_add("gradient reset", prof_clock() - t0);
}
/* ops whose backward resets their sources' gradients itself (op_grad_beta), overwriting where it can */
static bool resets_own_sources(pl_op op) {
    return op == PL_OP_MATMUL || op == PL_OP_ADD || op == PL_OP_SUB || op == PL_OP_MUL || op == PL_OP_SCALE ||
           op == PL_OP_GELU || op == PL_OP_SILU;
}

static void backward(pl_ctx *ctx, pl_graph *g, bool reset_params) {
    for (int i = 0; i < g->n_nodes; i++) {
        pl_tensor *t = g->nodes[i];
        if (t->grad && !(t->flags & PL_FLAG_GRAD_ALIAS) && (reset_params || !(t->flags & PL_FLAG_PARAM)))
            t->flags |= PL_FLAG_GRAD_STALE;
    }
    if (g->out->grad) {
        grad_zero_if_stale(ctx, g->out);
        pl_f32(g->out->grad)[0] = 1.0f;
        for (int i = g->n_nodes - 1; i >= 0; i--) {
            pl_tensor *t = g->nodes[i];
            if (!t->grad || t->op == PL_OP_NONE) continue;
            grad_zero_if_stale(ctx, t); /* no consumer wrote it: a zero gradient flows back */
            if (t->flags & PL_FLAG_FUSED_BWD) continue; /* done by its consumer's backward */
            if (!resets_own_sources(t->op))
                for (int s = 0; s < PL_MAX_SRC; s++) grad_zero_if_stale(ctx, t->src[s]);
            run_op(ctx, t, 1);
        }
    } /* else nothing trainable reaches the output */
    for (int i = 0; i < g->n_nodes; i++) grad_zero_if_stale(ctx, g->nodes[i]); /* leaves no op reached */
}
void pl_graph_backward(pl_ctx *ctx, pl_graph *g) { backward(ctx, g, false); }
/* A trainer's first micro-batch: its parameters' gradients are reset like the intermediates' - zeroed right
 * before their first writer, or overwritten by it (the weight-gradient products then run with beta = 0) - instead
 * of by a sweep over all of them before the pass. */
void pl_graph_backward_reset(pl_ctx *ctx, pl_graph *g) { backward(ctx, g, true); }
