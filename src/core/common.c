/* Error messages, checked allocation, string lists, whole-file and directory I/O and UTF-8 validation used
 * across the library. */
#include "core/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char g_err[1024];

const char *pl_last_error(void) { return g_err; }
void pl_clear_error(void) { g_err[0] = 0; }

int pl_error(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return status;
}

void *pl_error_null(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    (void)status;
    return NULL;
}

void *pl_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) pl_error(PL_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}
void *pl_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) pl_error(PL_ERR_NOMEM, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}
void *pl_realloc(void *q, size_t n) {
    void *p = realloc(q, n ? n : 1);
    if (!p) pl_error(PL_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}
char *pl_strdup(const char *s) {
    size_t n = strlen(s);
    char *p = pl_malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

int pl_strlist_add(pl_strlist *l, const char *s) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **v = pl_realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return PL_ERR_NOMEM;
        l->v = v; l->cap = cap;
    }
    return (l->v[l->n] = pl_strdup(s)) ? (l->n++, PL_OK) : PL_ERR_NOMEM;
}
void *pl_owned_alloc(pl_owned *o, size_t bytes) {
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 64;
        void **p = pl_realloc(o->v, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        o->v = p;
        o->cap = cap;
    }
    void *buf = pl_malloc(bytes);
    if (buf) o->v[o->n++] = buf;
    return buf;
}
void pl_owned_free(pl_owned *o) {
    for (int i = 0; i < o->n; i++) free(o->v[i]);
    free(o->v);
    *o = (pl_owned){0};
}

void pl_strlist_free(pl_strlist *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    *l = (pl_strlist){0};
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
int pl_dir_names(const char *dir, pl_strlist *out) {
    DIR *d = opendir(dir);
    if (!d) return pl_error(PL_ERR_IO, "cannot read the directory '%s'", dir);
    int first = out->n, rc = PL_OK;
    for (struct dirent *e; !rc && (e = readdir(d));)
        if (e->d_name[0] != '.') rc = pl_strlist_add(out, e->d_name);
    closedir(d);
    if (!rc) qsort(out->v + first, (size_t)(out->n - first), sizeof *out->v, cmp_str);
    return rc;
}

char *pl_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return pl_error_null(PL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = pl_malloc(cap);
    if (!buf) { fclose(f); return NULL; }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = pl_realloc(buf, cap * 2);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb; cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); return pl_error_null(PL_ERR_IO, "error reading '%s'", path); }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int pl_write_file_atomic(const char *path, const void *data, size_t len) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return pl_error(PL_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd); unlink(tmp);
            return pl_error(PL_ERR_IO, "cannot write '%s': %s", path, strerror(e));
        }
        p += w; left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return pl_error(PL_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return pl_error(PL_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
    }
    return PL_OK;
}

int pl_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) { p++; continue; }
        int n;
        unsigned cp;
        if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
        else return 0;
        if (end - p <= n) return 0;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return 0;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        p += n + 1;
    }
    return 1;
}

double pl_time_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
