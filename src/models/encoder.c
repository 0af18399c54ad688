/* Loading an encoder (HF safetensors + config.json + sentence-transformers' pooling files) into a pl_encoder:
 * hyper-parameters, weights mapped from the file and checked against them; and the embedding driver, which
 * packs a batch of sentences end to end, runs the architecture's graph (bert.c) in a per-batch context and pools
 * each sentence's token states into one vector. */
#include "models/encoder.h"
#include "io/hfconfig.h"
#include "io/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- weights ---------------------------------------------------------------------------------------- */

/* BertModel's name, else a BertFor* checkpoint's ("bert." + name) */
static const pl_st_tensor *find_tensor(const pl_encoder *m, const char *name) {
    const pl_st_tensor *t = pl_st_model_find(m->st, name);
    if (t) return t;
    char prefixed[300];
    snprintf(prefixed, sizeof prefixed, "bert.%s", name);
    return pl_st_model_find(m->st, prefixed);
}

pl_tensor *encoder_weight(pl_encoder *m, pl_encoder_role role, int layer, int64_t ne0, int64_t ne1, bool f32, bool *failed) {
    if (*failed) return NULL;
    char name[256];
    snprintf(name, sizeof name, pl_encoder_name_hf(role), layer);
    const pl_st_tensor *st = find_tensor(m, name);
    if (!st) {
        *failed = true;
        return pl_error_null(PL_ERR_FORMAT, "%s: tensor '%s' is missing", m->path, name);
    }
    int64_t ne[4];
    int nd = pl_st_tensor_ne(st, ne);
    if (nd < 1 || ne[0] != ne0 || ne[2] != 1 || ne[3] != 1 || (ne1 ? ne[1] != ne1 : ne[1] != 1)) {
        *failed = true;
        return pl_error_null(PL_ERR_FORMAT, "%s: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld] from config.json",
                             m->path, name, (long long)ne[0], (long long)ne[1], (long long)ne0, (long long)(ne1 ? ne1 : 1));
    }
    const pl_type_traits *tr = pl_dtype_traits(st->type);
    if (!tr || !tr->to_float) {
        *failed = true;
        return pl_error_null(PL_ERR_UNSUPPORTED, "%s: tensor '%s' has a type (%s) plinth cannot compute with", m->path, name,
                             st->dtype_name);
    }
    const void *data = st->data;
    pl_dtype type = st->type;
    if (f32 && type != PL_F32) { /* norms, biases: the element-wise ops take f32 */
        float *f = pl_owned_alloc(&m->owned, (size_t)(ne[0] * ne[1]) * sizeof(float));
        if (!f) { *failed = true; return NULL; }
        tr->to_float(data, f, ne[0] * ne[1]);
        data = f;
        type = PL_F32;
    }
    pl_tensor *t = pl_new_mapped(m->wctx, type, ne1 ? 2 : 1, ne, (void *)data);
    if (!t) { *failed = true; return NULL; }
    pl_set_name(t, "%s", name);
    return t;
}

/* ---- hyper-parameters ------------------------------------------------------------------------------- */
static int hp_from_hf(pl_encoder *m, const pl_hfconfig *c) {
    pl_encoder_hparams *h = &m->hp;
    h->n_embd = (int)pl_hfconfig_get_int(c, "hidden_size", 0);
    h->n_layer = (int)pl_hfconfig_get_int(c, "num_hidden_layers", 0);
    h->n_head = (int)pl_hfconfig_get_int(c, "num_attention_heads", 0);
    h->n_ff = (int)pl_hfconfig_get_int(c, "intermediate_size", 0);
    h->n_vocab = (int)pl_hfconfig_get_int(c, "vocab_size", 0);
    h->n_pos = (int)pl_hfconfig_get_int(c, "max_position_embeddings", 512);
    h->n_types = (int)pl_hfconfig_get_int(c, "type_vocab_size", 2);
    h->norm_eps = (float)pl_hfconfig_get_float(c, "layer_norm_eps", 1e-12);
    const char *act = pl_hfconfig_get_str(c, "hidden_act");
    if (act && strcmp(act, "gelu"))
        return pl_error(PL_ERR_UNSUPPORTED, "%s: hidden_act '%s' is not supported (gelu)", m->path, act);
    const char *pe = pl_hfconfig_get_str(c, "position_embedding_type");
    if (pe && strcmp(pe, "absolute"))
        return pl_error(PL_ERR_UNSUPPORTED, "%s: position_embedding_type '%s' is not supported (absolute)", m->path, pe);
    const struct { const char *name; int v, lo, hi; } r[] = {
        {"vocabulary size", h->n_vocab, 1, 1 << 22}, {"width", h->n_embd, 1, 1 << 16}, {"layer count", h->n_layer, 1, 1024},
        {"head count", h->n_head, 1, 1024}, {"feed-forward width", h->n_ff, 1, 1 << 20},
        {"position count", h->n_pos, 2, 1 << 20}, {"token type count", h->n_types, 1, 1 << 10},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(r); i++)
        if (r[i].v < r[i].lo || r[i].v > r[i].hi)
            return pl_error(PL_ERR_FORMAT, "%s: %s %d is out of range", m->path, r[i].name, r[i].v);
    if (h->n_embd % h->n_head)
        return pl_error(PL_ERR_FORMAT, "%s: %d heads do not divide the width %d", m->path, h->n_head, h->n_embd);
    return PL_OK;
}

/* ---- loading ---------------------------------------------------------------------------------------- */
static const pl_encoder_arch_info *arch_of(const char *path, pl_hfconfig **cfg, bool quiet) {
    struct stat sb;
    if (stat(path, &sb)) return quiet ? NULL : pl_error_null(PL_ERR_IO, "cannot open model '%s': %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return quiet ? NULL : pl_error_null(PL_ERR_UNSUPPORTED, "%s: an encoder is loaded from a Hugging Face directory "
                                            "(config.json + model.safetensors)", path);
    *cfg = pl_hfconfig_load(path);
    if (!*cfg) return NULL;
    const char *type = pl_hfconfig_get_str(*cfg, "model_type");
    const pl_encoder_arch_info *a = pl_encoder_arch_find(type);
    if (!a && !quiet)
        pl_error(PL_ERR_UNSUPPORTED, "%s: '%s' is not an encoder plinth knows (supported: %s)", path, type ? type : "?",
                 pl_encoder_supported());
    return a;
}

bool pl_encoder_path_ok(const char *path) {
    pl_hfconfig *cfg = NULL;
    const pl_encoder_arch_info *a = arch_of(path, &cfg, true);
    pl_hfconfig_free(cfg);
    return a != NULL;
}

pl_encoder *pl_encoder_load(const char *path, int n_threads) {
    pl_encoder *m = pl_calloc(1, sizeof *m);
    if (!m) return NULL;
    snprintf(m->path, sizeof m->path, "%s", path);
    pl_hfconfig *cfg = NULL;
    m->arch_info = arch_of(path, &cfg, false);
    m->wctx = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 1 << 20, .n_threads = 1});
    m->step = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 64u << 20, .n_threads = n_threads});
    int rc = m->arch_info && m->wctx && m->step ? hp_from_hf(m, cfg) : PL_ERR_FORMAT;
    if (!rc) rc = pl_st_config_load(path, &m->pooling);
    if (!rc) {
        int msl = m->pooling.max_seq_length;
        m->max_tokens = msl > 0 && msl < m->hp.n_pos ? msl : m->hp.n_pos;
        m->st = pl_st_model_open(path);
        m->layers = pl_calloc((size_t)m->hp.n_layer, sizeof *m->layers);
        rc = m->st && m->layers ? m->arch_info->load(m) : PL_ERR_FORMAT;
    }
    pl_hfconfig_free(cfg);
    if (rc) { pl_encoder_free(m); return NULL; }
    return m;
}

void pl_encoder_free(pl_encoder *m) {
    if (!m) return;
    pl_ctx_free(m->step);
    pl_ctx_free(m->wctx);
    pl_owned_free(&m->owned);
    free(m->layers);
    if (m->st) pl_st_model_close(m->st);
    free(m);
}

enum { MIN_TOKENS = 8 }; /* ops/matmul.c's smallest f32 GEMM */

/* ---- embedding ---------------------------------------------------------------------------------------- */
/* one sentence's token states x (n rows of C) -> its vector: mean or the first ([CLS]) token, then L2 */
static void pool(const pl_encoder *m, const float *x, int n, float *out) {
    int C = m->hp.n_embd;
    if (m->pooling.pool == PL_POOL_CLS) {
        memcpy(out, x, (size_t)C * sizeof(float));
    } else {
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += x[(size_t)i * C + c];
            out[c] = (float)(s / n);
        }
    }
    if (!m->pooling.normalize) return;
    double ss = 0;
    for (int c = 0; c < C; c++) ss += (double)out[c] * out[c];
    float inv = (float)(1.0 / fmax(sqrt(ss), 1e-12)); /* torch.nn.functional.normalize's eps */
    for (int c = 0; c < C; c++) out[c] *= inv;
}

static int check_batch(const pl_encoder *m, const int32_t *const *ids, const int *n_ids, int n, int64_t *total) {
    if (n <= 0 || !ids || !n_ids) return pl_error(PL_ERR_ARG, "no sentences to embed");
    *total = 0;
    for (int i = 0; i < n; i++) {
        if (n_ids[i] < 1 || n_ids[i] > m->max_tokens)
            return pl_error(PL_ERR_ARG, "sentence %d has %d tokens (1 .. %d)", i, n_ids[i], m->max_tokens);
        for (int j = 0; j < n_ids[i]; j++)
            if (ids[i][j] < 0 || ids[i][j] >= m->hp.n_vocab)
                return pl_error(PL_ERR_ARG, "token id %d is outside the vocabulary (%d)", ids[i][j], m->hp.n_vocab);
        *total += n_ids[i];
    }
    return *total > INT32_MAX / 2 ? pl_error(PL_ERR_ARG, "too many tokens in one batch") : PL_OK;
}

int pl_encoder_embed(pl_encoder *m, const int32_t *const *ids, const int *n_ids, int n, float *out, float *hidden) {
    int64_t N = 0;
    int rc = check_batch(m, ids, n_ids, n, &N);
    if (rc) return rc;
    pl_ctx *ctx = m->step;
    pl_ctx_reset(ctx);
    /* Room for the whole graph in one chunk before it is built: a graph that outgrows the arena takes new chunks,
     * which the next reset merges into a fresh one, and the kernel zeroes every page of it again on first touch
     * (18% of a run over short lines went to that). Reserving more than is used costs address space only. Per
     * token and layer: q, k, v, attention, its projection, the FFN's two F-wide products, their sums and norms. */
    size_t need = (size_t)(N + MIN_TOKENS) * (size_t)m->hp.n_layer * (8u * (size_t)m->hp.n_embd + 3u * (size_t)m->hp.n_ff) *
                  sizeof(float) + ((size_t)16 << 20);
    if (pl_ctx_arena_bytes(ctx) < need) {
        if (pl_ctx_alloc(ctx, need + need / 4)) pl_ctx_reset(ctx); /* one chunk, with room for a batch a little larger */
        else pl_clear_error();                          /* none: the graph takes chunks as it grows */
    }
    /* Under MIN_TOKENS rows a product takes the dot-product path, which sums in another order than the GEMM: a
     * filler sentence (token 0, results dropped) keeps every batch on the GEMM, so that a sentence gets the same
     * bits alone as among others. */
    int filler = N < MIN_TOKENS ? (int)(MIN_TOKENS - N) : 0;
    encoder_inputs in = {pl_new_1d(ctx, PL_I32, N + filler), pl_new_1d(ctx, PL_I32, N + filler),
                         pl_new_1d(ctx, PL_I32, n + 1 + (filler > 0))};
    if (!in.ids || !in.pos || !in.seg) return PL_ERR_NOMEM;
    int32_t *pid = in.ids->data, *pos = in.pos->data, *seg = in.seg->data;
    seg[0] = 0;
    for (int i = 0; i < n; i++) {
        memcpy(pid + seg[i], ids[i], (size_t)n_ids[i] * sizeof(int32_t));
        for (int j = 0; j < n_ids[i]; j++) pos[seg[i] + j] = j;
        seg[i + 1] = seg[i] + n_ids[i];
    }
    for (int j = 0; j < filler; j++) { pid[N + j] = 0; pos[N + j] = j; }
    if (filler) seg[n + 1] = (int32_t)(N + filler);
    pl_tensor *x = m->arch_info->build(ctx, m, &in);
    pl_graph *g = x ? pl_graph_build_fused(ctx, x) : NULL; /* GELU and residual sums in the GEMMs' write-backs */
    if (!g) return pl_last_error()[0] ? PL_ERR_ARG : PL_ERR_NOMEM;
    pl_graph_forward(ctx, g);
    const float *xs = pl_f32(x);
    int C = m->hp.n_embd;
    for (int i = 0; i < n; i++) pool(m, xs + (size_t)seg[i] * C, n_ids[i], out + (size_t)i * C);
    if (hidden) memcpy(hidden, xs, (size_t)N * C * sizeof(float));
    return PL_OK;
}
