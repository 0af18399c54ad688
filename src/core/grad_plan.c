/* Gradient planning, the backward half of pl_graph_build (core/graph.c): which nodes get a gradient (those a
 * parameter flows into), and which gradients are not buffers of their own but share another's - a view's is
 * the window of its base's, an addend's that feeds only a same-shape sum is the sum's, a residual stream's is
 * its sum's. Sharing saves the copies (scatters, sums' backwards) and the memory traffic they cost. */
#include "core/graph_build.h"

/* ---- view gradients that alias their base's ----------------------------------------------------------------
 * A view of a contiguous f32 base (q, k, v sliced from a fused projection; a reshape) can take as its gradient
 * the window of the base's gradient with the view's own strides and offset: its consumers then add straight
 * into the base's gradient, and the view's backward (a scatter) has nothing left to do. Exact when no two
 * elements of the view are one base element. Every op writes a contiguous gradient correctly, so a view that is
 * a contiguous window always qualifies; a strided one only when every consumer in the graph writes its source's
 * gradient through the gradient tensor's strides (grad_strides_honoured). Parameters keep their own gradients
 * (they accumulate across passes, in an order callers may rely on). */
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
    return !(v->flags & STRIDED_NO) && v->nb[0] == sizeof(float) && !pl_view_overlaps(v);
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
void count_uses(const node_list *l) {
    for (int i = 0; i < l->n; i++)
        for (int s = 0; s < PL_MAX_SRC; s++) {
            pl_tensor *src = l->v[i]->src[s];
            if (src) src->flags |= (src->flags & ONE_USE) ? MANY_USES : ONE_USE;
        }
}
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

/* Flag the nodes a parameter flows into; undo an earlier graph's sharing that may not hold in this one. */
static void mark_needs_grad(const node_list *l) {
    for (int i = 0; i < l->n; i++) {
        pl_tensor *t = l->v[i];
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
}

int grad_plan(pl_ctx *ctx, const node_list *l) {
    mark_strided_consumers(l);
    count_uses(l);
    mark_needs_grad(l);
    /* gradients: sums' first (reverse order), so that an addend can share its sum's; then views (forward order),
     * whose bases then have theirs; then everything else */
    for (int i = l->n - 1; i >= 0; i--) {
        pl_tensor *t = l->v[i];
        if (!(t->flags & PL_FLAG_NEEDS_GRAD) || t->op == PL_OP_VIEW) continue;
        if (!t->grad && !(t->grad = pl_new(ctx, PL_F32, t->n_dims, t->ne))) return -1;
        share_sum_grad(l, i);
    }
    for (int i = 0; i < l->n; i++) {
        pl_tensor *t = l->v[i];
        if (!(t->flags & PL_FLAG_NEEDS_GRAD) || t->op != PL_OP_VIEW || t->grad) continue;
        t->grad = view_grad_can_alias(t) ? view_grad_alias(ctx, t) : pl_new(ctx, PL_F32, t->n_dims, t->ne);
        if (!t->grad) return -1;
    }
    return 0;
}
