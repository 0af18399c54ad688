/* SigLIP (Zhai et al. 2023): the ViT without a class token, whose tokens are pooled by a multi-head attention
 * pooling head (one learned query "probe" attending over them, then LayerNorm + MLP with a residual), and a text
 * tower that attends both ways over texts padded to a fixed length and takes the last position through a linear
 * head. The pairwise sigmoid loss is what makes it SigLIP; the architecture is this small change. */
#include "models/clip.h"

#include <math.h>

static pl_tensor *linear(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, pl_tensor *b) { return pl_matmul_bias(ctx, w, x, b); }

/* SiglipMultiheadAttentionPoolingHead: x {C, N, B} -> {C, B} */
static pl_tensor *map_head(pl_ctx *ctx, const pl_tower *v, pl_tensor *x) {
    int64_t C = x->ne[0], N = x->ne[1], B = x->ne[2], H = v->hp.n_head, D = C / H;
    pl_tensor *zeros = pl_new_3d(ctx, PL_F32, C, 1, B); /* probe.repeat(B, 1, 1) */
    if (!zeros) return NULL;
    memset(zeros->data, 0, pl_nbytes(zeros));
    pl_tensor *q = linear(ctx, pl_add(ctx, zeros, v->probe), v->head_q, v->head_q_b);
    q = pl_permute(ctx, pl_reshape_4d(ctx, q, D, H, 1, B), 0, 2, 1, 3);
    pl_tensor *k = pl_permute(ctx, pl_reshape_4d(ctx, linear(ctx, x, v->head_k, v->head_k_b), D, H, N, B), 0, 2, 1, 3);
    pl_tensor *val = pl_permute(ctx, pl_reshape_4d(ctx, linear(ctx, x, v->head_v, v->head_v_b), D, H, N, B), 0, 2, 1, 3);
    pl_tensor *a = pl_attention(ctx, q, k, val, 1.0f / sqrtf((float)D), false); /* {D, H, 1, B} */
    if (!a) return NULL;
    pl_tensor *h = linear(ctx, pl_reshape_2d(ctx, a, C, B), v->head_o, v->head_o_b);
    pl_tensor *n = pl_layernorm_affine(ctx, h, v->head_norm, v->head_norm_b, v->hp.eps);
    return pl_add(ctx, h, tower_mlp(ctx, v->hp.act, n, v->head_up, v->head_up_b, v->head_down, v->head_down_b));
}

pl_tensor *siglip_pool_image(pl_ctx *ctx, const pl_clip *m, pl_tensor *patches) {
    const pl_tower *v = &m->vision;
    pl_tensor *x = vit_encode(ctx, v, vit_embed(ctx, v, patches));
    x = pl_layernorm_affine(ctx, x, v->post_norm, v->post_norm_b, v->hp.eps);
    return x ? map_head(ctx, v, x) : NULL;
}

pl_tensor *siglip_pool_text(pl_ctx *ctx, const pl_clip *m, pl_tensor *ids, pl_tensor *pool_at) {
    const pl_tower *t = &m->text;
    int64_t T = ids->ne[0], B = ids->ne[1];
    pl_tensor *pos = pl_new_1d(ctx, PL_I32, T);
    if (!pos) return NULL;
    for (int i = 0; i < T; i++) ((int32_t *)pos->data)[i] = i;
    pl_tensor *x = pl_add(ctx, pl_get_rows(ctx, t->tok, ids), pl_get_rows(ctx, t->pos, pos)); /* {C, T, B} */
    for (int l = 0; l < t->hp.n_layer && x; l++) x = tower_block(ctx, t, &t->layers[l], x, false);
    x = pl_layernorm_affine(ctx, x, t->post_norm, t->post_norm_b, t->hp.eps);
    if (!x) return NULL;
    pl_tensor *last = pl_get_rows(ctx, pl_reshape_2d(ctx, x, x->ne[0], T * B), pool_at); /* {C, B} */
    return linear(ctx, last, t->head, t->head_b);
}
