/* Rotary position embeddings (RoFormer): rotate pairs of dimensions by angle pos * theta^(-2i/n_rot).
 * NORMAL pairs adjacent dims (2i, 2i+1), as Meta's Llama code; NEOX pairs (i, i + n_rot/2), as GPT-NeoX
 * and Hugging Face's rotate_half. Backward rotates the gradient by the opposite angle. */
#include "ops/ops.h"

#include <math.h>

pl_tensor *pl_rope(pl_ctx *ctx, pl_tensor *x, pl_tensor *pos, int n_rot, int mode, float theta, float freq_scale,
                   pl_tensor *freq_factors) {
    if (!x || !pos) return NULL;
    OP_REQUIRE(x->type == PL_F32 && x->nb[0] == sizeof(float), "rope: f32 rows expected");
    OP_REQUIRE(pos->type == PL_I32 && pl_nelements(pos) == x->ne[2], "rope: one i32 position per ne[2] of x expected");
    OP_REQUIRE(n_rot > 0 && n_rot % 2 == 0 && n_rot <= x->ne[0], "rope: n_rot %d for head size %lld", n_rot, (long long)x->ne[0]);
    OP_REQUIRE(!freq_factors || (freq_factors->type == PL_F32 && pl_nelements(freq_factors) >= n_rot / 2),
               "rope: freq_factors must hold n_rot/2 floats");
    pl_tensor *t = op_new_node(ctx, PL_OP_ROPE, PL_F32, x->n_dims, x->ne, x, pos, freq_factors, NULL);
    if (!t) return NULL;
    t->p.i[0] = n_rot;
    t->p.i[1] = mode;
    t->p.f[2] = theta;
    t->p.f[3] = freq_scale;
    return t;
}

/* rows are (head, token, batch); sign = +1 forward, -1 backward. The angles depend on the position only, so
 * cos/sin are computed once per run of rows at one position (all heads of a token) instead of per row. */
#define ROPE_TAB 512
static void rope_rows(pl_tensor *t, const pl_tensor *in, float *out, bool add, float sign, int64_t s, int64_t e) {
    int n_rot = t->p.i[0], neox = t->p.i[1] & PL_ROPE_NEOX, half = n_rot / 2;
    float theta = t->p.f[2], fs = t->p.f[3];
    const int32_t *pos = (const int32_t *)t->src[1]->data;
    const float *ff = t->src[2] ? pl_f32(t->src[2]) : NULL;
    int64_t d = t->ne[0];
    float cs[2 * ROPE_TAB], inv[ROPE_TAB]; /* cos, sin of pair i at cs[2i], cs[2i+1] for position tab_pos */
    bool tab = half <= ROPE_TAB, have = false;
    int32_t tab_pos = 0;
    for (int i = 0; tab && i < half; i++) inv[i] = powf(theta, -2.0f * i / n_rot) * fs / (ff ? ff[i] : 1.0f);
    for (int64_t r = s; r < e; r++) {
        int64_t i2 = (r / t->ne[1]) % t->ne[2];
        const float *x = in ? op_src_row(t, in, r) : pl_f32(t->grad) + r * d;
        float *o = out + r * d;
        if (tab && (!have || pos[i2] != tab_pos)) {
            for (int i = 0; i < half; i++) {
                float a = pos[i2] * inv[i];
                cs[2 * i] = cosf(a);
                cs[2 * i + 1] = sign * sinf(a);
            }
            have = true;
            tab_pos = pos[i2];
        }
        for (int i = 0; i < half; i++) {
            float c, sn;
            if (tab) { c = cs[2 * i]; sn = cs[2 * i + 1]; }
            else {
                float inv = powf(theta, -2.0f * i / n_rot) * fs / (ff ? ff[i] : 1.0f), a = pos[i2] * inv;
                c = cosf(a);
                sn = sign * sinf(a);
            }
            int j0 = neox ? i : 2 * i, j1 = neox ? i + half : 2 * i + 1;
            float x0 = x[j0], x1 = x[j1];
            float y0 = x0 * c - x1 * sn, y1 = x0 * sn + x1 * c;
            if (add) { o[j0] += y0; o[j1] += y1; } else { o[j0] = y0; o[j1] = y1; }
        }
        for (int64_t j = n_rot; j < d; j++) o[j] = add ? o[j] + x[j] : x[j];
    }
}
static void rope_fwd_range(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg;
    rope_rows(t, t->src[0], pl_f32(t), false, 1.0f, s, e);
}
static void rope_bwd_range(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg;
    rope_rows(t, NULL, op_grad(t->src[0]), true, -1.0f, s, e);
}
/* A decode step's rope (one token's heads, a few thousand values) runs on the calling thread: handing it to the
 * pool cost more than the rotation (SmolLM2 rotates q and k apart, 60 hand-outs a token), and each share built the
 * position's cos/sin table again. The rows are independent, so the bits are the same either way. */
#define ROPE_INLINE 8192
void op_rope_forward(pl_ctx *ctx, pl_tensor *t) {
    if (pl_nelements(t) <= ROPE_INLINE) rope_fwd_range(t, 0, pl_nrows(t), 0);
    else pl_parallel_for(ctx, pl_nrows(t), rope_fwd_range, t);
}
void op_rope_backward(pl_ctx *ctx, pl_tensor *t) {
    if (op_grad(t->src[0])) pl_parallel_for(ctx, pl_nrows(t), rope_bwd_range, t);
}
