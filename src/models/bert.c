/* BERT (Devlin et al. 2019) as a sentence encoder: word + learned position + token-type embeddings and a
 * LayerNorm, then post-LayerNorm blocks of bidirectional self-attention and a GELU (erf) MLP. MiniLM, BGE, E5
 * and GTE checkpoints are this graph with other sizes. The batch is sentences packed end to end; attention
 * stays within each sentence (pl_attention_segments), everything else works on rows and cannot mix them. */
#include "models/encoder.h"

#include <math.h>

int encoder_load_bert(pl_encoder *m) {
    const pl_encoder_hparams *h = &m->hp;
    int64_t C = h->n_embd, F = h->n_ff;
    bool bad = false;
#define W(role, l, ne0, ne1) encoder_weight(m, role, l, ne0, ne1, false, &bad)
#define V(role, l, ne0) encoder_weight(m, role, l, ne0, 0, true, &bad)
    m->tok_embd = W(PL_E_TOK_EMBD, 0, C, h->n_vocab);       /* (V, C)     */
    m->pos_embd = W(PL_E_POS_EMBD, 0, C, h->n_pos);         /* (n_pos, C) */
    m->type_embd = encoder_weight(m, PL_E_TYPE_EMBD, 0, C, h->n_types, true, &bad); /* (types, C) */
    m->embd_norm = V(PL_E_EMBD_NORM, 0, C);
    m->embd_norm_b = V(PL_E_EMBD_NORM_B, 0, C);
    for (int l = 0; l < h->n_layer && !bad; l++) {
        pl_encoder_layer *b = &m->layers[l];
        b->wq = W(PL_E_Q, l, C, C); b->bq = V(PL_E_Q_B, l, C);
        b->wk = W(PL_E_K, l, C, C); b->bk = V(PL_E_K_B, l, C);
        b->wv = W(PL_E_V, l, C, C); b->bv = V(PL_E_V_B, l, C);
        b->wo = W(PL_E_O, l, C, C); b->bo = V(PL_E_O_B, l, C);
        b->attn_norm = V(PL_E_ATTN_NORM, l, C); b->attn_norm_b = V(PL_E_ATTN_NORM_B, l, C);
        b->ffn_up = W(PL_E_UP, l, C, F); b->ffn_up_b = V(PL_E_UP_B, l, F);       /* (F, C) */
        b->ffn_down = W(PL_E_DOWN, l, F, C); b->ffn_down_b = V(PL_E_DOWN_B, l, C); /* (C, F) */
        b->ffn_norm = V(PL_E_FFN_NORM, l, C); b->ffn_norm_b = V(PL_E_FFN_NORM_B, l, C);
    }
#undef W
#undef V
    return bad ? PL_ERR_FORMAT : PL_OK;
}

static pl_tensor *linear(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, pl_tensor *b) {
    return pl_matmul_bias(ctx, w, x, b); /* x @ w.T + b */
}

/* BertSelfAttention + BertSelfOutput's dense: (C, N) -> (C, N), each sentence attending to itself only */
static pl_tensor *attention(pl_ctx *ctx, pl_encoder *m, const pl_encoder_layer *b, pl_tensor *x, const encoder_inputs *in) {
    int64_t C = m->hp.n_embd, H = m->hp.n_head, D = C / H, N = x->ne[1];
    pl_tensor *q = pl_reshape_3d(ctx, linear(ctx, x, b->wq, b->bq), D, H, N); /* (D, H, N) */
    pl_tensor *k = pl_reshape_3d(ctx, linear(ctx, x, b->wk, b->bk), D, H, N);
    pl_tensor *v = pl_reshape_3d(ctx, linear(ctx, x, b->wv, b->bv), D, H, N);
    pl_tensor *y = pl_attention_segments(ctx, q, k, v, in->seg, 1.0f / sqrtf((float)D));
    return y ? linear(ctx, pl_reshape_2d(ctx, y, C, N), b->wo, b->bo) : NULL;
}

pl_tensor *encoder_build_bert(pl_ctx *ctx, pl_encoder *m, const encoder_inputs *in) {
    const pl_encoder_hparams *h = &m->hp;
    float eps = h->norm_eps;
    /* x = LayerNorm(word[ids] + position[pos] + token_type[0]) */
    pl_tensor *type0 = pl_slice(ctx, m->type_embd, 1, 0, 1); /* (C, 1), broadcast over the tokens */
    pl_tensor *x = pl_add(ctx, pl_add(ctx, pl_get_rows(ctx, m->tok_embd, in->ids), pl_get_rows(ctx, m->pos_embd, in->pos)), type0);
    x = pl_layernorm_affine(ctx, x, m->embd_norm, m->embd_norm_b, eps); /* (C, N) */
    for (int l = 0; l < h->n_layer; l++) {
        const pl_encoder_layer *b = &m->layers[l];
        /* x = LayerNorm(x + attn(x)) */
        x = pl_layernorm_affine(ctx, pl_add(ctx, x, attention(ctx, m, b, x, in)), b->attn_norm, b->attn_norm_b, eps);
        /* x = LayerNorm(x + down(gelu(up(x)))) */
        pl_tensor *f = pl_gelu(ctx, linear(ctx, x, b->ffn_up, b->ffn_up_b), false);
        x = pl_layernorm_affine(ctx, pl_add(ctx, x, linear(ctx, f, b->ffn_down, b->ffn_down_b)), b->ffn_norm, b->ffn_norm_b, eps);
        if (!x) return NULL;
    }
    return x;
}
