/* safetensors writer: tensors (copied or referenced) and __metadata__ strings -> one file, laid out as
 * Hugging Face's writer does: 8-byte header length, JSON header space-padded to a multiple of 8, then the
 * tensors' data back to back in the order added. Files go to PATH.tmp.PID, fsync, rename. */
#include "io/safetensors.h"
#include "io/safetensors_internal.h"

#include "core/common.h"
#include "core/dtype.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

typedef struct {
    char *name;
    pl_dtype type;
    int n_dims;
    int64_t shape[PL_ST_MAX_DIMS];
    const void *data;
    void *owned;
    size_t nbytes;
} st_wtensor;

struct pl_st_writer {
    st_wtensor *t;
    int64_t n, cap;
    cJSON *meta;
};

pl_st_writer *pl_st_writer_new(void) {
    pl_st_writer *w = pl_calloc(1, sizeof *w);
    if (w && !(w->meta = cJSON_CreateObject())) { free(w); return pl_error_null(PL_ERR_NOMEM, "out of memory"); }
    return w;
}

void pl_st_writer_free(pl_st_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n; i++) { free(w->t[i].name); free(w->t[i].owned); }
    free(w->t);
    cJSON_Delete(w->meta);
    free(w);
}

int pl_st_writer_set_metadata(pl_st_writer *w, const char *key, const char *value) {
    if (!key || !value || !pl_utf8_valid(key, strlen(key)) || !pl_utf8_valid(value, strlen(value)))
        return pl_error(PL_ERR_ARG, "safetensors writer: metadata key/value missing or not UTF-8");
    cJSON *v = cJSON_CreateString(value);
    if (!v) return pl_error(PL_ERR_NOMEM, "out of memory");
    if (cJSON_GetObjectItemCaseSensitive(w->meta, key)) cJSON_ReplaceItemInObjectCaseSensitive(w->meta, key, v);
    else cJSON_AddItemToObject(w->meta, key, v);
    return PL_OK;
}

int pl_st_writer_add(pl_st_writer *w, const char *name, pl_dtype type, int n_dims, const int64_t *shape,
                     const void *data, bool copy) {
    if (!name || !*name || !strcmp(name, "__metadata__") || !pl_utf8_valid(name, strlen(name)))
        return pl_error(PL_ERR_ARG, "safetensors writer: bad tensor name");
    for (int64_t i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name)) return pl_error(PL_ERR_ARG, "safetensors writer: '%s' added twice", name);
    const st_dtype_info *info = st_dtype_by_type(type);
    if (!info) return pl_error(PL_ERR_ARG, "safetensors writer: '%s': type %s cannot be stored", name,
                               pl_dtype_name(type));
    if (n_dims < 0 || n_dims > PL_ST_MAX_DIMS) return pl_error(PL_ERR_ARG, "safetensors writer: '%s': %d dims", name, n_dims);
    st_wtensor t = {.type = type, .n_dims = n_dims};
    uint64_t numel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (shape[d] < 0 || (shape[d] && numel > (uint64_t)INT64_MAX / (uint64_t)shape[d] / info->size))
            return pl_error(PL_ERR_ARG, "safetensors writer: '%s': bad shape", name);
        t.shape[d] = shape[d];
        numel *= (uint64_t)shape[d];
    }
    t.nbytes = (size_t)(numel * info->size);
    if (t.nbytes && !data) return pl_error(PL_ERR_ARG, "safetensors writer: '%s': NULL data", name);
    t.data = data;
    if (copy && t.nbytes) {
        if (!(t.owned = pl_malloc(t.nbytes))) return PL_ERR_NOMEM;
        memcpy(t.owned, data, t.nbytes);
        t.data = t.owned;
    }
    if (!(t.name = pl_strdup(name))) { free(t.owned); return PL_ERR_NOMEM; }
    if (w->n == w->cap) {
        int64_t cap = w->cap ? w->cap * 2 : 16;
        st_wtensor *nt = pl_realloc(w->t, sizeof(st_wtensor) * (size_t)cap);
        if (!nt) { free(t.name); free(t.owned); return PL_ERR_NOMEM; }
        w->t = nt;
        w->cap = cap;
    }
    w->t[w->n++] = t;
    return PL_OK;
}

/* The padded header: 8-byte length + JSON + spaces. *data_len gets the data section's size. */
static char *writer_header(const pl_st_writer *w, size_t *hlen, size_t *data_len) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return pl_error_null(PL_ERR_NOMEM, "out of memory");
    if (cJSON_GetArraySize(w->meta) > 0) cJSON_AddItemReferenceToObject(root, "__metadata__", w->meta);
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n; i++) {
        const st_wtensor *t = &w->t[i];
        cJSON *e = cJSON_CreateObject(), *sh = cJSON_CreateArray(), *of = cJSON_CreateArray();
        cJSON_AddItemToObject(root, t->name, e);
        cJSON_AddStringToObject(e, "dtype", st_dtype_by_type(t->type)->name);
        for (int d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddItemToObject(e, "shape", sh);
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + t->nbytes)));
        cJSON_AddItemToObject(e, "data_offsets", of);
        off += t->nbytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return pl_error_null(PL_ERR_NOMEM, "safetensors writer: out of memory");
    size_t n = strlen(json), padded = (n + 7) / 8 * 8;
    char *h = pl_malloc(8 + padded);
    if (h) {
        uint64_t len = padded;
        memcpy(h, &len, 8);
        memcpy(h + 8, json, n);
        memset(h + 8 + n, ' ', padded - n);
        *hlen = 8 + padded;
        *data_len = (size_t)off;
    }
    free(json);
    return h;
}

int pl_st_writer_write_memory(pl_st_writer *w, void **out, size_t *out_len) {
    size_t hlen, dlen;
    char *h = writer_header(w, &hlen, &dlen);
    if (!h) return PL_ERR_NOMEM;
    uint8_t *buf = pl_malloc(hlen + dlen);
    if (!buf) { free(h); return PL_ERR_NOMEM; }
    memcpy(buf, h, hlen);
    size_t at = hlen;
    for (int64_t i = 0; i < w->n; i++) {
        if (w->t[i].nbytes) memcpy(buf + at, w->t[i].data, w->t[i].nbytes);
        at += w->t[i].nbytes;
    }
    free(h);
    *out = buf;
    *out_len = hlen + dlen;
    return PL_OK;
}

static int write_all(int fd, const void *data, size_t n) {
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return pl_error(PL_ERR_IO, "safetensors writer: write failed: %s", strerror(errno));
        }
        p += k;
        n -= (size_t)k;
    }
    return PL_OK;
}

int pl_st_writer_write_file(pl_st_writer *w, const char *path) {
    size_t hlen, dlen;
    char *h = writer_header(w, &hlen, &dlen);
    if (!h) return PL_ERR_NOMEM;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { free(h); return pl_error(PL_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno)); }
    int rc = write_all(fd, h, hlen);
    free(h);
    for (int64_t i = 0; rc == PL_OK && i < w->n; i++) rc = write_all(fd, w->t[i].data, w->t[i].nbytes);
    if (rc == PL_OK && fsync(fd) != 0) rc = pl_error(PL_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    if (close(fd) != 0 && rc == PL_OK) rc = pl_error(PL_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    if (rc == PL_OK && rename(tmp, path) != 0)
        rc = pl_error(PL_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (rc != PL_OK) unlink(tmp);
    return rc;
}
