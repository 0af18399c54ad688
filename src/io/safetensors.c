/* safetensors reader: 8-byte little-endian header length N, N bytes of JSON (UTF-8, space-padded), then
 * the data section. The JSON maps tensor names to {dtype, shape, data_offsets} plus an optional
 * "__metadata__" string map. Everything is checked against the data section before use; data stays in the
 * mapping. The writer is in safetensors_write.c, sharded sets in safetensors_model.c. */
#include "io/safetensors.h"
#include "io/safetensors_internal.h"

#include "core/common.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const st_dtype_info g_dtypes[] = {
    {"F32", PL_F32, 4}, {"F16", PL_F16, 2}, {"BF16", PL_BF16, 2}, {"F64", PL_F64, 8},
    {"I8", PL_I8, 1},   {"U8", PL_I8, 1},   {"BOOL", PL_I8, 1},   {"I16", PL_I16, 2},
    {"I32", PL_I32, 4}, {"I64", PL_I64, 8},
};

const st_dtype_info *st_dtype_by_name(const char *name) {
    for (size_t i = 0; i < PL_ARRAY_LEN(g_dtypes); i++)
        if (!strcmp(g_dtypes[i].name, name)) return &g_dtypes[i];
    return NULL;
}

const st_dtype_info *st_dtype_by_type(pl_dtype t) {
    for (size_t i = 0; i < PL_ARRAY_LEN(g_dtypes); i++)
        if (g_dtypes[i].type == t) return &g_dtypes[i];  /* the first row of a type is its canonical name */
    return NULL;
}

/* A JSON number that is a non-negative integer small enough to be exact in a double. */
static int json_uint(const cJSON *x, uint64_t *v) {
    if (!cJSON_IsNumber(x)) return -1;
    double d = x->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != floor(d)) return -1;
    *v = (uint64_t)d;
    return 0;
}

static int parse_tensor(const cJSON *e, pl_st_tensor *t, size_t data_size) {
    const char *name = e->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
        return pl_error(PL_ERR_FORMAT, "safetensors tensor '%s': needs \"dtype\" (string), \"shape\" and "
                        "\"data_offsets\" (arrays)", name);
    const st_dtype_info *info = st_dtype_by_name(dt->valuestring);
    if (!info)
        return pl_error(PL_ERR_UNSUPPORTED, "safetensors tensor '%s': unsupported dtype '%s'", name, dt->valuestring);
    t->type = info->type;
    t->dtype_name = info->name;
    int n_dims = cJSON_GetArraySize(sh);
    if (n_dims > PL_ST_MAX_DIMS)
        return pl_error(PL_ERR_UNSUPPORTED, "safetensors tensor '%s': %d dims (at most %d)", name, n_dims,
                        PL_ST_MAX_DIMS);
    t->n_dims = n_dims;
    uint64_t numel = 1;
    int d = 0;
    for (const cJSON *x = sh->child; x; x = x->next, d++) {
        uint64_t v;
        if (json_uint(x, &v) < 0)
            return pl_error(PL_ERR_FORMAT, "safetensors tensor '%s': shape[%d] is not a non-negative integer", name, d);
        if (v && numel > (uint64_t)INT64_MAX / v / info->size)
            return pl_error(PL_ERR_FORMAT, "safetensors tensor '%s': shape overflows", name);
        t->shape[d] = (int64_t)v;
        numel *= v;
    }
    t->numel = (int64_t)numel;
    uint64_t b, en;
    if (cJSON_GetArraySize(off) != 2 || json_uint(off->child, &b) < 0 || json_uint(off->child->next, &en) < 0)
        return pl_error(PL_ERR_FORMAT, "safetensors tensor '%s': data_offsets must be [begin, end] integers", name);
    if (b > en || en > data_size)
        return pl_error(PL_ERR_FORMAT, "safetensors tensor '%s': data_offsets [%llu, %llu] outside the %zu-byte "
                        "data section (truncated?)", name, (unsigned long long)b, (unsigned long long)en, data_size);
    if (en - b != numel * info->size)
        return pl_error(PL_ERR_FORMAT, "safetensors tensor '%s': data_offsets span %llu bytes, but %llu x %s needs "
                        "%llu", name, (unsigned long long)(en - b), (unsigned long long)numel, info->name,
                        (unsigned long long)(numel * info->size));
    t->begin = b;
    t->nbytes = (size_t)(en - b);
    return (t->name = pl_strdup(name)) ? PL_OK : PL_ERR_NOMEM;
}

static int parse_metadata(pl_st *st, const cJSON *m) {
    if (!cJSON_IsObject(m)) return pl_error(PL_ERR_FORMAT, "safetensors: __metadata__ is not an object");
    int n = cJSON_GetArraySize(m);
    st->meta_k = pl_calloc((size_t)n + 1, sizeof(char *));
    st->meta_v = pl_calloc((size_t)n + 1, sizeof(char *));
    if (!st->meta_k || !st->meta_v) return PL_ERR_NOMEM;
    for (const cJSON *x = m->child; x; x = x->next) {
        if (!cJSON_IsString(x))
            return pl_error(PL_ERR_FORMAT, "safetensors: __metadata__ value of '%s' is not a string", x->string);
        st->meta_k[st->n_meta] = pl_strdup(x->string);
        st->meta_v[st->n_meta] = pl_strdup(x->valuestring);
        if (!st->meta_k[st->n_meta] || !st->meta_v[st->n_meta]) return PL_ERR_NOMEM;
        st->n_meta++;
    }
    return PL_OK;
}

static int cmp_begin(const void *a, const void *b) {
    const pl_st_tensor *x = *(const pl_st_tensor *const *)a, *y = *(const pl_st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int check_overlap(pl_st *st) {
    if (st->n < 2) return PL_OK;
    pl_st_tensor **order = pl_malloc(sizeof(*order) * (size_t)st->n);
    if (!order) return PL_ERR_NOMEM;
    for (int64_t i = 0; i < st->n; i++) order[i] = &st->t[i];
    qsort(order, (size_t)st->n, sizeof(*order), cmp_begin);
    int rc = PL_OK;
    for (int64_t i = 0; i + 1 < st->n && rc == PL_OK; i++)
        if (order[i]->begin + order[i]->nbytes > order[i + 1]->begin)
            rc = pl_error(PL_ERR_FORMAT, "safetensors tensors '%s' and '%s' overlap", order[i]->name, order[i + 1]->name);
    free(order);
    return rc;
}

static int cmp_name_index(const void *a, const void *b, void *ctx) {
    const pl_st_tensor *t = ctx;
    return strcmp(t[*(const int64_t *)a].name, t[*(const int64_t *)b].name);
}

static int build_index(pl_st *st) {
    if (!(st->sorted = pl_malloc(sizeof(int64_t) * (size_t)(st->n + 1)))) return PL_ERR_NOMEM;
    for (int64_t i = 0; i < st->n; i++) st->sorted[i] = i;
    qsort_r(st->sorted, (size_t)st->n, sizeof(int64_t), cmp_name_index, st->t);
    for (int64_t i = 0; i + 1 < st->n; i++)
        if (!strcmp(st->t[st->sorted[i]].name, st->t[st->sorted[i + 1]].name))
            return pl_error(PL_ERR_FORMAT, "safetensors: tensor '%s' appears twice", st->t[st->sorted[i]].name);
    return PL_OK;
}

static int parse_json(pl_st *st, const char *json, size_t len) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) return pl_error(PL_ERR_FORMAT, "safetensors: header is not valid JSON (near byte %zu of %zu)",
                               (size_t)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - json : 0), len);
    int rc = PL_OK;
    for (const char *p = end; p < json + len && rc == PL_OK; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != 0)
            rc = pl_error(PL_ERR_FORMAT, "safetensors: unexpected bytes after the JSON header");
    if (rc == PL_OK && !cJSON_IsObject(root)) rc = pl_error(PL_ERR_FORMAT, "safetensors: header is not a JSON object");
    int n = rc == PL_OK ? cJSON_GetArraySize(root) : 0;
    if (rc == PL_OK && !(st->t = pl_calloc((size_t)n + 1, sizeof(pl_st_tensor)))) rc = PL_ERR_NOMEM;
    size_t data_size = st->size - st->data_off;
    for (const cJSON *e = rc == PL_OK ? root->child : NULL; e && rc == PL_OK; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (st->meta_k) rc = pl_error(PL_ERR_FORMAT, "safetensors: __metadata__ appears twice");
            else rc = parse_metadata(st, e);
            continue;
        }
        rc = parse_tensor(e, &st->t[st->n], data_size);
        if (st->t[st->n].name) st->n++;
    }
    cJSON_Delete(root);
    if (rc == PL_OK) rc = build_index(st);
    if (rc == PL_OK) rc = check_overlap(st);
    for (int64_t i = 0; rc == PL_OK && i < st->n; i++) st->t[i].data = st->base + st->data_off + st->t[i].begin;
    return rc;
}

static int st_parse(pl_st *st) {
    uint64_t n;
    if (st->size < 8)
        return pl_error(PL_ERR_FORMAT, "truncated safetensors: %zu bytes, the header length alone needs 8", st->size);
    memcpy(&n, st->base, 8);
    if (n > PL_ST_MAX_HEADER)
        return pl_error(PL_ERR_FORMAT, "safetensors header length %llu exceeds the %u-byte limit (corrupt?)",
                        (unsigned long long)n, PL_ST_MAX_HEADER);
    if (n > st->size - 8)
        return pl_error(PL_ERR_FORMAT, "truncated safetensors: header of %llu bytes, only %zu after the length",
                        (unsigned long long)n, st->size - 8);
    if (n < 2) return pl_error(PL_ERR_FORMAT, "safetensors: header of %llu bytes cannot be a JSON object",
                               (unsigned long long)n);
    st->header_len = (size_t)n;
    st->data_off = 8 + (size_t)n;
    const char *json = (const char *)st->base + 8;
    if (!pl_utf8_valid(json, st->header_len)) return pl_error(PL_ERR_FORMAT, "safetensors: header is not valid UTF-8");
    return parse_json(st, json, st->header_len);
}

static pl_st *st_from_buffer(const void *data, size_t size) {
    pl_st *st = pl_calloc(1, sizeof *st);
    if (!st) return NULL;
    st->base = data;
    st->size = size;
    if (st_parse(st) < 0) {
        pl_st_close(st);
        return NULL;
    }
    return st;
}

pl_st *pl_st_open_memory(const void *data, size_t size) {
    static const uint8_t empty[1];
    if (!data && size) return pl_error_null(PL_ERR_ARG, "pl_st_open_memory: NULL data");
    return st_from_buffer(data ? data : empty, size);
}

pl_st *pl_st_open(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pl_error_null(PL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return pl_error_null(PL_ERR_IO, "'%s' is not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return pl_error_null(PL_ERR_FORMAT, "'%s' is empty, not a safetensors file", path);
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return pl_error_null(PL_ERR_IO, "cannot map '%s': %s", path, strerror(e));
    pl_st *st = st_from_buffer(map, size);
    if (!st) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", pl_last_error());
        munmap(map, size);
        return pl_error_null(PL_ERR_FORMAT, "%s: %s", path, msg);
    }
    st->map = map;
    st->map_size = size;
    return st;
}

void pl_st_close(pl_st *st) {
    if (!st) return;
    for (int64_t i = 0; st->t && i < st->n; i++) free(st->t[i].name);
    for (int64_t i = 0; i < st->n_meta; i++) { free(st->meta_k[i]); free(st->meta_v[i]); }
    free(st->t); free(st->sorted); free(st->meta_k); free(st->meta_v);
    if (st->map) munmap(st->map, st->map_size);
    free(st);
}

int64_t pl_st_n_tensors(const pl_st *st) { return st->n; }
size_t pl_st_file_size(const pl_st *st) { return st->size; }
size_t pl_st_header_size(const pl_st *st) { return st->header_len; }

const pl_st_tensor *pl_st_tensor_at(const pl_st *st, int64_t i) {
    return st && i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const pl_st_tensor *pl_st_find(const pl_st *st, const char *name) {
    if (!st || !name || !st->sorted) return NULL;
    int64_t lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->t[st->sorted[mid]].name, name);
        if (c == 0) return &st->t[st->sorted[mid]];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

const char *pl_st_metadata_get(const pl_st *st, const char *key) {
    for (int64_t i = 0; st && key && i < st->n_meta; i++)
        if (!strcmp(st->meta_k[i], key)) return st->meta_v[i];
    return NULL;
}
int64_t pl_st_metadata_n(const pl_st *st) { return st->n_meta; }
const char *pl_st_metadata_key(const pl_st *st, int64_t i) {
    return st && i >= 0 && i < st->n_meta ? st->meta_k[i] : NULL;
}

int pl_st_tensor_ne(const pl_st_tensor *t, int64_t ne[4]) {
    if (t->n_dims > 4) return -1;
    for (int d = 0; d < 4; d++) ne[d] = 1;
    for (int d = 0; d < t->n_dims; d++) ne[d] = t->shape[t->n_dims - 1 - d];
    return t->n_dims ? t->n_dims : 1;
}
