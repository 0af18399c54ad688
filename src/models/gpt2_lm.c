/* GPT-2 (Radford et al. 2019): learned positions, pre-LayerNorm blocks, fused QKV attention, GELU (tanh) MLP,
 * LM head tied to the token embedding; for inference over the KV cache and for training. GGUF names (llama.cpp)
 * and HF names (GPT2LMHeadModel, whose Conv1D weights are stored (in, out): transposed views, or transposed
 * copies when trained). */
#include "models/llm.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdio.h>

/* HF checkpoints name weights "transformer.h.0..." (GPT2LMHeadModel) or "h.0..." (GPT2Model); a GGUF file's
 * weights get GPT2LMHeadModel's names (to save them in HF form) */
static const char *hf_name(pl_llm *m, const char *fmt, char *buf, size_t cap) {
    bool prefixed = !m->st || pl_st_model_find(m->st, "transformer.wte.weight") != NULL;
    snprintf(buf, cap, "%s%s", prefixed ? "transformer." : "", fmt);
    return buf;
}

int llm_load_gpt2(pl_llm *m) {
    const pl_llm_hparams *h = &m->hp;
    int64_t C = h->n_embd, V = h->n_vocab, F = h->n_ff;
    bool bad = false;
    char hb[128];
    const int T = LLM_W_HF_TRANSPOSED, B = LLM_W_F32;
#define W(gguf, hf, l, ne0, ne1, fl) llm_weight(m, gguf, hf_name(m, hf, hb, sizeof hb), l, ne0, ne1, fl, &bad)
    m->tok_embd = W("token_embd.weight", "wte.weight", 0, C, V, 0);
    m->pos_embd = W("position_embd.weight", "wpe.weight", 0, C, h->n_ctx_train, 0);
    m->out_norm = W("output_norm.weight", "ln_f.weight", 0, C, 0, B);
    m->out_norm_b = W("output_norm.bias", "ln_f.bias", 0, C, 0, B);
    m->output = m->tok_embd;
    if (m->from_gguf && !bad) {
        pl_tensor *o = llm_weight(m, "output.weight", NULL, 0, C, V, LLM_W_OPTIONAL, &bad);
        if (o) m->output = o;
    }
    for (int l = 0; l < h->n_layer && !bad; l++) {
        pl_llm_layer *b = &m->layers[l];
        b->attn_norm = W("blk.%d.attn_norm.weight", "h.%d.ln_1.weight", l, C, 0, B);
        b->attn_norm_b = W("blk.%d.attn_norm.bias", "h.%d.ln_1.bias", l, C, 0, B);
        b->wqkv = W("blk.%d.attn_qkv.weight", "h.%d.attn.c_attn.weight", l, C, 3 * C, T);
        b->bqkv = W("blk.%d.attn_qkv.bias", "h.%d.attn.c_attn.bias", l, 3 * C, 0, B);
        b->wo = W("blk.%d.attn_output.weight", "h.%d.attn.c_proj.weight", l, C, C, T);
        b->bo = W("blk.%d.attn_output.bias", "h.%d.attn.c_proj.bias", l, C, 0, B);
        b->ffn_norm = W("blk.%d.ffn_norm.weight", "h.%d.ln_2.weight", l, C, 0, B);
        b->ffn_norm_b = W("blk.%d.ffn_norm.bias", "h.%d.ln_2.bias", l, C, 0, B);
        b->ffn_up = W("blk.%d.ffn_up.weight", "h.%d.mlp.c_fc.weight", l, C, F, T);
        b->ffn_up_b = W("blk.%d.ffn_up.bias", "h.%d.mlp.c_fc.bias", l, F, 0, B);
        b->ffn_down = W("blk.%d.ffn_down.weight", "h.%d.mlp.c_proj.weight", l, F, C, T);
        b->ffn_down_b = W("blk.%d.ffn_down.bias", "h.%d.mlp.c_proj.bias", l, C, 0, B);
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
    pl_tensor *x = pl_add(ctx, pl_get_rows(ctx, m->tok_embd, in->ids), pl_get_rows(ctx, m->pos_embd, in->pos)); /* (C, T, B) */
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
