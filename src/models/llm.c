/* Loading a decoder LM (GGUF or HF safetensors + config.json) into a pl_llm: hyper-parameters, mapped
 * weights (checked against the hyper-parameters) or trainable f32 parameters, the KV cache of sequences, the
 * decode driver that builds one step's graph in a per-step context and runs it, and the training graph.
 * Architecture specifics live in llama.c / gpt2_lm.c / gemma3.c; the cache's book in kv_cache.c. */
#include "models/llm.h"
#include "models/lora.h"
#include "models/prompt_tuning.h"
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

/* A trainable copy of a weight: f32 in the flat buffer, in the graph's (out, in) layout, with its gradient */
static pl_tensor *llm_param(pl_llm *m, const void *data, pl_dtype type, int64_t ne0, int64_t ne1, int flags,
                            const char *gname, const char *hf) {
    int64_t n = ne0 * (ne1 ? ne1 : 1);
    if (m->n_floats + n > m->cap_floats) return pl_error_null(PL_ERR_FORMAT, "%s: more parameters than counted", m->path);
    float *w = m->w + m->n_floats;
    bool tr = (flags & LLM_W_HF_TRANSPOSED) && !m->gguf;
    float *tmp = tr && data ? pl_malloc((size_t)n * sizeof(float)) : w;
    if (!tmp) return NULL;
    if (!data) memset(w, 0, (size_t)n * sizeof(float)); /* a new model's: pl_llm_init_weights fills it */
    else pl_dtype_traits(type)->to_float(data, tmp, n);
    if (tr && data) { /* the file holds (in, out) (GPT-2's Conv1D): w[o][i] = file[i][o] */
        for (int64_t o = 0; o < ne1; o++)
            for (int64_t i = 0; i < ne0; i++) w[o * ne0 + i] = tmp[i * ne1 + o];
        free(tmp);
    }
    if ((flags & LLM_W_GGUF_MINUS_ONE) && m->gguf)
        for (int64_t i = 0; i < n; i++) w[i] -= 1.0f;
    int64_t ne[2] = {ne0, ne1};
    pl_tensor *t = pl_new_mapped(m->wctx, PL_F32, ne1 ? 2 : 1, ne, w);
    pl_tensor *g = pl_new_mapped(m->wctx, PL_F32, ne1 ? 2 : 1, ne, m->g + m->n_floats);
    if (!t || !g) return NULL;
    if (m->n_params == m->cap_params) {
        int cap = m->cap_params ? 2 * m->cap_params : 64;
        pl_llm_param *p = pl_realloc(m->params, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        m->params = p; m->cap_params = cap;
    }
    pl_set_name(t, "%s", gname);
    t->grad = g;
    pl_param(m->wctx, t);
    pl_llm_param *p = &m->params[m->n_params++];
    p->t = t;
    p->flags = flags;
    snprintf(p->hf_name, sizeof p->hf_name, "%s", hf ? hf : gname);
    m->n_floats += n;
    return t;
}

pl_tensor *llm_weight(pl_llm *m, pl_weight_role role, int layer, int64_t ne0, int64_t ne1, int flags, bool *failed) {
    if (*failed) return NULL;
    const char *gguf_fmt = pl_weight_name_gguf(role), *hf_fmt = pl_weight_name_hf(m->arch_info->names, role);
    const char *fmt = m->gguf ? gguf_fmt : hf_fmt;
    if (!fmt) return NULL;
    char name[256], gname[256], hname[256];
    snprintf(name, sizeof name, fmt, layer);
    snprintf(gname, sizeof gname, gguf_fmt ? gguf_fmt : fmt, layer); /* GGUF names in every format (imatrix) */
    snprintf(hname, sizeof hname, hf_fmt ? hf_fmt : gname, layer);
    pl_dtype type;
    int64_t ne[4];
    int nd;
    const void *data;
    if (!m->gguf && !m->st) { /* a new model (pl_llm_new): zeros of the wanted shape, optional weights left out */
        if (flags & (LLM_W_OPTIONAL | LLM_W_CONST)) return NULL;
        if (!m->train) { m->n_floats += ne0 * (ne1 ? ne1 : 1); return NULL; }
        pl_tensor *t = llm_param(m, NULL, PL_F32, ne0, ne1, flags, gname, hname);
        if (!t) *failed = true;
        return t;
    }
    bool found = llm_find(m, name, &type, ne, &nd, &data);
    if (!found && !m->gguf && !strncmp(name, "transformer.", 12)) /* GPT2Model's names: no "transformer." */
        found = llm_find(m, name + 12, &type, ne, &nd, &data);
    if (!found) {
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
    if (!(flags & LLM_W_CONST) && m->train) {
        pl_tensor *t = llm_param(m, data, type, ne0, ne1, flags, gname, hname);
        if (!t) *failed = true;
        return t;
    }
    if (!(flags & LLM_W_CONST)) m->n_floats += ne[0] * ne[1]; /* what a trainable copy needs */
    /* a small vector (F32): convert once; every weight in dequantize mode (f32 activations, no Q8 rounding);
     * Gemma's GGUF norm weights 1 + w become w */
    bool minus_one = (flags & LLM_W_GGUF_MINUS_ONE) && m->gguf;
    if ((((flags & LLM_W_F32) || m->dequantize) && type != PL_F32) || minus_one) {
        int64_t n = ne[0] * ne[1];
        float *f = pl_owned_alloc(&m->owned, (size_t)n * sizeof(float));
        if (!f) { *failed = true; return NULL; }
        trt->to_float(data, f, n);
        for (int64_t i = 0; minus_one && i < n; i++) f[i] -= 1.0f;
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
    float *f = pl_owned_alloc(&m->owned, (size_t)n * sizeof(float));
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
    if (m->arch_info->hparams_hf) return m->arch_info->hparams_hf(m, c); /* keys of its own (gpt2) */
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

/* the weights: mapped (inference), or, for training, counted in a first pass and then copied into the flat
 * buffers as f32 parameters */
static int llm_load_weights(pl_llm *m, const pl_llm_arch_info *a, bool train) {
    int rc = a->load(m);
    if (rc || !train) return rc;
    m->cap_floats = m->n_floats;
    size_t bytes = (size_t)m->cap_floats * sizeof(float);
    m->w = malloc(bytes); m->g = calloc(1, bytes); m->adam_m = calloc(1, bytes); m->adam_v = calloc(1, bytes);
    if (!m->w || !m->g || !m->adam_m || !m->adam_v)
        return pl_error(PL_ERR_NOMEM, "out of memory for %lld trainable parameters", (long long)m->cap_floats);
    m->n_floats = 0;
    m->train = true;
    return a->load(m);
}

/* unless pl_llm_params.no_pack: each matrix with a packed kernel gets its packed rows (in the weights' context);
 * the file pages they came from go back to the page cache (products read only the packed rows; a tied embedding's
 * lookups map the few rows they read again) */
static int pack_one(pl_llm *m, pl_tensor *t) {
    if (!t || t->packed) return PL_OK;
    int rc = pl_matmul_pack(m->wctx, t);
    if (!rc && t->packed && m->gguf) pl_gguf_release(m->gguf, t->data, pl_nbytes(t));
    return rc;
}
static int llm_pack(pl_llm *m) {
    int rc = pack_one(m, m->output);
    for (int l = 0; !rc && l < m->hp.n_layer; l++) {
        pl_llm_layer *L = &m->layers[l];
        pl_tensor *w[] = {L->wq, L->wk, L->wv, L->wqkv, L->wo, L->ffn_gate, L->ffn_up, L->ffn_down};
        for (size_t i = 0; !rc && i < sizeof w / sizeof *w; i++) rc = pack_one(m, w[i]);
    }
    return rc;
}

pl_llm *pl_llm_load_ex(const char *path, const pl_llm_params *params) {
    pl_llm *m = pl_calloc(1, sizeof *m);
    if (!m) return NULL;
    snprintf(m->path, sizeof m->path, "%s", path);
    m->dequantize = params->dequantize || params->train;
    m->kv_f16 = params->kv_f16;
    pl_hfconfig *cfg = NULL;
    const pl_llm_arch_info *a = llm_open(m, path, &cfg);
    m->hfconfig = cfg;
    m->arch_info = a;
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
        if (m->hp.arch == PL_LLM_GPT2 && cap > m->hp.n_ctx_train && params->n_ctx <= 0) cap = m->hp.n_ctx_train;
        m->n_ctx = cap;
        m->layers = pl_calloc((size_t)m->hp.n_layer, sizeof *m->layers);
        rc = m->layers ? llm_load_weights(m, a, params->train) : PL_ERR_NOMEM;
    }
    if (!rc && !params->no_pack && !m->train) rc = llm_pack(m);
    if (!rc) {
        const pl_llm_hparams *h = &m->hp;
        m->cache = pl_kv_cache_new(m->wctx, h->n_layer, h->head_dim, h->n_head_kv, m->n_ctx, m->kv_f16 ? PL_F16 : PL_F32);
        m->seq0 = m->cache ? pl_kv_seq_new(m->cache) : -1;
        rc = m->cache ? PL_OK : PL_ERR_NOMEM;
    }
    m->hfconfig = NULL;
    pl_hfconfig_free(cfg);
    if (rc) { pl_llm_free(m); return NULL; }
    return m;
}

pl_llm *pl_llm_new(const pl_llm_hparams *hp, const pl_llm_params *params) {
    if (hp->arch != PL_LLM_GPT2 && hp->arch != PL_LLM_LLAMA && hp->arch != PL_LLM_QWEN2)
        return pl_error_null(PL_ERR_UNSUPPORTED, "a new model can be gpt2, llama or qwen2, not %s", pl_llm_arch_name(hp->arch));
    pl_llm *m = pl_calloc(1, sizeof *m);
    if (!m) return NULL;
    snprintf(m->path, sizeof m->path, "(new %s model)", pl_llm_arch_name(hp->arch));
    m->hp = *hp;
    m->arch_info = pl_llm_arch_find(pl_llm_arch_name(hp->arch), NULL);
    m->wctx = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 1 << 20, .n_threads = 1});
    m->step = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 64u << 20, .n_threads = params->n_threads});
    int rc = m->wctx && m->step ? hp_check(m) : PL_ERR_NOMEM;
    if (!rc) {
        m->n_ctx = params->n_ctx > 0 ? params->n_ctx : PL_MIN(hp->n_ctx_train, LLM_CTX_CAP);
        m->layers = pl_calloc((size_t)hp->n_layer, sizeof *m->layers);
        rc = m->layers ? llm_load_weights(m, m->arch_info, true) : PL_ERR_NOMEM;
    }
    if (!rc) {
        m->cache = pl_kv_cache_new(m->wctx, hp->n_layer, hp->head_dim, hp->n_head_kv, m->n_ctx, PL_F32);
        m->seq0 = m->cache ? pl_kv_seq_new(m->cache) : -1;
        rc = m->cache ? PL_OK : PL_ERR_NOMEM;
    }
    if (rc) { pl_llm_free(m); return NULL; }
    return m;
}

static float gauss(uint64_t *s) { /* Box-Muller */
    double u1 = ((pl_splitmix64(s) >> 11) + 1.0) / 9007199254740993.0, u2 = (pl_splitmix64(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void pl_llm_init_weights(pl_llm *m, uint64_t seed) {
    uint64_t s = seed;
    float resid = 0.02f / sqrtf(2.0f * m->hp.n_layer);
    for (int i = 0; i < m->n_params; i++) {
        const char *n = m->params[i].hf_name;
        pl_tensor *t = m->params[i].t;
        int64_t ne = pl_nelements(t);
        float *w = pl_f32(t);
        bool norm = strstr(n, "norm") || strstr(n, "ln_"), bias = strstr(n, ".bias") != NULL;
        if (bias || (norm && m->hp.arch == PL_LLM_GEMMA3)) memset(w, 0, (size_t)ne * sizeof(float));
        else if (norm) for (int64_t j = 0; j < ne; j++) w[j] = 1.0f;
        else {
            bool out_proj = strstr(n, "c_proj.weight") || strstr(n, "o_proj.weight") || strstr(n, "down_proj.weight");
            float std = out_proj ? resid : 0.02f;
            for (int64_t j = 0; j < ne; j++) w[j] = std * gauss(&s);
        }
    }
}

pl_llm *pl_llm_load(const char *path, int n_threads) {
    return pl_llm_load_ex(path, &(pl_llm_params){.n_threads = n_threads});
}

void pl_llm_free(pl_llm *m) {
    if (!m) return;
    pl_ctx_free(m->step);
    pl_ctx_free(m->wctx);
    pl_owned_free(&m->owned);
    free(m->layers);
    pl_kv_cache_free(m->cache);
    free(m->params);
    free(m->w); free(m->g); free(m->adam_m); free(m->adam_v);
    if (m->gguf) pl_gguf_close(m->gguf);
    if (m->st) pl_st_model_close(m->st);
    free(m);
}

int pl_llm_n_vocab(const pl_llm *m) { return m->hp.n_vocab; }
void pl_llm_touch_cache(pl_llm *m) { pl_kv_cache_touch(m->cache); }

/* one sequence's context: the cache, or GPT-2's learned positions */
int pl_llm_n_ctx(const pl_llm *m) {
    return m->hp.arch == PL_LLM_GPT2 && m->n_ctx > m->hp.n_ctx_train ? m->hp.n_ctx_train : m->n_ctx;
}
void pl_llm_set_observer(pl_llm *m, pl_observe_fn fn, void *ud) {
    m->step->observe = fn;
    m->step->observe_ud = ud;
}

const pl_llm_param *pl_llm_param_find(const pl_llm *m, const char *hf_name) {
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i].hf_name, hf_name)) return &m->params[i];
    return NULL;
}

/* ---- shared graph pieces -------------------------------------------------------------------------------------- */
pl_tensor *llm_attend(pl_ctx *ctx, pl_llm *m, int l, const llm_inputs *in, pl_tensor *q, pl_tensor *k, pl_tensor *v,
                      float scale, int window) {
    if (!q || !k || !v) return NULL;
    int64_t D = q->ne[0], H = q->ne[1], T = q->ne[2], B = q->ne[3];
    pl_tensor *y;
    if (in->map) { /* store this step's K, V in their cells, then attend over each token's sequence */
        pl_tensor *ks = pl_kv_store(ctx, m->cache->k[l], k, in->map), *vs = pl_kv_store(ctx, m->cache->v[l], v, in->map);
        y = pl_attention_cells(ctx, q, ks, vs, in->map, scale, window);
    } else { /* among the batch's tokens: (D, H, T, B) -> (D, T, H, B) views, causal */
        y = pl_attention_window(ctx, pl_permute(ctx, q, 0, 2, 1, 3), pl_permute(ctx, k, 0, 2, 1, 3),
                                pl_permute(ctx, v, 0, 2, 1, 3), scale, window);
    }
    return y ? pl_reshape_3d(ctx, y, D * H, T, B) : NULL;
}

pl_tensor *llm_keep_rows(pl_ctx *ctx, pl_tensor *x, const llm_inputs *in) {
    if (!in->rows || !x || pl_nelements(in->rows) == x->ne[1]) return x;
    return pl_get_rows(ctx, x, in->rows);
}

/* ---- sequences ---------------------------------------------------------------------------------------------------- */
int pl_llm_seq_new(pl_llm *m) { return pl_kv_seq_new(m->cache); }
int pl_llm_seq_remove(pl_llm *m, int seq) { return pl_kv_seq_remove(m->cache, seq); }
int pl_llm_seq_truncate(pl_llm *m, int seq, int n_keep) { return pl_kv_seq_truncate(m->cache, seq, n_keep); }
int pl_llm_seq_fork(pl_llm *m, int seq) { return pl_kv_seq_fork(m->cache, seq); }
int pl_llm_seq_len(const pl_llm *m, int seq) { return pl_kv_seq_len(m->cache, seq); }

/* ---- decode ------------------------------------------------------------------------------------------------------ */
/* the rows whose logits are wanted, as an i32 tensor (NULL: all); *n_out their count */
/* the rows whose logits are wanted, among `skip` virtual tokens and then the batch's tokens (NULL: all rows) */
static pl_tensor *wanted_rows(pl_ctx *ctx, const pl_llm_batch *b, int skip, int *n_out) {
    *n_out = b->n;
    if (!b->logits && !skip) return NULL;
    int n = 0;
    for (int i = 0; i < b->n; i++) n += b->logits ? b->logits[i] : 1;
    *n_out = n;
    pl_tensor *r = pl_new_1d(ctx, PL_I32, n ? n : 1);
    if (!r) return NULL;
    int32_t *p = r->data;
    p[0] = skip + b->n - 1; /* none wanted: the graph still runs (to fill the cache) on a last row nobody reads */
    for (int i = 0, j = 0; i < b->n; i++)
        if (!b->logits || b->logits[i]) p[j++] = skip + i;
    return r;
}

/* With a prompt adapter, a sequence's first batch carries its virtual tokens before its tokens: how many (0 when
 * no new sequence starts here); a new sequence must then be the batch's only one. */
static int virtual_tokens(const pl_llm *m, const pl_llm_batch *b) {
    if (!m->prompt || pl_kv_seq_len(m->cache, b->seq[0]) != 0) {
        for (int i = 0; m->prompt && i < b->n; i++)
            if (pl_kv_seq_len(m->cache, b->seq[i]) == 0)
                return pl_error(PL_ERR_ARG, "with a prompt adapter, a new sequence's first tokens go in a batch of their own");
        return 0;
    }
    for (int i = 1; i < b->n; i++)
        if (b->seq[i] != b->seq[0])
            return pl_error(PL_ERR_ARG, "with a prompt adapter, a new sequence's first tokens go in a batch of their own");
    return m->prompt->n_virtual;
}

int pl_llm_decode(pl_llm *m, const pl_llm_batch *b, float *out) {
    if (!b || b->n <= 0 || !b->tokens || !b->seq) return pl_error(PL_ERR_ARG, "no tokens to decode");
    for (int i = 0; i < b->n; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= m->hp.n_vocab)
            return pl_error(PL_ERR_ARG, "token id %d is outside the vocabulary (%d)", b->tokens[i], m->hp.n_vocab);
    int nv = virtual_tokens(m, b);
    if (nv < 0) return nv;
    pl_ctx *ctx = m->step;
    pl_ctx_reset(ctx);
    ctx->rows_apart = b->rows_apart;
    pl_tensor *ids = pl_new_1d(ctx, PL_I32, b->n), *pos = pl_new_1d(ctx, PL_I32, nv + b->n);
    int32_t *seq = nv ? pl_ctx_alloc(ctx, (size_t)(nv + b->n) * sizeof *seq) : (int32_t *)b->seq;
    if (!ids || !pos || !seq) return PL_ERR_NOMEM;
    for (int i = 0; nv && i < nv + b->n; i++) seq[i] = b->seq[0];
    memcpy(ids->data, b->tokens, (size_t)b->n * sizeof(int32_t));
    pl_tensor *map = pl_kv_place(m->cache, ctx, seq, nv + b->n, pos->data, b->chunk);
    if (!map) return PL_ERR_ARG;
    int n_out;
    llm_inputs in = {.ids = ids, .pos = pos, .map = map, .rows = wanted_rows(ctx, b, nv, &n_out)};
    if (nv) { /* the adapter's rows, in order, before the tokens */
        pl_tensor *idx = pl_new_1d(ctx, PL_I32, nv);
        for (int i = 0; idx && i < nv; i++) ((int32_t *)idx->data)[i] = i;
        in.prefix = idx ? pl_get_rows(ctx, m->prompt->emb, idx) : NULL;
        if (!in.prefix) { pl_kv_unplace(m->cache, map); return PL_ERR_NOMEM; }
    }
    pl_tensor *logits = b->logits && !in.rows ? NULL : m->arch_info->build(ctx, m, &in);
    pl_graph *g = logits ? pl_graph_build(ctx, logits, false) : NULL;
    if (!g) {
        pl_kv_unplace(m->cache, map);
        return pl_last_error()[0] ? PL_ERR_ARG : PL_ERR_NOMEM;
    }
    pl_graph_forward(ctx, g);
    if (out && n_out) memcpy(out, logits->data, (size_t)n_out * m->hp.n_vocab * sizeof(float));
    return PL_OK;
}

int pl_llm_eval(pl_llm *m, const int32_t *tokens, int n, int n_past, float *logits, bool all) {
    if (n <= 0) return pl_error(PL_ERR_ARG, "no tokens to evaluate");
    /* with a prompt adapter its virtual tokens lead the sequence: n_past counts the tokens after them */
    int nv = m->prompt ? m->prompt->n_virtual : 0, held = pl_kv_seq_len(m->cache, m->seq0);
    if (held) held -= nv;
    if (n_past < 0 || n_past > held || n > pl_llm_n_ctx(m) - n_past - nv)
        return pl_error(PL_ERR_ARG, "%d tokens after %d do not fit the context of %d tokens", n, n_past, pl_llm_n_ctx(m) - nv);
    pl_kv_seq_truncate(m->cache, m->seq0, n_past ? n_past + nv : 0);
    int32_t *seq = pl_malloc((size_t)n * (sizeof *seq + sizeof(bool)));
    if (!seq) return PL_ERR_NOMEM;
    bool *want = (bool *)(seq + n);
    for (int i = 0; i < n; i++) { seq[i] = m->seq0; want[i] = all || i == n - 1; }
    int rc = PL_OK;
    for (int off = 0, k; rc == PL_OK && off < n; off += k) { /* PL_LLM_UBATCH tokens a pass */
        k = PL_MIN(PL_LLM_UBATCH, n - off);
        float *out = !logits ? NULL : all ? logits + (size_t)off * m->hp.n_vocab : off + k == n ? logits : NULL;
        rc = pl_llm_decode(m, &(pl_llm_batch){.n = k, .tokens = tokens + off, .seq = seq + off, .logits = want + off}, out);
    }
    free(seq);
    return rc;
}

/* ---- training ---------------------------------------------------------------------------------------------------- */
pl_tensor *llm_with_prefix(pl_ctx *ctx, pl_tensor *x, const llm_inputs *in) {
    return in->prefix ? pl_concat(ctx, in->prefix, x, 1) : x;
}

/* prompt tuning: the virtual tokens {C, N, B}, the adapter's rows gathered for every row of the batch (they carry
 * no loss: the cross-entropy takes the targets {T, B} as those of each sequence's last T rows) */
bool llm_prompt_inputs(pl_ctx *ctx, const pl_llm *m, llm_inputs *in) {
    const pl_prompt_adapter *p = m->prompt;
    int64_t N = p->n_virtual, B = in->ids->ne[1];
    pl_tensor *idx = pl_new_2d(ctx, PL_I32, N, B);
    if (!idx) return false;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < N; i++) ((int32_t *)idx->data)[b * N + i] = (int32_t)i;
    in->prefix = pl_get_rows(ctx, p->emb, idx);
    return in->prefix != NULL;
}

pl_tensor *pl_llm_forward_train(pl_ctx *ctx, pl_llm *m, pl_tensor *ids, pl_tensor *targets, pl_tensor **logits) {
    int64_t T = ids->ne[0] + (m->prompt ? m->prompt->n_virtual : 0);
    if (T > m->hp.n_ctx_train && m->hp.arch == PL_LLM_GPT2)
        return pl_error_null(PL_ERR_ARG, "sequences of %lld tokens exceed GPT-2's %d positions", (long long)T, m->hp.n_ctx_train);
    pl_tensor *pos = pl_new_1d(ctx, PL_I32, T);
    if (!pos) return NULL;
    for (int64_t t = 0; t < T; t++) ((int32_t *)pos->data)[t] = (int32_t)t;
    llm_inputs in = {.ids = ids, .pos = pos};
    if (m->prompt && !llm_prompt_inputs(ctx, m, &in)) return NULL;
    pl_tensor *out = m->arch_info->build(ctx, m, &in);
    if (logits) *logits = out;
    return out && targets ? pl_cross_entropy(ctx, out, targets, -1) : NULL;
}

pl_tensor *llm_role_weight(const pl_llm *m, int l, pl_weight_role role) {
    if (l < 0 || l >= m->hp.n_layer) return NULL;
    const pl_llm_layer *b = &m->layers[l];
    switch (role) {
    case PL_W_Q: return b->wq;
    case PL_W_K: return b->wk;
    case PL_W_V: return b->wv;
    case PL_W_O: return b->wo;
    case PL_W_GATE: return b->ffn_gate;
    case PL_W_UP: return b->ffn_up;
    case PL_W_DOWN: return b->ffn_down;
    default: return NULL;
    }
}

pl_tensor *llm_linear(pl_ctx *ctx, const pl_llm *m, int l, pl_weight_role role, pl_tensor *x, pl_tensor *w, pl_tensor *b) {
    pl_tensor *y = pl_matmul_bias(ctx, w, x, b); /* x @ w.T (+ b) */
    for (int i = 0; i < m->n_lora && y; i++) {   /* + B (s * A x): the scale on the rank-r rows, not the out rows */
        const pl_lora *lo = m->lora[i];
        pl_tensor *la = lo->a[l][role], *lb = lo->b[l][role];
        if (!la) continue;
        y = pl_add(ctx, y, pl_matmul(ctx, lb, pl_scale(ctx, pl_matmul(ctx, la, x), lo->scale * m->lora_scale[i])));
    }
    return y;
}

void llm_qk_rows(float *dst, const float *src, int64_t rows, int64_t cols, int64_t D, bool to_hf) {
    for (int64_t h = 0; h < rows / D; h++)
        for (int64_t i = 0; i < D / 2; i++)
            for (int64_t k = 0; k < 2; k++) {
                int64_t gguf = h * D + 2 * i + k, hf = h * D + k * (D / 2) + i;
                memcpy(dst + (to_hf ? hf : gguf) * cols, src + (to_hf ? gguf : hf) * cols, (size_t)cols * sizeof(float));
            }
}
