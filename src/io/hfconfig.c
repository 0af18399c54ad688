/* HF config.json lookup and tokenizer_config.json reading (see hfconfig.h). The config keeps the cJSON
 * tree and answers typed lookups from it; the tokenizer config is copied into plain strings. */
#include "io/hfconfig.h"

#include "core/common.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sys/stat.h>

struct pl_hfconfig {
    cJSON *root;
};

static bool path_is_dir(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode); }

/* dir/name if path is a directory, else path itself. */
static char *resolve(const char *path, const char *name) {
    if (!path_is_dir(path)) return pl_strdup(path);
    size_t n = strlen(path) + strlen(name) + 2;
    char *p = pl_malloc(n);
    if (p) snprintf(p, n, "%s/%s", path, name);
    return p;
}

pl_hfconfig *pl_hfconfig_parse(const char *json, size_t len) {
    if (!pl_utf8_valid(json, len)) return pl_error_null(PL_ERR_FORMAT, "config is not valid UTF-8");
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return pl_error_null(PL_ERR_FORMAT, "config is not a JSON object");
    }
    pl_hfconfig *c = pl_calloc(1, sizeof *c);
    if (!c) { cJSON_Delete(root); return NULL; }
    c->root = root;
    return c;
}

pl_hfconfig *pl_hfconfig_load(const char *path) {
    char *file = resolve(path, "config.json");
    if (!file) return NULL;
    size_t len;
    char *text = pl_read_file(file, &len);
    pl_hfconfig *c = NULL;
    if (text) {
        c = pl_hfconfig_parse(text, len);
        if (!c) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", pl_last_error());
            pl_error(PL_ERR_FORMAT, "%s: %s", file, msg);
        }
    }
    free(text);
    free(file);
    return c;
}

void pl_hfconfig_free(pl_hfconfig *c) {
    if (!c) return;
    cJSON_Delete(c->root);
    free(c);
}

const void *pl_hfconfig_json(const pl_hfconfig *c) { return c ? c->root : NULL; }

/* The exact top-level key, else a dotted path through nested objects. */
static const cJSON *lookup(const pl_hfconfig *c, const char *key) {
    if (!c || !key) return NULL;
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(c->root, key);
    if (x || !strchr(key, '.')) return x;
    const cJSON *cur = c->root;
    char part[256];
    for (const char *p = key; cur && *p;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof part) return NULL;
        memcpy(part, p, n);
        part[n] = 0;
        cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, part) : NULL;
        p += n + (dot ? 1 : 0);
    }
    return cur;
}

bool pl_hfconfig_has(const pl_hfconfig *c, const char *key) { return lookup(c, key) != NULL; }

int64_t pl_hfconfig_get_int(const pl_hfconfig *c, const char *key, int64_t def) {
    const cJSON *x = lookup(c, key);
    if (!cJSON_IsNumber(x)) return def;
    double d = x->valuedouble;
    if (d != floor(d) || fabs(d) > 9007199254740992.0) return def;
    return (int64_t)d;
}

double pl_hfconfig_get_float(const pl_hfconfig *c, const char *key, double def) {
    const cJSON *x = lookup(c, key);
    return cJSON_IsNumber(x) ? x->valuedouble : def;
}

const char *pl_hfconfig_get_str(const pl_hfconfig *c, const char *key) {
    const cJSON *x = lookup(c, key);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

bool pl_hfconfig_get_bool(const pl_hfconfig *c, const char *key, bool def) {
    const cJSON *x = lookup(c, key);
    return cJSON_IsBool(x) ? cJSON_IsTrue(x) : def;
}

int pl_hfconfig_arr_n(const pl_hfconfig *c, const char *key) {
    const cJSON *x = lookup(c, key);
    return cJSON_IsArray(x) ? cJSON_GetArraySize(x) : -1;
}

const char *pl_hfconfig_arr_str(const pl_hfconfig *c, const char *key, int i) {
    const cJSON *x = lookup(c, key);
    const cJSON *e = cJSON_IsArray(x) && i >= 0 ? cJSON_GetArrayItem(x, i) : NULL;
    return cJSON_IsString(e) ? e->valuestring : NULL;
}

double pl_hfconfig_arr_float(const pl_hfconfig *c, const char *key, int i, double def) {
    const cJSON *x = lookup(c, key);
    const cJSON *e = cJSON_IsArray(x) && i >= 0 ? cJSON_GetArrayItem(x, i) : NULL;
    return cJSON_IsNumber(e) ? e->valuedouble : def;
}

/* ---- tokenizer_config.json ------------------------------------------------------------------------- */

/* "x" or {"content": "x"} -> a copy of "x"; anything else -> NULL. */
static char *token_string(const cJSON *x) {
    if (cJSON_IsString(x)) return pl_strdup(x->valuestring);
    const cJSON *content = cJSON_IsObject(x) ? cJSON_GetObjectItemCaseSensitive(x, "content") : NULL;
    return cJSON_IsString(content) ? pl_strdup(content->valuestring) : NULL;
}

static int tri_bool(const cJSON *root, const char *key) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsBool(x) ? cJSON_IsTrue(x) : -1;
}

/* chat_template is a string, or a list of {"name": ..., "template": ...}. */
static char *chat_template(const cJSON *x) {
    if (cJSON_IsString(x)) return pl_strdup(x->valuestring);
    if (!cJSON_IsArray(x)) return NULL;
    const cJSON *first = NULL;
    for (const cJSON *e = x->child; e; e = e->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(e, "template");
        if (!cJSON_IsString(tmpl)) continue;
        if (!first) first = tmpl;
        if (cJSON_IsString(name) && !strcmp(name->valuestring, "default")) return pl_strdup(tmpl->valuestring);
    }
    return first ? pl_strdup(first->valuestring) : NULL;
}

static void fill_tokenizer_config(const cJSON *root, pl_hf_tokenizer_config *tc) {
    tc->chat_template = chat_template(cJSON_GetObjectItemCaseSensitive(root, "chat_template"));
    tc->bos_token = token_string(cJSON_GetObjectItemCaseSensitive(root, "bos_token"));
    tc->eos_token = token_string(cJSON_GetObjectItemCaseSensitive(root, "eos_token"));
    tc->unk_token = token_string(cJSON_GetObjectItemCaseSensitive(root, "unk_token"));
    tc->pad_token = token_string(cJSON_GetObjectItemCaseSensitive(root, "pad_token"));
    tc->sep_token = token_string(cJSON_GetObjectItemCaseSensitive(root, "sep_token"));
    tc->cls_token = token_string(cJSON_GetObjectItemCaseSensitive(root, "cls_token"));
    tc->mask_token = token_string(cJSON_GetObjectItemCaseSensitive(root, "mask_token"));
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "tokenizer_class");
    tc->tokenizer_class = cJSON_IsString(cls) ? pl_strdup(cls->valuestring) : NULL;
    tc->add_bos_token = tri_bool(root, "add_bos_token");
    tc->add_eos_token = tri_bool(root, "add_eos_token");
    tc->do_lower_case = tri_bool(root, "do_lower_case");
    const cJSON *mml = cJSON_GetObjectItemCaseSensitive(root, "model_max_length");
    tc->model_max_length = cJSON_IsNumber(mml) && mml->valuedouble >= 0 && mml->valuedouble < 1e18
                               ? (int64_t)mml->valuedouble : -1;
}

int pl_hf_tokenizer_config_load(const char *path, pl_hf_tokenizer_config *out) {
    memset(out, 0, sizeof *out);
    out->add_bos_token = out->add_eos_token = out->do_lower_case = -1;
    out->model_max_length = -1;
    bool dir = path_is_dir(path);
    char *file = resolve(path, "tokenizer_config.json");
    if (!file) return PL_ERR_NOMEM;
    struct stat sb;
    int rc = PL_OK;
    if (!dir || stat(file, &sb) == 0) {
        size_t len;
        char *text = pl_read_file(file, &len);
        cJSON *root = text && pl_utf8_valid(text, len) ? cJSON_ParseWithLength(text, len) : NULL;
        if (!text) rc = PL_ERR_IO;
        else if (!cJSON_IsObject(root)) rc = pl_error(PL_ERR_FORMAT, "%s: not a JSON object (or not UTF-8)", file);
        else fill_tokenizer_config(root, out);
        cJSON_Delete(root);
        free(text);
    }
    free(file);
    if (rc == PL_OK && dir && !out->chat_template) {  /* newer checkpoints keep the template in its own file */
        char *jinja = resolve(path, "chat_template.jinja");
        size_t len;
        if (jinja && stat(jinja, &sb) == 0) {
            out->chat_template = pl_read_file(jinja, &len);
            if (!out->chat_template) rc = PL_ERR_IO;
        }
        free(jinja);
    }
    if (rc != PL_OK) pl_hf_tokenizer_config_free(out);
    return rc;
}

void pl_hf_tokenizer_config_free(pl_hf_tokenizer_config *tc) {
    if (!tc) return;
    free(tc->chat_template); free(tc->bos_token); free(tc->eos_token); free(tc->unk_token);
    free(tc->pad_token); free(tc->sep_token); free(tc->cls_token); free(tc->mask_token);
    free(tc->tokenizer_class);
    memset(tc, 0, sizeof *tc);
}
