/* CTranslate2 model.bin reader (layout in ct2.h): the file is mapped read-only and walked once, every size checked
 * against the bytes left before a pointer is handed out; aliases resolve to their targets by name. */
#include "io/ct2.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct pl_ct2 {
    void *map; size_t size;
    char spec[128];
    int revision;
    pl_ct2_var *vars; int n_vars;
    const char **alias, **target; int n_alias;
};

typedef struct { const unsigned char *p, *end; } rd;
static bool rd_u32(rd *r, uint32_t *v) {
    if (r->end - r->p < 4) return false;
    memcpy(v, r->p, 4); r->p += 4; return true;
}
static bool rd_u16(rd *r, uint16_t *v) {
    if (r->end - r->p < 2) return false;
    memcpy(v, r->p, 2); r->p += 2; return true;
}
static bool rd_u8(rd *r, uint8_t *v) {
    if (r->end - r->p < 1) return false;
    *v = *r->p++; return true;
}
static const char *rd_str(rd *r) { /* u16 length including the NUL, then the bytes */
    uint16_t n;
    if (!rd_u16(r, &n) || n == 0 || r->end - r->p < n || r->p[n - 1] != 0) return NULL;
    const char *s = (const char *)r->p;
    r->p += n;
    return s;
}

static const pl_dtype k_types[] = {PL_F32, PL_I8, PL_I16, PL_I32, PL_F16, PL_BF16};
static const int k_sizes[] = {4, 1, 2, 4, 2, 2};

static pl_ct2 *bad(pl_ct2 *m, const char *path, const char *what) {
    pl_ct2_close(m);
    return pl_error_null(PL_ERR_FORMAT, "%s: not a valid CTranslate2 model.bin (%s)", path, what);
}

pl_ct2 *pl_ct2_open(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return pl_error_null(PL_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || st.st_size < 16) { close(fd); return pl_error_null(PL_ERR_FORMAT, "%s: too short for a model.bin", path); }
    pl_ct2 *m = calloc(1, sizeof *m);
    if (!m) { close(fd); return pl_error_null(PL_ERR_NOMEM, "ct2: out of memory"); }
    m->size = (size_t)st.st_size;
    m->map = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m->map == MAP_FAILED) { m->map = NULL; free(m); return pl_error_null(PL_ERR_IO, "%s: cannot map: %s", path, strerror(errno)); }
    rd r = {m->map, (const unsigned char *)m->map + m->size};
    uint32_t version, rev, n;
    if (!rd_u32(&r, &version) || version < 5 || version > 6) return bad(m, path, "unknown binary version");
    const char *spec = rd_str(&r);
    if (!spec || !rd_u32(&r, &rev) || !rd_u32(&r, &n)) return bad(m, path, "truncated header");
    snprintf(m->spec, sizeof m->spec, "%s", spec);
    m->revision = (int)rev;
    if (n > 1000000) return bad(m, path, "variable count");
    m->vars = calloc(n ? n : 1, sizeof *m->vars);
    if (!m->vars) { pl_ct2_close(m); return pl_error_null(PL_ERR_NOMEM, "ct2: out of memory"); }
    for (uint32_t i = 0; i < n; i++) {
        pl_ct2_var *v = &m->vars[i];
        uint8_t rank, dt;
        uint32_t nbytes;
        if (!(v->name = rd_str(&r)) || !rd_u8(&r, &rank) || rank > 4) return bad(m, path, "variable header");
        v->rank = rank;
        int64_t numel = 1;
        for (int d = 0; d < 4; d++) v->shape[d] = 1;
        for (int d = 0; d < rank; d++) {
            uint32_t x;
            if (!rd_u32(&r, &x)) return bad(m, path, "truncated shape");
            v->shape[d] = x;
            numel *= x;
        }
        if (!rd_u8(&r, &dt) || dt > 5 || !rd_u32(&r, &nbytes)) return bad(m, path, "variable type");
        v->ct2_type = dt;
        v->type = k_types[dt];
        if ((uint64_t)numel * k_sizes[dt] != nbytes) return bad(m, path, "a variable's size disagrees with its shape");
        if ((uint64_t)(r.end - r.p) < nbytes) return bad(m, path, "truncated data");
        v->data = r.p;
        v->nbytes = nbytes;
        r.p += nbytes;
        m->n_vars++;
    }
    uint32_t na = 0;
    if (r.p < r.end && !rd_u32(&r, &na)) return bad(m, path, "alias count");
    if (na > 1000000) return bad(m, path, "alias count");
    m->alias = calloc(na + 1, sizeof *m->alias);
    m->target = calloc(na + 1, sizeof *m->target);
    if (!m->alias || !m->target) { pl_ct2_close(m); return pl_error_null(PL_ERR_NOMEM, "ct2: out of memory"); }
    for (uint32_t i = 0; i < na; i++) {
        if (!(m->alias[i] = rd_str(&r)) || !(m->target[i] = rd_str(&r))) return bad(m, path, "truncated aliases");
        m->n_alias++;
    }
    return m;
}

void pl_ct2_close(pl_ct2 *m) {
    if (!m) return;
    if (m->map) munmap(m->map, m->size);
    free(m->vars); free(m->alias); free(m->target); free(m);
}

const char *pl_ct2_spec(const pl_ct2 *m) { return m->spec; }
int pl_ct2_revision(const pl_ct2 *m) { return m->revision; }
int pl_ct2_n_vars(const pl_ct2 *m) { return m->n_vars; }
const pl_ct2_var *pl_ct2_var_at(const pl_ct2 *m, int i) { return i >= 0 && i < m->n_vars ? &m->vars[i] : NULL; }

const pl_ct2_var *pl_ct2_find(const pl_ct2 *m, const char *name) {
    for (int hop = 0; hop < 4; hop++) { /* an alias names a variable (never, in practice, another alias) */
        for (int i = 0; i < m->n_vars; i++)
            if (!strcmp(m->vars[i].name, name)) return &m->vars[i];
        int a = 0;
        while (a < m->n_alias && strcmp(m->alias[a], name)) a++;
        if (a == m->n_alias) return NULL;
        name = m->target[a];
    }
    return NULL;
}

int64_t pl_ct2_get_int(const pl_ct2 *m, const char *name, int64_t def) {
    const pl_ct2_var *v = pl_ct2_find(m, name);
    if (!v || v->nbytes == 0) return def;
    switch (v->ct2_type) {
    case 1: { int8_t x; memcpy(&x, v->data, 1); return x; }
    case 2: { int16_t x; memcpy(&x, v->data, 2); return x; }
    case 3: { int32_t x; memcpy(&x, v->data, 4); return x; }
    }
    return def;
}

int pl_ct2_to_f32(const pl_ct2_var *v, int64_t first, int64_t n, float *out) {
    int es = k_sizes[v->ct2_type];
    if (first < 0 || (uint64_t)(first + n) * es > v->nbytes)
        return pl_error(PL_ERR_ARG, "ct2: elements [%lld, %lld) past the end of '%s'", (long long)first, (long long)(first + n), v->name);
    const unsigned char *p = (const unsigned char *)v->data + first * es;
    for (int64_t i = 0; i < n; i++, p += es) {
        uint16_t h;
        switch (v->ct2_type) {
        case 0: memcpy(&out[i], p, 4); break;
        case 4: memcpy(&h, p, 2); out[i] = pl_fp16_to_fp32(h); break;
        case 5: memcpy(&h, p, 2); out[i] = pl_bf16_to_fp32(h); break;
        default: return pl_error(PL_ERR_UNSUPPORTED, "ct2: variable '%s' is %s, not a float type (int8-quantized "
                                 "models are not supported: convert with --quantization float16 or float32)",
                                 v->name, v->ct2_type == 1 ? "int8" : "an integer");
        }
    }
    return PL_OK;
}
