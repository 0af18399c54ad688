/* A model's description as a JSON tree, from a GGUF file, a safetensors file/set, or a HF directory:
 * architecture, hyper-parameters, parameter count, tensors, tokenizer, chat template, sizes. `plinth info`
 * prints it (as text or JSON); the server can serve the same tree. See docs/info.md for the fields. */
#include "io/model_info.h"

#include "core/common.h"
#include "core/dtype.h"
#include "io/gguf.h"
#include "io/hfconfig.h"
#include "io/model_path.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

/* Exact integers (u64 included) as raw JSON numbers; cJSON's doubles would round above 2^53. */
static cJSON *json_u64(uint64_t v) {
    char s[32];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(s);
}
static cJSON *json_i64(int64_t v) {
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)v);
    return cJSON_CreateRaw(s);
}
static cJSON *json_float(double v, bool f32) {
    if (!isfinite(v)) return cJSON_CreateNull();
    char s[40];
    snprintf(s, sizeof s, f32 ? "%.9g" : "%.17g", v);
    return cJSON_CreateRaw(s);
}

static void add_int(cJSON *o, const char *key, int64_t v) {
    if (v >= 0) cJSON_AddItemToObject(o, key, json_i64(v));
    else cJSON_AddNullToObject(o, key);
}

/* ---- GGUF ------------------------------------------------------------------------------------------ */

#define INFO_MAX_ARRAY 1024   /* longer arrays are summarized as {"array": type, "n": n} */

static cJSON *gguf_scalar(const pl_gguf *g, int64_t i, pl_gguf_type t, const void *p) {
    uint64_t u = 0;
    int64_t s = 0;
    switch (t) {
    case PL_GGUF_U8: return json_u64(*(const uint8_t *)p);
    case PL_GGUF_I8: return json_i64(*(const int8_t *)p);
    case PL_GGUF_U16: { uint16_t v; memcpy(&v, p, 2); return json_u64(v); }
    case PL_GGUF_I16: { int16_t v; memcpy(&v, p, 2); return json_i64(v); }
    case PL_GGUF_U32: { uint32_t v; memcpy(&v, p, 4); return json_u64(v); }
    case PL_GGUF_I32: { int32_t v; memcpy(&v, p, 4); return json_i64(v); }
    case PL_GGUF_U64: memcpy(&u, p, 8); return json_u64(u);
    case PL_GGUF_I64: memcpy(&s, p, 8); return json_i64(s);
    case PL_GGUF_F32: { float v; memcpy(&v, p, 4); return json_float(v, true); }
    case PL_GGUF_F64: { double v; memcpy(&v, p, 8); return json_float(v, false); }
    case PL_GGUF_BOOL: return cJSON_CreateBool(*(const uint8_t *)p != 0);
    default: return cJSON_CreateNull();
    }
}

static cJSON *gguf_value(const pl_gguf *g, int64_t i) {
    pl_gguf_type t = pl_gguf_kv_type(g, i);
    if (t == PL_GGUF_STR) return cJSON_CreateString(pl_gguf_kv_str(g, i, NULL));
    if (t != PL_GGUF_ARR) {
        /* rebuild the scalar's bytes from the typed getters */
        uint8_t b[8] = {0};
        if (t == PL_GGUF_F32) { float f = (float)pl_gguf_kv_float(g, i, 0); memcpy(b, &f, 4); }
        else if (t == PL_GGUF_F64) { double d = pl_gguf_kv_float(g, i, 0); memcpy(b, &d, 8); }
        else if (t == PL_GGUF_I8 || t == PL_GGUF_I16 || t == PL_GGUF_I32 || t == PL_GGUF_I64) {
            int64_t v = pl_gguf_kv_int(g, i, 0); memcpy(b, &v, 8);
        } else { uint64_t v = pl_gguf_kv_u64(g, i, 0); memcpy(b, &v, 8); }
        return gguf_scalar(g, i, t, b);
    }
    pl_gguf_type et = pl_gguf_arr_type(g, i);
    int64_t n = pl_gguf_arr_n(g, i);
    if (n > INFO_MAX_ARRAY) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "array", pl_gguf_type_name(et));
        cJSON_AddItemToObject(o, "n", json_i64(n));
        return o;
    }
    cJSON *a = cJSON_CreateArray();
    const uint8_t *data = pl_gguf_arr_data(g, i);
    for (int64_t j = 0; j < n; j++) {
        if (et == PL_GGUF_STR) cJSON_AddItemToArray(a, cJSON_CreateString(pl_gguf_arr_str(g, i, j, NULL)));
        else cJSON_AddItemToArray(a, gguf_scalar(g, i, et, data + (size_t)j * pl_gguf_type_size(et)));
    }
    return a;
}

static int64_t gguf_arch_int(const pl_gguf *g, const char *arch, const char *suffix) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return pl_gguf_get_int(g, key, -1);
}

static void gguf_hparams(const pl_gguf *g, const char *arch, cJSON *h, int64_t n_vocab_tok) {
    add_int(h, "context_length", gguf_arch_int(g, arch, "context_length"));
    add_int(h, "embedding_length", gguf_arch_int(g, arch, "embedding_length"));
    add_int(h, "block_count", gguf_arch_int(g, arch, "block_count"));
    int64_t heads = gguf_arch_int(g, arch, "attention.head_count");
    int64_t kv = gguf_arch_int(g, arch, "attention.head_count_kv");
    add_int(h, "head_count", heads);
    add_int(h, "head_count_kv", kv >= 0 ? kv : heads);
    add_int(h, "feed_forward_length", gguf_arch_int(g, arch, "feed_forward_length"));
    int64_t vocab = gguf_arch_int(g, arch, "vocab_size");
    add_int(h, "vocab_size", vocab >= 0 ? vocab : n_vocab_tok);
}

static cJSON *gguf_info(const char *path) {
    pl_gguf *g = pl_gguf_open(path);
    if (!g) return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "format", "gguf");
    cJSON_AddItemToObject(o, "gguf_version", json_u64(pl_gguf_version(g)));
    cJSON_AddItemToObject(o, "file_size", json_u64(pl_gguf_file_size(g)));
    const char *arch = pl_gguf_get_str(g, "general.architecture", NULL);
    if (arch) cJSON_AddStringToObject(o, "architecture", arch); else cJSON_AddNullToObject(o, "architecture");
    const char *name = pl_gguf_get_str(g, "general.name", NULL);
    if (name) cJSON_AddStringToObject(o, "name", name);

    int64_t tok = pl_gguf_find_key(g, "tokenizer.ggml.tokens");
    int64_t n_tok = pl_gguf_arr_n(g, tok);
    cJSON *h = cJSON_AddObjectToObject(o, "hparams");
    gguf_hparams(g, arch ? arch : "", h, n_tok);

    cJSON *tk = cJSON_AddObjectToObject(o, "tokenizer");
    const char *model = pl_gguf_get_str(g, "tokenizer.ggml.model", NULL);
    if (model) cJSON_AddStringToObject(tk, "kind", model); else cJSON_AddNullToObject(tk, "kind");
    add_int(tk, "vocab_size", n_tok);
    cJSON_AddStringToObject(tk, "source", "gguf");
    cJSON_AddBoolToObject(o, "chat_template", pl_gguf_get_str(g, "tokenizer.chat_template", NULL) != NULL);

    cJSON_AddStringToObject(o, "shape_order", "ggml");
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    uint64_t n_params = 0, bytes = 0;
    for (int64_t i = 0; i < pl_gguf_n_tensors(g); i++) {
        const pl_gguf_tensor *t = pl_gguf_tensor_at(g, i);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", t->name);
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(sh, json_i64(t->ne[d]));
        cJSON_AddStringToObject(e, "type", pl_dtype_name(t->type));
        cJSON_AddItemToObject(e, "bytes", json_u64(t->nbytes));
        cJSON_AddItemToObject(e, "offset", json_u64(pl_gguf_data_offset(g) + t->offset));
        cJSON_AddItemToArray(ts, e);
        n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        bytes += t->nbytes;
    }
    cJSON_AddItemToObject(o, "n_params", json_u64(n_params));
    cJSON_AddItemToObject(o, "n_tensors", json_i64(pl_gguf_n_tensors(g)));
    cJSON_AddItemToObject(o, "tensor_bytes", json_u64(bytes));
    cJSON *kv = cJSON_AddObjectToObject(o, "kv");
    cJSON *kvt = cJSON_AddObjectToObject(o, "kv_types");
    for (int64_t i = 0; i < pl_gguf_n_kv(g); i++) {
        cJSON_AddItemToObject(kv, pl_gguf_key(g, i), gguf_value(g, i));
        pl_gguf_type t = pl_gguf_kv_type(g, i);
        char tn[32];
        if (t == PL_GGUF_ARR) snprintf(tn, sizeof tn, "array[%s]", pl_gguf_type_name(pl_gguf_arr_type(g, i)));
        else snprintf(tn, sizeof tn, "%s", pl_gguf_type_name(t));
        cJSON_AddStringToObject(kvt, pl_gguf_key(g, i), tn);
    }
    pl_gguf_close(g);
    return o;
}

/* ---- safetensors / HF directory -------------------------------------------------------------------- */

/* The first of several config keys that is present (HF models spell the same thing differently). */
static int64_t cfg_int(const pl_hfconfig *c, const char *const *keys) {
    for (; c && *keys; keys++) {
        int64_t v = pl_hfconfig_get_int(c, *keys, -1);
        if (v >= 0) return v;
        char nested[128];
        snprintf(nested, sizeof nested, "text_config.%s", *keys);
        if ((v = pl_hfconfig_get_int(c, nested, -1)) >= 0) return v;
    }
    return -1;
}

static void hf_hparams(const pl_hfconfig *c, cJSON *h) {
    static const char *ctx[] = {"max_position_embeddings", "n_positions", "n_ctx", "seq_length", NULL};
    static const char *emb[] = {"hidden_size", "n_embd", "d_model", NULL};
    static const char *lay[] = {"num_hidden_layers", "n_layer", "num_layers", NULL};
    static const char *hd[] = {"num_attention_heads", "n_head", "num_heads", NULL};
    static const char *kv[] = {"num_key_value_heads", NULL};
    static const char *ff[] = {"intermediate_size", "n_inner", "ffn_dim", NULL};
    static const char *voc[] = {"vocab_size", NULL};
    add_int(h, "context_length", cfg_int(c, ctx));
    add_int(h, "embedding_length", cfg_int(c, emb));
    add_int(h, "block_count", cfg_int(c, lay));
    int64_t heads = cfg_int(c, hd), kvh = cfg_int(c, kv);
    add_int(h, "head_count", heads);
    add_int(h, "head_count_kv", kvh >= 0 ? kvh : heads);
    add_int(h, "feed_forward_length", cfg_int(c, ff));
    add_int(h, "vocab_size", cfg_int(c, voc));
}

/* tokenizer.json: model.type and the vocabulary size (model vocab, extended by added tokens' ids). */
static void hf_tokenizer(const char *dir, cJSON *tk, cJSON *warnings) {
    char *p = pl_path_join(dir, "tokenizer.json");
    size_t len;
    struct stat sb;
    char *text = p && stat(p, &sb) == 0 ? pl_read_file(p, &len) : NULL;
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    if (text && !cJSON_IsObject(root)) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s is not valid JSON: tokenizer not described", p);
        cJSON_AddItemToArray(warnings, cJSON_CreateString(msg));
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    int64_t n = cJSON_IsObject(vocab) || cJSON_IsArray(vocab) ? cJSON_GetArraySize(vocab) : -1;
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    for (const cJSON *a = cJSON_IsArray(added) ? added->child : NULL; a; a = a->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        if (cJSON_IsNumber(id) && id->valuedouble >= n && id->valuedouble < 1e9) n = (int64_t)id->valuedouble + 1;
    }
    if (cJSON_IsString(type)) cJSON_AddStringToObject(tk, "kind", type->valuestring);
    else cJSON_AddNullToObject(tk, "kind");
    add_int(tk, "vocab_size", n);
    if (root) cJSON_AddStringToObject(tk, "source", "tokenizer.json");
    else cJSON_AddNullToObject(tk, "source");
    cJSON_Delete(root);
    free(text);
    free(p);
}

static const char *st_type_name(const pl_st_tensor *t) { return t->dtype_name; }

static cJSON *st_info(const char *path, const char *dir) {
    pl_st_model *m = pl_st_model_open(path);
    if (!m) return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "format", "safetensors");
    cJSON_AddItemToObject(o, "file_size", json_u64(pl_st_model_total_bytes(m)));
    cJSON_AddItemToObject(o, "n_shards", json_i64(pl_st_model_n_shards(m)));

    char *cfg_path = pl_path_join(dir, "config.json");
    struct stat sb;
    bool has_cfg = cfg_path && stat(cfg_path, &sb) == 0;
    pl_hfconfig *c = has_cfg ? pl_hfconfig_load(cfg_path) : NULL;
    free(cfg_path);
    if (has_cfg && !c) {  /* a broken config.json is an error, a missing one is not */
        cJSON_Delete(o);
        pl_st_model_close(m);
        return NULL;
    }
    const char *mt = pl_hfconfig_get_str(c, "model_type");
    if (mt) cJSON_AddStringToObject(o, "architecture", mt); else cJSON_AddNullToObject(o, "architecture");
    cJSON *archs = cJSON_AddArrayToObject(o, "architectures");
    for (int i = 0; i < pl_hfconfig_arr_n(c, "architectures"); i++)
        if (pl_hfconfig_arr_str(c, "architectures", i))
            cJSON_AddItemToArray(archs, cJSON_CreateString(pl_hfconfig_arr_str(c, "architectures", i)));
    hf_hparams(c, cJSON_AddObjectToObject(o, "hparams"));
    cJSON_AddBoolToObject(o, "config", c != NULL);
    pl_hfconfig_free(c);

    cJSON *warnings = cJSON_AddArrayToObject(o, "warnings");
    hf_tokenizer(dir, cJSON_AddObjectToObject(o, "tokenizer"), warnings);
    pl_hf_tokenizer_config tc;
    bool tmpl = pl_hf_tokenizer_config_load(dir, &tc) == PL_OK && tc.chat_template;
    pl_hf_tokenizer_config_free(&tc);
    cJSON_AddBoolToObject(o, "chat_template", tmpl);

    cJSON_AddStringToObject(o, "shape_order", "pytorch");
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    uint64_t n_params = 0, bytes = 0;
    for (int64_t i = 0; i < pl_st_model_n_tensors(m); i++) {
        const pl_st_tensor *t = pl_st_model_tensor_at(m, i);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", t->name);
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(sh, json_i64(t->shape[d]));
        cJSON_AddStringToObject(e, "type", st_type_name(t));
        cJSON_AddItemToObject(e, "bytes", json_u64(t->nbytes));
        if (pl_st_model_n_shards(m) > 1) cJSON_AddItemToObject(e, "shard", json_i64(t->shard));
        cJSON_AddItemToArray(ts, e);
        /* integer tensors (position ids, masks) are buffers, not parameters */
        if (t->type == PL_F32 || t->type == PL_F16 || t->type == PL_BF16 || t->type == PL_F64)
            n_params += (uint64_t)t->numel;
        bytes += t->nbytes;
    }
    cJSON_AddItemToObject(o, "n_params", json_u64(n_params));
    cJSON_AddItemToObject(o, "n_tensors", json_i64(pl_st_model_n_tensors(m)));
    cJSON_AddItemToObject(o, "tensor_bytes", json_u64(bytes));
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    for (int s = 0; s < pl_st_model_n_shards(m); s++) {
        const pl_st *st = pl_st_model_shard(m, s);
        for (int64_t i = 0; i < pl_st_metadata_n(st); i++) {
            const char *k = pl_st_metadata_key(st, i);
            if (!cJSON_GetObjectItemCaseSensitive(meta, k))
                cJSON_AddStringToObject(meta, k, pl_st_metadata_get(st, k));
        }
    }
    pl_st_model_close(m);
    return o;
}

cJSON *pl_model_info(const char *path) {
    char *resolved = NULL;
    int kind = pl_model_path_resolve(path, &resolved);
    if (kind < 0) return NULL;
    cJSON *o = NULL;
    if (kind == PL_MODEL_GGUF) {
        o = gguf_info(resolved);
    } else {
        char *dir = kind == PL_MODEL_HF_DIR ? pl_strdup(resolved) : pl_path_dirname(resolved);
        if (dir) o = st_info(resolved, dir);
        free(dir);
    }
    free(resolved);
    return o;
}
