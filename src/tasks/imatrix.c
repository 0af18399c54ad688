/* Importance matrix: collection through the graph observer, and llama.cpp's GGUF imatrix file format.
 * Sums are kept in double while collecting (a long calibration run adds millions of squares) and written as f32,
 * as llama.cpp writes them. */
#include "tasks/imatrix.h"
#include "core/common.h"
#include "core/tensor.h"
#include "io/gguf.h"

#include <math.h>
#include <string.h>

typedef struct {
    char *name;
    int64_t ncols;
    double *sum2;    /* [ncols] */
    double count;    /* rows summed */
    float *mean;     /* [ncols], filled by pl_imatrix_get */
} im_entry;

struct pl_imatrix {
    im_entry *e;
    int n, cap;
    int n_chunks, chunk_size;
    int rc;          /* the first failure inside the observer */
};

pl_imatrix *pl_imatrix_new(void) { return pl_calloc(1, sizeof(pl_imatrix)); }

void pl_imatrix_free(pl_imatrix *im) {
    if (!im) return;
    for (int i = 0; i < im->n; i++) {
        free(im->e[i].name);
        free(im->e[i].sum2);
        free(im->e[i].mean);
    }
    free(im->e);
    free(im);
}

static im_entry *find(const pl_imatrix *im, const char *name) {
    for (int i = 0; i < im->n; i++)
        if (!strcmp(im->e[i].name, name)) return &im->e[i];
    return NULL;
}

/* The entry for name, created with ncols zeroed sums if new; NULL + message on a column-count clash or OOM. */
static im_entry *entry(pl_imatrix *im, const char *name, int64_t ncols) {
    im_entry *e = find(im, name);
    if (e) {
        if (e->ncols != ncols)
            return pl_error_null(PL_ERR_ARG, "imatrix: '%s' has %lld columns, now seen with %lld", name,
                                 (long long)e->ncols, (long long)ncols);
        return e;
    }
    if (ncols <= 0 || ncols > (1 << 24)) return pl_error_null(PL_ERR_ARG, "imatrix: '%s': bad column count %lld", name, (long long)ncols);
    if (im->n == im->cap) {
        int cap = im->cap ? 2 * im->cap : 64;
        im_entry *v = pl_realloc(im->e, (size_t)cap * sizeof *v);
        if (!v) return NULL;
        im->e = v;
        im->cap = cap;
    }
    e = &im->e[im->n];
    *e = (im_entry){.name = pl_strdup(name), .ncols = ncols, .sum2 = pl_calloc((size_t)ncols, sizeof(double))};
    if (!e->name || !e->sum2) { free(e->name); free(e->sum2); return NULL; }
    im->n++;
    return e;
}

typedef struct { double *sum2; const float *x; int64_t n, ld; } add_job;

/* columns [a, b) of every row: threads own disjoint columns, so the sums need no locks */
static void add_cols(void *arg, int64_t a, int64_t b, int ith) {
    (void)ith;
    const add_job *j = arg;
    for (int64_t r = 0; r < j->n; r++) {
        const float *row = j->x + r * j->ld;
        for (int64_t c = a; c < b; c++) j->sum2[c] += (double)row[c] * row[c];
    }
}

static int add_rows(pl_imatrix *im, pl_ctx *ctx, const char *name, const float *x, int64_t ncols, int64_t n, int64_t ld) {
    im_entry *e = entry(im, name, ncols);
    if (!e) return PL_ERR_ARG;
    add_job j = {e->sum2, x, n, ld};
    if (ctx && n * ncols >= 65536) pl_parallel_for(ctx, ncols, add_cols, &j);
    else add_cols(&j, 0, ncols, 0);
    e->count += (double)n;
    return PL_OK;
}

int pl_imatrix_add(pl_imatrix *im, const char *name, const float *x, int64_t ncols, int64_t n, int64_t ld) {
    return add_rows(im, NULL, name, x, ncols, n, ld);
}

/* The named 2-D weight a matmul's first operand is: the mapped tensor itself, or the transposed view of one
 * (Hugging Face GPT-2's Conv1D matrices, stored [in, out]: the matmul's columns are then the GGUF tensor's, as
 * converters write it). NULL for anything else (activations, other views). */
static const pl_tensor *named_weight(const pl_tensor *w) {
    if (w->op == PL_OP_VIEW && w->src[0] && w->src[0]->op == PL_OP_NONE && w->ne[0] == w->src[0]->ne[1] &&
        w->ne[1] == w->src[0]->ne[0])
        w = w->src[0];
    return w->op == PL_OP_NONE && w->name[0] && w->ne[2] == 1 && w->ne[3] == 1 ? w : NULL;
}

/* The observer: a matmul over a named weight multiplying f32 rows. Rows of every batch of the activation are
 * added under the weight's name. */
static void observe(void *ud, pl_ctx *ctx, const pl_tensor *t) {
    pl_imatrix *im = ud;
    if (t->op != PL_OP_MATMUL || im->rc) return;
    const pl_tensor *w = t->src[0], *x = t->src[1], *named = named_weight(w);
    if (!named) return;
    if (x->type != PL_F32 || x->nb[0] != sizeof(float) || x->ne[0] != w->ne[0] || x->nb[1] % sizeof(float)) return;
    for (int64_t i3 = 0; i3 < x->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->ne[2]; i2++) {
            const float *rows = pl_at(x, 0, 0, i2, i3);
            int rc = add_rows(im, ctx, named->name, rows, x->ne[0], x->ne[1], (int64_t)(x->nb[1] / sizeof(float)));
            if (rc) { im->rc = rc; return; }
        }
}

typedef struct { pl_imatrix *im; pl_ppl_chunk_fn fn; void *ud; } chunk_fwd;

static void on_chunk_count(int chunk, double ppl, const int *pos, const double *nll, int n, void *ud) {
    chunk_fwd *c = ud;
    c->im->n_chunks++;
    if (c->fn) c->fn(chunk, ppl, pos, nll, n, c->ud);
}

int pl_imatrix_collect(pl_imatrix *im, pl_llm *m, const pl_tokenizer *tok, const char *text, size_t len,
                       const pl_ppl_opts *o, pl_ppl_chunk_fn on_chunk, void *ud, pl_ppl_result *res) {
    pl_ppl_opts oo = o ? *o : pl_ppl_default_opts();
    oo.all_logits = true;
    im->rc = PL_OK;
    im->chunk_size = oo.n_ctx;
    chunk_fwd c = {im, on_chunk, ud};
    pl_llm_set_observer(m, observe, im);
    int rc = pl_perplexity(m, tok, text, len, &oo, on_chunk_count, &c, res);
    pl_llm_set_observer(m, NULL, NULL);
    if (rc == PL_OK && im->rc) rc = im->rc;
    if (rc == PL_OK && im->n == 0) rc = pl_error(PL_ERR_ARG, "imatrix: the model ran no matmul over a named weight");
    return rc;
}

/* ---- the file ------------------------------------------------------------------------------------------------ */
static int cmp_name(const void *a, const void *b) {
    return strcmp(((const im_entry *)a)->name, ((const im_entry *)b)->name);
}

int pl_imatrix_save(const pl_imatrix *im, const char *path, const char *const *datasets, int n_datasets) {
    if (im->n == 0) return pl_error(PL_ERR_ARG, "imatrix: nothing collected");
    /* sorted by name, as llama.cpp writes them, so a file does not depend on graph order */
    im_entry *sorted = pl_malloc((size_t)im->n * sizeof *sorted);
    float **bufs = pl_calloc((size_t)im->n, sizeof *bufs);
    pl_gguf_writer *w = pl_gguf_writer_new();
    int rc = sorted && bufs && w ? PL_OK : PL_ERR_NOMEM;
    if (rc == PL_OK) {
        memcpy(sorted, im->e, (size_t)im->n * sizeof *sorted);
        qsort(sorted, (size_t)im->n, sizeof *sorted, cmp_name);
        size_t lens[64];
        int nd = n_datasets < 64 ? n_datasets : 64;
        for (int i = 0; i < nd; i++) lens[i] = strlen(datasets[i]);
        rc = pl_gguf_writer_set_str(w, "general.type", "imatrix");
        if (rc == PL_OK) rc = pl_gguf_writer_set_arr_str(w, "imatrix.datasets", datasets, lens, nd);
        if (rc == PL_OK) rc = pl_gguf_writer_set_u32(w, "imatrix.chunk_count", (uint32_t)im->n_chunks);
        if (rc == PL_OK) rc = pl_gguf_writer_set_u32(w, "imatrix.chunk_size", (uint32_t)im->chunk_size);
    }
    for (int i = 0; rc == PL_OK && i < im->n; i++) {
        const im_entry *e = &sorted[i];
        float *b = bufs[i] = pl_malloc((size_t)(e->ncols + 1) * sizeof(float));
        if (!b) { rc = PL_ERR_NOMEM; break; }
        for (int64_t j = 0; j < e->ncols; j++) b[j] = (float)e->sum2[j];
        b[e->ncols] = (float)e->count;
        char name[300];
        int64_t ne_s[2] = {e->ncols, 1}, ne_c[2] = {1, 1};
        snprintf(name, sizeof name, "%s.in_sum2", e->name);
        rc = pl_gguf_writer_add_tensor(w, name, PL_F32, 2, ne_s, b, false);
        snprintf(name, sizeof name, "%s.counts", e->name);
        if (rc == PL_OK) rc = pl_gguf_writer_add_tensor(w, name, PL_F32, 2, ne_c, b + e->ncols, false);
    }
    if (rc == PL_OK) rc = pl_gguf_writer_write_file(w, path);
    pl_gguf_writer_free(w);
    for (int i = 0; bufs && i < im->n; i++) free(bufs[i]);
    free(bufs);
    free(sorted);
    return rc;
}

static bool strip_suffix(char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    if (n <= k || strcmp(s + n - k, suffix)) return false;
    s[n - k] = 0;
    return true;
}

pl_imatrix *pl_imatrix_load(const char *path) {
    pl_gguf *g = pl_gguf_open(path);
    if (!g) return NULL;
    pl_imatrix *im = pl_imatrix_new();
    int rc = im ? PL_OK : PL_ERR_NOMEM;
    const char *type = pl_gguf_get_str(g, "general.type", NULL);
    if (rc == PL_OK && (!type || strcmp(type, "imatrix")))
        rc = pl_error(PL_ERR_FORMAT, "%s: not an importance matrix (general.type is %s%s%s)", path, type ? "'" : "",
                      type ? type : "missing", type ? "'" : "");
    if (rc == PL_OK) {
        im->n_chunks = (int)pl_gguf_get_int(g, "imatrix.chunk_count", 0);
        im->chunk_size = (int)pl_gguf_get_int(g, "imatrix.chunk_size", 0);
    }
    const int64_t nt = pl_gguf_n_tensors(g);
    for (int64_t i = 0; rc == PL_OK && i < nt; i++) { /* the sums first: they fix each entry's width */
        const pl_gguf_tensor *t = pl_gguf_tensor_at(g, i);
        char name[512];
        snprintf(name, sizeof name, "%s", t->name);
        if (!strip_suffix(name, ".in_sum2")) continue;
        if (t->type != PL_F32 || t->ne[2] != 1 || t->ne[3] != 1)
            { rc = pl_error(PL_ERR_FORMAT, "%s: '%s' must be a 2-D f32 tensor", path, t->name); break; }
        if (t->ne[1] != 1)
            { rc = pl_error(PL_ERR_UNSUPPORTED, "%s: '%s' holds %lld expert matrices; plinth reads dense entries only",
                            path, t->name, (long long)t->ne[1]); break; }
        if (find(im, name)) { rc = pl_error(PL_ERR_FORMAT, "%s: '%s' appears twice", path, t->name); break; }
        im_entry *e = entry(im, name, t->ne[0]);
        if (!e) { rc = PL_ERR_FORMAT; break; }
        const float *s = t->data;
        for (int64_t j = 0; j < t->ne[0]; j++) {
            if (!isfinite(s[j]) || s[j] < 0)
                { rc = pl_error(PL_ERR_FORMAT, "%s: '%s' has a negative or non-finite sum", path, t->name); break; }
            e->sum2[j] = s[j];
        }
        e->count = -1; /* until its .counts is read */
    }
    for (int64_t i = 0; rc == PL_OK && i < nt; i++) {
        const pl_gguf_tensor *t = pl_gguf_tensor_at(g, i);
        char name[512];
        snprintf(name, sizeof name, "%s", t->name);
        if (!strip_suffix(name, ".counts")) continue;
        im_entry *e = find(im, name);
        if (!e) { rc = pl_error(PL_ERR_FORMAT, "%s: '%s' has no matching .in_sum2", path, t->name); break; }
        const float c = t->type == PL_F32 && t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] == 1 ? *(const float *)t->data : -1;
        if (!(c >= 0) || !isfinite(c)) { rc = pl_error(PL_ERR_FORMAT, "%s: '%s' must be one non-negative f32", path, t->name); break; }
        e->count = c;
    }
    for (int i = 0; rc == PL_OK && i < im->n; i++)
        if (im->e[i].count < 0) rc = pl_error(PL_ERR_FORMAT, "%s: '%s.in_sum2' has no matching .counts", path, im->e[i].name);
    if (rc == PL_OK && im->n == 0) rc = pl_error(PL_ERR_FORMAT, "%s: an importance matrix with no entries", path);
    pl_gguf_close(g);
    if (rc) { pl_imatrix_free(im); return NULL; }
    return im;
}

int pl_imatrix_n_entries(const pl_imatrix *im) { return im->n; }
int pl_imatrix_n_chunks(const pl_imatrix *im) { return im->n_chunks; }

const char *pl_imatrix_entry(const pl_imatrix *im, int i, int64_t *ncols, double *count) {
    if (i < 0 || i >= im->n) return NULL;
    if (ncols) *ncols = im->e[i].ncols;
    if (count) *count = im->e[i].count;
    return im->e[i].name;
}

const float *pl_imatrix_get(const pl_imatrix *im, const char *name, int64_t ncols) {
    im_entry *e = find(im, name);
    if (!e || e->ncols != ncols || !(e->count > 0)) return NULL;
    if (!e->mean) {
        e->mean = pl_malloc((size_t)ncols * sizeof(float));
        if (!e->mean) return NULL;
        for (int64_t j = 0; j < ncols; j++) e->mean[j] = (float)(e->sum2[j] / e->count);
    }
    return e->mean;
}

double pl_imatrix_max_count(const pl_imatrix *im) {
    double rows = 0;
    for (int i = 0; i < pl_imatrix_n_entries(im); i++) {
        double c;
        pl_imatrix_entry(im, i, NULL, &c);
        rows = c > rows ? c : rows;
    }
    return rows;
}
