/* The word2vec workflows (tasks/word2vec.h): read and check the text, build the vocabulary, train with a
 * progress bar on stderr, save; open a vectors file for the queries. Everything the CLI prints comes from
 * here or from src/word2vec/. */
#include "tasks/word2vec.h"

#include "core/common.h"
#include "core/cpu.h"
#include "word2vec/plot.h"

#include <math.h>
#include <unistd.h>

pl_w2v_train_opts pl_w2v_train_default_opts(void) {
    pl_w2v_train_opts o = {.format = -1, .min_count = 5, .train = pl_w2v_default_params()};
    o.train.threads = pl_cpu_physical_cores();
    return o;
}

/* Re-raise the current error with the file's name in front. */
static int with_path(int rc, const char *path) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", pl_last_error());
    return pl_error(rc, "'%s': %s", path, msg);
}

static void fmt_eta(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 1e7) { snprintf(buf, cap, "?"); return; }
    int h = (int)(s / 3600), mi = (int)(s / 60) % 60, se = (int)s % 60;
    if (h) snprintf(buf, cap, "%dh%02dm", h, mi);
    else snprintf(buf, cap, "%dm%02ds", mi, se);
}

typedef struct { bool tty; int last_tenth; } bar_state;

/* [########            ] 41% | 612,345 words/s | lr 0.0148 | ETA 0m03s */
static void progress_bar(void *user, const pl_w2v_progress *p) {
    bar_state *b = user;
    double frac = p->words_total > 0 ? (double)p->words_done / (double)p->words_total : 1;
    int tenth = (int)(frac * 10);
    bool end = p->words_done >= p->words_total;
    if (b->last_tenth == 10) return;                       /* the final line is out */
    if (!b->tty && tenth == b->last_tenth && !end) return; /* a log file gets a line every 10% */
    b->last_tenth = end ? 10 : tenth;
    double wps = p->elapsed > 0 ? (double)p->words_done / p->elapsed : 0;
    char eta[32];
    fmt_eta(wps > 0 ? (double)(p->words_total - p->words_done) / wps : -1, eta, sizeof eta);
    int w = (int)(20 * PL_MIN(frac, 1.0));
    fprintf(stderr, "%s[%.*s%*s] %3d%% | %.0f words/s | lr %.4f | ETA %s%s", b->tty ? "\r" : "", w,
            "####################", 20 - w, "", (int)(100 * PL_MIN(frac, 1.0)), wps, p->alpha, eta,
            b->tty && !end ? "   " : "\n");
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

int pl_w2v_train_file(const pl_w2v_train_opts *o, pl_w2v_train_report *rep) {
    if (!o->text_path || !o->out_path) return pl_error(PL_ERR_ARG, "a text file and an output file are needed");
    if (o->min_count < 1) return pl_error(PL_ERR_ARG, "--min-count must be at least 1");
    size_t len;
    char *text = pl_read_file(o->text_path, &len);
    if (!text) return PL_ERR_IO;
    pl_tokenizer *tok = NULL;
    if (o->tokenizer && !(tok = pl_tokenizer_load(o->tokenizer))) { free(text); return with_path(PL_ERR_FORMAT, o->tokenizer); }
    pl_w2v_vocab v;
    pl_w2v_corpus c;
    int rc = pl_w2v_build(text, len, tok, o->min_count, &v, &c);
    free(text);
    pl_tokenizer_free(tok);
    if (rc) return with_path(rc, o->text_path);
    pl_w2v_train_report r = {c.raw_tokens, c.raw_types, c.n_tokens, c.n_sent, v.n, {0}};
    const pl_w2v_params *p = &o->train;
    if (!o->quiet) {
        fprintf(stderr, "text: %lld words, %lld distinct (%s); vocabulary: %d words seen >= %d times, %lld words "
                "kept in %lld sentences\n", (long long)r.raw_tokens, (long long)r.raw_types,
                o->tokenizer ? o->tokenizer : "lower-cased words", v.n, o->min_count, (long long)r.tokens,
                (long long)r.sentences);
        fprintf(stderr, "%s, dim %d, window %d, %s, sample %g, %d epochs, %d thread%s\n",
                p->arch == PL_W2V_SKIPGRAM ? "skip-gram" : "CBOW", p->dim, p->window,
                p->hs && p->negative ? "hierarchical softmax + negative sampling" : p->hs ? "hierarchical softmax"
                                                                                           : "negative sampling",
                p->sample, p->epochs, p->threads, p->threads == 1 ? "" : "s");
    }
    bar_state bar = {isatty(2), -1};
    pl_w2v_params tp = *p;
    if (!o->quiet) tp.progress = progress_bar, tp.user = &bar;
    pl_w2v_vectors *vec = NULL;
    rc = pl_w2v_train(&v, &c, &tp, &vec, &r.stats);
    pl_w2v_vocab_free(&v);
    pl_w2v_corpus_free(&c);
    if (rc) return rc;
    int fmt = o->format >= 0 ? o->format : ends_with(o->out_path, ".bin") ? PL_W2V_BINARY : PL_W2V_TEXT;
    rc = pl_w2v_save(vec, o->out_path, (pl_w2v_format)fmt);
    if (!rc && !o->quiet) {
        fprintf(stderr, "done: %lld words in %.2f s, %.0f words/s (%lld after subsampling; %s kernel)\n",
                (long long)r.stats.words, r.stats.seconds, r.stats.seconds > 0 ? r.stats.words / r.stats.seconds : 0.0,
                (long long)r.stats.trained, r.stats.kernel);
        fprintf(stderr, "wrote %s: %d words x %d (%s)\n", o->out_path, vec->n, vec->dim, fmt ? "binary" : "text");
    }
    pl_w2v_vectors_free(vec);
    if (rep) *rep = r;
    return rc;
}

/* ---- queries ------------------------------------------------------------------------------------------ */
pl_w2v_space *pl_w2v_space_open(const char *path) {
    pl_w2v_space *s = pl_calloc(1, sizeof *s);
    if (!s) return NULL;
    if (!(s->t = pl_w2v_load(path)) || !(s->unit = pl_w2v_unit_rows(s->t))) { pl_w2v_space_free(s); return NULL; }
    return s;
}

void pl_w2v_space_free(pl_w2v_space *s) {
    if (!s) return;
    pl_w2v_vectors_free(s->t);
    free(s->unit);
    free(s);
}

int32_t pl_w2v_space_word(const pl_w2v_space *s, const char *word) {
    int32_t id = pl_w2v_vectors_find(s->t, word);
    char low[1024];
    if (id < 0 && pl_w2v_lower(word, low, sizeof low)) id = pl_w2v_vectors_find(s->t, low);
    if (id < 0) pl_error(PL_ERR_ARG, "'%s' is not in the vocabulary (%d words)", word, s->t->n);
    return id;
}

int pl_w2v_task_similar(const pl_w2v_space *s, const char *word, int k, pl_w2v_hit *out) {
    int32_t id = pl_w2v_space_word(s, word);
    if (id < 0) return PL_ERR_ARG;
    return pl_w2v_similar(s->t, s->unit, id, k, out);
}

int pl_w2v_task_analogy(const pl_w2v_space *s, const char *a, const char *b, const char *c, int k, pl_w2v_hit *out) {
    int32_t ia = pl_w2v_space_word(s, a), ib, ic;
    if (ia < 0 || (ib = pl_w2v_space_word(s, b)) < 0 || (ic = pl_w2v_space_word(s, c)) < 0) return PL_ERR_ARG;
    if (s->t->n <= 3) return pl_error(PL_ERR_ARG, "an analogy needs a fourth word: the vocabulary has %d", s->t->n);
    return pl_w2v_analogy(s->t, s->unit, ia, ib, ic, k, out);
}

int pl_w2v_task_eval(const pl_w2v_space *s, const char *questions_path, int32_t limit, pl_w2v_eval *out) {
    size_t len;
    char *text = pl_read_file(questions_path, &len);
    if (!text) return PL_ERR_IO;
    int rc = pl_w2v_eval_analogies(s->t, text, len, limit, out);
    free(text);
    return rc ? with_path(rc, questions_path) : PL_OK;
}

int pl_w2v_task_plot(const pl_w2v_space *s, const char *const *words, int n, const char *svg_path, float var[2]) {
    if (n < 2) return pl_error(PL_ERR_ARG, "a map needs at least two words");
    int dim = s->t->dim, rc = PL_OK;
    float *x = pl_malloc((size_t)n * dim * sizeof *x), *xy = pl_malloc((size_t)n * 2 * sizeof *xy);
    const char **labels = pl_malloc((size_t)n * sizeof *labels);
    if (!x || !xy || !labels) rc = PL_ERR_NOMEM;
    for (int i = 0; !rc && i < n; i++) {
        int32_t id = pl_w2v_space_word(s, words[i]);
        if (id < 0) { rc = PL_ERR_ARG; break; }
        memcpy(x + (size_t)i * dim, s->t->v + (int64_t)id * dim, (size_t)dim * sizeof *x);
        labels[i] = s->t->words[id];
    }
    if (!rc) rc = pl_w2v_pca2(x, n, dim, xy, var);
    if (!rc) rc = pl_w2v_svg(svg_path, labels, xy, n, var);
    free(x); free(xy); free(labels);
    return rc;
}
