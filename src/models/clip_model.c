/* Loading a CLIP / SigLIP directory into a pl_clip (clip.h): hyper-parameters from config.json's text_config and
 * vision_config, weights mapped from model.safetensors by role (io/clip_names.c) and checked against them, the
 * image processor from preprocessor_config.json; and the drivers that run a batch of images or texts through the
 * architecture's graph (vit.c, clip.c, siglip.c, chosen in registry.c) and normalize the vectors. */
#include "models/clip.h"
#include "io/hfconfig.h"
#include "io/safetensors.h"

#include <errno.h>
#include <math.h>
#include <sys/stat.h>

/* ---- weights ---------------------------------------------------------------------------------------- */

/* ---- training weights: f32 copies with gradients ------------------------------------------------------ */
static double normal(uint64_t *state) { /* Box-Muller on two splitmix64 draws */
    double u1 = ((double)(pl_splitmix64(state) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = (double)(pl_splitmix64(state) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* a new model's value for a role, as transformers' _init_weights draws them (standard deviations) */
static void init_values(const pl_clip *m, pl_clip_role role, float *w, int64_t n, int64_t ne0, uint64_t *st) {
    float fill = NAN;
    switch (role) {
    case PL_CL_NORM1: case PL_CL_NORM2: case PL_CL_POST_NORM: case PL_CL_PRE_NORM: case PL_CL_FINAL_NORM:
    case PL_CL_HEAD_NORM: fill = 1; break;
    case PL_CL_LOGIT_SCALE: fill = m->kind == PL_DUAL_SIGLIP ? logf(10.0f) : logf(1 / 0.07f); break;
    case PL_CL_LOGIT_BIAS: fill = -10; break;
    default:
        if (strstr(pl_clip_name_hf(role), "bias")) fill = 0;
    }
    double sd = role == PL_CL_CLASS || role == PL_CL_VISUAL_PROJ || role == PL_CL_TEXT_PROJ ? 1 / sqrt((double)ne0) : 0.02;
    for (int64_t i = 0; i < n; i++) w[i] = isnan(fill) ? (float)(sd * normal(st)) : fill;
}

/* the file shape (PyTorch order) of a role's tensor in a new model */
static int file_shape(const pl_clip *m, pl_clip_role role, int64_t ne0, int64_t ne1, int64_t *shape) {
    int64_t C = m->vision.hp.n_embd, P = m->vision.patch_size;
    switch (role) {
    case PL_CL_PATCH: shape[0] = C; shape[1] = 3; shape[2] = P; shape[3] = P; return 4;
    case PL_CL_PROBE: shape[0] = 1; shape[1] = 1; shape[2] = C; return 3;
    case PL_CL_LOGIT_SCALE: if (m->kind == PL_DUAL_CLIP) return 0; shape[0] = 1; return 1;
    default:
        if (!ne1) { shape[0] = ne0; return 1; }
        shape[0] = ne1; shape[1] = ne0;
        return 2;
    }
}

static pl_tensor *train_weight(pl_clip *m, pl_clip_role role, const char *name, const pl_st_tensor *st, int64_t ne0,
                               int64_t ne1, bool *failed) {
    int64_t n = ne0 * (ne1 ? ne1 : 1), ne[2] = {ne0, ne1 ? ne1 : 1};
    if (m->n_params == m->cap_params) {
        int cap = m->cap_params ? 2 * m->cap_params : 256;
        pl_clip_param *p = pl_realloc(m->params, (size_t)cap * sizeof *p);
        if (!p) { *failed = true; return NULL; }
        m->params = p; m->cap_params = cap;
    }
    float *w = pl_owned_alloc(&m->owned, (size_t)n * sizeof(float)), *g = pl_owned_alloc(&m->owned, (size_t)n * sizeof(float));
    float *mo = pl_owned_alloc(&m->owned, (size_t)n * sizeof(float)), *v = pl_owned_alloc(&m->owned, (size_t)n * sizeof(float));
    if (!w || !g || !mo || !v) { *failed = true; return NULL; }
    memset(g, 0, (size_t)n * sizeof(float)); memset(mo, 0, (size_t)n * sizeof(float)); memset(v, 0, (size_t)n * sizeof(float));
    pl_clip_param *p = &m->params[m->n_params];
    *p = (pl_clip_param){.m = mo, .v = v};
    snprintf(p->name, sizeof p->name, "%s", name);
    if (st) {
        pl_dtype_traits(st->type)->to_float(st->data, w, n);
        int64_t f[4];
        int nd = pl_st_tensor_ne(st, f);
        p->n_dims = st->n_dims;
        for (int i = 0; i < st->n_dims && i < 4; i++) p->shape[i] = f[st->n_dims - 1 - i];
        (void)nd;
    } else {
        init_values(m, role, w, n, ne0, &m->seed);
        p->n_dims = file_shape(m, role, ne0, ne1, p->shape);
    }
    pl_tensor *t = pl_new_mapped(m->wctx, PL_F32, ne1 ? 2 : 1, ne, w);
    if (!t || !(t->grad = pl_new_mapped(m->wctx, PL_F32, ne1 ? 2 : 1, ne, g))) { *failed = true; return NULL; }
    pl_set_name(t, "%s", name);
    pl_param(m->wctx, t);
    p->t = t;
    m->n_params++;
    return t;
}

/* The tensor of a role with `n` elements, seen as ne0 x ne1 (ne1 0: a vector); f32 copies for vectors and for
 * weights stored otherwise, mapped otherwise. optional: a missing tensor gives NULL without failing. */
static pl_tensor *weight(pl_clip *m, pl_clip_role role, const char *tower, int layer, int64_t ne0, int64_t ne1,
                         bool optional, bool *failed) {
    if (*failed) return NULL;
    char name[256];
    snprintf(name, sizeof name, pl_clip_name_hf(role), tower, layer);
    const pl_st_tensor *st = m->st ? pl_st_model_find(m->st, name) : NULL;
    if (!m->st && m->train) return train_weight(m, role, name, NULL, ne0, ne1, failed); /* a new model */
    if (!st) {
        if (optional) return NULL;
        *failed = true;
        return pl_error_null(PL_ERR_FORMAT, "%s: tensor '%s' is missing", m->path, name);
    }
    int64_t ne[4], n = 1, want = ne0 * (ne1 ? ne1 : 1);
    int nd = pl_st_tensor_ne(st, ne);
    for (int i = 0; i < 4 && nd > 0; i++) n *= ne[i];
    if (nd < 1 || n != want || (ne1 && (nd < 2 || ne[nd - 1] != ne1))) { /* a matrix: its rows, in any shape (the patch kernel's 4) */
        *failed = true;
        return pl_error_null(PL_ERR_FORMAT, "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld] (innermost first), expected "
                             "%lld x %lld elements from config.json", m->path, name, (long long)ne[0], (long long)ne[1],
                             (long long)ne[2], (long long)ne[3], (long long)(ne1 ? ne1 : 1), (long long)ne0);
    }
    const pl_type_traits *tr = pl_dtype_traits(st->type);
    if (!tr || !tr->to_float) {
        *failed = true;
        return pl_error_null(PL_ERR_UNSUPPORTED, "%s: tensor '%s' has a type (%s) plinth cannot compute with", m->path, name, st->dtype_name);
    }
    if (m->train) return train_weight(m, role, name, st, ne0, ne1, failed);
    void *data = (void *)st->data;
    pl_dtype type = st->type;
    if (type != PL_F32 && (!ne1 || role == PL_CL_PATCH)) { /* vectors: the element-wise ops take f32 */
        float *f = pl_owned_alloc(&m->owned, (size_t)want * sizeof(float));
        if (!f) { *failed = true; return NULL; }
        tr->to_float(data, f, want);
        data = f;
        type = PL_F32;
    }
    int64_t shape[2] = {ne0, ne1 ? ne1 : 1};
    pl_tensor *t = pl_new_mapped(m->wctx, type, ne1 ? 2 : 1, shape, data);
    if (!t) { *failed = true; return NULL; }
    pl_set_name(t, "%s", name);
    return t;
}

static void load_layers(pl_clip *m, pl_tower *t, const char *tw, bool *bad) {
    int64_t C = t->hp.n_embd, F = t->hp.n_ff;
    for (int l = 0; l < t->hp.n_layer && !*bad; l++) {
        pl_tower_layer *b = &t->layers[l];
#define W(role, ne0, ne1) weight(m, role, tw, l, ne0, ne1, false, bad)
        b->norm1 = W(PL_CL_NORM1, C, 0); b->norm1_b = W(PL_CL_NORM1_B, C, 0);
        b->wq = W(PL_CL_Q, C, C); b->bq = W(PL_CL_Q_B, C, 0);
        b->wk = W(PL_CL_K, C, C); b->bk = W(PL_CL_K_B, C, 0);
        b->wv = W(PL_CL_V, C, C); b->bv = W(PL_CL_V_B, C, 0);
        b->wo = W(PL_CL_O, C, C); b->bo = W(PL_CL_O_B, C, 0);
        b->norm2 = W(PL_CL_NORM2, C, 0); b->norm2_b = W(PL_CL_NORM2_B, C, 0);
        b->up = W(PL_CL_UP, C, F); b->up_b = W(PL_CL_UP_B, F, 0);     /* (F, C) */
        b->down = W(PL_CL_DOWN, F, C); b->down_b = W(PL_CL_DOWN_B, C, 0); /* (C, F) */
#undef W
    }
}

/* SigLIP's pooling head: nn.MultiheadAttention keeps q, k, v in one (3C, C) matrix; three views of it */
static void load_map_head(pl_clip *m, pl_tower *v, bool *bad) {
    int64_t C = v->hp.n_embd, F = v->hp.n_ff;
    const char *tw = "vision_model";
    v->probe = weight(m, PL_CL_PROBE, tw, 0, C, 0, false, bad);
    pl_tensor *in = weight(m, PL_CL_HEAD_IN, tw, 0, C, 3 * C, false, bad);
    pl_tensor *in_b = weight(m, PL_CL_HEAD_IN_B, tw, 0, 3 * C, 0, false, bad);
    if (*bad) return;
    pl_tensor **w[3] = {&v->head_q, &v->head_k, &v->head_v}, **b[3] = {&v->head_q_b, &v->head_k_b, &v->head_v_b};
    for (int i = 0; i < 3; i++) {
        *w[i] = pl_new_mapped(m->wctx, in->type, 2, (int64_t[]){C, C}, (char *)in->data + i * C * in->nb[1]);
        *b[i] = pl_new_mapped(m->wctx, PL_F32, 1, (int64_t[]){C}, (float *)in_b->data + i * C);
        if (!*w[i] || !*b[i]) { *bad = true; return; }
        if (m->train) { /* views of the parameter: their gradients are windows of its gradient */
            (*w[i])->grad = pl_new_mapped(m->wctx, PL_F32, 2, (int64_t[]){C, C}, pl_f32(in->grad) + i * C * C);
            (*b[i])->grad = pl_new_mapped(m->wctx, PL_F32, 1, (int64_t[]){C}, pl_f32(in_b->grad) + i * C);
            if (!(*w[i])->grad || !(*b[i])->grad) { *bad = true; return; }
            pl_param(m->wctx, *w[i]);
            pl_param(m->wctx, *b[i]);
        }
    }
#define W(role, ne0, ne1) weight(m, role, tw, 0, ne0, ne1, false, bad)
    v->head_o = W(PL_CL_HEAD_OUT, C, C); v->head_o_b = W(PL_CL_HEAD_OUT_B, C, 0);
    v->head_norm = W(PL_CL_HEAD_NORM, C, 0); v->head_norm_b = W(PL_CL_HEAD_NORM_B, C, 0);
    v->head_up = W(PL_CL_HEAD_UP, C, F); v->head_up_b = W(PL_CL_HEAD_UP_B, F, 0);
    v->head_down = W(PL_CL_HEAD_DOWN, F, C); v->head_down_b = W(PL_CL_HEAD_DOWN_B, C, 0);
#undef W
}

static float scalar(pl_clip *m, pl_clip_role role, pl_tensor **keep, bool *bad) {
    pl_tensor *t = weight(m, role, "", 0, 1, 0, false, bad);
    *keep = t;
    return t ? pl_f32(t)[0] : 0;
}

static int load_weights(pl_clip *m) {
    bool bad = false, siglip = m->kind == PL_DUAL_SIGLIP;
    pl_tower *v = &m->vision, *t = &m->text;
    int64_t Cv = v->hp.n_embd, Ct = t->hp.n_embd, K = 3 * v->patch_size * v->patch_size;
    const char *vt = "vision_model", *tt = "text_model";
    v->patch = weight(m, PL_CL_PATCH, vt, 0, K, Cv, false, &bad);             /* (C, 3, P, P) */
    v->patch_b = siglip ? weight(m, PL_CL_PATCH_B, vt, 0, Cv, 0, false, &bad) : NULL;
    v->pos = weight(m, PL_CL_POS, vt, 0, Cv, v->hp.n_pos, false, &bad);
    v->post_norm = weight(m, PL_CL_POST_NORM, vt, 0, Cv, 0, false, &bad);
    v->post_norm_b = weight(m, PL_CL_POST_NORM_B, vt, 0, Cv, 0, false, &bad);
    load_layers(m, v, vt, &bad);
    t->tok = weight(m, PL_CL_TOK, tt, 0, Ct, t->n_vocab, false, &bad);
    t->pos = weight(m, PL_CL_POS, tt, 0, Ct, t->hp.n_pos, false, &bad);
    t->post_norm = weight(m, PL_CL_FINAL_NORM, tt, 0, Ct, 0, false, &bad);
    t->post_norm_b = weight(m, PL_CL_FINAL_NORM_B, tt, 0, Ct, 0, false, &bad);
    load_layers(m, t, tt, &bad);
    if (siglip) {
        load_map_head(m, v, &bad);
        t->head = weight(m, PL_CL_TEXT_HEAD, tt, 0, Ct, m->dim, false, &bad);
        t->head_b = weight(m, PL_CL_TEXT_HEAD_B, tt, 0, m->dim, 0, false, &bad);
    } else {
        v->cls = weight(m, PL_CL_CLASS, vt, 0, Cv, 0, false, &bad);
        v->pre_norm = weight(m, PL_CL_PRE_NORM, vt, 0, Cv, 0, false, &bad);
        v->pre_norm_b = weight(m, PL_CL_PRE_NORM_B, vt, 0, Cv, 0, false, &bad);
        m->visual_proj = weight(m, PL_CL_VISUAL_PROJ, "", 0, Cv, m->dim, false, &bad);
        m->text_proj = weight(m, PL_CL_TEXT_PROJ, "", 0, Ct, m->dim, false, &bad);
    }
    m->logit_scale = scalar(m, PL_CL_LOGIT_SCALE, &m->logit_scale_t, &bad);
    m->logit_bias = siglip ? scalar(m, PL_CL_LOGIT_BIAS, &m->logit_bias_t, &bad) : 0;
    return bad ? PL_ERR_FORMAT : PL_OK;
}

/* ---- hyper-parameters ------------------------------------------------------------------------------- */
static int tower_hp(pl_clip *m, const pl_hfconfig *c, const char *sec, pl_tower *t, bool siglip, bool vision) {
    char k[96];
#define GETI(key, def) (snprintf(k, sizeof k, "%s.%s", sec, key), (int)pl_hfconfig_get_int(c, k, def))
    pl_tower_hparams *h = &t->hp;
    h->n_embd = GETI("hidden_size", vision || siglip ? 768 : 512);
    h->n_ff = GETI("intermediate_size", vision || siglip ? 3072 : 2048);
    h->n_layer = GETI("num_hidden_layers", 12);
    h->n_head = GETI("num_attention_heads", vision || siglip ? 12 : 8);
    snprintf(k, sizeof k, "%s.layer_norm_eps", sec);
    h->eps = (float)pl_hfconfig_get_float(c, k, siglip ? 1e-6 : 1e-5);
    snprintf(k, sizeof k, "%s.hidden_act", sec);
    const char *act = pl_hfconfig_get_str(c, k);
    if (!act) act = siglip ? "gelu_pytorch_tanh" : "quick_gelu";
    if (!strcmp(act, "quick_gelu")) h->act = PL_ACT_QUICK_GELU;
    else if (!strcmp(act, "gelu")) h->act = PL_ACT_GELU;
    else if (!strcmp(act, "gelu_pytorch_tanh") || !strcmp(act, "gelu_new")) h->act = PL_ACT_GELU_TANH;
    else return pl_error(PL_ERR_UNSUPPORTED, "%s: %s.hidden_act '%s' is not supported (quick_gelu, gelu, gelu_pytorch_tanh)", m->path, sec, act);
    if (vision) {
        t->image_size = GETI("image_size", 224);
        t->patch_size = GETI("patch_size", siglip ? 16 : 32);
        if (GETI("num_channels", 3) != 3) return pl_error(PL_ERR_UNSUPPORTED, "%s: only 3-channel images are supported", m->path);
        if (t->patch_size < 1 || t->image_size < t->patch_size || t->image_size % t->patch_size || t->image_size > 4096)
            return pl_error(PL_ERR_FORMAT, "%s: image_size %d is not a multiple of patch_size %d", m->path, t->image_size, t->patch_size);
        int g = t->image_size / t->patch_size;
        t->n_patches = g * g;
        h->n_pos = t->n_patches + (siglip ? 0 : 1);
    } else {
        t->n_vocab = GETI("vocab_size", siglip ? 32000 : 49408);
        h->n_pos = GETI("max_position_embeddings", siglip ? 64 : 77);
        t->eos_id = GETI("eos_token_id", 2);
        t->pad_id = GETI("pad_token_id", 1);
    }
#undef GETI
    const struct { const char *name; int v, lo, hi; } r[] = {
        {"width", h->n_embd, 1, 1 << 16}, {"layer count", h->n_layer, 1, 1024}, {"head count", h->n_head, 1, 1024},
        {"feed-forward width", h->n_ff, 1, 1 << 20}, {"position count", h->n_pos, 1, 1 << 20},
        {"vocabulary size", vision ? 1 : t->n_vocab, 1, 1 << 22},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(r); i++)
        if (r[i].v < r[i].lo || r[i].v > r[i].hi)
            return pl_error(PL_ERR_FORMAT, "%s: %s's %s %d is out of range", m->path, sec, r[i].name, r[i].v);
    if (h->n_embd % h->n_head)
        return pl_error(PL_ERR_FORMAT, "%s: %d heads do not divide %s's width %d", m->path, h->n_head, sec, h->n_embd);
    t->layers = pl_calloc((size_t)h->n_layer, sizeof *t->layers);
    return t->layers ? PL_OK : PL_ERR_NOMEM;
}

static int hparams(pl_clip *m, const pl_hfconfig *c) {
    bool siglip = m->kind == PL_DUAL_SIGLIP;
    int rc = tower_hp(m, c, "vision_config", &m->vision, siglip, true);
    if (!rc) rc = tower_hp(m, c, "text_config", &m->text, siglip, false);
    if (rc) return rc;
    m->dim = siglip ? (int)pl_hfconfig_get_int(c, "text_config.projection_size", m->text.hp.n_embd)
                    : (int)pl_hfconfig_get_int(c, "projection_dim", 512);
    if (m->dim < 1 || m->dim > 1 << 16) return pl_error(PL_ERR_FORMAT, "%s: projection size %d is out of range", m->path, m->dim);
    if (siglip && m->dim != m->vision.hp.n_embd)
        return pl_error(PL_ERR_FORMAT, "%s: SigLIP's text projection_size %d differs from the vision width %d", m->path, m->dim,
                        m->vision.hp.n_embd);
    m->text_len = m->text.hp.n_pos;
    return PL_OK;
}

/* ---- loading ---------------------------------------------------------------------------------------- */
static const pl_dual_arch_info *arch_of(const char *path, pl_hfconfig **cfg, bool quiet) {
    struct stat sb;
    if (stat(path, &sb)) return quiet ? NULL : pl_error_null(PL_ERR_IO, "cannot open model '%s': %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return quiet ? NULL : pl_error_null(PL_ERR_UNSUPPORTED, "%s: a CLIP / SigLIP model is a Hugging Face directory "
                                            "(config.json, model.safetensors, preprocessor_config.json)", path);
    *cfg = quiet ? NULL : pl_hfconfig_load(path);
    if (quiet) {
        char f[1100];
        snprintf(f, sizeof f, "%s/config.json", path);
        if (stat(f, &sb)) return NULL;
        *cfg = pl_hfconfig_load(path);
    }
    if (!*cfg) return NULL;
    const char *type = pl_hfconfig_get_str(*cfg, "model_type");
    const pl_dual_arch_info *a = pl_dual_arch_find(type);
    if (!a && !quiet)
        pl_error(PL_ERR_UNSUPPORTED, "%s: model_type '%s' is not an image-text model plinth knows (clip, siglip)", path,
                 type ? type : "?");
    return a;
}

bool pl_clip_path_ok(const char *path) {
    pl_hfconfig *cfg = NULL;
    const pl_dual_arch_info *a = arch_of(path, &cfg, true);
    pl_hfconfig_free(cfg);
    return a != NULL;
}

static pl_clip *load(const char *path, int n_threads, bool train, bool init, uint64_t seed) {
    pl_clip *m = pl_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->train = train;
    m->seed = seed;
    snprintf(m->path, sizeof m->path, "%s", path);
    pl_hfconfig *cfg = NULL;
    m->arch_info = arch_of(path, &cfg, false);
    m->wctx = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 1 << 20, .n_threads = 1});
    m->step = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 64u << 20, .n_threads = n_threads});
    int rc = PL_ERR_FORMAT;
    if (m->arch_info && m->wctx && m->step) {
        m->kind = m->arch_info->kind;
        rc = hparams(m, cfg);
    }
    if (!rc) rc = pl_image_processor_load(path, &m->prep);
    if (!rc) {
        int h, w;
        rc = pl_image_processor_size(&m->prep, &h, &w);
        if (!rc && (h != m->vision.image_size || w != m->vision.image_size))
            rc = pl_error(PL_ERR_FORMAT, "%s: preprocessor_config.json makes %d x %d images, the model takes %d x %d", path, w, h,
                          m->vision.image_size, m->vision.image_size);
    }
    if (!rc) {
        m->st = init ? NULL : pl_st_model_open(path);
        rc = m->st || init ? load_weights(m) : PL_ERR_FORMAT;
    }
    pl_hfconfig_free(cfg);
    if (rc) { pl_clip_free(m); return NULL; }
    return m;
}

pl_clip *pl_clip_load(const char *path, int n_threads) { return load(path, n_threads, false, false, 0); }
pl_clip *pl_clip_load_train(const char *path, int n_threads, bool init, uint64_t seed) {
    return load(path, n_threads, true, init, seed);
}

int pl_clip_save_weights(const pl_clip *m, const char *dir) {
    if (!m->train) return pl_error(PL_ERR_ARG, "only a training model's weights are saved");
    pl_st_writer *w = pl_st_writer_new();
    int rc = w ? pl_st_writer_set_metadata(w, "format", "pt") : PL_ERR_NOMEM;
    for (int i = 0; i < m->n_params && !rc; i++) {
        const pl_clip_param *p = &m->params[i];
        rc = pl_st_writer_add(w, p->name, PL_F32, p->n_dims, p->shape, p->t->data, false);
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc) rc = pl_st_writer_write_file(w, path);
    pl_st_writer_free(w);
    return rc;
}

static void tower_free(pl_tower *t) { free(t->layers); }

void pl_clip_free(pl_clip *m) {
    if (!m) return;
    pl_ctx_free(m->step);
    pl_ctx_free(m->wctx);
    pl_owned_free(&m->owned);
    free(m->params);
    tower_free(&m->vision);
    tower_free(&m->text);
    if (m->st) pl_st_model_close(m->st);
    free(m);
}

/* ---- running ------------------------------------------------------------------------------------------ */
/* rows of x {D, B} to unit length in the graph: rmsnorm(x, 0) / sqrt(D) = x / ||x|| */
static pl_tensor *unit_rows(pl_ctx *ctx, pl_tensor *x) {
    return x ? pl_scale(ctx, pl_rmsnorm(ctx, x, 0.0f), 1.0f / sqrtf((float)x->ne[0])) : NULL;
}

pl_tensor *pl_clip_image_features(pl_ctx *ctx, const pl_clip *m, pl_tensor *patches) {
    pl_tensor *x = m->arch_info->pool_image(ctx, m, patches);
    if (x && m->visual_proj) x = pl_matmul(ctx, m->visual_proj, x);
    return unit_rows(ctx, x);
}

pl_tensor *pl_clip_text_features(pl_ctx *ctx, const pl_clip *m, pl_tensor *ids, pl_tensor *pool_at) {
    pl_tensor *x = m->arch_info->pool_text(ctx, m, ids, pool_at);
    if (x && m->text_proj) x = pl_matmul(ctx, m->text_proj, x);
    return unit_rows(ctx, x);
}

static int run(pl_clip *m, pl_tensor *out, int n, float *dst) {
    pl_graph *g = out ? pl_graph_build_fused(m->step, out) : NULL; /* activations and residual sums in the GEMMs' write-backs */
    if (!g) return pl_last_error()[0] ? PL_ERR_ARG : PL_ERR_NOMEM;
    pl_graph_forward(m->step, g);
    memcpy(dst, pl_f32(out), (size_t)n * m->dim * sizeof(float));
    return PL_OK;
}

int pl_clip_embed_images(pl_clip *m, const float *pixels, int n, float *out) {
    if (n <= 0) return pl_error(PL_ERR_ARG, "no images to embed");
    const pl_tower *v = &m->vision;
    pl_ctx_reset(m->step);
    int K = 3 * v->patch_size * v->patch_size;
    pl_tensor *patches = pl_new_3d(m->step, PL_F32, K, v->n_patches, n);
    if (!patches) return PL_ERR_NOMEM;
    vit_unfold(pixels, n, v->image_size, v->patch_size, pl_f32(patches));
    return run(m, pl_clip_image_features(m->step, m, patches), n, out);
}

int pl_clip_text_inputs(pl_ctx *ctx, const pl_clip *m, const int32_t *const *ids, const int *n_ids, int n,
                        pl_tensor **in, pl_tensor **at) {
    if (n <= 0) return pl_error(PL_ERR_ARG, "no texts to embed");
    const pl_tower *t = &m->text;
    bool siglip = m->kind == PL_DUAL_SIGLIP;
    int T = siglip ? m->text_len : 1;
    for (int i = 0; i < n; i++) {
        if (n_ids[i] < 1 || n_ids[i] > t->hp.n_pos)
            return pl_error(PL_ERR_ARG, "text %d has %d tokens (1 .. %d)", i, n_ids[i], t->hp.n_pos);
        for (int j = 0; j < n_ids[i]; j++)
            if (ids[i][j] < 0 || ids[i][j] >= t->n_vocab)
                return pl_error(PL_ERR_ARG, "token id %d is outside the vocabulary (%d)", ids[i][j], t->n_vocab);
        if (!siglip && n_ids[i] > T) T = n_ids[i];
    }
    *in = pl_new_2d(ctx, PL_I32, T, n);
    *at = pl_new_1d(ctx, PL_I32, n);
    if (!*in || !*at) return PL_ERR_NOMEM;
    int32_t *p = (*in)->data, *a = (*at)->data;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < T; j++) p[(size_t)i * T + j] = j < n_ids[i] ? ids[i][j] : t->pad_id;
        int pos = T - 1; /* SigLIP: the last position */
        if (!siglip) { /* CLIP: the first EOS; legacy configs (eos_token_id 2) the largest id, which EOS is */
            pos = 0;
            for (int j = 0; j < n_ids[i]; j++)
                if (t->eos_id == 2 ? ids[i][j] > ids[i][pos] : ids[i][j] == t->eos_id) { pos = j; if (t->eos_id != 2) break; }
        }
        a[i] = i * T + pos;
    }
    return PL_OK;
}

int pl_clip_embed_texts(pl_clip *m, const int32_t *const *ids, const int *n_ids, int n, float *out) {
    pl_ctx_reset(m->step);
    pl_tensor *in = NULL, *at = NULL;
    int rc = pl_clip_text_inputs(m->step, m, ids, n_ids, n, &in, &at);
    return rc ? rc : run(m, pl_clip_text_features(m->step, m, in, at), n, out);
}

void pl_clip_logits(const pl_clip *m, const float *img, int n_img, const float *txt, int n_txt, float *out) {
    float s = expf(m->logit_scale_t ? pl_f32(m->logit_scale_t)[0] : m->logit_scale);
    float b = m->logit_bias_t ? pl_f32(m->logit_bias_t)[0] : m->logit_bias;
    for (int i = 0; i < n_img; i++)
        for (int j = 0; j < n_txt; j++) {
            double d = 0;
            for (int c = 0; c < m->dim; c++) d += (double)img[(size_t)i * m->dim + c] * txt[(size_t)j * m->dim + c];
            out[(size_t)i * n_txt + j] = (float)(s * d) + b;
        }
}
