/* Llama (Touvron et al. 2023; also Llama 2/3, TinyLlama, SmolLM2, Mistral without its sliding window) and
 * Qwen2 (the same block with biased Q/K/V): pre-RMSNorm blocks, rotary positions, grouped-query attention
 * over the KV cache, SwiGLU MLP. Weight names: GGUF (llama.cpp) and HF (LlamaForCausalLM) side by side. */
#include "models/llm.h"

#include <math.h>

int llm_load_llama(pl_llm *m) {
    const pl_llm_hparams *h = &m->hp;
    int64_t C = h->n_embd, V = h->n_vocab, F = h->n_ff, Dq = (int64_t)h->n_head * h->head_dim;
    int64_t Dkv = (int64_t)h->n_head_kv * h->head_dim;
    bool bad = false, qwen = h->arch == PL_LLM_QWEN2;
    m->tok_embd = llm_weight(m, "token_embd.weight", "model.embed_tokens.weight", 0, C, V, 0, &bad);
    m->out_norm = llm_weight(m, "output_norm.weight", "model.norm.weight", 0, C, 0, LLM_W_F32, &bad);
    m->output = h->tied_output ? m->tok_embd : llm_weight(m, "output.weight", "lm_head.weight", 0, C, V, 0, &bad);
    if (!bad && m->from_gguf && !m->rope_freqs)
        m->rope_freqs = llm_weight(m, "rope_freqs.weight", NULL, 0, h->n_rot / 2, 0, LLM_W_OPTIONAL | LLM_W_F32 | LLM_W_CONST, &bad);
    for (int l = 0; l < h->n_layer && !bad; l++) {
        pl_llm_layer *b = &m->layers[l];
        b->attn_norm = llm_weight(m, "blk.%d.attn_norm.weight", "model.layers.%d.input_layernorm.weight", l, C, 0, LLM_W_F32, &bad);
        b->wq = llm_weight(m, "blk.%d.attn_q.weight", "model.layers.%d.self_attn.q_proj.weight", l, C, Dq, 0, &bad);
        b->wk = llm_weight(m, "blk.%d.attn_k.weight", "model.layers.%d.self_attn.k_proj.weight", l, C, Dkv, 0, &bad);
        b->wv = llm_weight(m, "blk.%d.attn_v.weight", "model.layers.%d.self_attn.v_proj.weight", l, C, Dkv, 0, &bad);
        int bias = LLM_W_F32 | (qwen ? 0 : LLM_W_OPTIONAL);
        b->bq = llm_weight(m, "blk.%d.attn_q.bias", "model.layers.%d.self_attn.q_proj.bias", l, Dq, 0, bias, &bad);
        b->bk = llm_weight(m, "blk.%d.attn_k.bias", "model.layers.%d.self_attn.k_proj.bias", l, Dkv, 0, bias, &bad);
        b->bv = llm_weight(m, "blk.%d.attn_v.bias", "model.layers.%d.self_attn.v_proj.bias", l, Dkv, 0, bias, &bad);
        b->wo = llm_weight(m, "blk.%d.attn_output.weight", "model.layers.%d.self_attn.o_proj.weight", l, Dq, C, 0, &bad);
        b->ffn_norm = llm_weight(m, "blk.%d.ffn_norm.weight", "model.layers.%d.post_attention_layernorm.weight", l, C, 0, LLM_W_F32, &bad);
        b->ffn_gate = llm_weight(m, "blk.%d.ffn_gate.weight", "model.layers.%d.mlp.gate_proj.weight", l, C, F, 0, &bad);
        b->ffn_up = llm_weight(m, "blk.%d.ffn_up.weight", "model.layers.%d.mlp.up_proj.weight", l, C, F, 0, &bad);
        b->ffn_down = llm_weight(m, "blk.%d.ffn_down.weight", "model.layers.%d.mlp.down_proj.weight", l, F, C, 0, &bad);
    }
    return bad ? PL_ERR_FORMAT : PL_OK;
}

static pl_tensor *rms_norm(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, float eps) {
    return pl_mul(ctx, pl_rmsnorm(ctx, x, eps), w); /* LlamaRMSNorm: x / rms(x) * weight */
}
static pl_tensor *linear(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, pl_tensor *b) {
    return pl_matmul_bias(ctx, w, x, b); /* x @ w.T (+ b) */
}

/* self-attention of layer l: x (C, T, B) -> (C, T, B) */
static pl_tensor *attention(pl_ctx *ctx, pl_llm *m, int l, pl_tensor *x, const llm_inputs *in) {
    const pl_llm_hparams *h = &m->hp;
    const pl_llm_layer *b = &m->layers[l];
    int64_t D = h->head_dim, T = x->ne[1], B = x->ne[2];
    /* q = q_proj(x).view(B, T, Hq, D), k and v likewise with Hkv heads; rotary positions on q and k */
    pl_tensor *q = pl_reshape_4d(ctx, linear(ctx, x, b->wq, b->bq), D, h->n_head, T, B);    /* (D, Hq, T, B)  */
    pl_tensor *k = pl_reshape_4d(ctx, linear(ctx, x, b->wk, b->bk), D, h->n_head_kv, T, B); /* (D, Hkv, T, B) */
    pl_tensor *v = pl_reshape_4d(ctx, linear(ctx, x, b->wv, b->bv), D, h->n_head_kv, T, B);
    q = pl_rope(ctx, q, in->pos, h->n_rot, h->rope_mode, h->rope_theta, h->rope_freq_scale, m->rope_freqs);
    k = pl_rope(ctx, k, in->pos, h->n_rot, h->rope_mode, h->rope_theta, h->rope_freq_scale, m->rope_freqs);
    /* y = softmax(q k^T / sqrt(D) + causal mask) v, grouped-query heads -> (Hq*D, T, B) */
    pl_tensor *y = llm_attend(ctx, m, l, in, q, k, v, 1.0f / sqrtf((float)D), 0);
    return linear(ctx, y, b->wo, NULL);
}

pl_tensor *llm_build_llama(pl_ctx *ctx, pl_llm *m, const llm_inputs *in) {
    const pl_llm_hparams *h = &m->hp;
    pl_tensor *x = pl_get_rows(ctx, m->tok_embd, in->ids); /* (C, T, B): embed_tokens(ids) */
    for (int l = 0; l < h->n_layer; l++) {
        const pl_llm_layer *b = &m->layers[l];
        /* x = x + self_attn(input_layernorm(x)) */
        x = pl_add(ctx, x, attention(ctx, m, l, rms_norm(ctx, x, b->attn_norm, h->norm_eps), in));
        /* x = x + down_proj(silu(gate_proj(h)) * up_proj(h)),  h = post_attention_layernorm(x) */
        pl_tensor *hn = rms_norm(ctx, x, b->ffn_norm, h->norm_eps);
        pl_tensor *ff = pl_swiglu(ctx, linear(ctx, hn, b->ffn_gate, NULL), linear(ctx, hn, b->ffn_up, NULL)); /* (F, T, B) */
        x = pl_add(ctx, x, linear(ctx, ff, b->ffn_down, NULL));
        if (!x) return NULL;
    }
    x = rms_norm(ctx, llm_keep_rows(ctx, x, in), m->out_norm, h->norm_eps);
    return pl_matmul(ctx, m->output, x); /* (V, T, B): lm_head */
}
