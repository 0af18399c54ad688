/* Reading a sentence-transformers directory's module list and pooling settings (st_config.h). cJSON parses. */
#include "io/st_config.h"

#include "core/common.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static cJSON *read_json(const char *dir, const char *name, bool *missing) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat sb;
    *missing = stat(path, &sb) != 0;
    if (*missing) return NULL;
    size_t len;
    char *text = pl_read_file(path, &len);
    if (!text) return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) pl_error(PL_ERR_FORMAT, "%s: not valid JSON", path);
    return j;
}

static bool flag(const cJSON *o, const char *key) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key)); }

static int read_pooling(const char *dir, const char *sub, pl_st_config *out) {
    char name[1024];
    snprintf(name, sizeof name, "%s/config.json", sub);
    bool missing;
    cJSON *p = read_json(dir, name, &missing);
    if (!p) return missing ? pl_error(PL_ERR_FORMAT, "%s/%s: the pooling config is missing", dir, name) : PL_ERR_FORMAT;
    int rc = PL_OK;
    if (flag(p, "pooling_mode_cls_token")) out->pool = PL_POOL_CLS;
    else if (flag(p, "pooling_mode_mean_tokens")) out->pool = PL_POOL_MEAN;
    else rc = pl_error(PL_ERR_UNSUPPORTED, "%s/%s: only mean and CLS pooling are supported", dir, name);
    cJSON_Delete(p);
    return rc;
}

static int read_modules(const char *dir, const cJSON *mods, pl_st_config *out) {
    const cJSON *m;
    out->normalize = false;
    cJSON_ArrayForEach(m, mods) {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "type"));
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "path"));
        if (!type) return pl_error(PL_ERR_FORMAT, "%s/modules.json: a module without a type", dir);
        const char *last = strrchr(type, '.');
        last = last ? last + 1 : type;
        if (!strcmp(last, "Transformer")) continue;
        if (!strcmp(last, "Pooling")) {
            int rc = read_pooling(dir, path ? path : "1_Pooling", out);
            if (rc) return rc;
        } else if (!strcmp(last, "Normalize")) {
            out->normalize = true;
        } else {
            return pl_error(PL_ERR_UNSUPPORTED, "%s/modules.json: module '%s' is not supported", dir, type);
        }
    }
    return PL_OK;
}

int pl_st_config_load(const char *dir, pl_st_config *out) {
    *out = (pl_st_config){.pool = PL_POOL_MEAN, .normalize = true};
    bool missing;
    cJSON *mods = read_json(dir, "modules.json", &missing);
    if (!mods) return missing ? PL_OK : PL_ERR_FORMAT;
    int rc = cJSON_IsArray(mods) ? read_modules(dir, mods, out)
                                 : pl_error(PL_ERR_FORMAT, "%s/modules.json: not a list of modules", dir);
    cJSON_Delete(mods);
    out->found = true;
    cJSON *sb = rc ? NULL : read_json(dir, "sentence_bert_config.json", &missing);
    const cJSON *len = sb ? cJSON_GetObjectItemCaseSensitive(sb, "max_seq_length") : NULL;
    if (cJSON_IsNumber(len) && len->valuedouble >= 2 && len->valuedouble <= 1 << 20) out->max_seq_length = len->valueint;
    if (!rc && !sb && !missing) rc = PL_ERR_FORMAT;
    cJSON_Delete(sb);
    return rc;
}
