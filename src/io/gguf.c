/* GGUF reader: maps a file (or takes caller memory), parses header, key/values and tensor infos with a
 * bounds-checked cursor, and validates the tensor data layout against the file size. Every count read from
 * the file is checked against the bytes left before anything is allocated, so a corrupt or hostile file
 * costs at most a few times its own size in memory. The writer lives in gguf_write.c. */
#include "io/gguf.h"
#include "io/gguf_internal.h"

#include "core/common.h"
#include "core/dtype.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC "GGUF"
#define GGUF_HEADER_BYTES 24   /* magic, version, n_tensors, n_kv */
#define GGUF_MIN_KV_BYTES 13   /* key length (8) + type (4) + the smallest value (1) */
#define GGUF_MIN_TI_BYTES 32   /* name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8) */

/* ---- bounds-checked cursor ------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t pos, size;
} gguf_cursor;

static size_t cur_left(const gguf_cursor *c) { return c->size - c->pos; }

static int cur_read(gguf_cursor *c, void *dst, size_t n, const char *what) {
    if (cur_left(c) < n)
        return pl_error(PL_ERR_FORMAT, "truncated GGUF: %s at byte %zu needs %zu bytes, only %zu left", what,
                        c->pos, n, cur_left(c));
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return PL_OK;
}

static int cur_u32(gguf_cursor *c, uint32_t *v, const char *what) { return cur_read(c, v, 4, what); }
static int cur_u64(gguf_cursor *c, uint64_t *v, const char *what) { return cur_read(c, v, 8, what); }

/* A length-prefixed string: checked against the bytes left, must be UTF-8. Returns a pointer into the
 * buffer (not NUL-terminated) and its length. */
static int cur_str(gguf_cursor *c, const char **s, size_t *len, const char *what) {
    uint64_t n = 0;
    size_t at = c->pos;
    if (cur_u64(c, &n, what) < 0) return PL_ERR_FORMAT;
    if (n > cur_left(c))
        return pl_error(PL_ERR_FORMAT, "GGUF %s at byte %zu: string length %llu exceeds the %zu bytes left", what,
                        at, (unsigned long long)n, cur_left(c));
    *s = (const char *)c->p + c->pos;
    *len = (size_t)n;
    if (!pl_utf8_valid(*s, *len))
        return pl_error(PL_ERR_FORMAT, "GGUF %s at byte %zu: string is not valid UTF-8", what, at);
    c->pos += (size_t)n;
    return PL_OK;
}

static char *dup_n(const char *s, size_t n) {
    char *d = pl_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* ---- value types ----------------------------------------------------------------------------------- */

static const char *const g_type_names[PL_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "array", "u64", "i64", "f64",
};
static const uint8_t g_type_sizes[PL_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *pl_gguf_type_name(pl_gguf_type t) {
    return (unsigned)t < PL_GGUF_TYPE_COUNT ? g_type_names[t] : "?";
}
size_t pl_gguf_type_size(pl_gguf_type t) { return (unsigned)t < PL_GGUF_TYPE_COUNT ? g_type_sizes[t] : 0; }

/* Decode one scalar (little-endian bytes) into the kv's integer/float slots. */
static void scalar_decode(gguf_kv *kv, const uint8_t *b) {
    switch (kv->type) {
    case PL_GGUF_U8: kv->u = b[0]; break;
    case PL_GGUF_I8: kv->i = (int8_t)b[0]; break;
    case PL_GGUF_BOOL: kv->u = b[0] != 0; break;
    case PL_GGUF_U16: { uint16_t v; memcpy(&v, b, 2); kv->u = v; break; }
    case PL_GGUF_I16: { int16_t v; memcpy(&v, b, 2); kv->i = v; break; }
    case PL_GGUF_U32: { uint32_t v; memcpy(&v, b, 4); kv->u = v; break; }
    case PL_GGUF_I32: { int32_t v; memcpy(&v, b, 4); kv->i = v; break; }
    case PL_GGUF_U64: { uint64_t v; memcpy(&v, b, 8); kv->u = v; break; }
    case PL_GGUF_I64: { int64_t v; memcpy(&v, b, 8); kv->i = v; break; }
    case PL_GGUF_F32: { float v; memcpy(&v, b, 4); kv->f = v; break; }
    case PL_GGUF_F64: { double v; memcpy(&v, b, 8); kv->f = v; break; }
    default: break;
    }
}

static bool type_is_signed(pl_gguf_type t) {
    return t == PL_GGUF_I8 || t == PL_GGUF_I16 || t == PL_GGUF_I32 || t == PL_GGUF_I64;
}
static bool type_is_int(pl_gguf_type t) {
    return t == PL_GGUF_U8 || t == PL_GGUF_U16 || t == PL_GGUF_U32 || t == PL_GGUF_U64 || t == PL_GGUF_BOOL ||
           type_is_signed(t);
}

/* String array: all strings in one pool, NUL-terminated, with offsets and lengths. The pool is at most
 * the array's bytes in the file (each string's 8-byte length prefix pays for its NUL). */
static int read_str_array(gguf_cursor *c, gguf_kv *kv) {
    int64_t n = kv->arr_n;
    size_t start = c->pos, total = 0;
    for (int64_t j = 0; j < n; j++) {  /* first pass: validate and size */
        const char *s; size_t len;
        if (cur_str(c, &s, &len, "array string") < 0) return PL_ERR_FORMAT;
        total += len + 1;
    }
    kv->arr_pool = pl_malloc(total ? total : 1);
    kv->arr_off = pl_malloc(sizeof(size_t) * (size_t)(n ? n : 1));
    kv->arr_len = pl_malloc(sizeof(size_t) * (size_t)(n ? n : 1));
    if (!kv->arr_pool || !kv->arr_off || !kv->arr_len) return PL_ERR_NOMEM;
    c->pos = start;
    size_t at = 0;
    for (int64_t j = 0; j < n; j++) {  /* second pass: copy (cannot fail: validated above) */
        const char *s; size_t len;
        cur_str(c, &s, &len, "array string");
        memcpy(kv->arr_pool + at, s, len);
        kv->arr_pool[at + len] = 0;
        kv->arr_off[j] = at;
        kv->arr_len[j] = len;
        at += len + 1;
    }
    return PL_OK;
}

static int read_array(gguf_cursor *c, gguf_kv *kv) {
    uint32_t et = 0;
    uint64_t n = 0;
    if (cur_u32(c, &et, "array element type") < 0 || cur_u64(c, &n, "array length") < 0) return PL_ERR_FORMAT;
    if (et >= PL_GGUF_TYPE_COUNT)
        return pl_error(PL_ERR_FORMAT, "GGUF key '%s': unknown array element type %u", kv->key, et);
    if (et == PL_GGUF_ARR)
        return pl_error(PL_ERR_UNSUPPORTED, "GGUF key '%s': nested arrays are not supported", kv->key);
    kv->arr_type = (pl_gguf_type)et;
    /* every element takes at least 1 byte (8 for a string's length), so n is bounded by the bytes left */
    size_t min_el = et == PL_GGUF_STR ? 8 : g_type_sizes[et];
    if (n > cur_left(c) / min_el)
        return pl_error(PL_ERR_FORMAT, "GGUF key '%s': array of %llu %s elements exceeds the %zu bytes left",
                        kv->key, (unsigned long long)n, g_type_names[et], cur_left(c));
    kv->arr_n = (int64_t)n;
    if (et == PL_GGUF_STR) return read_str_array(c, kv);
    size_t nbytes = (size_t)n * min_el;
    kv->arr_data = pl_malloc(nbytes ? nbytes : 1);  /* an aligned copy: the file offers no alignment */
    if (!kv->arr_data) return PL_ERR_NOMEM;
    if (et == PL_GGUF_BOOL) {
        for (size_t j = 0; j < nbytes; j++)
            if (c->p[c->pos + j] > 1)
                return pl_error(PL_ERR_FORMAT, "GGUF key '%s': bool array element %zu is %u, not 0 or 1", kv->key, j,
                                c->p[c->pos + j]);
    }
    return cur_read(c, kv->arr_data, nbytes, "array data");
}

static int read_kv(gguf_cursor *c, gguf_kv *kv) {
    const char *s = NULL;
    size_t len = 0;
    uint32_t t = 0;
    if (cur_str(c, &s, &len, "key") < 0) return PL_ERR_FORMAT;
    if (len == 0) return pl_error(PL_ERR_FORMAT, "GGUF: empty key at byte %zu", c->pos - 8);
    if (memchr(s, 0, len)) return pl_error(PL_ERR_FORMAT, "GGUF: key at byte %zu contains a NUL byte", c->pos - len);
    if (!(kv->key = dup_n(s, len))) return PL_ERR_NOMEM;
    if (cur_u32(c, &t, "value type") < 0) return PL_ERR_FORMAT;
    if (t >= PL_GGUF_TYPE_COUNT) return pl_error(PL_ERR_FORMAT, "GGUF key '%s': unknown value type %u", kv->key, t);
    kv->type = (pl_gguf_type)t;
    if (t == PL_GGUF_STR) {
        if (cur_str(c, &s, &len, kv->key) < 0) return PL_ERR_FORMAT;
        kv->str_len = len;
        return (kv->str = dup_n(s, len)) ? PL_OK : PL_ERR_NOMEM;
    }
    if (t == PL_GGUF_ARR) return read_array(c, kv);
    uint8_t b[8] = {0};
    if (cur_read(c, b, g_type_sizes[t], kv->key) < 0) return PL_ERR_FORMAT;
    if (t == PL_GGUF_BOOL && b[0] > 1)
        return pl_error(PL_ERR_FORMAT, "GGUF key '%s': bool value is %u, not 0 or 1", kv->key, b[0]);
    scalar_decode(kv, b);
    return PL_OK;
}

/* ---- tensor infos ---------------------------------------------------------------------------------- */

static int read_tensor_info(gguf_cursor *c, pl_gguf_tensor *t, int64_t idx) {
    const char *s;
    size_t len;
    uint32_t n_dims = 0, type = 0;
    if (cur_str(c, &s, &len, "tensor name") < 0) return PL_ERR_FORMAT;
    if (len == 0 || memchr(s, 0, len))
        return pl_error(PL_ERR_FORMAT, "GGUF tensor %lld: name is empty or contains a NUL byte", (long long)idx);
    if (!(t->name = dup_n(s, len))) return PL_ERR_NOMEM;
    if (cur_u32(c, &n_dims, "tensor n_dims") < 0) return PL_ERR_FORMAT;
    if (n_dims < 1 || n_dims > 4)
        return pl_error(PL_ERR_FORMAT, "GGUF tensor '%s': %u dimensions (must be 1 to 4)", t->name, n_dims);
    t->n_dims = (int)n_dims;
    /* the product of the dims (zeros counted as 1, so a zero cannot hide a huge dim) must fit in int64 */
    uint64_t prod = 1;
    for (int d = 0; d < 4; d++) {
        uint64_t ne = 1;
        if (d < (int)n_dims && cur_u64(c, &ne, "tensor dimension") < 0) return PL_ERR_FORMAT;
        if (ne > (uint64_t)INT64_MAX || (ne && prod > (uint64_t)INT64_MAX / ne))
            return pl_error(PL_ERR_FORMAT, "GGUF tensor '%s': dimension %d (%llu) makes the element count overflow",
                            t->name, d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
        if (ne) prod *= ne;
    }
    if (cur_u32(c, &type, "tensor type") < 0 || cur_u64(c, &t->offset, "tensor offset") < 0) return PL_ERR_FORMAT;
    if (!pl_dtype_valid((int)type))
        return pl_error(PL_ERR_UNSUPPORTED, "GGUF tensor '%s': unknown or unsupported type id %u", t->name, type);
    t->type = (pl_dtype)type;
    const pl_type_traits *tr = pl_dtype_traits(t->type);
    if (t->ne[0] % tr->blck_size)
        return pl_error(PL_ERR_FORMAT, "GGUF tensor '%s': ne[0] = %lld is not a multiple of %s's block size %lld",
                        t->name, (long long)t->ne[0], tr->name, (long long)tr->blck_size);
    /* the byte size can still overflow (type_size > blck_size): check before multiplying */
    size_t row = pl_row_size(t->type, t->ne[0]);
    uint64_t rows = (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);  /* no overflow: bounded by prod */
    if (t->ne[0] && (uint64_t)t->ne[0] / (uint64_t)tr->blck_size > SIZE_MAX / tr->type_size)
        return pl_error(PL_ERR_FORMAT, "GGUF tensor '%s': row size overflows", t->name);
    if (rows && row > SIZE_MAX / rows) return pl_error(PL_ERR_FORMAT, "GGUF tensor '%s': size overflows", t->name);
    t->nbytes = row * (size_t)rows;
    return PL_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
    const pl_gguf_tensor *x = *(const pl_gguf_tensor *const *)a, *y = *(const pl_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Each tensor's data: aligned, inside the file, and not overlapping any other. */
static int check_tensor_data(pl_gguf *g) {
    size_t avail = g->data_offset <= g->size ? g->size - g->data_offset : 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        pl_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment)
            return pl_error(PL_ERR_FORMAT, "GGUF tensor '%s': data offset %llu is not a multiple of the alignment %u",
                            t->name, (unsigned long long)t->offset, g->alignment);
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return pl_error(PL_ERR_FORMAT,
                            "GGUF tensor '%s': data [%llu, +%zu) lies outside the file's %zu data bytes (truncated?)",
                            t->name, (unsigned long long)t->offset, t->nbytes, avail);
        t->data = g->base + g->data_offset + t->offset;
    }
    if (g->n_tensors < 2) return PL_OK;
    pl_gguf_tensor **order = pl_malloc(sizeof(*order) * (size_t)g->n_tensors);
    if (!order) return PL_ERR_NOMEM;
    for (int64_t i = 0; i < g->n_tensors; i++) order[i] = &g->tensors[i];
    qsort(order, (size_t)g->n_tensors, sizeof(*order), cmp_by_offset);
    int rc = PL_OK;
    for (int64_t i = 0; i + 1 < g->n_tensors && rc == PL_OK; i++)
        if (order[i]->offset + order[i]->nbytes > order[i + 1]->offset)
            rc = pl_error(PL_ERR_FORMAT, "GGUF tensors '%s' and '%s' overlap in the data section", order[i]->name,
                          order[i + 1]->name);
    free(order);
    return rc;
}

/* Names are looked up often (model loaders ask for every tensor by name): a sorted index, binary search. */
static int cmp_kv_index(const void *a, const void *b, void *ctx) {
    const gguf_kv *kv = ctx;
    return strcmp(kv[*(const int64_t *)a].key, kv[*(const int64_t *)b].key);
}
static int cmp_tensor_index(const void *a, const void *b, void *ctx) {
    const pl_gguf_tensor *t = ctx;
    return strcmp(t[*(const int64_t *)a].name, t[*(const int64_t *)b].name);
}

static int build_indexes(pl_gguf *g) {
    g->kv_sorted = pl_malloc(sizeof(int64_t) * (size_t)(g->n_kv + 1));
    g->t_sorted = pl_malloc(sizeof(int64_t) * (size_t)(g->n_tensors + 1));
    if (!g->kv_sorted || !g->t_sorted) return PL_ERR_NOMEM;
    for (int64_t i = 0; i < g->n_kv; i++) g->kv_sorted[i] = i;
    for (int64_t i = 0; i < g->n_tensors; i++) g->t_sorted[i] = i;
    qsort_r(g->kv_sorted, (size_t)g->n_kv, sizeof(int64_t), cmp_kv_index, g->kv);
    qsort_r(g->t_sorted, (size_t)g->n_tensors, sizeof(int64_t), cmp_tensor_index, g->tensors);
    for (int64_t i = 0; i + 1 < g->n_kv; i++)
        if (!strcmp(g->kv[g->kv_sorted[i]].key, g->kv[g->kv_sorted[i + 1]].key))
            return pl_error(PL_ERR_FORMAT, "GGUF: key '%s' appears twice", g->kv[g->kv_sorted[i]].key);
    for (int64_t i = 0; i + 1 < g->n_tensors; i++)
        if (!strcmp(g->tensors[g->t_sorted[i]].name, g->tensors[g->t_sorted[i + 1]].name))
            return pl_error(PL_ERR_FORMAT, "GGUF: tensor '%s' appears twice", g->tensors[g->t_sorted[i]].name);
    return PL_OK;
}

static int read_alignment(pl_gguf *g) {
    g->alignment = PL_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = pl_gguf_find_key(g, "general.alignment");
    if (i < 0) return PL_OK;
    if (g->kv[i].type != PL_GGUF_U32)
        return pl_error(PL_ERR_FORMAT, "GGUF: general.alignment has type %s, expected u32",
                        g_type_names[g->kv[i].type]);
    uint64_t a = g->kv[i].u;
    if (a == 0 || (a & (a - 1)))
        return pl_error(PL_ERR_FORMAT, "GGUF: general.alignment = %llu is not a power of two", (unsigned long long)a);
    g->alignment = (uint32_t)a;
    return PL_OK;
}

static int read_header(gguf_cursor *c, pl_gguf *g) {
    char magic[4] = {0};
    uint64_t n_tensors = 0, n_kv = 0;
    if (cur_read(c, magic, 4, "magic") < 0) return PL_ERR_FORMAT;
    if (memcmp(magic, GGUF_MAGIC, 4)) return pl_error(PL_ERR_FORMAT, "not a GGUF file (bad magic)");
    if (cur_u32(c, &g->version, "version") < 0) return PL_ERR_FORMAT;
    if (g->version == 1) return pl_error(PL_ERR_UNSUPPORTED, "GGUF version 1 is not supported (only 2 and 3)");
    if (g->version > 0xFFFF && (g->version & 0xFFFF) == 0)
        return pl_error(PL_ERR_UNSUPPORTED, "big-endian GGUF files are not supported");
    if (g->version != 2 && g->version != 3)
        return pl_error(PL_ERR_UNSUPPORTED, "GGUF version %u is not supported (only 2 and 3)", g->version);
    if (cur_u64(c, &n_tensors, "tensor count") < 0 || cur_u64(c, &n_kv, "key/value count") < 0) return PL_ERR_FORMAT;
    size_t left = cur_left(c);
    if (n_kv > left / GGUF_MIN_KV_BYTES || n_tensors > left / GGUF_MIN_TI_BYTES ||
        n_kv * GGUF_MIN_KV_BYTES + n_tensors * GGUF_MIN_TI_BYTES > left)
        return pl_error(PL_ERR_FORMAT, "GGUF header claims %llu key/values and %llu tensors: more than the file's %zu "
                        "bytes can hold (truncated or corrupt)", (unsigned long long)n_kv,
                        (unsigned long long)n_tensors, c->size);
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    return PL_OK;
}

static int gguf_parse(pl_gguf *g) {
    gguf_cursor c = {g->base, 0, g->size};
    if (read_header(&c, g) < 0) return PL_ERR_FORMAT;
    g->kv = pl_calloc((size_t)g->n_kv + 1, sizeof(gguf_kv));
    g->tensors = pl_calloc((size_t)g->n_tensors + 1, sizeof(pl_gguf_tensor));
    if (!g->kv || !g->tensors) return PL_ERR_NOMEM;
    for (int64_t i = 0; i < g->n_kv; i++) {
        int rc = read_kv(&c, &g->kv[i]);
        if (rc < 0) return rc;
    }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        int rc = read_tensor_info(&c, &g->tensors[i], i);
        if (rc < 0) return rc;
    }
    int rc = build_indexes(g);
    if (rc < 0 || (rc = read_alignment(g)) < 0) return rc;
    size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    g->data_offset = c.pos + pad;  /* c.pos <= size, so no overflow for any u32 alignment on 64-bit */
    if (g->n_tensors > 0 && g->data_offset > g->size)
        return pl_error(PL_ERR_FORMAT, "truncated GGUF: data section would start at byte %zu, file has %zu",
                        g->data_offset, g->size);
    return check_tensor_data(g);
}

/* ---- open / close ---------------------------------------------------------------------------------- */

static pl_gguf *gguf_from_buffer(const void *data, size_t size) {
    pl_gguf *g = pl_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->base = data;
    g->size = size;
    if (gguf_parse(g) < 0) {
        pl_gguf_close(g);
        return NULL;
    }
    return g;
}

pl_gguf *pl_gguf_open_memory(const void *data, size_t size) {
    if (!data && size) return pl_error_null(PL_ERR_ARG, "pl_gguf_open_memory: NULL data");
    static const uint8_t empty[1];
    return gguf_from_buffer(data ? data : empty, size);
}

/* Prefix the current message with the path (the parser does not know it). */
static void *fail_with_path(const char *path) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", pl_last_error());
    return pl_error_null(PL_ERR_FORMAT, "%s: %s", path, msg);
}

pl_gguf *pl_gguf_open(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pl_error_null(PL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return pl_error_null(PL_ERR_IO, "'%s' is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return pl_error_null(PL_ERR_FORMAT, "'%s' is empty, not a GGUF file", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);  /* the mapping keeps the file */
    if (map == MAP_FAILED) return pl_error_null(PL_ERR_IO, "cannot map '%s': %s", path, strerror(e));
    pl_gguf *g = gguf_from_buffer(map, size);
    if (!g) {
        munmap(map, size);
        return fail_with_path(path);
    }
    g->map = map;
    g->map_size = size;
    return g;
}

void pl_gguf_close(pl_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; g->kv && i < g->n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        free(kv->key); free(kv->str); free(kv->arr_data);
        free(kv->arr_pool); free(kv->arr_off); free(kv->arr_len);
    }
    for (int64_t i = 0; g->tensors && i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv); free(g->tensors); free(g->kv_sorted); free(g->t_sorted);
    if (g->map) munmap(g->map, g->map_size);
    free(g);
}

void pl_gguf_release(const pl_gguf *g, const void *p, size_t n) {
    const char *m = g ? g->map : NULL, *a = p;
    if (!m || a < m || a + n > m + g->map_size) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = ((uintptr_t)a + page - 1) & ~(page - 1),
                    hi = ((uintptr_t)a + n) & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED); /* a private read-only mapping: clean pages, refetched */
}

/* ---- accessors ------------------------------------------------------------------------------------- */

uint32_t pl_gguf_version(const pl_gguf *g) { return g->version; }
uint32_t pl_gguf_alignment(const pl_gguf *g) { return g->alignment; }
size_t pl_gguf_data_offset(const pl_gguf *g) { return g->data_offset; }
size_t pl_gguf_file_size(const pl_gguf *g) { return g->size; }
int64_t pl_gguf_n_kv(const pl_gguf *g) { return g->n_kv; }
int64_t pl_gguf_n_tensors(const pl_gguf *g) { return g->n_tensors; }

static const gguf_kv *kv_at(const pl_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_kv ? &g->kv[i] : NULL;
}

const char *pl_gguf_key(const pl_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv ? kv->key : NULL;
}

int64_t pl_gguf_find_key(const pl_gguf *g, const char *key) {
    if (!g || !key || !g->kv_sorted) return -1;
    int64_t lo = 0, hi = g->n_kv - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->kv[g->kv_sorted[mid]].key, key);
        if (c == 0) return g->kv_sorted[mid];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

pl_gguf_type pl_gguf_kv_type(const pl_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv ? kv->type : PL_GGUF_TYPE_COUNT;
}

const char *pl_gguf_kv_str(const pl_gguf *g, int64_t i, size_t *len) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != PL_GGUF_STR) return NULL;
    if (len) *len = kv->str_len;
    return kv->str;
}

int64_t pl_gguf_kv_int(const pl_gguf *g, int64_t i, int64_t def) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || !type_is_int(kv->type)) return def;
    if (type_is_signed(kv->type)) return kv->i;
    return kv->u > (uint64_t)INT64_MAX ? def : (int64_t)kv->u;
}

uint64_t pl_gguf_kv_u64(const pl_gguf *g, int64_t i, uint64_t def) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || !type_is_int(kv->type)) return def;
    if (type_is_signed(kv->type)) return kv->i < 0 ? def : (uint64_t)kv->i;
    return kv->u;
}

double pl_gguf_kv_float(const pl_gguf *g, int64_t i, double def) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv) return def;
    if (kv->type == PL_GGUF_F32 || kv->type == PL_GGUF_F64) return kv->f;
    if (!type_is_int(kv->type)) return def;
    return type_is_signed(kv->type) ? (double)kv->i : (double)kv->u;
}

const char *pl_gguf_get_str(const pl_gguf *g, const char *key, size_t *len) {
    return pl_gguf_kv_str(g, pl_gguf_find_key(g, key), len);
}
int64_t pl_gguf_get_int(const pl_gguf *g, const char *key, int64_t def) {
    return pl_gguf_kv_int(g, pl_gguf_find_key(g, key), def);
}
double pl_gguf_get_float(const pl_gguf *g, const char *key, double def) {
    return pl_gguf_kv_float(g, pl_gguf_find_key(g, key), def);
}

pl_gguf_type pl_gguf_arr_type(const pl_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv && kv->type == PL_GGUF_ARR ? kv->arr_type : PL_GGUF_TYPE_COUNT;
}
int64_t pl_gguf_arr_n(const pl_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv && kv->type == PL_GGUF_ARR ? kv->arr_n : -1;
}
const void *pl_gguf_arr_data(const pl_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv && kv->type == PL_GGUF_ARR ? kv->arr_data : NULL;
}
const char *pl_gguf_arr_str(const pl_gguf *g, int64_t i, int64_t j, size_t *len) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != PL_GGUF_ARR || kv->arr_type != PL_GGUF_STR || j < 0 || j >= kv->arr_n) return NULL;
    if (len) *len = kv->arr_len[j];
    return kv->arr_pool + kv->arr_off[j];
}

const pl_gguf_tensor *pl_gguf_tensor_at(const pl_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const pl_gguf_tensor *pl_gguf_find_tensor(const pl_gguf *g, const char *name) {
    if (!g || !name || !g->t_sorted) return NULL;
    int64_t lo = 0, hi = g->n_tensors - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->tensors[g->t_sorted[mid]].name, name);
        if (c == 0) return &g->tensors[g->t_sorted[mid]];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}
