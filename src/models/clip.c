/* CLIP's text tower (Radford et al. 2021): token + learned position embeddings, pre-LayerNorm blocks under a
 * causal mask (a GPT-2-like text transformer), a final LayerNorm, and the state at each text's end-of-text token
 * as its vector. The caller chooses that position (pool_at); padding after it cannot change it, since no token
 * sees the ones after it. */
#include "models/clip.h"

pl_tensor *clip_pool_text(pl_ctx *ctx, const pl_clip *m, pl_tensor *ids, pl_tensor *pool_at) {
    const pl_tower *t = &m->text;
    int64_t T = ids->ne[0], B = ids->ne[1];
    pl_tensor *pos = pl_new_1d(ctx, PL_I32, T);
    if (!pos) return NULL;
    for (int i = 0; i < T; i++) ((int32_t *)pos->data)[i] = i;
    pl_tensor *x = pl_add(ctx, pl_get_rows(ctx, t->tok, ids), pl_get_rows(ctx, t->pos, pos)); /* {C, T, B} */
    for (int l = 0; l < t->hp.n_layer && x; l++) x = tower_block(ctx, t, &t->layers[l], x, true);
    x = pl_layernorm_affine(ctx, x, t->post_norm, t->post_norm_b, t->hp.eps);
    return x ? pl_get_rows(ctx, pl_reshape_2d(ctx, x, x->ne[0], T * B), pool_at) : NULL; /* {C, B} */
}
