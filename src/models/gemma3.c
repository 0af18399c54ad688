/* Gemma 3 text models (Gemma Team 2025; 270M .. 27B) from GGUF files as llama.cpp writes them: embeddings
 * scaled by sqrt(n_embd), four RMSNorms per block (before and after attention and MLP; llama.cpp's converter
 * stores Gemma's (1 + w) as the weight), RMSNorm of each q / k head, rotate-half rope, sliding-window attention
 * on the local layers (5 of every 6) with their own rope base, GELU(tanh)-gated MLP, LM head tied. */
#include "models/llm.h"
#include "io/gguf.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* hyper-parameters llm.c's common reader does not know: the window, which layers are local, their rope base */
static int gemma3_hparams(pl_llm *m) {
    pl_llm_hparams *h = &m->hp;
    if (!m->gguf) return pl_error(PL_ERR_UNSUPPORTED, "%s: gemma3 is supported from GGUF files only", m->path);
    h->rope_mode = PL_ROPE_NEOX; /* llama.cpp does not permute Gemma's Q/K rows */
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

int llm_load_gemma3(pl_llm *m) {
    int rc = gemma3_hparams(m);
    if (rc) return rc;
    const pl_llm_hparams *h = &m->hp;
    int64_t C = h->n_embd, V = h->n_vocab, F = h->n_ff, D = h->head_dim, Dq = (int64_t)h->n_head * D;
    int64_t Dkv = (int64_t)h->n_head_kv * D;
    bool bad = false;
    const int N = LLM_W_F32;
#define W(name, l, ne0, ne1, fl) llm_weight(m, name, NULL, l, ne0, ne1, fl, &bad)
    m->tok_embd = W("token_embd.weight", 0, C, V, 0);
    m->out_norm = W("output_norm.weight", 0, C, 0, N);
    m->output = m->tok_embd;
    if (!bad) {
        pl_tensor *o = llm_weight(m, "output.weight", NULL, 0, C, V, LLM_W_OPTIONAL, &bad);
        if (o) m->output = o;
    }
    for (int l = 0; l < h->n_layer && !bad; l++) {
        pl_llm_layer *b = &m->layers[l];
        b->attn_norm = W("blk.%d.attn_norm.weight", l, C, 0, N);
        b->wq = W("blk.%d.attn_q.weight", l, C, Dq, 0);
        b->wk = W("blk.%d.attn_k.weight", l, C, Dkv, 0);
        b->wv = W("blk.%d.attn_v.weight", l, C, Dkv, 0);
        b->attn_q_norm = W("blk.%d.attn_q_norm.weight", l, D, 0, N);
        b->attn_k_norm = W("blk.%d.attn_k_norm.weight", l, D, 0, N);
        b->wo = W("blk.%d.attn_output.weight", l, Dq, C, 0);
        b->attn_post_norm = W("blk.%d.post_attention_norm.weight", l, C, 0, N);
        b->ffn_norm = W("blk.%d.ffn_norm.weight", l, C, 0, N);
        b->ffn_gate = W("blk.%d.ffn_gate.weight", l, C, F, 0);
        b->ffn_up = W("blk.%d.ffn_up.weight", l, C, F, 0);
        b->ffn_down = W("blk.%d.ffn_down.weight", l, F, C, 0);
        b->ffn_post_norm = W("blk.%d.post_ffw_norm.weight", l, C, 0, N);
    }
#undef W
    return bad ? PL_ERR_FORMAT : PL_OK;
}

/* Gemma3RMSNorm: x / rms(x) * (1 + w); the GGUF weight already holds 1 + w */
static pl_tensor *rms_norm(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, float eps) {
    return pl_mul(ctx, pl_rmsnorm(ctx, x, eps), w);
}

/* self-attention of layer l: x (C, T) -> (C, T), K/V of these tokens appended to the cache */
static pl_tensor *attention(pl_ctx *ctx, pl_llm *m, int l, pl_tensor *x, pl_tensor *pos, int n_past,
                            pl_tensor **cpys, int *n_cpys) {
    const pl_llm_hparams *h = &m->hp;
    const pl_llm_layer *b = &m->layers[l];
    int64_t D = h->head_dim, T = x->ne[1];
    float theta = b->swa ? h->rope_theta_swa : h->rope_theta;
    /* q = rope(q_norm(q_proj(x).view(T, Hq, D))), k likewise with Hkv heads; v as projected */
    pl_tensor *q = pl_reshape_3d(ctx, pl_matmul(ctx, b->wq, x), D, h->n_head, T);
    pl_tensor *k = pl_reshape_3d(ctx, pl_matmul(ctx, b->wk, x), D, h->n_head_kv, T);
    pl_tensor *v = pl_reshape_3d(ctx, pl_matmul(ctx, b->wv, x), D, h->n_head_kv, T);
    q = rms_norm(ctx, q, b->attn_q_norm, h->norm_eps);
    k = rms_norm(ctx, k, b->attn_k_norm, h->norm_eps);
    q = pl_rope(ctx, q, pos, h->n_rot, h->rope_mode, theta, h->rope_freq_scale, NULL);
    k = pl_rope(ctx, k, pos, h->n_rot, h->rope_mode, theta, h->rope_freq_scale, NULL);
    if (!q || !k || !v) return NULL;
    /* k_all, v_all (D, n_past+T, Hkv): the whole cache; the window mask hides what a local layer must not see */
    pl_tensor *k_all, *v_all;
    llm_kv_store(ctx, m, l, k, v, n_past, cpys, n_cpys, &k_all, &v_all);
    pl_tensor *y = pl_attention_window(ctx, pl_permute(ctx, q, 0, 2, 1, 3), k_all, v_all, h->attn_scale,
                                       b->swa ? h->n_swa : 0);
    if (!y) return NULL;
    return pl_matmul(ctx, b->wo, pl_reshape_2d(ctx, y, D * h->n_head, T));
}

pl_tensor *llm_build_gemma3(pl_ctx *ctx, pl_llm *m, pl_tensor *ids, pl_tensor *pos, int n_past, bool all,
                            pl_tensor **cpys, int *n_cpys) {
    const pl_llm_hparams *h = &m->hp;
    float eps = h->norm_eps;
    /* x = embed_tokens(ids) * sqrt(hidden_size) */
    pl_tensor *x = pl_scale(ctx, pl_get_rows(ctx, m->tok_embd, ids), sqrtf((float)h->n_embd)); /* (C, T) */
    for (int l = 0; l < h->n_layer; l++) {
        const pl_llm_layer *b = &m->layers[l];
        /* x = x + post_attention_layernorm(self_attn(input_layernorm(x))) */
        pl_tensor *a = attention(ctx, m, l, rms_norm(ctx, x, b->attn_norm, eps), pos, n_past, cpys, n_cpys);
        x = pl_add(ctx, x, rms_norm(ctx, a, b->attn_post_norm, eps));
        /* x = x + post_feedforward_layernorm(down_proj(gelu_tanh(gate_proj(hn)) * up_proj(hn))),
         * hn = pre_feedforward_layernorm(x) */
        pl_tensor *hn = rms_norm(ctx, x, b->ffn_norm, eps);
        pl_tensor *ff = pl_mul(ctx, pl_gelu(ctx, pl_matmul(ctx, b->ffn_gate, hn), true), pl_matmul(ctx, b->ffn_up, hn));
        x = pl_add(ctx, x, rms_norm(ctx, pl_matmul(ctx, b->ffn_down, ff), b->ffn_post_norm, eps));
        if (!x) return NULL;
    }
    x = rms_norm(ctx, llm_keep_rows(ctx, x, all), m->out_norm, eps);
    return pl_matmul(ctx, m->output, x); /* (V, T): lm_head tied to embed_tokens */
}
