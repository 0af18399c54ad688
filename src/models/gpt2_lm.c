/* GPT-2 (Radford et al. 2019): learned positions, pre-LayerNorm blocks, fused QKV attention, GELU (tanh) MLP,
 * LM head tied to the token embedding; for inference over the KV cache and for training. HF files store the
 * Conv1D weights (in, out): transposed views, or transposed copies when trained. */
#include "models/llm.h"
#include "io/hfconfig.h"

#include <math.h>
#include <stdio.h>

/* GPT2Config's keys (n_embd, n_layer, ...): what llm.c's reader of llama-style configs does not know */
int llm_hparams_gpt2(pl_llm *m, const pl_hfconfig *c) {
    pl_llm_hparams *h = &m->hp;
    h->n_embd = (int)pl_hfconfig_get_int(c, "n_embd", 768);
    h->n_layer = (int)pl_hfconfig_get_int(c, "n_layer", 12);
    h->n_head = h->n_head_kv = (int)pl_hfconfig_get_int(c, "n_head", 12);
    h->n_ctx_train = (int)pl_hfconfig_get_int(c, "n_positions", 1024);
    h->n_ff = (int)pl_hfconfig_get_int(c, "n_inner", 4 * (int64_t)h->n_embd);
    h->norm_eps = (float)pl_hfconfig_get_float(c, "layer_norm_epsilon", 1e-5);
    h->n_vocab = (int)pl_hfconfig_get_int(c, "vocab_size", 50257);
    h->head_dim = h->n_head > 0 ? h->n_embd / h->n_head : 0;
    h->tied_output = true;
    return PL_OK;
}

int llm_load_gpt2(pl_llm *m) {
    const pl_llm_hparams *h = &m->hp;
    int64_t C = h->n_embd, V = h->n_vocab, F = h->n_ff;
    bool bad = false;
    const int T = LLM_W_HF_TRANSPOSED, B = LLM_W_F32; /* Conv1D weights (in, out) in HF files; norms, biases */
#define W(role, l, ne0, ne1, fl) llm_weight(m, role, l, ne0, ne1, fl, &bad)
    m->tok_embd = W(PL_W_TOK_EMBD, 0, C, V, 0);              /* (V, C)   */
    m->pos_embd = W(PL_W_POS_EMBD, 0, C, h->n_ctx_train, 0); /* (ctx, C) */
    m->out_norm = W(PL_W_OUT_NORM, 0, C, 0, B);
    m->out_norm_b = W(PL_W_OUT_NORM_B, 0, C, 0, B);
    m->output = m->tok_embd;
    if (m->from_gguf && !bad) {
        pl_tensor *o = W(PL_W_OUTPUT, 0, C, V, LLM_W_OPTIONAL);
        if (o) m->output = o;
    }
    for (int l = 0; l < h->n_layer && !bad; l++) {
        pl_llm_layer *b = &m->layers[l];
        b->attn_norm = W(PL_W_ATTN_NORM, l, C, 0, B);
        b->attn_norm_b = W(PL_W_ATTN_NORM_B, l, C, 0, B);
        b->wqkv = W(PL_W_QKV, l, C, 3 * C, T); /* (3C, C): q, k, v stacked */
        b->bqkv = W(PL_W_QKV_B, l, 3 * C, 0, B);
        b->wo = W(PL_W_O, l, C, C, T);
        b->bo = W(PL_W_O_B, l, C, 0, B);
        b->ffn_norm = W(PL_W_FFN_NORM, l, C, 0, B);
        b->ffn_norm_b = W(PL_W_FFN_NORM_B, l, C, 0, B);
        b->ffn_up = W(PL_W_UP, l, C, F, T);    /* (F, C) */
        b->ffn_up_b = W(PL_W_UP_B, l, F, 0, B);
        b->ffn_down = W(PL_W_DOWN, l, F, C, T); /* (C, F) */
        b->ffn_down_b = W(PL_W_DOWN_B, l, C, 0, B);
    }
#undef W
    return bad ? PL_ERR_FORMAT : PL_OK;
}

static pl_tensor *layer_norm(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, pl_tensor *b, float eps) {
    return pl_layernorm_affine(ctx, x, w, b, eps); /* nn.LayerNorm(C) */
}
static pl_tensor *linear(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, pl_tensor *b) {
    return pl_matmul_bias(ctx, w, x, b); /* x @ w.T + b */
}

/* causal self-attention of layer l: (C, T, B) -> (C, T, B) */
static pl_tensor *attention(pl_ctx *ctx, pl_llm *m, int l, pl_tensor *x, const llm_inputs *in) {
    const pl_llm_layer *b = &m->layers[l];
    int64_t C = m->hp.n_embd, H = m->hp.n_head, D = C / H, T = x->ne[1], B = x->ne[2];
    pl_tensor *qkv = linear(ctx, x, b->wqkv, b->bqkv); /* (3C, T, B) */
    if (!qkv) return NULL;
    /* q, k, v = qkv.split(C): views (D, H, T, B) of it, no copies */
    int64_t ne[4] = {D, H, T, B};
    size_t nb[4] = {sizeof(float), (size_t)D * sizeof(float), qkv->nb[1], qkv->nb[2]};
    pl_tensor *q = pl_view(ctx, qkv, 4, ne, nb, 0);
    pl_tensor *k = pl_view(ctx, qkv, 4, ne, nb, (size_t)C * sizeof(float));
    pl_tensor *v = pl_view(ctx, qkv, 4, ne, nb, (size_t)(2 * C) * sizeof(float));
    pl_tensor *y = llm_attend(ctx, m, l, in, q, k, v, 1.0f / sqrtf((float)D), 0); /* (C, T, B) */
    return linear(ctx, y, b->wo, b->bo); /* c_proj */
}

pl_tensor *llm_build_gpt2(pl_ctx *ctx, pl_llm *m, const llm_inputs *in) {
    const pl_llm_hparams *h = &m->hp;
    const int32_t *pos = in->pos->data;
    for (int64_t i = 0; i < in->pos->ne[0]; i++)
        if (pos[i] >= h->n_ctx_train)
            return pl_error_null(PL_ERR_ARG, "position %d is past GPT-2's %d learned positions", pos[i], h->n_ctx_train);
    /* x = wte(ids) + wpe(pos) */
    pl_tensor *x = pl_add(ctx, llm_with_prefix(ctx, pl_get_rows(ctx, m->tok_embd, in->ids), in), pl_get_rows(ctx, m->pos_embd, in->pos)); /* (C, T, B) */
    for (int l = 0; l < h->n_layer; l++) {
        const pl_llm_layer *b = &m->layers[l];
        /* x = x + attn(ln_1(x)) */
        x = pl_add(ctx, x, attention(ctx, m, l, layer_norm(ctx, x, b->attn_norm, b->attn_norm_b, h->norm_eps), in));
        /* x = x + c_proj(gelu_tanh(c_fc(ln_2(x)))) */
        pl_tensor *f = pl_gelu(ctx, linear(ctx, layer_norm(ctx, x, b->ffn_norm, b->ffn_norm_b, h->norm_eps), b->ffn_up, b->ffn_up_b), true);
        x = pl_add(ctx, x, linear(ctx, f, b->ffn_down, b->ffn_down_b));
        if (!x) return NULL;
    }
    x = layer_norm(ctx, llm_keep_rows(ctx, x, in), m->out_norm, m->out_norm_b, h->norm_eps);
    return pl_matmul(ctx, m->output, x); /* (V, T, B): lm_head tied to wte */
}
