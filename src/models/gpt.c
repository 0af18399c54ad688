/* GPT-2 (Radford et al. 2019) as a graph of plinth ops, for pre-training from scratch and sampling.
 * The forward pass reads like the model's diagram; shapes are in plinth order (ne[0] innermost), so the
 * PyTorch tensor (B, T, C) is {C, T, B} here. */
#include "models/gpt.h"
#include "io/safetensors.h"

#include <math.h>

int pl_gpt_config_check(const pl_gpt_config *c) {
    if (c->vocab < 2 || c->vocab > (1 << 20)) return pl_error(PL_ERR_ARG, "vocabulary size %d must be in [2, 1048576]", c->vocab);
    if (c->ctx < 1 || c->ctx > 65536) return pl_error(PL_ERR_ARG, "context length %d must be in [1, 65536]", c->ctx);
    if (c->layers < 1 || c->layers > 256) return pl_error(PL_ERR_ARG, "number of layers %d must be in [1, 256]", c->layers);
    if (c->dim < 1 || c->dim > 16384) return pl_error(PL_ERR_ARG, "width %d must be in [1, 16384]", c->dim);
    if (c->heads < 1 || c->dim % c->heads)
        return pl_error(PL_ERR_ARG, "%d heads do not divide the width %d", c->heads, c->dim);
    return PL_OK;
}

/* ---- parameters: one flat buffer, every tensor a view into it ------------------------------------------- */
typedef struct { const char *fmt; int layer; int64_t rows, cols; } param_spec; /* PyTorch shape (rows, cols) */

static int specs(const pl_gpt_config *c, param_spec *out) {
    int64_t C = c->dim;
    int n = 0;
    out[n++] = (param_spec){"wte.weight", -1, c->vocab, C};
    out[n++] = (param_spec){"wpe.weight", -1, c->ctx, C};
    for (int l = 0; l < c->layers; l++) {
        out[n++] = (param_spec){"h.%d.ln_1.weight", l, 1, C};
        out[n++] = (param_spec){"h.%d.ln_1.bias", l, 1, C};
        out[n++] = (param_spec){"h.%d.attn.c_attn.weight", l, 3 * C, C};
        out[n++] = (param_spec){"h.%d.attn.c_attn.bias", l, 1, 3 * C};
        out[n++] = (param_spec){"h.%d.attn.c_proj.weight", l, C, C};
        out[n++] = (param_spec){"h.%d.attn.c_proj.bias", l, 1, C};
        out[n++] = (param_spec){"h.%d.ln_2.weight", l, 1, C};
        out[n++] = (param_spec){"h.%d.ln_2.bias", l, 1, C};
        out[n++] = (param_spec){"h.%d.mlp.c_fc.weight", l, 4 * C, C};
        out[n++] = (param_spec){"h.%d.mlp.c_fc.bias", l, 1, 4 * C};
        out[n++] = (param_spec){"h.%d.mlp.c_proj.weight", l, C, 4 * C};
        out[n++] = (param_spec){"h.%d.mlp.c_proj.bias", l, 1, C};
    }
    out[n++] = (param_spec){"ln_f.weight", -1, 1, C};
    out[n++] = (param_spec){"ln_f.bias", -1, 1, C};
    return n;
}

pl_gpt *pl_gpt_new(const pl_gpt_config *cfg) {
    if (pl_gpt_config_check(cfg)) return NULL;
    pl_gpt *m = pl_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cfg = *cfg;
    int np = 4 + 12 * cfg->layers;
    param_spec *sp = pl_malloc((size_t)np * sizeof *sp);
    m->params = pl_calloc((size_t)np, sizeof *m->params);
    m->blocks = pl_calloc((size_t)cfg->layers, sizeof *m->blocks);
    m->ctx = pl_ctx_new(&(pl_ctx_params){.arena_bytes = (size_t)np * 1024 + 65536, .n_threads = 1});
    if (!sp || !m->params || !m->blocks || !m->ctx) { free(sp); pl_gpt_free(m); return NULL; }
    m->n_params = specs(cfg, sp);
    for (int i = 0; i < m->n_params; i++) m->n_floats += sp[i].rows * sp[i].cols;
    size_t bytes = (size_t)m->n_floats * sizeof(float);
    m->w = calloc(1, bytes); m->g = calloc(1, bytes); m->m = calloc(1, bytes); m->v = calloc(1, bytes);
    if (!m->w || !m->g || !m->m || !m->v) {
        free(sp); pl_gpt_free(m);
        return pl_error_null(PL_ERR_NOMEM, "out of memory for %lld parameters", (long long)m->n_floats);
    }
    int64_t off = 0;
    for (int i = 0; i < m->n_params; i++) {
        int64_t ne[2] = {sp[i].cols, sp[i].rows};
        int nd = sp[i].rows == 1 ? 1 : 2;
        pl_tensor *t = pl_new_mapped(m->ctx, PL_F32, nd, ne, m->w + off);
        pl_tensor *g = pl_new_mapped(m->ctx, PL_F32, nd, ne, m->g + off);
        t->grad = g;
        pl_param(m->ctx, t);
        pl_set_name(t, sp[i].fmt, sp[i].layer);
        m->params[i] = t;
        off += sp[i].rows * sp[i].cols;
    }
    free(sp);
    /* the named pointers, in spec order */
    pl_tensor **p = m->params;
    m->wte = *p++;
    m->wpe = *p++;
    for (int l = 0; l < cfg->layers; l++) {
        pl_gpt_block *b = &m->blocks[l];
        b->ln1_w = *p++; b->ln1_b = *p++; b->attn_w = *p++; b->attn_b = *p++; b->proj_w = *p++; b->proj_b = *p++;
        b->ln2_w = *p++; b->ln2_b = *p++; b->fc_w = *p++; b->fc_b = *p++; b->fc2_w = *p++; b->fc2_b = *p++;
    }
    m->lnf_w = *p++;
    m->lnf_b = *p++;
    return m;
}

void pl_gpt_free(pl_gpt *m) {
    if (!m) return;
    pl_ctx_free(m->ctx);
    free(m->params); free(m->blocks);
    free(m->w); free(m->g); free(m->m); free(m->v);
    free(m);
}

pl_tensor *pl_gpt_find(const pl_gpt *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i]->name, name)) return m->params[i];
    return NULL;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static float gauss(uint64_t *s) { /* Box-Muller */
    double u1 = ((splitmix(s) >> 11) + 1.0) / 9007199254740993.0, u2 = (splitmix(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void pl_gpt_init(pl_gpt *m, uint64_t seed) {
    uint64_t s = seed;
    float resid = 0.02f / sqrtf(2.0f * m->cfg.layers);
    for (int i = 0; i < m->n_params; i++) {
        pl_tensor *t = m->params[i];
        const char *n = t->name;
        int64_t ne = pl_nelements(t);
        float *w = pl_f32(t);
        if (strstr(n, ".bias")) memset(w, 0, (size_t)ne * 4);
        else if (strstr(n, "ln_")) for (int64_t j = 0; j < ne; j++) w[j] = 1.0f;
        else {
            float std = strstr(n, "c_proj.weight") ? resid : 0.02f;
            for (int64_t j = 0; j < ne; j++) w[j] = std * gauss(&s);
        }
    }
}

/* ---- the forward pass ------------------------------------------------------------------------------------ */
static pl_tensor *layer_norm(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, pl_tensor *b) {
    return pl_layernorm_affine(ctx, x, w, b, 1e-5f); /* nn.LayerNorm(C) */
}
static pl_tensor *linear(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, pl_tensor *b) {
    return pl_matmul_bias(ctx, w, x, b); /* x @ w.T + b */
}

/* causal self-attention: (C, T, B) -> (C, T, B) */
static pl_tensor *attention(pl_ctx *ctx, const pl_gpt *m, const pl_gpt_block *b, pl_tensor *x) {
    int64_t C = m->cfg.dim, H = m->cfg.heads, D = C / H, T = x->ne[1], B = x->ne[2];
    pl_tensor *qkv = linear(ctx, x, b->attn_w, b->attn_b); /* (3C, T, B) */
    if (!qkv) return NULL;
    /* q, k, v = qkv.split(C, dim=-1), each .view(B, T, H, D).transpose(1, 2): views, no copies */
    size_t nb[4] = {sizeof(float), (size_t)D * sizeof(float), qkv->nb[1], qkv->nb[2]};
    int64_t ne[4] = {D, H, T, B};
    pl_tensor *q = pl_permute(ctx, pl_view(ctx, qkv, 4, ne, nb, 0), 0, 2, 1, 3);                    /* (D, T, H, B) */
    pl_tensor *k = pl_permute(ctx, pl_view(ctx, qkv, 4, ne, nb, (size_t)C * sizeof(float)), 0, 2, 1, 3);
    pl_tensor *v = pl_permute(ctx, pl_view(ctx, qkv, 4, ne, nb, (size_t)2 * C * sizeof(float)), 0, 2, 1, 3);
    /* y = softmax(q k^T / sqrt(D) + causal mask) v, heads merged back: (D, H, T, B) -> (C, T, B) */
    pl_tensor *y = pl_attention(ctx, q, k, v, 1.0f / sqrtf((float)D), true);
    if (!y) return NULL;
    return linear(ctx, pl_reshape_3d(ctx, y, C, T, B), b->proj_w, b->proj_b);
}

pl_tensor *pl_gpt_forward(pl_ctx *ctx, const pl_gpt *m, pl_tensor *ids, pl_tensor *targets, pl_tensor **loss) {
    int64_t T = ids->ne[0];
    if (T > m->cfg.ctx) return pl_error_null(PL_ERR_ARG, "sequence of %lld tokens exceeds the context of %d", (long long)T, m->cfg.ctx);
    pl_tensor *pos = pl_new_1d(ctx, PL_I32, T);
    if (!pos) return NULL;
    for (int64_t t = 0; t < T; t++) ((int32_t *)pos->data)[t] = (int32_t)t;
    /* x = wte(idx) + wpe(arange(T)) */
    pl_tensor *x = pl_add(ctx, pl_get_rows(ctx, m->wte, ids), pl_get_rows(ctx, m->wpe, pos)); /* (C, T, B) */
    for (int l = 0; l < m->cfg.layers; l++) {
        const pl_gpt_block *b = &m->blocks[l];
        /* x = x + attn(ln_1(x)) */
        x = pl_add(ctx, x, attention(ctx, m, b, layer_norm(ctx, x, b->ln1_w, b->ln1_b)));
        /* x = x + mlp(ln_2(x)),  mlp = c_proj(gelu_tanh(c_fc(.))) */
        pl_tensor *h = pl_gelu(ctx, linear(ctx, layer_norm(ctx, x, b->ln2_w, b->ln2_b), b->fc_w, b->fc_b), true);
        x = pl_add(ctx, x, linear(ctx, h, b->fc2_w, b->fc2_b));
    }
    x = layer_norm(ctx, x, m->lnf_w, m->lnf_b);
    pl_tensor *logits = pl_matmul(ctx, m->wte, x); /* (V, T, B): lm_head tied to wte */
    if (loss) *loss = targets ? pl_cross_entropy(ctx, logits, targets, -1) : NULL;
    return logits;
}

/* ---- files ------------------------------------------------------------------------------------------------ */
int pl_gpt_save(const pl_gpt *m, const char *path, bool with_optim, const char *const *meta_kv, int n_meta) {
    pl_st_writer *w = pl_st_writer_new();
    if (!w) return PL_ERR_NOMEM;
    char buf[32];
    const struct { const char *k; int v; } cfg[] = {{"vocab", m->cfg.vocab}, {"ctx", m->cfg.ctx}, {"dim", m->cfg.dim},
                                                   {"layers", m->cfg.layers}, {"heads", m->cfg.heads}};
    int rc = pl_st_writer_set_metadata(w, "format", "plinth-gpt");
    for (size_t i = 0; i < PL_ARRAY_LEN(cfg) && !rc; i++) {
        snprintf(buf, sizeof buf, "%d", cfg[i].v);
        rc = pl_st_writer_set_metadata(w, cfg[i].k, buf);
    }
    for (int i = 0; i < n_meta && !rc; i++) rc = pl_st_writer_set_metadata(w, meta_kv[2 * i], meta_kv[2 * i + 1]);
    const float *bufs[3] = {m->w, m->m, m->v};
    const char *prefix[3] = {"", "m.", "v."};
    for (int k = 0; k < (with_optim ? 3 : 1) && !rc; k++)
        for (int i = 0; i < m->n_params && !rc; i++) {
            pl_tensor *t = m->params[i];
            int64_t shape[2] = {t->ne[1], t->ne[0]};
            char name[PL_MAX_NAME + 4];
            snprintf(name, sizeof name, "%s%s", prefix[k], t->name);
            const float *data = bufs[k] + (pl_f32(t) - m->w);
            rc = t->n_dims == 1 ? pl_st_writer_add(w, name, PL_F32, 1, &shape[1], data, false)
                                : pl_st_writer_add(w, name, PL_F32, 2, shape, data, false);
        }
    if (!rc) rc = pl_st_writer_write_file(w, path);
    pl_st_writer_free(w);
    return rc;
}

static int meta_int(const pl_st *st, const char *key, int *out) {
    const char *s = pl_st_metadata_get(st, key);
    char *end;
    if (!s) return pl_error(PL_ERR_FORMAT, "checkpoint metadata lacks '%s'", key);
    long v = strtol(s, &end, 10);
    if (*end || end == s) return pl_error(PL_ERR_FORMAT, "checkpoint metadata '%s' is not an integer", key);
    *out = (int)v;
    return PL_OK;
}

pl_gpt *pl_gpt_load(const char *path, bool with_optim) {
    pl_st *st = pl_st_open(path);
    if (!st) return NULL;
    pl_gpt_config c;
    const char *fmt = pl_st_metadata_get(st, "format");
    if (!fmt || strcmp(fmt, "plinth-gpt")) {
        pl_st_close(st);
        return pl_error_null(PL_ERR_FORMAT, "'%s' is not a plinth GPT checkpoint (metadata format != plinth-gpt)", path);
    }
    if (meta_int(st, "vocab", &c.vocab) || meta_int(st, "ctx", &c.ctx) || meta_int(st, "dim", &c.dim) ||
        meta_int(st, "layers", &c.layers) || meta_int(st, "heads", &c.heads)) { pl_st_close(st); return NULL; }
    pl_gpt *m = pl_gpt_new(&c);
    if (!m) { pl_st_close(st); return NULL; }
    float *bufs[3] = {m->w, m->m, m->v};
    const char *prefix[3] = {"", "m.", "v."};
    for (int k = 0; k < (with_optim ? 3 : 1); k++)
        for (int i = 0; i < m->n_params; i++) {
            pl_tensor *t = m->params[i];
            char name[PL_MAX_NAME + 4];
            snprintf(name, sizeof name, "%s%s", prefix[k], t->name);
            const pl_st_tensor *s = pl_st_find(st, name);
            if (!s || s->type != PL_F32 || s->numel != pl_nelements(t)) {
                pl_error(PL_ERR_FORMAT, "checkpoint '%s': tensor '%s' is %s", path, name, s ? "of the wrong type or size" : "missing");
                pl_gpt_free(m); pl_st_close(st);
                return NULL;
            }
            memcpy(bufs[k] + (pl_f32(t) - m->w), s->data, s->nbytes);
        }
    pl_st_close(st);
    return m;
}
