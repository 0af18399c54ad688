/* Training a decoder LM a layer at a time (activation checkpointing, Chen et al. 2016): the forward pass keeps only
 * each layer's input; the backward pass runs each layer's forward again from its input, then its backward, in one
 * work arena that a single layer's graph fills. The LM head and the cross-entropy run over chunks of the rows that
 * have a target, so that the (V, T*B) logits and their gradient never exist whole. The loss and gradients are
 * those of pl_llm_forward_train's one graph (tests/unit/test_llm_ckpt.c). Used by tasks/finetune.c. */
#include "models/llm.h"
#include "models/lora.h"
#include "models/prompt_tuning.h"

#include <math.h>

pl_llm_ckpt *pl_llm_ckpt_new(pl_llm *m, int T, int B, const pl_ctx_params *params, int head_rows) {
    const pl_llm_arch_info *a = m->arch_info;
    if (!a->embed || !a->block || !a->head)
        return pl_error_null(PL_ERR_UNSUPPORTED, "%s: %s trains as one graph only", m->path, a->name);
    if (T < 1 || B < 1) return pl_error_null(PL_ERR_ARG, "a batch of %d x %d tokens", B, T);
    pl_llm_ckpt *c = pl_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->m = m;
    c->T = T, c->B = B, c->N = T + (m->prompt ? m->prompt->n_virtual : 0), c->C = m->hp.n_embd;
    c->head_rows = head_rows;
    int64_t L = m->hp.n_layer, rows = c->N * B;
    c->io = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 1 << 20, .n_threads = 1});
    c->work = pl_ctx_new(params);
    c->x = pl_malloc((size_t)((L + 1) * rows * c->C) * sizeof(float));
    c->dx = pl_malloc((size_t)(rows * c->C) * sizeof(float));
    c->needs = pl_calloc((size_t)L + 1, sizeof *c->needs);
    c->rows = pl_malloc((size_t)rows * 2 * sizeof(int32_t));
    if (!c->io || !c->work || !c->x || !c->dx || !c->needs || !c->rows) { pl_llm_ckpt_free(c); return NULL; }
    c->tg = c->rows + rows;
    c->ids = pl_new_2d(c->io, PL_I32, T, B);
    c->targets = pl_new_2d(c->io, PL_I32, T, B);
    c->pos = pl_new_1d(c->io, PL_I32, c->N);
    if (!c->ids || !c->targets || !c->pos) { pl_llm_ckpt_free(c); return NULL; }
    for (int64_t t = 0; t < c->N; t++) ((int32_t *)c->pos->data)[t] = (int32_t)t;
    memset(c->ids->data, 0, pl_nbytes(c->ids));
    memset(c->targets->data, 0xff, pl_nbytes(c->targets)); /* -1: no loss */
    return c;
}

void pl_llm_ckpt_free(pl_llm_ckpt *c) {
    if (!c) return;
    pl_ctx_free(c->io);
    pl_ctx_free(c->work);
    free(c->x); free(c->dx); free(c->needs); free(c->rows); free(c->xr);
    free(c);
}

static float *layer_x(const pl_llm_ckpt *c, int l) { return c->x + (size_t)l * (size_t)(c->N * c->B * c->C); }
static size_t x_bytes(const pl_llm_ckpt *c) { return (size_t)(c->N * c->B * c->C) * sizeof(float); }

static void note_arena(pl_llm_ckpt *c) { c->peak_work = PL_MAX(c->peak_work, pl_ctx_arena_bytes(c->work)); }

/* The embedding's graph in the work arena: ids (and the prompt adapter's virtual tokens) -> x {C, N, B} */
static pl_graph *embed_graph(pl_llm_ckpt *c, pl_tensor **x) {
    pl_ctx_reset(c->work);
    llm_inputs in = {.ids = c->ids, .pos = c->pos};
    if (c->m->prompt && !llm_prompt_inputs(c->work, c->m, &in)) return NULL;
    *x = c->m->arch_info->embed(c->work, c->m, &in);
    if (*x && !pl_is_contiguous(*x)) return pl_error_null(PL_ERR_ARG, "the embedding's output is not contiguous");
    return *x ? pl_graph_build_seeded(c->work, *x) : NULL;
}

/* Layer l's graph over its stored input, which is a leaf with a gradient when something below it is trained */
static pl_graph *block_graph(pl_llm_ckpt *c, int l, pl_tensor **x, pl_tensor **y) {
    pl_ctx_reset(c->work);
    *x = pl_new_mapped(c->work, PL_F32, 3, (int64_t[]){c->C, c->N, c->B}, layer_x(c, l));
    if (!*x) return NULL;
    if (c->needs[l]) pl_param(c->work, *x);
    llm_inputs in = {.ids = c->ids, .pos = c->pos};
    *y = c->m->arch_info->block(c->work, c->m, l, &in, *x);
    if (*y && !pl_is_contiguous(*y)) return pl_error_null(PL_ERR_ARG, "layer %d's output is not contiguous", l);
    return *y ? pl_graph_build_seeded(c->work, *y) : NULL;
}

/* The rows (of the N * B) with a target, and their targets: the batch's, shifted past the virtual tokens */
static int64_t target_rows(pl_llm_ckpt *c) {
    int64_t n = 0, nv = c->N - c->T, V = c->m->hp.n_vocab;
    const int32_t *tg = c->targets->data;
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t i = nv; i < c->N; i++) {
            int32_t y = tg[b * c->T + i - nv];
            if (y < 0 || y >= V) continue; /* what the cross-entropy skips */
            c->rows[n] = (int32_t)(b * c->N + i);
            c->tg[n++] = y;
        }
    return n;
}

/* Rows per head chunk: its logits and their gradient (2 V floats a row) in about the arena a layer needed */
static int64_t head_chunk(pl_llm_ckpt *c) {
    if (c->head_rows > 0) return c->head_rows;
    int64_t per_row = (2 * (int64_t)c->m->hp.n_vocab + 8 * c->C) * (int64_t)sizeof(float);
    c->head_rows = (int)PL_MIN(PL_MAX(32, (int64_t)c->peak_work / per_row), c->N * c->B);
    return c->head_rows;
}

/* The mean cross-entropy over the n target rows of x[L], a chunk at a time; with backward, d loss / d x[L] in dx */
static int head(pl_llm_ckpt *c, int64_t n, bool backward, double *loss) {
    int L = c->m->hp.n_layer;
    int64_t C = c->C, chunk = head_chunk(c);
    if (!c->xr && !(c->xr = pl_malloc((size_t)(chunk * C) * sizeof(float)))) return PL_ERR_NOMEM;
    if (backward) memset(c->dx, 0, x_bytes(c));
    const float *xl = layer_x(c, L);
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
        int64_t k = PL_MIN(chunk, n - r0);
        pl_ctx_reset(c->work);
        for (int64_t i = 0; i < k; i++) memcpy(c->xr + i * C, xl + (int64_t)c->rows[r0 + i] * C, (size_t)C * sizeof(float));
        pl_tensor *xr = pl_new_mapped(c->work, PL_F32, 2, (int64_t[]){C, k}, c->xr);
        pl_tensor *tr = pl_new_1d(c->work, PL_I32, k);
        if (!xr || !tr) return PL_ERR_NOMEM;
        memcpy(tr->data, c->tg + r0, (size_t)k * sizeof(int32_t));
        if (backward && c->needs[L]) pl_param(c->work, xr);
        pl_tensor *ls = pl_cross_entropy_over(c->work, c->m->arch_info->head(c->work, c->m, xr), tr, -1, n);
        pl_graph *g = ls ? pl_graph_build(c->work, ls, backward) : NULL;
        if (!g) return PL_ERR_ARG;
        note_arena(c);
        pl_graph_forward(c->work, g);
        *loss += pl_f32(ls)[0];
        if (!backward) continue;
        pl_graph_backward(c->work, g);
        for (int64_t i = 0; xr->grad && i < k; i++)
            memcpy(c->dx + (int64_t)c->rows[r0 + i] * C, pl_f32(xr->grad) + i * C, (size_t)C * sizeof(float));
    }
    return PL_OK;
}

/* every trainable tensor's gradient to zero: the model's (full fine-tuning), its adapters' */
static void zero_grads(pl_llm *m) {
    if (m->train) memset(m->g, 0, (size_t)m->n_floats * sizeof(float));
    for (int i = 0; i < m->n_lora; i++) memset(m->lora[i]->g, 0, (size_t)m->lora[i]->n_floats * sizeof(float));
    if (m->prompt) memset(m->prompt->g, 0, (size_t)m->prompt->n_floats * sizeof(float));
}

float pl_llm_ckpt_step(pl_llm_ckpt *c, bool backward, bool reset) {
    pl_llm *m = c->m;
    int L = m->hp.n_layer;
    pl_tensor *x, *y;
    if (backward && reset) zero_grads(m);
    /* forward: each layer's input kept, nothing else */
    pl_graph *g = embed_graph(c, &x);
    if (!g) return NAN;
    pl_graph_forward(c->work, g);
    memcpy(layer_x(c, 0), x->data, x_bytes(c));
    c->needs[0] = x->grad != NULL;
    for (int l = 0; l < L; l++) {
        if (!(g = block_graph(c, l, &x, &y))) return NAN;
        note_arena(c);
        pl_graph_forward(c->work, g);
        memcpy(layer_x(c, l + 1), y->data, x_bytes(c));
        c->needs[l + 1] = y->grad != NULL;
    }
    double loss = 0;
    int64_t n = target_rows(c);
    if (head(c, n, backward, &loss)) return NAN;
    if (!backward) return (float)loss;
    /* backward: each layer's forward again, from its input, then its backward from d loss / d its output */
    for (int l = L - 1; l >= 0 && c->needs[l + 1]; l--) {
        if (!(g = block_graph(c, l, &x, &y))) return NAN;
        pl_graph_forward(c->work, g);
        pl_graph_backward_seed(c->work, g, c->dx);
        if (c->needs[l]) memcpy(c->dx, x->grad->data, x_bytes(c));
    }
    if (c->needs[0]) { /* virtual tokens or trained embeddings */
        if (!(g = embed_graph(c, &x))) return NAN;
        pl_graph_forward(c->work, g);
        pl_graph_backward_seed(c->work, g, c->dx);
    }
    return (float)loss;
}

size_t pl_llm_ckpt_bytes(const pl_llm_ckpt *c) {
    return (size_t)(c->m->hp.n_layer + 2) * x_bytes(c) + c->peak_work + (size_t)(c->head_rows * c->C) * sizeof(float);
}
