/* Gemma 3 text models (Gemma Team 2025; 270M .. 27B) from GGUF files as llama.cpp writes them and from HF
 * directories (Gemma3ForCausalLM, model_type gemma3_text): embeddings scaled by sqrt(n_embd), four RMSNorms per
 * block (before and after attention and MLP; Gemma multiplies by (1 + w): w as HF stores it, GGUF's 1 + w less
 * one at load), RMSNorm of each q / k head, rotate-half rope, sliding-window attention on the local layers with
 * their own rope base, GELU(tanh)-gated MLP, LM head tied. */
#include "models/llm.h"
#include "io/gguf.h"
#include "io/hfconfig.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* hyper-parameters llm.c's common reader does not know (GGUF): the window, which layers are local, their rope base */
static int gemma3_hparams_gguf(pl_llm *m) {
    pl_llm_hparams *h = &m->hp;
    h->n_swa = (int)pl_gguf_get_int(m->gguf, "gemma3.attention.sliding_window", 0);
    h->rope_theta_swa = (float)pl_gguf_get_float(m->gguf, "gemma3.rope.freq_base_swa", 10000.0);
    /* gemma_pytorch: q is scaled by query_pre_attn_scalar^-1/2 = head_dim^-1/2, except 27B (62 layers): n_embd/n_head */
    h->attn_scale = h->n_layer == 62 ? 1.0f / sqrtf((float)(h->n_embd / h->n_head)) : 1.0f / sqrtf((float)h->head_dim);
    if (pl_gguf_find_key(m->gguf, "gemma3.final_logit_softcapping") >= 0 &&
        pl_gguf_get_float(m->gguf, "gemma3.final_logit_softcapping", 0.0) != 0.0)
        return pl_error(PL_ERR_UNSUPPORTED, "%s: gemma3 final logit soft-capping is not supported", m->path);
    const char *st = pl_gguf_get_str(m->gguf, "gemma3.rope.scaling.type", NULL); /* linear: read by llm.c */
    if (st && strcmp(st, "none") && strcmp(st, "linear"))
        return pl_error(PL_ERR_UNSUPPORTED, "%s: rope scaling '%s' is not supported", m->path, st);
    /* every `pattern`-th layer is global (llama.cpp's default for gemma3: 6); a per-layer list is not read */
    int pattern = (int)pl_gguf_get_int(m->gguf, "gemma3.attention.sliding_window_pattern", 6);
    for (int l = 0; l < h->n_layer; l++)
        m->layers[l].swa = h->n_swa > 0 && (pattern <= 0 || l % pattern < pattern - 1);
    return PL_OK;
}

/* the same from config.json (Gemma3TextConfig): rope bases per layer type (transformers 5's rope_parameters,
 * or the older rope_theta / rope_local_base_freq), layer_types (or sliding_window_pattern) */
static int gemma3_hparams_hf(pl_llm *m, const pl_hfconfig *c) {
    pl_llm_hparams *h = &m->hp;
    h->rope_theta = (float)pl_hfconfig_get_float(c, "rope_parameters.full_attention.rope_theta",
                                                 pl_hfconfig_get_float(c, "rope_theta", 1000000.0));
    h->rope_theta_swa = (float)pl_hfconfig_get_float(c, "rope_parameters.sliding_attention.rope_theta",
                                                     pl_hfconfig_get_float(c, "rope_local_base_freq", 10000.0));
    h->rope_freq_scale = 1.0f;
    h->n_swa = (int)pl_hfconfig_get_int(c, "sliding_window", 0);
    h->attn_scale = 1.0f / sqrtf((float)pl_hfconfig_get_float(c, "query_pre_attn_scalar", h->head_dim));
    h->tied_output = pl_hfconfig_get_bool(c, "tie_word_embeddings", true);
    if (pl_hfconfig_get_float(c, "final_logit_softcapping", 0.0) != 0.0 || pl_hfconfig_get_float(c, "attn_logit_softcapping", 0.0) != 0.0)
        return pl_error(PL_ERR_UNSUPPORTED, "%s: gemma3 logit soft-capping is not supported", m->path);
    int n_types = pl_hfconfig_arr_n(c, "layer_types");
    if (n_types >= 0 && n_types != h->n_layer)
        return pl_error(PL_ERR_FORMAT, "%s: layer_types lists %d layers, not %d", m->path, n_types, h->n_layer);
    int pattern = (int)pl_hfconfig_get_int(c, "sliding_window_pattern", 6);
    for (int l = 0; l < h->n_layer; l++) {
        const char *t = n_types > 0 ? pl_hfconfig_arr_str(c, "layer_types", l) : NULL;
        bool local = t ? !strcmp(t, "sliding_attention") : (pattern <= 0 || l % pattern < pattern - 1);
        m->layers[l].swa = h->n_swa > 0 && local;
    }
    return PL_OK;
}

static int gemma3_hparams(pl_llm *m) {
    m->hp.rope_mode = PL_ROPE_NEOX; /* neither llama.cpp nor HF permute Gemma's Q/K rows */
    return m->gguf ? gemma3_hparams_gguf(m) : gemma3_hparams_hf(m, m->hfconfig);
}

int llm_load_gemma3(pl_llm *m) {
    int rc = gemma3_hparams(m);
    if (rc) return rc;
    const pl_llm_hparams *h = &m->hp;
    int64_t C = h->n_embd, V = h->n_vocab, F = h->n_ff, D = h->head_dim, Dq = (int64_t)h->n_head * D;
    int64_t Dkv = (int64_t)h->n_head_kv * D;
    bool bad = false;
    const int N = LLM_W_F32 | LLM_W_GGUF_MINUS_ONE;
#define W(role, l, ne0, ne1, fl) llm_weight(m, role, l, ne0, ne1, fl, &bad)
    m->tok_embd = W(PL_W_TOK_EMBD, 0, C, V, 0);
    m->out_norm = W(PL_W_OUT_NORM, 0, C, 0, N);
    m->output = m->tok_embd;
    if (!bad && !h->tied_output) {
        pl_tensor *o = W(PL_W_OUTPUT, 0, C, V, LLM_W_OPTIONAL);
        if (o) m->output = o;
    }
    for (int l = 0; l < h->n_layer && !bad; l++) {
        pl_llm_layer *b = &m->layers[l];
        b->attn_norm = W(PL_W_ATTN_NORM, l, C, 0, N);
        b->wq = W(PL_W_Q, l, C, Dq, 0);
        b->wk = W(PL_W_K, l, C, Dkv, 0);
        b->wv = W(PL_W_V, l, C, Dkv, 0);
        b->attn_q_norm = W(PL_W_Q_NORM, l, D, 0, N);
        b->attn_k_norm = W(PL_W_K_NORM, l, D, 0, N);
        b->wo = W(PL_W_O, l, Dq, C, 0);
        b->attn_post_norm = W(PL_W_ATTN_POST_NORM, l, C, 0, N);
        b->ffn_norm = W(PL_W_FFN_NORM, l, C, 0, N);
        b->ffn_gate = W(PL_W_GATE, l, C, F, 0);
        b->ffn_up = W(PL_W_UP, l, C, F, 0);
        b->ffn_down = W(PL_W_DOWN, l, F, C, 0);
        b->ffn_post_norm = W(PL_W_FFN_POST_NORM, l, C, 0, N);
    }
#undef W
    return bad ? PL_ERR_FORMAT : PL_OK;
}

/* Gemma3RMSNorm: x / rms(x) * (1 + w) */
static pl_tensor *rms_norm(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, float eps) {
    pl_tensor *n = pl_rmsnorm(ctx, x, eps);
    return pl_add(ctx, n, pl_mul(ctx, n, w));
}

/* self-attention of layer l: x (C, T, B) -> (C, T, B) */
static pl_tensor *attention(pl_ctx *ctx, pl_llm *m, int l, pl_tensor *x, const llm_inputs *in) {
    const pl_llm_hparams *h = &m->hp;
    const pl_llm_layer *b = &m->layers[l];
    int64_t D = h->head_dim, T = x->ne[1], B = x->ne[2];
    float theta = b->swa ? h->rope_theta_swa : h->rope_theta;
    /* q = rope(q_norm(q_proj(x).view(B, T, Hq, D))), k likewise with Hkv heads; v as projected */
    pl_tensor *q = pl_reshape_4d(ctx, llm_linear(ctx, m, l, PL_W_Q, x, b->wq, NULL), D, h->n_head, T, B);
    pl_tensor *k = pl_reshape_4d(ctx, llm_linear(ctx, m, l, PL_W_K, x, b->wk, NULL), D, h->n_head_kv, T, B);
    pl_tensor *v = pl_reshape_4d(ctx, llm_linear(ctx, m, l, PL_W_V, x, b->wv, NULL), D, h->n_head_kv, T, B);
    q = rms_norm(ctx, q, b->attn_q_norm, h->norm_eps);
    k = rms_norm(ctx, k, b->attn_k_norm, h->norm_eps);
    q = pl_rope(ctx, q, in->pos, h->n_rot, h->rope_mode, theta, h->rope_freq_scale, NULL);
    k = pl_rope(ctx, k, in->pos, h->n_rot, h->rope_mode, theta, h->rope_freq_scale, NULL);
    /* the window hides what a local layer must not see */
    pl_tensor *y = llm_attend(ctx, m, l, in, q, k, v, h->attn_scale, b->swa ? h->n_swa : 0); /* (Hq*D, T, B) */
    return llm_linear(ctx, m, l, PL_W_O, y, b->wo, NULL);
}

/* x = embed_tokens(ids) * sqrt(hidden_size), virtual tokens before them as they are (HF's inputs_embeds skip the
 * scaling): (C, T, B) */
pl_tensor *llm_embed_gemma3(pl_ctx *ctx, pl_llm *m, const llm_inputs *in) {
    pl_tensor *x = pl_scale(ctx, pl_get_rows(ctx, m->tok_embd, in->ids), sqrtf((float)m->hp.n_embd));
    return llm_with_prefix(ctx, x, in);
}

/* decoder layer l: x (C, T, B) -> (C, T, B) */
pl_tensor *llm_block_gemma3(pl_ctx *ctx, pl_llm *m, int l, const llm_inputs *in, pl_tensor *x) {
    const pl_llm_layer *b = &m->layers[l];
    float eps = m->hp.norm_eps;
    /* x = x + post_attention_layernorm(self_attn(input_layernorm(x))) */
    pl_tensor *a = attention(ctx, m, l, rms_norm(ctx, x, b->attn_norm, eps), in);
    x = pl_add(ctx, x, rms_norm(ctx, a, b->attn_post_norm, eps));
    /* x = x + post_feedforward_layernorm(down_proj(gelu_tanh(gate_proj(hn)) * up_proj(hn))),
     * hn = pre_feedforward_layernorm(x) */
    pl_tensor *hn = rms_norm(ctx, x, b->ffn_norm, eps);
    pl_tensor *ff = pl_mul(ctx, pl_gelu(ctx, llm_linear(ctx, m, l, PL_W_GATE, hn, b->ffn_gate, NULL), true), llm_linear(ctx, m, l, PL_W_UP, hn, b->ffn_up, NULL));
    return pl_add(ctx, x, rms_norm(ctx, llm_linear(ctx, m, l, PL_W_DOWN, ff, b->ffn_down, NULL), b->ffn_post_norm, eps));
}

/* final norm and LM head (tied to embed_tokens): x (C, N..) -> logits (V, N..) */
pl_tensor *llm_head_gemma3(pl_ctx *ctx, pl_llm *m, pl_tensor *x) {
    return pl_matmul(ctx, m->output, rms_norm(ctx, x, m->out_norm, m->hp.norm_eps));
}

pl_tensor *llm_build_gemma3(pl_ctx *ctx, pl_llm *m, const llm_inputs *in) {
    pl_tensor *x = llm_embed_gemma3(ctx, m, in); /* (C, T, B) */
    for (int l = 0; l < m->hp.n_layer && x; l++) x = llm_block_gemma3(ctx, m, l, in, x);
    return llm_head_gemma3(ctx, m, llm_keep_rows(ctx, x, in)); /* (V, T, B) */
}
