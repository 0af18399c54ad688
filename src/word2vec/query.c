/* Nearest neighbours, analogies and the analogy test set over word vectors (query.h). Scores are one
 * matrix-vector product of the unit rows with the query (OpenBLAS sgemv), then a top-k pass. */
#include "word2vec/query.h"

#include "core/common.h"

#include <cblas.h>
#include <math.h>

float *pl_w2v_unit_rows(const pl_w2v_vectors *t) {
    float *u = pl_malloc((size_t)PL_MAX(t->n, 1) * (size_t)t->dim * sizeof *u);
    if (!u) return NULL;
    for (int32_t i = 0; i < t->n; i++) {
        const float *r = t->v + (int64_t)i * t->dim;
        double s = 0;
        for (int d = 0; d < t->dim; d++) s += (double)r[d] * r[d];
        float inv = s > 0 ? (float)(1 / sqrt(s)) : 0;
        for (int d = 0; d < t->dim; d++) u[(int64_t)i * t->dim + d] = r[d] * inv;
    }
    return u;
}

int pl_w2v_nearest(const pl_w2v_vectors *t, const float *unit, const float *q, int k, int32_t limit,
                   const int32_t *excl, int n_excl, pl_w2v_hit *out) {
    int32_t n = limit > 0 && limit < t->n ? limit : t->n;
    float *sc = pl_malloc((size_t)PL_MAX(n, 1) * sizeof *sc);
    if (!sc || k < 1) { free(sc); return 0; }
    double qq = 0;
    for (int d = 0; d < t->dim; d++) qq += (double)q[d] * q[d];
    cblas_sgemv(CblasRowMajor, CblasNoTrans, n, t->dim, qq > 0 ? (float)(1 / sqrt(qq)) : 0.0f, unit, t->dim, q, 1,
                0.0f, sc, 1);
    int m = 0;
    for (int32_t i = 0; i < n; i++) {
        float s = sc[i];
        if (m == k && s <= out[m - 1].score) continue;
        bool skip = false;
        for (int e = 0; e < n_excl; e++) skip |= excl[e] == i;
        if (skip) continue;
        int j = m < k ? m++ : k - 1; /* insert, keeping out[] sorted by score, ties to the lower row */
        while (j > 0 && out[j - 1].score < s) { out[j] = out[j - 1]; j--; }
        out[j] = (pl_w2v_hit){i, s};
    }
    free(sc);
    return m;
}

int pl_w2v_similar(const pl_w2v_vectors *t, const float *unit, int32_t word, int k, pl_w2v_hit *out) {
    return pl_w2v_nearest(t, unit, unit + (int64_t)word * t->dim, k, 0, &word, 1, out);
}

static int analogy_limited(const pl_w2v_vectors *t, const float *unit, int32_t a, int32_t b, int32_t c, int k,
                           int32_t limit, pl_w2v_hit *out) {
    float *q = pl_malloc((size_t)t->dim * sizeof *q);
    if (!q) return 0;
    const float *ua = unit + (int64_t)a * t->dim, *ub = unit + (int64_t)b * t->dim, *uc = unit + (int64_t)c * t->dim;
    for (int d = 0; d < t->dim; d++) q[d] = ub[d] - ua[d] + uc[d];
    int32_t ex[3] = {a, b, c};
    int m = pl_w2v_nearest(t, unit, q, k, limit, ex, 3, out);
    free(q);
    return m;
}

int pl_w2v_analogy(const pl_w2v_vectors *t, const float *unit, int32_t a, int32_t b, int32_t c, int k,
                   pl_w2v_hit *out) {
    return analogy_limited(t, unit, a, b, c, k, 0, out);
}

/* ---- case-insensitive lookup ------------------------------------------------------------------------ */
int pl_w2v_fold_init(pl_w2v_fold *f, const pl_w2v_vectors *t, int32_t limit) {
    *f = (pl_w2v_fold){0};
    int32_t n = limit > 0 && limit < t->n ? limit : t->n;
    if (!(f->keys = pl_calloc((size_t)PL_MAX(n, 1), sizeof *f->keys))) return PL_ERR_NOMEM;
    f->n = n;
    for (int32_t i = 0; i < n; i++) {
        size_t cap = strlen(t->words[i]) * 2 + 8;
        if (!(f->keys[i] = pl_malloc(cap))) return PL_ERR_NOMEM;
        if (!pl_w2v_lower(t->words[i], f->keys[i], cap)) strcpy(f->keys[i], t->words[i]);
        if (w2v_strmap_get(&f->map, f->keys[i]) < 0 && w2v_strmap_put(&f->map, f->keys[i], i)) return PL_ERR_NOMEM;
    }
    return PL_OK;
}

int32_t pl_w2v_fold_find(const pl_w2v_fold *f, const char *word) {
    char buf[1024];
    return pl_w2v_lower(word, buf, sizeof buf) ? w2v_strmap_get(&f->map, buf) : -1;
}

void pl_w2v_fold_free(pl_w2v_fold *f) {
    for (int32_t i = 0; f->keys && i < f->n; i++) free(f->keys[i]);
    free(f->keys);
    w2v_strmap_free(&f->map);
    *f = (pl_w2v_fold){0};
}

/* ---- the analogy test set ----------------------------------------------------------------------------- */
static int add_section(pl_w2v_eval *e, const char *name, size_t n) {
    pl_w2v_section *s = pl_realloc(e->sec, (size_t)(e->n_sec + 1) * sizeof *s);
    if (!s) return PL_ERR_NOMEM;
    e->sec = s;
    pl_w2v_section *x = &e->sec[e->n_sec++];
    *x = (pl_w2v_section){0};
    n = PL_MIN(n, sizeof x->name - 1);
    memcpy(x->name, name, n);
    x->name[n] = 0;
    return PL_OK;
}

int pl_w2v_eval_analogies(const pl_w2v_vectors *t, const char *text, size_t len, int32_t limit, pl_w2v_eval *e) {
    *e = (pl_w2v_eval){0};
    pl_w2v_fold f;
    float *unit = NULL;
    int rc = pl_w2v_fold_init(&f, t, limit);
    if (!rc && !(unit = pl_w2v_unit_rows(t))) rc = PL_ERR_NOMEM;
    int line_no = 0, questions = 0;
    for (size_t p = 0; !rc && p < len;) {
        const char *s = text + p, *eol = memchr(s, '\n', len - p);
        size_t n = eol ? (size_t)(eol - s) : len - p;
        p += n + 1;
        line_no++;
        while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
        while (n && (*s == ' ' || *s == '\t')) s++, n--;
        if (!n) continue;
        if (*s == ':') {
            s++, n--;
            while (n && *s == ' ') s++, n--;
            rc = add_section(e, s, n);
            continue;
        }
        char w[4][256], extra[2];
        char line[1100];
        if (n >= sizeof line) { rc = pl_error(PL_ERR_FORMAT, "line %d is too long for an analogy question", line_no); break; }
        memcpy(line, s, n);
        line[n] = 0;
        if (sscanf(line, "%255s %255s %255s %255s %1s", w[0], w[1], w[2], w[3], extra) != 4) {
            rc = pl_error(PL_ERR_FORMAT, "line %d is not an analogy question \"a b c d\" nor a \": section\" line: '%.60s'",
                          line_no, line);
            break;
        }
        if (!e->n_sec && (rc = add_section(e, "(no section)", 12))) break;
        questions++;
        pl_w2v_section *sec = &e->sec[e->n_sec - 1];
        int32_t id[4];
        bool known = true;
        for (int i = 0; i < 4; i++) known &= (id[i] = pl_w2v_fold_find(&f, w[i])) >= 0;
        if (!known) { sec->skipped++; e->skipped++; continue; }
        pl_w2v_hit hit;
        int m = analogy_limited(t, unit, id[0], id[1], id[2], 1, f.n, &hit);
        bool ok = m == 1 && hit.id == id[3];
        sec->total++, e->total++;
        sec->correct += ok, e->correct += ok;
    }
    if (!rc && !questions) rc = pl_error(PL_ERR_FORMAT, "no analogy questions (lines \"a b c d\") in the file");
    free(unit);
    pl_w2v_fold_free(&f);
    if (rc) pl_w2v_eval_free(e);
    return rc;
}

void pl_w2v_eval_free(pl_w2v_eval *e) {
    free(e->sec);
    *e = (pl_w2v_eval){0};
}
