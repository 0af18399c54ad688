/* Fusions into a matrix product's GEMM write-back (ops/matmul.c, backend/cpu/sgemm.c's pl_sgemm_epi), decided
 * by pl_graph_build (core/graph.c) for training graphs, where every consumer is known, and by pl_graph_build_fused
 * for forward passes whose intermediates nobody reads afterwards (the encoder's). Which nodes are fused
 * is all this file decides; the matmul computes its consumer's part whatever path its product takes. */
#include "core/graph_build.h"

/* The fusions:
 *  - forward, a matmul whose only consumer is a GELU (tanh, erf or quick) of its output: the product writes both (the
 *    linear layer before a GELU);
 *  - forward, a matmul whose only consumer is a same-shape sum with another tensor: the product writes the sum
 *    (a residual connection x + f(x)); the matmul's own output is then not written - nothing reads it in
 *    training, where its gradient is the sum's;
 *  - backward, a matmul whose right operand is a tanh GELU's output consumed by it alone, the GELU's input sharing
 *    its gradient buffer (grad_plan.c): the product giving the GELU output's gradient multiplies it by
 *    gelu'(input) as it writes it, which is the input's gradient.
 * The consumer is marked (PL_FLAG_FUSED_FWD / _BWD: the graph runs nothing for it) and the matmul points at it.
 * A graph built later over the same nodes decides again. A context made with .fuse = PL_FUSE_OFF (PLINTH_FUSE=0
 * on the command line) fuses nothing, to compare: the results are the same bits. */
static bool plain_f32(const pl_tensor *t) { return t->type == PL_F32 && pl_is_contiguous(t); }

static bool is_output(pl_tensor *const *outs, int n_outs, const pl_tensor *t) {
    for (int o = 0; o < n_outs; o++)
        if (outs[o] == t) return true;
    return false;
}

/* forward: u (node i) consumes matmul t = u->src[s] */
static void fuse_forward(const node_list *l, int i, int s, pl_tensor *const *outs, int n_outs) {
    pl_tensor *u = l->v[i], *t = u->src[s];
    if (!t || t->op != PL_OP_MATMUL || (t->flags & MANY_USES) || t->epi_fwd || !plain_f32(t) || !plain_f32(u) ||
        !pl_same_shape(t, u) || (u->flags & PL_FLAG_FUSED_FWD) || is_output(outs, n_outs, t))
        return;
    int ti = list_index(l, t, i);
    if (u->op == PL_OP_GELU) { /* tanh or erf: the write-back has both */
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
static void fuse_backward(pl_tensor *u) {
    pl_tensor *gl = u->src[1], *h = gl ? gl->src[0] : NULL;
    if (u->op == PL_OP_MATMUL && gl && gl->op == PL_OP_GELU && gl->p.i[0] == 1 && u->src[0] != gl &&
        !(gl->flags & (MANY_USES | PL_FLAG_FUSED_BWD)) && gl->grad && h && h->grad == gl->grad && plain_f32(h) &&
        plain_f32(gl) && pl_same_shape(h, gl)) {
        u->epi_bwd = gl;
        gl->flags |= PL_FLAG_FUSED_BWD;
    }
}

void fusion_decide(const pl_ctx *ctx, const node_list *l, pl_tensor *const *outs, int n_outs) {
    if (!ctx->fuse) return;
    for (int i = 0; i < l->n; i++) {
        for (int s = 0; s < 2; s++) fuse_forward(l, i, s, outs, n_outs);
        fuse_backward(l->v[i]);
    }
}

/* Sibling products: matmuls of one input by quantized or half weights (a layer's q, k and v projections; its gate
 * and up), which the dot kernels take one activation row set at a time. The first of them computes the others
 * in the same parallel job (ops/matmul.c): the input is converted to the kernels' type once, and the threads
 * meet once instead of after each product. A later sibling reads only a weight (a leaf) and the input the first
 * already has, so computing it early changes nothing but when; the graph then skips it (PL_FLAG_FUSED_FWD). Each
 * row is the same kernel's on the same converted input, so the results are the same bits either way. */
static bool sibling_ok(const pl_tensor *t) {
    const pl_tensor *a = t->src[0];
    return t->op == PL_OP_MATMUL && a && a->op == PL_OP_NONE && a->type != PL_F32 && !t->src[2] && !t->epi_fwd &&
           !(t->flags & PL_FLAG_FUSED_FWD);
}
void siblings_decide(const pl_ctx *ctx, const node_list *l) {
    if (!ctx->fuse) return;
    for (int i = 0; i < l->n; i++) {
        pl_tensor *t = l->v[i], *last = t;
        if (!sibling_ok(t)) continue;
        for (int j = i + 1; j < l->n; j++) {
            pl_tensor *u = l->v[j];
            if (u->src[1] != t->src[1] || !sibling_ok(u) || u->src[0]->type != t->src[0]->type) continue;
            last->sib_fwd = u;
            u->flags |= PL_FLAG_FUSED_FWD;
            last = u;
        }
    }
}
