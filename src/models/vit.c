/* The Vision Transformer (Dosovitskiy et al. 2021) as CLIP and SigLIP use it, and the pre-LayerNorm block both
 * of their towers share. An image is cut into P x P patches, each flattened in Conv2d's weight order and
 * multiplied by the patch weight (the convolution with stride P, as one matrix product), positions added (after a
 * class token for CLIP), then blocks x = x + attn(LN(x)); x = x + mlp(LN(x)). Activations {C, tokens, images}. */
#include "models/clip.h"

#include <math.h>

/* out[b][c*P*P + ky*P + kx][patch] = pixels[b][c][py*P + ky][px*P + kx], patches row-major (torch's flatten(2)) */
void vit_unfold(const float *pixels, int n, int S, int P, float *out) {
    int g = S / P, np = g * g, K = 3 * P * P;
    for (int b = 0; b < n; b++)
        for (int p = 0; p < np; p++)
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < P; ky++)
                    for (int kx = 0; kx < P; kx++) {
                        int y = (p / g) * P + ky, x = (p % g) * P + kx;
                        out[((size_t)b * np + p) * K + (size_t)c * P * P + ky * P + kx] =
                            pixels[(((size_t)b * 3 + c) * S + y) * S + x];
                    }
}

static pl_tensor *linear(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, pl_tensor *b) { return pl_matmul_bias(ctx, w, x, b); }

/* {C, T, B} -> {D, T, H, B}: the layout pl_attention takes */
static pl_tensor *heads(pl_ctx *ctx, pl_tensor *x, int H) {
    if (!x) return NULL;
    return pl_permute(ctx, pl_reshape_4d(ctx, x, x->ne[0] / H, H, x->ne[1], x->ne[2]), 0, 2, 1, 3);
}

static pl_tensor *activation(pl_ctx *ctx, pl_act act, pl_tensor *x) {
    switch (act) {
    case PL_ACT_QUICK_GELU: return pl_quick_gelu(ctx, x); /* x * sigmoid(1.702 x) */
    case PL_ACT_GELU: return pl_gelu(ctx, x, false);
    default: return pl_gelu(ctx, x, true);
    }
}

pl_tensor *tower_mlp(pl_ctx *ctx, pl_act act, pl_tensor *x, pl_tensor *up, pl_tensor *up_b, pl_tensor *down, pl_tensor *down_b) {
    return linear(ctx, activation(ctx, act, linear(ctx, x, up, up_b)), down, down_b);
}

/* self-attention over each sequence's T tokens: {C, T, B} -> {C, T, B} */
static pl_tensor *self_attention(pl_ctx *ctx, const pl_tower *t, const pl_tower_layer *b, pl_tensor *x, bool causal) {
    int H = t->hp.n_head;
    float scale = 1.0f / sqrtf((float)(t->hp.n_embd / H));
    pl_tensor *q = heads(ctx, linear(ctx, x, b->wq, b->bq), H), *k = heads(ctx, linear(ctx, x, b->wk, b->bk), H);
    pl_tensor *v = heads(ctx, linear(ctx, x, b->wv, b->bv), H);
    pl_tensor *y = pl_attention(ctx, q, k, v, scale, causal); /* {D, H, T, B} */
    return y ? linear(ctx, pl_reshape_3d(ctx, y, x->ne[0], x->ne[1], x->ne[2]), b->wo, b->bo) : NULL;
}

pl_tensor *tower_block(pl_ctx *ctx, const pl_tower *t, const pl_tower_layer *b, pl_tensor *x, bool causal) {
    float eps = t->hp.eps;
    x = pl_add(ctx, x, self_attention(ctx, t, b, pl_layernorm_affine(ctx, x, b->norm1, b->norm1_b, eps), causal));
    pl_tensor *h = pl_layernorm_affine(ctx, x, b->norm2, b->norm2_b, eps);
    return pl_add(ctx, x, tower_mlp(ctx, t->hp.act, h, b->up, b->up_b, b->down, b->down_b));
}

/* patches {3 P P, N, B} -> tokens {C, N (+1 class token), B} with positions added */
pl_tensor *vit_embed(pl_ctx *ctx, const pl_tower *v, pl_tensor *patches) {
    pl_tensor *x = linear(ctx, patches, v->patch, v->patch_b); /* {C, N, B} */
    if (x && v->cls) { /* torch.cat([class_embedding.expand(B, 1, C), patches], dim=1) */
        pl_tensor *zeros = pl_new_3d(ctx, PL_F32, x->ne[0], 1, x->ne[2]);
        if (!zeros) return NULL;
        memset(zeros->data, 0, pl_nbytes(zeros));
        x = pl_concat(ctx, pl_add(ctx, zeros, v->cls), x, 1);
    }
    return pl_add(ctx, x, v->pos);
}

pl_tensor *vit_encode(pl_ctx *ctx, const pl_tower *v, pl_tensor *x) {
    for (int l = 0; l < v->hp.n_layer && x; l++) x = tower_block(ctx, v, &v->layers[l], x, false);
    return x;
}

/* The last block for the class token alone, x {C, T, B} -> {C, 1, B}: every token's keys and values, but the
 * class token's query, attention output, residuals and MLP only (the pooled output reads nothing else) - the
 * block's other T - 1 rows of its four C x C and two C x F products are never computed. */
static pl_tensor *block_for_class_token(pl_ctx *ctx, const pl_tower *t, const pl_tower_layer *b, pl_tensor *x) {
    int H = t->hp.n_head;
    float eps = t->hp.eps, scale = 1.0f / sqrtf((float)(t->hp.n_embd / H));
    pl_tensor *h = pl_layernorm_affine(ctx, x, b->norm1, b->norm1_b, eps);
    pl_tensor *x0 = pl_cont(ctx, pl_slice(ctx, x, 1, 0, 1)), *h0 = pl_cont(ctx, pl_slice(ctx, h, 1, 0, 1)); /* {C, 1, B} */
    pl_tensor *q = heads(ctx, linear(ctx, h0, b->wq, b->bq), H), *k = heads(ctx, linear(ctx, h, b->wk, b->bk), H);
    pl_tensor *v = heads(ctx, linear(ctx, h, b->wv, b->bv), H);
    pl_tensor *y = pl_attention(ctx, q, k, v, scale, false); /* {D, H, 1, B} */
    if (!y || !x0) return NULL;
    x0 = pl_add(ctx, x0, linear(ctx, pl_reshape_3d(ctx, y, x0->ne[0], 1, x0->ne[2]), b->wo, b->bo));
    pl_tensor *f = pl_layernorm_affine(ctx, x0, b->norm2, b->norm2_b, eps);
    return pl_add(ctx, x0, tower_mlp(ctx, t->hp.act, f, b->up, b->up_b, b->down, b->down_b));
}

/* CLIPVisionTransformer: LN before the blocks, the class token's state after a final LN -> {C, B} */
pl_tensor *clip_pool_image(pl_ctx *ctx, const pl_clip *m, pl_tensor *patches) {
    const pl_tower *v = &m->vision;
    pl_tensor *x = pl_layernorm_affine(ctx, vit_embed(ctx, v, patches), v->pre_norm, v->pre_norm_b, v->hp.eps);
    int L = v->hp.n_layer;
    for (int l = 0; l < L - 1 && x; l++) x = tower_block(ctx, v, &v->layers[l], x, false);
    if (x) x = block_for_class_token(ctx, v, &v->layers[L - 1], x);
    if (!x) return NULL;
    return pl_layernorm_affine(ctx, pl_reshape_2d(ctx, x, x->ne[0], x->ne[2]), v->post_norm, v->post_norm_b, v->hp.eps);
}
