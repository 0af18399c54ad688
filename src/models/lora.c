/* LoRA adapters (lora.h): making one for a base, loading and saving PEFT's format and llama.cpp's LoRA GGUF,
 * attaching to a model. The update itself is added where the builders call llm_linear (llm.c). */
#include "models/lora.h"
#include "io/gguf.h"
#include "io/safetensors.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

/* (in, out) of role's weight in every layer of m, or false */
static bool role_dims(const pl_llm *m, pl_weight_role role, int64_t *in, int64_t *out) {
    const pl_tensor *w = llm_role_weight(m, 0, role);
    if (!w) return false;
    *in = w->ne[0]; *out = w->ne[1];
    return true;
}

static bool arch_ok(const pl_llm *m) {
    if (m->hp.arch == PL_LLM_GPT2) return pl_error(PL_ERR_UNSUPPORTED, "LoRA: GPT-2 models are not supported yet (their attention is one fused c_attn layer); llama, qwen2 and gemma3 are"), false;
    return true;
}

/* an empty adapter for m: tensors and flat buffers sized for cfg's roles and rank */
static pl_lora *lora_alloc(const pl_llm *m, const pl_peft_config *cfg) {
    if (!arch_ok(m)) return NULL;
    const int L = m->hp.n_layer;
    int64_t n = 0;
    for (int i = 0; i < PL_LORA_ROLES_N; i++) {
        pl_weight_role role = pl_lora_roles[i];
        if (!(cfg->roles & 1u << role)) continue;
        int64_t in, out;
        if (!role_dims(m, role, &in, &out)) return pl_error_null(PL_ERR_UNSUPPORTED, "LoRA: this model has no %s layer", pl_lora_modules[i]);
        if (cfg->r > in || cfg->r > out)
            return pl_error_null(PL_ERR_ARG, "LoRA: rank %d is larger than the %s layer (%lld x %lld)", cfg->r, pl_lora_modules[i],
                                 (long long)out, (long long)in);
        n += (int64_t)L * cfg->r * (in + out);
    }
    pl_lora *l = pl_calloc(1, sizeof *l);
    if (!l) return NULL;
    l->cfg = *cfg;
    l->scale = cfg->rslora ? cfg->alpha / sqrtf((float)cfg->r) : cfg->alpha / (float)cfg->r;
    l->n_layer = L;
    l->arch = m->hp.arch;
    l->n_embd = m->hp.n_embd; l->n_ff = m->hp.n_ff;
    l->q_dim = m->hp.n_head * m->hp.head_dim; l->kv_dim = m->hp.n_head_kv * m->hp.head_dim;
    l->n_floats = n;
    l->a = pl_calloc((size_t)L, sizeof *l->a);
    l->b = pl_calloc((size_t)L, sizeof *l->b);
    l->ctx = pl_ctx_new(&(pl_ctx_params){0});
    float *buf = pl_calloc((size_t)(4 * n), sizeof(float));
    if (!l->a || !l->b || !l->ctx || !buf) { free(buf); pl_lora_free(l); return NULL; }
    l->w = buf; l->g = buf + n; l->adam_m = buf + 2 * n; l->adam_v = buf + 3 * n;
    int64_t off = 0;
    for (int layer = 0; layer < L; layer++)
        for (int i = 0; i < PL_LORA_ROLES_N; i++) {
            pl_weight_role role = pl_lora_roles[i];
            if (!(cfg->roles & 1u << role)) continue;
            int64_t in = 0, out = 0, r = cfg->r;
            role_dims(m, role, &in, &out);
            const int64_t nea[2] = {in, r}, neb[2] = {r, out};
            pl_tensor *a = pl_new_mapped(l->ctx, PL_F32, 2, nea, l->w + off), *ga = pl_new_mapped(l->ctx, PL_F32, 2, nea, l->g + off);
            off += in * r;
            pl_tensor *b = pl_new_mapped(l->ctx, PL_F32, 2, neb, l->w + off), *gb = pl_new_mapped(l->ctx, PL_F32, 2, neb, l->g + off);
            off += r * out;
            if (!a || !b || !ga || !gb) { pl_lora_free(l); return NULL; }
            pl_set_name(a, "lora.%d.%s.A", layer, pl_lora_modules[i]);
            pl_set_name(b, "lora.%d.%s.B", layer, pl_lora_modules[i]);
            a->grad = ga; b->grad = gb;
            pl_param(l->ctx, a); pl_param(l->ctx, b);
            l->a[layer][role] = a; l->b[layer][role] = b;
        }
    return l;
}

pl_lora *pl_lora_new(const pl_llm *m, int rank, float alpha, bool rslora, unsigned roles, uint64_t seed) {
    if (rank < 1) return pl_error_null(PL_ERR_ARG, "LoRA: rank %d: must be at least 1", rank);
    if (!roles) return pl_error_null(PL_ERR_ARG, "LoRA: no target layers");
    pl_peft_config cfg = {.r = rank, .alpha = alpha, .rslora = rslora, .roles = roles};
    pl_lora *l = lora_alloc(m, &cfg);
    if (!l) return NULL;
    uint64_t s = seed;
    for (int layer = 0; layer < l->n_layer; layer++)
        for (int role = 0; role < PL_W_COUNT; role++) {
            pl_tensor *a = l->a[layer][role];
            if (!a) continue;
            const float bound = 1.0f / sqrtf((float)a->ne[0]); /* kaiming_uniform_(a=sqrt(5)) on (r, in) */
            for (int64_t i = 0; i < pl_nelements(a); i++)
                pl_f32(a)[i] = bound * (2.0f * (float)((pl_splitmix64(&s) >> 40) / 16777216.0) - 1.0f);
        }
    return l;
}

/* Q and K rows of a llama GGUF are interleaved for its rope (llm_qk_rows): B's output rows follow them */
static bool qk_permuted(const pl_llm *m, pl_weight_role role) {
    return m->gguf && m->hp.rope_mode == PL_ROPE_NORMAL && (role == PL_W_Q || role == PL_W_K);
}

static pl_lora *lora_load_gguf(const pl_llm *m, const char *path);

static bool is_gguf_path(const char *path) {
    size_t n = strlen(path);
    return n > 5 && !strcmp(path + n - 5, ".gguf");
}

pl_lora *pl_lora_load(const pl_llm *m, const char *dir) {
    if (is_gguf_path(dir)) return lora_load_gguf(m, dir);
    pl_peft_config cfg;
    if (pl_peft_config_read(dir, &cfg)) return NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    pl_st *st = pl_st_open(path);
    if (!st) return NULL;
    pl_lora *l = lora_alloc(m, &cfg);
    for (int layer = 0; l && layer < l->n_layer; layer++)
        for (int role = 0; role < PL_W_COUNT && l; role++) {
            if (!l->a[layer][role]) continue;
            for (int k = 0; k < 2 && l; k++) {
                pl_tensor *t = k ? l->b[layer][role] : l->a[layer][role];
                char name[512];
                pl_peft_tensor_name(name, sizeof name, m->arch_info->names, (pl_weight_role)role, layer, k ? 'B' : 'A');
                const pl_st_tensor *s = pl_st_find(st, name);
                int64_t want0 = t->ne[1], want1 = t->ne[0]; /* PyTorch order */
                const char *why = !s ? "missing" : s->n_dims != 2 ? "not a matrix" : s->type != PL_F32 && s->type != PL_F16 && s->type != PL_BF16 ? "not f32/f16/bf16" : NULL;
                if (!why && (s->shape[0] != want0 || s->shape[1] != want1)) {
                    pl_error(PL_ERR_FORMAT, "%s: %s is %lld x %lld, this base needs %lld x %lld: the adapter was made for another model",
                             dir, name, (long long)s->shape[0], (long long)s->shape[1], (long long)want0, (long long)want1);
                    pl_lora_free(l); l = NULL; break;
                }
                if (why) { pl_error(PL_ERR_FORMAT, "%s: tensor %s %s", dir, name, why); pl_lora_free(l); l = NULL; break; }
                pl_dtype_traits(s->type)->to_float(s->data, pl_f32(t), s->numel);
                if (k && qk_permuted(m, (pl_weight_role)role)) {
                    float *tmp = pl_malloc((size_t)s->numel * sizeof(float));
                    if (!tmp) { pl_lora_free(l); l = NULL; break; }
                    memcpy(tmp, pl_f32(t), (size_t)s->numel * sizeof(float));
                    llm_qk_rows(pl_f32(t), tmp, t->ne[1], t->ne[0], m->hp.head_dim, false);
                    free(tmp);
                }
            }
        }
    pl_st_close(st);
    return l;
}

int pl_lora_save(const pl_lora *l, const pl_llm *m, const char *dir, const char *base_name) {
    if (mkdir(dir, 0755) && errno != EEXIST) return pl_error(PL_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    pl_st_writer *w = pl_st_writer_new();
    if (!w) return PL_ERR_NOMEM;
    int rc = pl_st_writer_set_metadata(w, "format", "pt");
    float *tmp = pl_malloc((size_t)l->n_floats * sizeof(float)); /* B of Q / K back in HF's row order */
    if (!tmp) rc = PL_ERR_NOMEM;
    int64_t used = 0;
    for (int layer = 0; layer < l->n_layer && !rc; layer++)
        for (int role = 0; role < PL_W_COUNT && !rc; role++) {
            if (!l->a[layer][role]) continue;
            for (int k = 0; k < 2 && !rc; k++) {
                const pl_tensor *t = k ? l->b[layer][role] : l->a[layer][role];
                const float *data = pl_f32(t);
                if (k && qk_permuted(m, (pl_weight_role)role)) {
                    llm_qk_rows(tmp + used, data, t->ne[1], t->ne[0], m->hp.head_dim, true);
                    data = tmp + used;
                    used += pl_nelements(t);
                }
                char name[512];
                pl_peft_tensor_name(name, sizeof name, m->arch_info->names, (pl_weight_role)role, layer, k ? 'B' : 'A');
                const int64_t shape[2] = {t->ne[1], t->ne[0]};
                rc = pl_st_writer_add(w, name, PL_F32, 2, shape, data, false);
            }
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (!rc) rc = pl_st_writer_write_file(w, path);
    pl_st_writer_free(w);
    free(tmp);
    if (rc) return rc;
    pl_peft_config cfg = l->cfg;
    snprintf(cfg.base, sizeof cfg.base, "%s", base_name ? base_name : "");
    return pl_peft_config_write(dir, &cfg);
}

/* ---- llama.cpp's LoRA GGUF (convert_lora_to_gguf.py, llama-adapter.cpp) ------------------------------------
 * general.type "adapter", adapter.type "lora", adapter.lora.alpha (llama.cpp scales by alpha / r, r read from
 * the tensors, so an rsLoRA adapter is written with the alpha that gives its scale), general.architecture; per
 * adapted weight "<its GGUF name>.lora_a" {in, r} and ".lora_b" {r, out} (ne order), whose output rows follow
 * the GGUF's: a llama GGUF's Q and K rows are interleaved for its rope (llm_qk_rows). */

/* B of Q / K in this model's order differs from the GGUF's order: a llama loaded from HF's files */
static bool qk_gguf_differs(const pl_llm *m, pl_weight_role role) {
    return !m->gguf && m->hp.arch == PL_LLM_LLAMA && (role == PL_W_Q || role == PL_W_K);
}

static void gguf_lora_name(char *buf, size_t cap, pl_weight_role role, int layer, char which) {
    char w[256];
    snprintf(w, sizeof w, pl_weight_name_gguf(role), layer);
    snprintf(buf, cap, "%s.lora_%c", w, which);
}

int pl_lora_save_gguf(const pl_lora *l, const pl_llm *m, const char *path, const char *base_name) {
    pl_gguf_writer *w = pl_gguf_writer_new();
    if (!w) return PL_ERR_NOMEM;
    int rc = pl_gguf_writer_set_str(w, "general.architecture", pl_llm_arch_name(l->arch));
    if (!rc) rc = pl_gguf_writer_set_str(w, "general.type", "adapter");
    if (!rc && base_name && base_name[0]) rc = pl_gguf_writer_set_str(w, "general.base_model.0.name", base_name);
    if (!rc) rc = pl_gguf_writer_set_str(w, "adapter.type", "lora");
    if (!rc) rc = pl_gguf_writer_set_f32(w, "adapter.lora.alpha", l->scale * (float)l->cfg.r);
    for (int layer = 0; layer < l->n_layer && !rc; layer++)
        for (int role = 0; role < PL_W_COUNT && !rc; role++) {
            if (!l->a[layer][role]) continue;
            for (int k = 0; k < 2 && !rc; k++) {
                const pl_tensor *t = k ? l->b[layer][role] : l->a[layer][role];
                float *tmp = NULL;
                if (k && qk_gguf_differs(m, (pl_weight_role)role)) {
                    if (!(tmp = pl_malloc((size_t)pl_nelements(t) * sizeof(float)))) { rc = PL_ERR_NOMEM; break; }
                    llm_qk_rows(tmp, pl_f32(t), t->ne[1], t->ne[0], m->hp.head_dim, false);
                }
                char name[300];
                gguf_lora_name(name, sizeof name, (pl_weight_role)role, layer, k ? 'b' : 'a');
                rc = pl_gguf_writer_add_tensor(w, name, PL_F32, 2, t->ne, tmp ? tmp : pl_f32(t), true);
                free(tmp);
            }
        }
    if (!rc) rc = pl_gguf_writer_write_file(w, path);
    pl_gguf_writer_free(w);
    return rc;
}

static pl_lora *lora_load_gguf(const pl_llm *m, const char *path) {
    pl_gguf *g = pl_gguf_open(path);
    if (!g) return NULL;
    pl_lora *l = NULL;
    const char *type = pl_gguf_get_str(g, "general.type", NULL), *atype = pl_gguf_get_str(g, "adapter.type", NULL);
    const char *arch = pl_gguf_get_str(g, "general.architecture", NULL);
    const double alpha = pl_gguf_get_float(g, "adapter.lora.alpha", 0);
    pl_peft_config cfg = {0};
    const pl_gguf_tensor *a0 = NULL;
    for (int i = 0; i < PL_LORA_ROLES_N; i++) { /* the targets: the weights of block 0 that have an A */
        char name[300];
        gguf_lora_name(name, sizeof name, pl_lora_roles[i], 0, 'a');
        const pl_gguf_tensor *t = pl_gguf_find_tensor(g, name);
        if (t) { cfg.roles |= 1u << pl_lora_roles[i]; if (!a0) a0 = t; }
    }
    if (!type || strcmp(type, "adapter") || !atype || strcmp(atype, "lora"))
        pl_error(PL_ERR_FORMAT, "%s: not a LoRA adapter (general.type \"%s\", adapter.type \"%s\"; want \"adapter\", \"lora\")", path,
                 type ? type : "", atype ? atype : "");
    else if (!arch || strcmp(arch, pl_llm_arch_name(m->hp.arch)))
        pl_error(PL_ERR_FORMAT, "%s: the adapter was made for a %s model, this one is a %s", path, arch ? arch : "(no general.architecture)",
                 pl_llm_arch_name(m->hp.arch));
    else if (!a0 || a0->n_dims != 2)
        pl_error(PL_ERR_FORMAT, "%s: no <weight>.lora_a matrix for a linear layer of block 0 (blk.0.attn_q.weight.lora_a, ...)", path);
    else if (!(alpha > 0))
        pl_error(PL_ERR_FORMAT, "%s: adapter.lora.alpha is missing or not positive", path);
    else {
        cfg.r = (int)a0->ne[1];
        cfg.alpha = (float)alpha;
        l = lora_alloc(m, &cfg);
    }
    int64_t used = 0;
    for (int layer = 0; l && layer < l->n_layer; layer++)
        for (int role = 0; role < PL_W_COUNT && l; role++) {
            if (!l->a[layer][role]) continue;
            for (int k = 0; k < 2 && l; k++) {
                pl_tensor *t = k ? l->b[layer][role] : l->a[layer][role];
                char name[300];
                gguf_lora_name(name, sizeof name, (pl_weight_role)role, layer, k ? 'b' : 'a');
                const pl_gguf_tensor *s = pl_gguf_find_tensor(g, name);
                const char *why = !s ? "missing" : s->n_dims != 2 ? "not a matrix" : s->type != PL_F32 && s->type != PL_F16 && s->type != PL_BF16 ? "not f32/f16/bf16" : NULL;
                if (!why && (s->ne[0] != t->ne[0] || s->ne[1] != t->ne[1])) {
                    pl_error(PL_ERR_FORMAT, "%s: %s is %lld x %lld (ne), this base needs %lld x %lld: the adapter was made for another model",
                             path, name, (long long)s->ne[0], (long long)s->ne[1], (long long)t->ne[0], (long long)t->ne[1]);
                    pl_lora_free(l); l = NULL; break;
                }
                if (why) { pl_error(PL_ERR_FORMAT, "%s: tensor %s %s", path, name, why); pl_lora_free(l); l = NULL; break; }
                pl_dtype_traits(s->type)->to_float(s->data, pl_f32(t), pl_nelements(t));
                used++;
                if (k && qk_gguf_differs(m, (pl_weight_role)role)) {
                    float *tmp = pl_malloc((size_t)pl_nelements(t) * sizeof(float));
                    if (!tmp) { pl_lora_free(l); l = NULL; break; }
                    memcpy(tmp, pl_f32(t), (size_t)pl_nelements(t) * sizeof(float));
                    llm_qk_rows(pl_f32(t), tmp, t->ne[1], t->ne[0], m->hp.head_dim, true);
                    free(tmp);
                }
            }
        }
    if (l && used != pl_gguf_n_tensors(g)) { /* a tensor for a layer this base lacks, or for another block's targets */
        pl_error(PL_ERR_FORMAT, "%s: %lld tensors, of which %lld adapt this model's layers (targets read from block 0)", path,
                 (long long)pl_gguf_n_tensors(g), (long long)used);
        pl_lora_free(l); l = NULL;
    }
    pl_gguf_close(g);
    return l;
}

void pl_lora_free(pl_lora *l) {
    if (!l) return;
    pl_ctx_free(l->ctx);
    free(l->a); free(l->b); free(l->w);
    free(l);
}

int pl_llm_add_lora(pl_llm *m, const pl_lora *l, float user_scale) {
    if (!l) { m->n_lora = 0; return PL_OK; }
    if (m->n_lora == PL_LLM_MAX_LORA) return pl_error(PL_ERR_ARG, "at most %d LoRA adapters at once", PL_LLM_MAX_LORA);
    const pl_llm_hparams *h = &m->hp;
    if (l->arch != h->arch || l->n_layer != h->n_layer || l->n_embd != h->n_embd || l->n_ff != h->n_ff ||
        l->q_dim != h->n_head * h->head_dim || l->kv_dim != h->n_head_kv * h->head_dim)
        return pl_error(PL_ERR_ARG, "LoRA adapter made for a %s with %d layers, width %d, MLP %d; this model is a %s with %d, %d, %d",
                        pl_llm_arch_name(l->arch), l->n_layer, l->n_embd, l->n_ff, pl_llm_arch_name(h->arch), h->n_layer,
                        h->n_embd, h->n_ff);
    m->lora[m->n_lora] = l;
    m->lora_scale[m->n_lora++] = user_scale;
    return PL_OK;
}

int pl_lora_merge_into(pl_llm *m, const pl_lora *l, float scale) {
    if (!m->train) return pl_error(PL_ERR_ARG, "LoRA merge: the model must be loaded as f32 parameters");
    const float s = l->scale * scale;
    for (int layer = 0; layer < l->n_layer; layer++)
        for (int role = 0; role < PL_W_COUNT; role++) {
            const pl_tensor *a = l->a[layer][role], *b = l->b[layer][role];
            pl_tensor *w = a ? llm_role_weight(m, layer, (pl_weight_role)role) : NULL;
            if (!a) continue;
            if (!w || w->type != PL_F32 || w->ne[0] != a->ne[0] || w->ne[1] != b->ne[1])
                return pl_error(PL_ERR_ARG, "LoRA merge: layer %d's weight of role %d does not match the adapter", layer, role);
            const int64_t in = a->ne[0], out = b->ne[1], r = a->ne[1];
            for (int64_t o = 0; o < out; o++) { /* W[o][i] += s * sum_k B[o][k] A[k][i] */
                float *wo = pl_f32(w) + o * in;
                for (int64_t k = 0; k < r; k++) {
                    const float bk = s * pl_f32(b)[o * r + k], *ak = pl_f32(a) + k * in;
                    for (int64_t i = 0; i < in; i++) wo[i] += bk * ak[i];
                }
            }
        }
    return PL_OK;
}
