/* Reading and writing word vectors in word2vec's text and binary formats (vectors.h). Loading checks every
 * field against the header, so a truncated file or one whose dimension line is wrong fails with the line or
 * word where it went wrong instead of yielding a table of garbage. */
#include "word2vec/vectors.h"

#include "core/common.h"

#include <errno.h>
#include <unistd.h>
#include <math.h>

#define MAX_DIM 100000
#define MAX_WORD 4096

pl_w2v_vectors *pl_w2v_vectors_new(int32_t n, int32_t dim) {
    pl_w2v_vectors *t = pl_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n = n, t->dim = dim;
    t->words = pl_calloc((size_t)PL_MAX(n, 1), sizeof *t->words);
    t->v = pl_calloc((size_t)PL_MAX(n, 1) * (size_t)dim, sizeof *t->v);
    if (!t->words || !t->v) { pl_w2v_vectors_free(t); return NULL; }
    return t;
}

int pl_w2v_vectors_index(pl_w2v_vectors *t) {
    w2v_strmap_free(&t->map);
    for (int32_t i = 0; i < t->n; i++) {
        if (w2v_strmap_get(&t->map, t->words[i]) >= 0)
            return pl_error(PL_ERR_FORMAT, "the word '%s' appears twice (rows %d and %d)", t->words[i],
                            w2v_strmap_get(&t->map, t->words[i]) + 1, i + 1);
        if (w2v_strmap_put(&t->map, t->words[i], i)) return PL_ERR_NOMEM;
    }
    return PL_OK;
}

void pl_w2v_vectors_free(pl_w2v_vectors *t) {
    if (!t) return;
    for (int32_t i = 0; t->words && i < t->n; i++) free(t->words[i]);
    free(t->words);
    free(t->v);
    w2v_strmap_free(&t->map);
    free(t);
}

int32_t pl_w2v_vectors_find(const pl_w2v_vectors *t, const char *word) { return w2v_strmap_get(&t->map, word); }

/* ---- writing -------------------------------------------------------------------------------------- */
int pl_w2v_save(const pl_w2v_vectors *t, const char *path, pl_w2v_format fmt) {
    char *tmp = pl_malloc(strlen(path) + 32);
    if (!tmp) return PL_ERR_NOMEM;
    sprintf(tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) { int rc = pl_error(PL_ERR_IO, "cannot write '%s': %s", path, strerror(errno)); free(tmp); return rc; }
    fprintf(f, "%d %d\n", t->n, t->dim);
    for (int32_t i = 0; i < t->n; i++) {
        const float *r = t->v + (size_t)i * t->dim;
        if (fmt == PL_W2V_BINARY) {
            fprintf(f, "%s ", t->words[i]);
            fwrite(r, sizeof *r, (size_t)t->dim, f); /* x86-64 and the format are both little-endian */
            fputc('\n', f);
        } else {
            fputs(t->words[i], f);
            for (int32_t d = 0; d < t->dim; d++) fprintf(f, " %.9g", r[d]); /* 9 digits: a float round-trips */
            fputc('\n', f);
        }
    }
    bool ok = !ferror(f) && fflush(f) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int rc = pl_error(PL_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    return PL_OK;
}

/* ---- reading -------------------------------------------------------------------------------------- */
typedef struct { const char *path, *s; size_t len, pos; } reader;

static bool parse_header(reader *r, long long *n, long long *dim) {
    const char *eol = memchr(r->s, '\n', r->len);
    if (!eol) return false;
    char line[128];
    size_t l = (size_t)(eol - r->s);
    if (l >= sizeof line) return false;
    memcpy(line, r->s, l);
    line[l] = 0;
    char extra;
    if (sscanf(line, "%lld %lld %c", n, dim, &extra) != 2) return false;
    r->pos = l + 1;
    return true;
}

/* The first row's line, parsed as text, has the header's number of values: then the file is text. */
static bool looks_text(const reader *r, long long dim) {
    const char *p = r->s + r->pos, *end = memchr(p, '\n', r->len - r->pos);
    if (!end) end = r->s + r->len;
    if (memchr(p, 0, (size_t)(end - p))) return false;
    long long fields = 0;
    for (const char *q = p; q < end;) {
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q == end) break;
        fields++;
        while (q < end && !(*q == ' ' || *q == '\t' || *q == '\r')) q++;
    }
    if (fields < 2) return false;
    /* text if every field after the word is a number */
    const char *q = p;
    while (q < end && *q != ' ' && *q != '\t') q++;
    while (q < end) {
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q == end) break;
        char *e;
        strtof(q, &e);
        if (e == q || (e < end && *e != ' ' && *e != '\t' && *e != '\r')) return false;
        q = e;
    }
    (void)dim;
    return true;
}

static int load_text(reader *r, pl_w2v_vectors *t) {
    long long line_no = 1;
    for (int32_t i = 0; i < t->n; i++) {
        line_no++;
        while (r->pos < r->len && (r->s[r->pos] == '\n' || r->s[r->pos] == '\r')) { r->pos++; line_no++; }
        if (r->pos >= r->len)
            return pl_error(PL_ERR_FORMAT, "'%s' is truncated: the header says %d words, the file ends after %d",
                            r->path, t->n, i);
        const char *p = r->s + r->pos, *end = memchr(p, '\n', r->len - r->pos);
        if (!end) end = r->s + r->len;
        r->pos = (size_t)(end - r->s) + (end < r->s + r->len);
        const char *w = p;
        while (p < end && *p != ' ' && *p != '\t') p++;
        if (p - w >= MAX_WORD || p == w)
            return pl_error(PL_ERR_FORMAT, "'%s' line %lld: no word, or a word over %d bytes", r->path, line_no, MAX_WORD);
        if (!pl_utf8_valid(w, (size_t)(p - w)) || memchr(w, 0, (size_t)(p - w)))
            return pl_error(PL_ERR_FORMAT, "'%s' line %lld: the word is not UTF-8 text", r->path, line_no);
        if (!(t->words[i] = pl_malloc((size_t)(p - w) + 1))) return PL_ERR_NOMEM;
        memcpy(t->words[i], w, (size_t)(p - w));
        t->words[i][p - w] = 0;
        float *row = t->v + (size_t)i * t->dim;
        int32_t d = 0;
        for (;;) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
            if (p == end) break;
            char *e;
            float x = strtof(p, &e);
            if (e == p || (e < end && *e != ' ' && *e != '\t' && *e != '\r'))
                return pl_error(PL_ERR_FORMAT, "'%s' line %lld ('%s'): value %d is not a number", r->path, line_no,
                                t->words[i], d + 1);
            if (!isfinite(x))
                return pl_error(PL_ERR_FORMAT, "'%s' line %lld ('%s'): value %d is not finite", r->path, line_no,
                                t->words[i], d + 1);
            if (d < t->dim) row[d] = x;
            d++;
            p = e;
        }
        if (d != t->dim)
            return pl_error(PL_ERR_FORMAT, "'%s' line %lld ('%s') has %d values, the header's dimension is %d%s",
                            r->path, line_no, t->words[i], d, t->dim,
                            i + 1 == t->n && r->pos >= r->len && d < t->dim ? " (truncated file?)" : "");
    }
    while (r->pos < r->len && (r->s[r->pos] == '\n' || r->s[r->pos] == '\r' || r->s[r->pos] == ' ')) r->pos++;
    if (r->pos < r->len)
        return pl_error(PL_ERR_FORMAT, "'%s' has more rows than the header's %d words (line %lld)", r->path, t->n,
                        line_no + 1);
    return PL_OK;
}

static int load_binary(reader *r, pl_w2v_vectors *t) {
    size_t row_bytes = (size_t)t->dim * sizeof(float);
    for (int32_t i = 0; i < t->n; i++) {
        while (r->pos < r->len && (r->s[r->pos] == '\n' || r->s[r->pos] == ' ')) r->pos++;
        const char *w = r->s + r->pos;
        size_t k = 0;
        while (r->pos + k < r->len && w[k] != ' ' && k < MAX_WORD) k++;
        if (r->pos >= r->len || r->pos + k >= r->len)
            return pl_error(PL_ERR_FORMAT, "'%s' is truncated: the header says %d words, the file ends in or after "
                            "word %d", r->path, t->n, i + (r->pos < r->len));
        if (k == MAX_WORD || !pl_utf8_valid(w, k) || memchr(w, 0, k) || memchr(w, '\n', k))
            return pl_error(PL_ERR_FORMAT, "'%s': word %d is not a word (binary garbage: does the header's dimension "
                            "%d match the rows?)", r->path, i + 1, t->dim);
        if (!(t->words[i] = pl_malloc(k + 1))) return PL_ERR_NOMEM;
        memcpy(t->words[i], w, k);
        t->words[i][k] = 0;
        r->pos += k + 1;
        if (r->len - r->pos < row_bytes)
            return pl_error(PL_ERR_FORMAT, "'%s' is truncated: word %d ('%s') has %zu of its %zu bytes", r->path,
                            i + 1, t->words[i], r->len - r->pos, row_bytes);
        float *row = t->v + (size_t)i * t->dim;
        memcpy(row, r->s + r->pos, row_bytes);
        r->pos += row_bytes;
        for (int32_t d = 0; d < t->dim; d++)
            if (!isfinite(row[d]))
                return pl_error(PL_ERR_FORMAT, "'%s': word %d ('%s') value %d is not finite (does the header's "
                                "dimension %d match the rows?)", r->path, i + 1, t->words[i], d + 1, t->dim);
    }
    while (r->pos < r->len && (r->s[r->pos] == '\n' || r->s[r->pos] == ' ')) r->pos++;
    if (r->pos < r->len)
        return pl_error(PL_ERR_FORMAT, "'%s' has %zu bytes after its %d words (does the header's dimension %d match "
                        "the rows?)", r->path, r->len - r->pos, t->n, t->dim);
    return PL_OK;
}

pl_w2v_vectors *pl_w2v_load(const char *path) {
    size_t len;
    char *s = pl_read_file(path, &len);
    if (!s) return NULL;
    reader r = {path, s, len, 0};
    long long n, dim;
    if (!len) { free(s); return pl_error_null(PL_ERR_FORMAT, "'%s' is empty, not a vectors file", path); }
    if (!parse_header(&r, &n, &dim) || n < 1 || dim < 1 || dim > MAX_DIM || n > (1LL << 31) - 1) {
        free(s);
        return pl_error_null(PL_ERR_FORMAT, "'%s': the first line is not a word2vec header \"WORDS DIMENSION\" "
                             "(two positive numbers, the dimension at most %d)", path, MAX_DIM);
    }
    /* every row takes at least dim bytes (binary: 4 a value; text: a digit and a space): a header that promises
     * more than the file can hold is caught before allocating for it */
    if ((unsigned long long)n * (unsigned long long)(dim + 1) > (unsigned long long)len * 2 + 64) {
        free(s);
        return pl_error_null(PL_ERR_FORMAT, "'%s' is truncated or its header is wrong: %lld words of dimension %lld "
                             "cannot fit in %zu bytes", path, n, dim, len);
    }
    pl_w2v_vectors *t = pl_w2v_vectors_new((int32_t)n, (int32_t)dim);
    if (!t) { free(s); return NULL; }
    int rc = looks_text(&r, dim) ? load_text(&r, t) : load_binary(&r, t);
    if (!rc) rc = pl_w2v_vectors_index(t);
    free(s);
    if (rc) { pl_w2v_vectors_free(t); return NULL; }
    return t;
}
