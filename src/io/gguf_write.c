/* GGUF writer: key/values (serialized as they are set, in first-set order) and tensors (copied or
 * referenced), laid out as llama.cpp and the gguf Python package lay them out: header, key/values, tensor
 * infos, zero padding to the alignment, then each tensor's data padded to the alignment. Writing a file
 * read with pl_gguf_open back through pl_gguf_writer_from gives the same bytes when the file used that
 * canonical layout. Files are written to PATH.tmp.PID, fsynced and renamed, so PATH is never half-written. */
#include "io/gguf.h"
#include "io/gguf_internal.h"

#include "core/common.h"
#include "core/dtype.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* ---- a growing byte buffer ------------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} gbuf;

static void buf_put(gbuf *b, const void *data, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = pl_realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}
static void buf_u32(gbuf *b, uint32_t v) { buf_put(b, &v, 4); }
static void buf_u64(gbuf *b, uint64_t v) { buf_put(b, &v, 8); }
static void buf_str(gbuf *b, const char *s, size_t n) { buf_u64(b, n); buf_put(b, s, n); }

/* ---- writer state ---------------------------------------------------------------------------------- */

typedef struct {
    char *key;
    pl_gguf_type type;
    gbuf val;          /* the value's bytes as they go in the file (after the type field) */
} wkv;

typedef struct {
    char *name;
    pl_dtype type;
    int n_dims;
    int64_t ne[4];
    const void *data;
    void *owned;       /* our copy when the caller asked us to copy */
    size_t nbytes;
} wtensor;

struct pl_gguf_writer {
    uint32_t version;
    wkv *kv;
    int64_t n_kv, cap_kv;
    wtensor *t;
    int64_t n_t, cap_t;
};

pl_gguf_writer *pl_gguf_writer_new(void) {
    pl_gguf_writer *w = pl_calloc(1, sizeof *w);
    if (w) w->version = 3;
    return w;
}

void pl_gguf_writer_free(pl_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].val.p); }
    for (int64_t i = 0; i < w->n_t; i++) { free(w->t[i].name); free(w->t[i].owned); }
    free(w->kv);
    free(w->t);
    free(w);
}

int pl_gguf_writer_set_version(pl_gguf_writer *w, uint32_t version) {
    if (version != 2 && version != 3) return pl_error(PL_ERR_ARG, "GGUF writer: version %u (only 2 or 3)", version);
    w->version = version;
    return PL_OK;
}

/* The kv slot for `key`: the existing one (its value is cleared, its position kept) or a new one. */
static wkv *writer_slot(pl_gguf_writer *w, const char *key, pl_gguf_type t) {
    if (!key || !*key) return pl_error_null(PL_ERR_ARG, "GGUF writer: empty key");
    if (!pl_utf8_valid(key, strlen(key))) return pl_error_null(PL_ERR_ARG, "GGUF writer: key is not valid UTF-8");
    for (int64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            w->kv[i].val.len = 0;
            w->kv[i].val.oom = false;
            w->kv[i].type = t;
            return &w->kv[i];
        }
    if (w->n_kv == w->cap_kv) {
        int64_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *kv = pl_realloc(w->kv, sizeof(wkv) * (size_t)cap);
        if (!kv) return NULL;
        w->kv = kv;
        w->cap_kv = cap;
    }
    wkv *kv = &w->kv[w->n_kv];
    memset(kv, 0, sizeof *kv);
    if (!(kv->key = pl_strdup(key))) return NULL;
    kv->type = t;
    w->n_kv++;
    return kv;
}

static int slot_done(wkv *kv) {
    return kv->val.oom ? pl_error(PL_ERR_NOMEM, "GGUF writer: out of memory") : PL_OK;
}

int pl_gguf_writer_set(pl_gguf_writer *w, const char *key, pl_gguf_type t, const void *val) {
    size_t sz = pl_gguf_type_size(t);
    if (!sz) return pl_error(PL_ERR_ARG, "GGUF writer: '%s': type %d is not a scalar type", key ? key : "", (int)t);
    wkv *kv = writer_slot(w, key, t);
    if (!kv) return PL_ERR_ARG;
    if (t == PL_GGUF_BOOL) {
        uint8_t b = *(const bool *)val ? 1 : 0;
        buf_put(&kv->val, &b, 1);
    } else {
        buf_put(&kv->val, val, sz);
    }
    return slot_done(kv);
}

int pl_gguf_writer_set_u32(pl_gguf_writer *w, const char *key, uint32_t v) { return pl_gguf_writer_set(w, key, PL_GGUF_U32, &v); }
int pl_gguf_writer_set_i32(pl_gguf_writer *w, const char *key, int32_t v) { return pl_gguf_writer_set(w, key, PL_GGUF_I32, &v); }
int pl_gguf_writer_set_u64(pl_gguf_writer *w, const char *key, uint64_t v) { return pl_gguf_writer_set(w, key, PL_GGUF_U64, &v); }
int pl_gguf_writer_set_f32(pl_gguf_writer *w, const char *key, float v) { return pl_gguf_writer_set(w, key, PL_GGUF_F32, &v); }
int pl_gguf_writer_set_bool(pl_gguf_writer *w, const char *key, bool v) { return pl_gguf_writer_set(w, key, PL_GGUF_BOOL, &v); }

int pl_gguf_writer_set_strn(pl_gguf_writer *w, const char *key, const char *s, size_t len) {
    if (!s || !pl_utf8_valid(s, len))
        return pl_error(PL_ERR_ARG, "GGUF writer: '%s': string is not valid UTF-8", key ? key : "");
    wkv *kv = writer_slot(w, key, PL_GGUF_STR);
    if (!kv) return PL_ERR_ARG;
    buf_str(&kv->val, s, len);
    return slot_done(kv);
}
int pl_gguf_writer_set_str(pl_gguf_writer *w, const char *key, const char *s) {
    return pl_gguf_writer_set_strn(w, key, s, s ? strlen(s) : 0);
}

int pl_gguf_writer_set_arr(pl_gguf_writer *w, const char *key, pl_gguf_type elem, const void *data, int64_t n) {
    size_t sz = pl_gguf_type_size(elem);
    if (!sz || n < 0 || (n && !data) || (uint64_t)n > SIZE_MAX / sz)
        return pl_error(PL_ERR_ARG, "GGUF writer: '%s': bad numeric array (type %d, n %lld)", key ? key : "",
                        (int)elem, (long long)n);
    wkv *kv = writer_slot(w, key, PL_GGUF_ARR);
    if (!kv) return PL_ERR_ARG;
    buf_u32(&kv->val, (uint32_t)elem);
    buf_u64(&kv->val, (uint64_t)n);
    buf_put(&kv->val, data, (size_t)n * sz);
    return slot_done(kv);
}

int pl_gguf_writer_set_arr_str(pl_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                               int64_t n) {
    if (n < 0 || (n && !strs)) return pl_error(PL_ERR_ARG, "GGUF writer: '%s': bad string array", key ? key : "");
    for (int64_t j = 0; j < n; j++) {
        size_t len = lens ? lens[j] : strlen(strs[j]);
        if (!pl_utf8_valid(strs[j], len))
            return pl_error(PL_ERR_ARG, "GGUF writer: '%s': string %lld is not valid UTF-8", key ? key : "",
                            (long long)j);
    }
    wkv *kv = writer_slot(w, key, PL_GGUF_ARR);
    if (!kv) return PL_ERR_ARG;
    buf_u32(&kv->val, PL_GGUF_STR);
    buf_u64(&kv->val, (uint64_t)n);
    for (int64_t j = 0; j < n; j++) buf_str(&kv->val, strs[j], lens ? lens[j] : strlen(strs[j]));
    return slot_done(kv);
}

int pl_gguf_writer_copy_kv(pl_gguf_writer *w, const pl_gguf *g, int64_t i) {
    if (!g || i < 0 || i >= g->n_kv) return pl_error(PL_ERR_ARG, "GGUF writer: kv index %lld out of range", (long long)i);
    const gguf_kv *src = &g->kv[i];
    switch (src->type) {
    case PL_GGUF_STR: return pl_gguf_writer_set_strn(w, src->key, src->str, src->str_len);
    case PL_GGUF_ARR:
        if (src->arr_type != PL_GGUF_STR)
            return pl_gguf_writer_set_arr(w, src->key, src->arr_type, src->arr_data, src->arr_n);
        {
            wkv *kv = writer_slot(w, src->key, PL_GGUF_ARR);
            if (!kv) return PL_ERR_ARG;
            buf_u32(&kv->val, PL_GGUF_STR);
            buf_u64(&kv->val, (uint64_t)src->arr_n);
            for (int64_t j = 0; j < src->arr_n; j++) buf_str(&kv->val, src->arr_pool + src->arr_off[j], src->arr_len[j]);
            return slot_done(kv);
        }
    case PL_GGUF_F32: { float v = (float)src->f; return pl_gguf_writer_set(w, src->key, src->type, &v); }
    case PL_GGUF_F64: return pl_gguf_writer_set(w, src->key, src->type, &src->f);
    case PL_GGUF_BOOL: { bool v = src->u != 0; return pl_gguf_writer_set(w, src->key, src->type, &v); }
    case PL_GGUF_I8: case PL_GGUF_I16: case PL_GGUF_I32: case PL_GGUF_I64:
        return pl_gguf_writer_set(w, src->key, src->type, &src->i);  /* little-endian: low bytes first */
    default:
        return pl_gguf_writer_set(w, src->key, src->type, &src->u);
    }
}

int pl_gguf_writer_add_tensor(pl_gguf_writer *w, const char *name, pl_dtype type, int n_dims, const int64_t *ne,
                              const void *data, bool copy) {
    if (!name || !*name || !pl_utf8_valid(name, strlen(name)))
        return pl_error(PL_ERR_ARG, "GGUF writer: tensor name is empty or not UTF-8");
    for (int64_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return pl_error(PL_ERR_ARG, "GGUF writer: tensor '%s' added twice", name);
    if (n_dims < 1 || n_dims > 4) return pl_error(PL_ERR_ARG, "GGUF writer: tensor '%s': %d dims", name, n_dims);
    if (!pl_dtype_valid((int)type)) return pl_error(PL_ERR_ARG, "GGUF writer: tensor '%s': bad type %d", name, (int)type);
    wtensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}};
    uint64_t prod = 1;  /* zeros counted as 1, as the reader does */
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 0) return pl_error(PL_ERR_ARG, "GGUF writer: tensor '%s': negative dim", name);
        if (ne[d] && prod > (uint64_t)INT64_MAX / (uint64_t)ne[d])
            return pl_error(PL_ERR_ARG, "GGUF writer: tensor '%s': too large", name);
        t.ne[d] = ne[d];
        if (ne[d]) prod *= (uint64_t)ne[d];
    }
    uint64_t rows = (uint64_t)(t.ne[1] * t.ne[2] * t.ne[3]);
    const pl_type_traits *tr = pl_dtype_traits(type);
    if (t.ne[0] % tr->blck_size)
        return pl_error(PL_ERR_ARG, "GGUF writer: tensor '%s': ne[0] = %lld is not a multiple of %s's block size",
                        name, (long long)t.ne[0], tr->name);
    size_t row = pl_row_size(type, t.ne[0]);
    if (rows && row > SIZE_MAX / rows) return pl_error(PL_ERR_ARG, "GGUF writer: tensor '%s': too large", name);
    t.nbytes = row * (size_t)rows;
    if (t.nbytes && !data) return pl_error(PL_ERR_ARG, "GGUF writer: tensor '%s': NULL data", name);
    if (copy && t.nbytes) {
        if (!(t.owned = pl_malloc(t.nbytes))) return PL_ERR_NOMEM;
        memcpy(t.owned, data, t.nbytes);
        t.data = t.owned;
    } else {
        t.data = data;
    }
    if (!(t.name = pl_strdup(name))) { free(t.owned); return PL_ERR_NOMEM; }
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? w->cap_t * 2 : 16;
        wtensor *nt = pl_realloc(w->t, sizeof(wtensor) * (size_t)cap);
        if (!nt) { free(t.name); free(t.owned); return PL_ERR_NOMEM; }
        w->t = nt;
        w->cap_t = cap;
    }
    w->t[w->n_t++] = t;
    return PL_OK;
}

pl_gguf_writer *pl_gguf_writer_from(const pl_gguf *g) {
    pl_gguf_writer *w = pl_gguf_writer_new();
    if (!w) return NULL;
    int rc = pl_gguf_writer_set_version(w, g->version);
    for (int64_t i = 0; rc == PL_OK && i < g->n_kv; i++) rc = pl_gguf_writer_copy_kv(w, g, i);
    for (int64_t i = 0; rc == PL_OK && i < g->n_tensors; i++) {
        const pl_gguf_tensor *t = &g->tensors[i];
        rc = pl_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, false);
    }
    if (rc != PL_OK) { pl_gguf_writer_free(w); return NULL; }
    return w;
}

/* ---- layout and output ----------------------------------------------------------------------------- */

static int writer_alignment(const pl_gguf_writer *w, uint32_t *align) {
    *align = PL_GGUF_DEFAULT_ALIGNMENT;
    for (int64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment")) continue;
        uint32_t a;
        if (w->kv[i].type != PL_GGUF_U32) return pl_error(PL_ERR_ARG, "GGUF writer: general.alignment must be u32");
        memcpy(&a, w->kv[i].val.p, 4);
        if (a == 0 || (a & (a - 1)))
            return pl_error(PL_ERR_ARG, "GGUF writer: general.alignment = %u is not a power of two", a);
        *align = a;
    }
    return PL_OK;
}

static size_t pad_to(size_t n, uint32_t a) { return (a - n % a) % a; }

/* Everything before the data section, padded to the alignment. */
static int writer_header(const pl_gguf_writer *w, uint32_t align, gbuf *h) {
    buf_put(h, "GGUF", 4);
    buf_u32(h, w->version);
    buf_u64(h, (uint64_t)w->n_t);
    buf_u64(h, (uint64_t)w->n_kv);
    for (int64_t i = 0; i < w->n_kv; i++) {
        buf_str(h, w->kv[i].key, strlen(w->kv[i].key));
        buf_u32(h, (uint32_t)w->kv[i].type);
        buf_put(h, w->kv[i].val.p, w->kv[i].val.len);
    }
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        buf_str(h, t->name, strlen(t->name));
        buf_u32(h, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) buf_u64(h, (uint64_t)t->ne[d]);
        buf_u32(h, (uint32_t)t->type);
        buf_u64(h, off);
        off += t->nbytes + pad_to(t->nbytes, align);
    }
    static const uint8_t zeros[64];
    for (size_t p = pad_to(h->len, align); p > 0;) {
        size_t n = PL_MIN(p, sizeof zeros);
        buf_put(h, zeros, n);
        p -= n;
    }
    return h->oom ? pl_error(PL_ERR_NOMEM, "GGUF writer: out of memory") : PL_OK;
}

/* Output goes to a buffer or a file descriptor. */
typedef struct {
    uint8_t *mem;
    size_t pos;
    int fd;
} sink;

static int sink_put(sink *s, const void *data, size_t n) {
    if (s->mem) {
        memcpy(s->mem + s->pos, data, n);
        s->pos += n;
        return PL_OK;
    }
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t k = write(s->fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return pl_error(PL_ERR_IO, "GGUF writer: write failed: %s", strerror(errno));
        }
        p += k;
        n -= (size_t)k;
    }
    return PL_OK;
}

static int writer_emit(const pl_gguf_writer *w, uint32_t align, const gbuf *h, sink *s) {
    static const uint8_t zeros[256];
    int rc = sink_put(s, h->p, h->len);
    for (int64_t i = 0; rc == PL_OK && i < w->n_t; i++) {
        if (w->t[i].nbytes) rc = sink_put(s, w->t[i].data, w->t[i].nbytes);
        for (size_t p = pad_to(w->t[i].nbytes, align); rc == PL_OK && p > 0;) {
            size_t n = PL_MIN(p, sizeof zeros);
            rc = sink_put(s, zeros, n);
            p -= n;
        }
    }
    return rc;
}

static size_t writer_total(const pl_gguf_writer *w, uint32_t align, const gbuf *h) {
    size_t total = h->len;
    for (int64_t i = 0; i < w->n_t; i++) total += w->t[i].nbytes + pad_to(w->t[i].nbytes, align);
    return total;
}

int pl_gguf_writer_write_memory(pl_gguf_writer *w, void **out, size_t *out_len) {
    uint32_t align;
    gbuf h = {0};
    int rc = writer_alignment(w, &align);
    if (rc == PL_OK) rc = writer_header(w, align, &h);
    if (rc != PL_OK) { free(h.p); return rc; }
    size_t total = writer_total(w, align, &h);
    sink s = {.mem = pl_malloc(total ? total : 1)};
    if (!s.mem) { free(h.p); return PL_ERR_NOMEM; }
    writer_emit(w, align, &h, &s);
    free(h.p);
    *out = s.mem;
    *out_len = total;
    return PL_OK;
}

int pl_gguf_writer_write_file(pl_gguf_writer *w, const char *path) {
    uint32_t align;
    gbuf h = {0};
    int rc = writer_alignment(w, &align);
    if (rc == PL_OK) rc = writer_header(w, align, &h);
    if (rc != PL_OK) { free(h.p); return rc; }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    sink s = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (s.fd < 0) {
        free(h.p);
        return pl_error(PL_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    }
    rc = writer_emit(w, align, &h, &s);
    free(h.p);
    if (rc == PL_OK && fsync(s.fd) != 0) rc = pl_error(PL_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    if (close(s.fd) != 0 && rc == PL_OK) rc = pl_error(PL_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    if (rc == PL_OK && rename(tmp, path) != 0)
        rc = pl_error(PL_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (rc != PL_OK) unlink(tmp);
    return rc;
}
