/* Llama (Touvron et al. 2023; also Llama 2/3, TinyLlama, SmolLM2, Mistral without its sliding window) and
 * Qwen2 (the same block with biased Q/K/V): pre-RMSNorm blocks, rotary positions, grouped-query attention
 * over the KV cache, SwiGLU MLP. The weights by role and shape; their names are io/llm_names.c's. */
#include "models/llm.h"

#include <math.h>

int llm_load_llama(pl_llm *m) {
    const pl_llm_hparams *h = &m->hp;
    int64_t C = h->n_embd, V = h->n_vocab, F = h->n_ff, Dq = (int64_t)h->n_head * h->head_dim;
    int64_t Dkv = (int64_t)h->n_head_kv * h->head_dim;
    bool bad = false, qwen = h->arch == PL_LLM_QWEN2;
    const int N = LLM_W_F32, B = LLM_W_F32 | (qwen ? 0 : LLM_W_OPTIONAL); /* norms; biases (qwen2 has them) */
#define W(role, l, ne0, ne1, fl) llm_weight(m, role, l, ne0, ne1, fl, &bad)
    m->tok_embd = W(PL_W_TOK_EMBD, 0, C, V, 0);                                /* (V, C) */
    m->out_norm = W(PL_W_OUT_NORM, 0, C, 0, N);                                /* (C)    */
    m->output = h->tied_output ? m->tok_embd : W(PL_W_OUTPUT, 0, C, V, 0);     /* (V, C) */
    if (!bad && m->from_gguf && !m->rope_freqs) /* llama3 rope scaling: frequency divisors, not trained */
        m->rope_freqs = W(PL_W_ROPE_FREQS, 0, h->n_rot / 2, 0, LLM_W_OPTIONAL | LLM_W_F32 | LLM_W_CONST);
    for (int l = 0; l < h->n_layer && !bad; l++) {
        pl_llm_layer *b = &m->layers[l];
        b->attn_norm = W(PL_W_ATTN_NORM, l, C, 0, N);
        b->wq = W(PL_W_Q, l, C, Dq, 0);       /* (Hq*D, C)  */
        b->wk = W(PL_W_K, l, C, Dkv, 0);      /* (Hkv*D, C) */
        b->wv = W(PL_W_V, l, C, Dkv, 0);
        b->bq = W(PL_W_Q_B, l, Dq, 0, B);
        b->bk = W(PL_W_K_B, l, Dkv, 0, B);
        b->bv = W(PL_W_V_B, l, Dkv, 0, B);
        b->wo = W(PL_W_O, l, Dq, C, 0);       /* (C, Hq*D)  */
        b->ffn_norm = W(PL_W_FFN_NORM, l, C, 0, N);
        b->ffn_gate = W(PL_W_GATE, l, C, F, 0); /* (F, C) */
        b->ffn_up = W(PL_W_UP, l, C, F, 0);     /* (F, C) */
        b->ffn_down = W(PL_W_DOWN, l, F, C, 0); /* (C, F) */
    }
#undef W
    return bad ? PL_ERR_FORMAT : PL_OK;
}

static pl_tensor *rms_norm(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, float eps) {
    return pl_mul(ctx, pl_rmsnorm(ctx, x, eps), w); /* LlamaRMSNorm: x / rms(x) * weight */
}

/* self-attention of layer l: x (C, T, B) -> (C, T, B) */
static pl_tensor *attention(pl_ctx *ctx, pl_llm *m, int l, pl_tensor *x, const llm_inputs *in) {
    const pl_llm_hparams *h = &m->hp;
    const pl_llm_layer *b = &m->layers[l];
    int64_t D = h->head_dim, T = x->ne[1], B = x->ne[2];
    /* q = q_proj(x).view(B, T, Hq, D), k and v likewise with Hkv heads; rotary positions on q and k */
    pl_tensor *q = pl_reshape_4d(ctx, llm_linear(ctx, m, l, PL_W_Q, x, b->wq, b->bq), D, h->n_head, T, B);    /* (D, Hq, T, B)  */
    pl_tensor *k = pl_reshape_4d(ctx, llm_linear(ctx, m, l, PL_W_K, x, b->wk, b->bk), D, h->n_head_kv, T, B); /* (D, Hkv, T, B) */
    pl_tensor *v = pl_reshape_4d(ctx, llm_linear(ctx, m, l, PL_W_V, x, b->wv, b->bv), D, h->n_head_kv, T, B);
    q = pl_rope(ctx, q, in->pos, h->n_rot, h->rope_mode, h->rope_theta, h->rope_freq_scale, m->rope_freqs);
    k = pl_rope(ctx, k, in->pos, h->n_rot, h->rope_mode, h->rope_theta, h->rope_freq_scale, m->rope_freqs);
    /* y = softmax(q k^T / sqrt(D) + causal mask) v, grouped-query heads -> (Hq*D, T, B) */
    pl_tensor *y = llm_attend(ctx, m, l, in, q, k, v, 1.0f / sqrtf((float)D), 0);
    return llm_linear(ctx, m, l, PL_W_O, y, b->wo, NULL);
}

/* token embeddings (and a prompt adapter's virtual tokens before them): (C, T, B) */
pl_tensor *llm_embed_llama(pl_ctx *ctx, pl_llm *m, const llm_inputs *in) {
    return llm_with_prefix(ctx, pl_get_rows(ctx, m->tok_embd, in->ids), in); /* embed_tokens(ids) */
}

/* decoder layer l: x (C, T, B) -> (C, T, B) */
pl_tensor *llm_block_llama(pl_ctx *ctx, pl_llm *m, int l, const llm_inputs *in, pl_tensor *x) {
    const pl_llm_hparams *h = &m->hp;
    const pl_llm_layer *b = &m->layers[l];
    /* x = x + self_attn(input_layernorm(x)) */
    x = pl_add(ctx, x, attention(ctx, m, l, rms_norm(ctx, x, b->attn_norm, h->norm_eps), in));
    /* x = x + down_proj(silu(gate_proj(h)) * up_proj(h)),  h = post_attention_layernorm(x) */
    pl_tensor *hn = rms_norm(ctx, x, b->ffn_norm, h->norm_eps);
    pl_tensor *ff = pl_swiglu(ctx, llm_linear(ctx, m, l, PL_W_GATE, hn, b->ffn_gate, NULL), llm_linear(ctx, m, l, PL_W_UP, hn, b->ffn_up, NULL)); /* (F, T, B) */
    return pl_add(ctx, x, llm_linear(ctx, m, l, PL_W_DOWN, ff, b->ffn_down, NULL));
}

/* final norm and LM head: x (C, N..) -> logits (V, N..) */
pl_tensor *llm_head_llama(pl_ctx *ctx, pl_llm *m, pl_tensor *x) {
    return pl_matmul(ctx, m->output, rms_norm(ctx, x, m->out_norm, m->hp.norm_eps)); /* lm_head(norm(x)) */
}

pl_tensor *llm_build_llama(pl_ctx *ctx, pl_llm *m, const llm_inputs *in) {
    pl_tensor *x = llm_embed_llama(ctx, m, in); /* (C, T, B) */
    for (int l = 0; l < m->hp.n_layer && x; l++) x = llm_block_llama(ctx, m, l, in, x);
    return llm_head_llama(ctx, m, llm_keep_rows(ctx, x, in)); /* (V, T, B) */
}
