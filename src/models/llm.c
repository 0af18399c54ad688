/* Loading a decoder LM (GGUF or HF safetensors + config.json) into a pl_llm: hyper-parameters, mapped
 * weights (checked against the hyper-parameters), the f32/f16 KV cache, and the eval driver that builds one
 * step's graph in a per-step context and runs it. Architecture specifics live in llama.c / gpt2_lm.c. */
#include "models/llm.h"
#include "io/gguf.h"
#include "io/hfconfig.h"
#include "io/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define LLM_CTX_CAP 4096

/* ---- weights ---------------------------------------------------------------------------------------- */
static void *llm_own(pl_llm *m, size_t bytes) {
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **p = pl_realloc(m->owned, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        m->owned = p; m->cap_owned = cap;
    }
    void *buf = pl_malloc(bytes);
    if (buf) m->owned[m->n_owned++] = buf;
    return buf;
}

/* find a tensor by name in the file: type, ne (ggml order), data */
static bool llm_find(pl_llm *m, const char *name, pl_dtype *type, int64_t ne[4], int *n_dims, const void **data) {
    if (m->gguf) {
        const pl_gguf_tensor *t = pl_gguf_find_tensor(m->gguf, name);
        if (!t) return false;
        *type = t->type; *n_dims = t->n_dims; *data = t->data;
        memcpy(ne, t->ne, sizeof t->ne);
        return true;
    }
    const pl_st_tensor *t = pl_st_model_find(m->st, name);
    if (!t) return false;
    *n_dims = pl_st_tensor_ne(t, ne);
    *type = t->type;
    *data = t->data;
    return *n_dims > 0;
}

pl_tensor *llm_weight(pl_llm *m, const char *gguf_fmt, const char *hf_fmt, int layer, int64_t ne0, int64_t ne1,
                      int flags, bool *failed) {
    if (*failed) return NULL;
    const char *fmt = m->gguf ? gguf_fmt : hf_fmt;
    if (!fmt) return NULL;
    char name[256], gname[256];
    snprintf(name, sizeof name, fmt, layer);
    snprintf(gname, sizeof gname, gguf_fmt ? gguf_fmt : fmt, layer); /* GGUF names in every format (imatrix) */
    pl_dtype type;
    int64_t ne[4];
    int nd;
    const void *data;
    if (!llm_find(m, name, &type, ne, &nd, &data)) {
        if (flags & LLM_W_OPTIONAL) return NULL;
        *failed = true;
        return pl_error_null(PL_ERR_FORMAT, "%s: tensor '%s' is missing", m->path, name);
    }
    bool tr = (flags & LLM_W_HF_TRANSPOSED) && !m->gguf;
    int64_t want0 = tr ? ne1 : ne0, want1 = tr ? ne0 : ne1;
    bool ok = ne[0] == want0 && ne[2] == 1 && ne[3] == 1 && (ne1 ? ne[1] == want1 : ne[1] == 1);
    if (!ok) {
        *failed = true;
        return pl_error_null(PL_ERR_FORMAT, "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld] "
                             "from the hyper-parameters", m->path, name, (long long)ne[0], (long long)ne[1],
                             (long long)ne[2], (long long)ne[3], (long long)want0, (long long)(want1 ? want1 : 1));
    }
    const pl_type_traits *trt = pl_dtype_traits(type);
    if (!trt || !trt->to_float || ne[0] % trt->blck_size) {
        *failed = true;
        return pl_error_null(PL_ERR_UNSUPPORTED, "%s: tensor '%s' has a type (%d) plinth cannot compute with",
                             m->path, name, (int)type);
    }
    int n_dims = ne1 ? 2 : 1;
    /* a small vector (F32): convert once; every weight in dequantize mode (f32 activations, no Q8 rounding) */
    if (((flags & LLM_W_F32) || m->dequantize) && type != PL_F32) {
        int64_t n = ne[0] * ne[1];
        float *f = llm_own(m, (size_t)n * sizeof(float));
        if (!f) { *failed = true; return NULL; }
        trt->to_float(data, f, n);
        data = f;
        type = PL_F32;
    }
    pl_tensor *t = pl_new_mapped(m->wctx, type, n_dims, ne, (void *)data);
    if (!t) { *failed = true; return NULL; }
    pl_set_name(t, "%s", gname);
    return tr ? pl_transpose(m->wctx, t) : t;
}

/* ---- hyper-parameters ------------------------------------------------------------------------------------ */
static int hp_from_gguf(pl_llm *m, const char *arch) {
    pl_llm_hparams *h = &m->hp;
    char k[128];
#define GK(suffix) (snprintf(k, sizeof k, "%s." suffix, arch), k)
    h->n_ctx_train = (int)pl_gguf_get_int(m->gguf, GK("context_length"), 2048);
    h->n_embd = (int)pl_gguf_get_int(m->gguf, GK("embedding_length"), 0);
    h->n_layer = (int)pl_gguf_get_int(m->gguf, GK("block_count"), 0);
    h->n_ff = (int)pl_gguf_get_int(m->gguf, GK("feed_forward_length"), 0);
    h->n_head = (int)pl_gguf_get_int(m->gguf, GK("attention.head_count"), 0);
    h->n_head_kv = (int)pl_gguf_get_int(m->gguf, GK("attention.head_count_kv"), h->n_head);
    h->head_dim = h->n_head > 0 ? (int)pl_gguf_get_int(m->gguf, GK("attention.key_length"), h->n_embd / h->n_head) : 0;
    h->n_rot = (int)pl_gguf_get_int(m->gguf, GK("rope.dimension_count"), h->head_dim);
    h->rope_theta = (float)pl_gguf_get_float(m->gguf, GK("rope.freq_base"), 10000.0);
    h->norm_eps = (float)pl_gguf_get_float(m->gguf, h->arch == PL_LLM_GPT2 ? GK("attention.layer_norm_epsilon")
                                                                        : GK("attention.layer_norm_rms_epsilon"), 1e-5);
    const char *st = pl_gguf_get_str(m->gguf, GK("rope.scaling.type"), NULL);
    double factor = pl_gguf_get_float(m->gguf, GK("rope.scaling.factor"), 0.0);
    h->rope_freq_scale = st && !strcmp(st, "linear") && factor > 0 ? (float)(1.0 / factor) : 1.0f;
    h->n_vocab = (int)pl_gguf_get_int(m->gguf, GK("vocab_size"), 0);
    if (h->n_vocab <= 0) { /* older files: the tokenizer's list, else the embedding's rows */
        int64_t i = pl_gguf_find_key(m->gguf, "tokenizer.ggml.tokens");
        if (i >= 0) h->n_vocab = (int)pl_gguf_arr_n(m->gguf, i);
        const pl_gguf_tensor *t = pl_gguf_find_tensor(m->gguf, "token_embd.weight");
        if (h->n_vocab <= 0 && t) h->n_vocab = (int)t->ne[1];
    }
#undef GK
    h->rope_mode = h->arch == PL_LLM_QWEN2 ? PL_ROPE_NEOX : PL_ROPE_NORMAL;
    h->tied_output = !pl_gguf_find_tensor(m->gguf, "output.weight");
    return PL_OK;
}

/* llama3 rope scaling from config.json: the divisor of each frequency, as llama.cpp's rope_freqs holds */
static int hp_llama3_freqs(pl_llm *m, const pl_hfconfig *c, const char *pre) {
    char k[128];
#define CK(s) (snprintf(k, sizeof k, "%s.%s", pre, s), k)
    double factor = pl_hfconfig_get_float(c, CK("factor"), 8.0), lo = pl_hfconfig_get_float(c, CK("low_freq_factor"), 1.0);
    double hi = pl_hfconfig_get_float(c, CK("high_freq_factor"), 4.0);
    double orig = pl_hfconfig_get_float(c, CK("original_max_position_embeddings"), 8192.0);
#undef CK
    int n = m->hp.n_rot / 2;
    float *f = llm_own(m, (size_t)n * sizeof(float));
    if (!f) return PL_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        double freq = pow(m->hp.rope_theta, -2.0 * i / m->hp.n_rot), wavelen = 2 * M_PI / freq;
        if (wavelen < orig / hi) f[i] = 1.0f;
        else if (wavelen > orig / lo) f[i] = (float)factor;
        else {
            double s = (orig / wavelen - lo) / (hi - lo);
            f[i] = (float)(1.0 / ((1 - s) / factor + s));
        }
    }
    int64_t ne = n;
    m->rope_freqs = pl_new_mapped(m->wctx, PL_F32, 1, &ne, f);
    return m->rope_freqs ? PL_OK : PL_ERR_NOMEM;
}

static int hp_from_hf(pl_llm *m, const pl_hfconfig *c) {
    pl_llm_hparams *h = &m->hp;
    if (h->arch == PL_LLM_GPT2) {
        h->n_embd = (int)pl_hfconfig_get_int(c, "n_embd", 768);
        h->n_layer = (int)pl_hfconfig_get_int(c, "n_layer", 12);
        h->n_head = h->n_head_kv = (int)pl_hfconfig_get_int(c, "n_head", 12);
        h->n_ctx_train = (int)pl_hfconfig_get_int(c, "n_positions", 1024);
        h->n_ff = (int)pl_hfconfig_get_int(c, "n_inner", 4 * (int64_t)h->n_embd);
        h->norm_eps = (float)pl_hfconfig_get_float(c, "layer_norm_epsilon", 1e-5);
        h->n_vocab = (int)pl_hfconfig_get_int(c, "vocab_size", 50257);
        h->head_dim = h->n_head > 0 ? h->n_embd / h->n_head : 0;
        h->tied_output = true;
        return PL_OK;
    }
    h->n_embd = (int)pl_hfconfig_get_int(c, "hidden_size", 0);
    h->n_layer = (int)pl_hfconfig_get_int(c, "num_hidden_layers", 0);
    h->n_head = (int)pl_hfconfig_get_int(c, "num_attention_heads", 0);
    h->n_head_kv = (int)pl_hfconfig_get_int(c, "num_key_value_heads", h->n_head);
    h->n_ff = (int)pl_hfconfig_get_int(c, "intermediate_size", 0);
    h->n_vocab = (int)pl_hfconfig_get_int(c, "vocab_size", 0);
    h->n_ctx_train = (int)pl_hfconfig_get_int(c, "max_position_embeddings", 2048);
    h->norm_eps = (float)pl_hfconfig_get_float(c, "rms_norm_eps", 1e-6);
    h->head_dim = h->n_head > 0 ? (int)pl_hfconfig_get_int(c, "head_dim", h->n_embd / h->n_head) : 0;
    h->n_rot = h->head_dim;
    h->rope_theta = (float)pl_hfconfig_get_float(c, "rope_theta", pl_hfconfig_get_float(c, "rope_parameters.rope_theta", 10000.0));
    h->rope_freq_scale = 1.0f;
    h->rope_mode = PL_ROPE_NEOX; /* HF weights are not permuted: rotate-half */
    h->tied_output = pl_hfconfig_get_bool(c, "tie_word_embeddings", false);
    const char *pre = pl_hfconfig_has(c, "rope_scaling") ? "rope_scaling" : "rope_parameters";
    char k[64];
    snprintf(k, sizeof k, "%s.rope_type", pre);
    const char *type = pl_hfconfig_get_str(c, k);
    if (!type) { snprintf(k, sizeof k, "%s.type", pre); type = pl_hfconfig_get_str(c, k); }
    if (type && !strcmp(type, "linear")) {
        snprintf(k, sizeof k, "%s.factor", pre);
        double f = pl_hfconfig_get_float(c, k, 1.0);
        if (f > 0) h->rope_freq_scale = (float)(1.0 / f);
    } else if (type && !strcmp(type, "llama3")) {
        return hp_llama3_freqs(m, c, pre);
    } else if (type && strcmp(type, "default")) {
        return pl_error(PL_ERR_UNSUPPORTED, "%s: rope scaling '%s' is not supported (linear, llama3)", m->path, type);
    }
    return PL_OK;
}

static int hp_check(const pl_llm *m) {
    const pl_llm_hparams *h = &m->hp;
    const struct { const char *name; int v, lo, hi; } r[] = {
        {"vocabulary size", h->n_vocab, 1, 1 << 22}, {"width", h->n_embd, 1, 1 << 16}, {"layer count", h->n_layer, 1, 1024},
        {"head count", h->n_head, 1, 1024}, {"kv head count", h->n_head_kv, 1, 1024}, {"head size", h->head_dim, 2, 4096},
        {"feed-forward width", h->n_ff, 1, 1 << 20}, {"context length", h->n_ctx_train, 1, 1 << 24},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(r); i++)
        if (r[i].v < r[i].lo || r[i].v > r[i].hi)
            return pl_error(PL_ERR_FORMAT, "%s: %s %d is out of range", m->path, r[i].name, r[i].v);
    if (h->n_head % h->n_head_kv)
        return pl_error(PL_ERR_FORMAT, "%s: %d kv heads do not divide %d heads", m->path, h->n_head_kv, h->n_head);
    if (h->arch != PL_LLM_GPT2 && (h->n_rot < 2 || h->n_rot > h->head_dim || h->n_rot % 2))
        return pl_error(PL_ERR_FORMAT, "%s: rope dimension %d is invalid for head size %d", m->path, h->n_rot, h->head_dim);
    return PL_OK;
}

/* ---- loading ------------------------------------------------------------------------------------------------ */
bool pl_llm_path_ok(const char *path) {
    struct stat sb;
    if (stat(path, &sb)) return false;
    if (S_ISDIR(sb.st_mode)) {
        char p[1100];
        snprintf(p, sizeof p, "%s/config.json", path);
        return stat(p, &sb) == 0;
    }
    size_t n = strlen(path);
    return n > 5 && !strcmp(path + n - 5, ".gguf");
}

static int llm_alloc_cache(pl_llm *m) {
    const pl_llm_hparams *h = &m->hp;
    pl_dtype type = m->kv_f16 ? PL_F16 : PL_F32;
    size_t per = (size_t)h->head_dim * m->n_ctx * h->n_head_kv * pl_dtype_traits(type)->type_size; /* bytes */
    m->kv = calloc(2 * (size_t)h->n_layer, per); /* calloc: pages are touched only when used (0 is 0.0 in f16 too) */
    if (!m->kv) return pl_error(PL_ERR_NOMEM, "out of memory for a KV cache of %d tokens", m->n_ctx);
    int64_t ne[3] = {h->head_dim, m->n_ctx, h->n_head_kv};
    for (int l = 0; l < h->n_layer; l++) {
        m->layers[l].k_cache = pl_new_mapped(m->wctx, type, 3, ne, (char *)m->kv + (2 * (size_t)l) * per);
        m->layers[l].v_cache = pl_new_mapped(m->wctx, type, 3, ne, (char *)m->kv + (2 * (size_t)l + 1) * per);
        if (!m->layers[l].k_cache || !m->layers[l].v_cache) return PL_ERR_NOMEM;
    }
    return PL_OK;
}

static const pl_llm_arch_info *llm_open(pl_llm *m, const char *path, pl_hfconfig **cfg) {
    struct stat sb;
    if (stat(path, &sb)) return pl_error_null(PL_ERR_IO, "cannot open model '%s': %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        *cfg = pl_hfconfig_load(path);
        if (!*cfg) return NULL;
        const char *type = pl_hfconfig_get_str(*cfg, "model_type");
        if (!type) return pl_error_null(PL_ERR_FORMAT, "%s: config.json has no model_type", path);
        const pl_llm_arch_info *a = pl_llm_arch_find(NULL, type);
        if (!a) return pl_error_null(PL_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: %s)", path, type, pl_llm_supported());
        m->st = pl_st_model_open(path);
        return m->st ? a : NULL;
    }
    m->gguf = pl_gguf_open(path);
    if (!m->gguf) return NULL;
    m->from_gguf = true;
    const char *arch = pl_gguf_get_str(m->gguf, "general.architecture", NULL);
    if (!arch) return pl_error_null(PL_ERR_FORMAT, "%s: no general.architecture key", path);
    const pl_llm_arch_info *a = pl_llm_arch_find(arch, NULL);
    if (!a) return pl_error_null(PL_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: %s)", path, arch, pl_llm_supported());
    return a;
}

pl_llm *pl_llm_load_ex(const char *path, const pl_llm_params *params) {
    pl_llm *m = pl_calloc(1, sizeof *m);
    if (!m) return NULL;
    snprintf(m->path, sizeof m->path, "%s", path);
    m->dequantize = params->dequantize;
    m->kv_f16 = params->kv_f16;
    pl_hfconfig *cfg = NULL;
    const pl_llm_arch_info *a = llm_open(m, path, &cfg);
    m->wctx = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 1 << 20, .n_threads = 1});
    m->step = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 64u << 20, .n_threads = params->n_threads});
    int rc = a && m->wctx && m->step ? PL_OK : PL_ERR_FORMAT;
    if (!rc) {
        m->hp.arch = a->arch;
        rc = m->gguf ? hp_from_gguf(m, a->name) : hp_from_hf(m, cfg);
    }
    if (!rc) rc = hp_check(m);
    if (!rc) {
        int cap = params->n_ctx > 0 ? params->n_ctx : (m->hp.n_ctx_train < LLM_CTX_CAP ? m->hp.n_ctx_train : LLM_CTX_CAP);
        if (m->hp.arch == PL_LLM_GPT2 && cap > m->hp.n_ctx_train) cap = m->hp.n_ctx_train; /* learned positions */
        m->n_ctx = cap;
        m->layers = pl_calloc((size_t)m->hp.n_layer, sizeof *m->layers);
        rc = m->layers ? a->load(m) : PL_ERR_NOMEM;
    }
    if (!rc) rc = llm_alloc_cache(m);
    pl_hfconfig_free(cfg);
    if (rc) { pl_llm_free(m); return NULL; }
    return m;
}

pl_llm *pl_llm_load(const char *path, int n_threads) {
    return pl_llm_load_ex(path, &(pl_llm_params){.n_threads = n_threads});
}

void pl_llm_free(pl_llm *m) {
    if (!m) return;
    pl_ctx_free(m->step);
    pl_ctx_free(m->wctx);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    free(m->kv);
    if (m->gguf) pl_gguf_close(m->gguf);
    if (m->st) pl_st_model_close(m->st);
    free(m);
}

int pl_llm_n_vocab(const pl_llm *m) { return m->hp.n_vocab; }
int pl_llm_n_ctx(const pl_llm *m) { return m->n_ctx; }
void pl_llm_set_observer(pl_llm *m, pl_observe_fn fn, void *ud) {
    m->step->observe = fn;
    m->step->observe_ud = ud;
}

/* ---- shared graph pieces -------------------------------------------------------------------------------------- */
void llm_kv_store(pl_ctx *ctx, pl_llm *m, int l, pl_tensor *k_cur, pl_tensor *v_cur, int n_past,
                  pl_tensor **cpys, int *n_cpys, pl_tensor **k_all, pl_tensor **v_all) {
    int64_t D = m->hp.head_dim, H = m->hp.n_head_kv, T = k_cur->ne[2], N = m->n_ctx;
    pl_tensor *caches[2] = {m->layers[l].k_cache, m->layers[l].v_cache}, *cur[2] = {k_cur, v_cur}, **all[2] = {k_all, v_all};
    for (int i = 0; i < 2; i++) {
        /* cache[h][n_past + t][:] <- cur[t][h][:] */
        size_t es = caches[i]->nb[0]; /* 4 (f32) or 2 (f16: pl_cpy rounds on the way in) */
        int64_t ne[3] = {D, H, T};
        size_t nb[3] = {es, (size_t)(D * N) * es, (size_t)D * es};
        pl_tensor *dst = pl_view(ctx, caches[i], 3, ne, nb, (size_t)(n_past * D) * es);
        cpys[(*n_cpys)++] = pl_cpy(ctx, cur[i], dst);
        /* positions 0 .. n_past+T of every head: {D, n_past+T, H} */
        int64_t ne2[3] = {D, n_past + T, H};
        size_t nb2[3] = {es, (size_t)D * es, (size_t)(D * N) * es};
        *all[i] = pl_view(ctx, caches[i], 3, ne2, nb2, 0);
        /* pl_attention reads f32: widen an f16 cache into a step-local copy (the cache itself stays half) */
        if (caches[i]->type != PL_F32) *all[i] = pl_cont(ctx, *all[i]);
    }
}

pl_tensor *llm_keep_rows(pl_ctx *ctx, pl_tensor *x, bool all) {
    if (all || !x || x->ne[1] == 1) return x;
    return pl_cont(ctx, pl_slice(ctx, x, 1, x->ne[1] - 1, 1));
}

/* ---- eval ------------------------------------------------------------------------------------------------------ */
int pl_llm_eval(pl_llm *m, const int32_t *tokens, int n, int n_past, float *logits, bool all) {
    if (n <= 0) return pl_error(PL_ERR_ARG, "no tokens to evaluate");
    if (n_past < 0 || n > m->n_ctx - n_past)
        return pl_error(PL_ERR_ARG, "%d tokens after %d do not fit the context of %d tokens", n, n_past, m->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab)
            return pl_error(PL_ERR_ARG, "token id %d is outside the vocabulary (%d)", tokens[i], m->hp.n_vocab);
    const pl_llm_arch_info *a = pl_llm_arch_find(pl_llm_arch_name(m->hp.arch), NULL);
    pl_ctx *ctx = m->step;
    pl_ctx_reset(ctx);
    pl_tensor *ids = pl_new_1d(ctx, PL_I32, n), *pos = pl_new_1d(ctx, PL_I32, n);
    pl_tensor **outs = pl_ctx_alloc(ctx, (2 * (size_t)m->hp.n_layer + 1) * sizeof *outs);
    if (!ids || !pos || !outs) return PL_ERR_NOMEM;
    memcpy(ids->data, tokens, (size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++) ((int32_t *)pos->data)[i] = n_past + i;
    int n_out = 0;
    pl_tensor *out = a->build(ctx, m, ids, pos, n_past, all, outs, &n_out);
    if (!out) return pl_last_error()[0] ? PL_ERR_ARG : PL_ERR_NOMEM;
    outs[n_out++] = out;
    /* the cache writes of layer l come before anything that reads layer l's cache (see pl_graph_build_multi) */
    pl_graph *g = pl_graph_build_multi(ctx, outs, n_out, false);
    if (!g) return PL_ERR_NOMEM;
    pl_graph_forward(ctx, g);
    memcpy(logits, out->data, (size_t)pl_nelements(out) * sizeof(float));
    return PL_OK;
}
