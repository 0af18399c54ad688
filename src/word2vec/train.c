/* Word2Vec training (train.h). Sections: the tables built once (subsampling thresholds, the alias table that
 * draws negatives from the unigram distribution to the 3/4 power, the Huffman tree), one sentence of
 * skip-gram or CBOW, the worker threads (each owns a slice of the corpus, all update the same rows without
 * locks, as word2vec.c and gensim do), and the monitor that reports progress. Kernels: kernels.c. */
#include "word2vec/train.h"

#include "core/common.h"
#include "core/cpu.h"
#include "word2vec/kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

pl_w2v_params pl_w2v_default_params(void) {
    return (pl_w2v_params){.arch = PL_W2V_CBOW, .dim = 100, .window = 5, .negative = 5, .hs = false,
                           .sample = 1e-3, .alpha = 0, .min_alpha = 1e-4f, .epochs = 5, .threads = 1, .seed = 1};
}

/* ---- random numbers: splitmix64, one stream a thread ----------------------------------------------- */
/* A stream's start: hashed, because splitmix64 streams whose states differ by a multiple of its increment
 * are the same numbers shifted (seed * increment would make seed 3's stream seed 2's, one draw later). */
static uint64_t stream_start(uint64_t seed, uint64_t stream) { return pl_mix64(pl_mix64(seed) + pl_mix64(stream + 1)); }
static inline uint32_t rng_below(uint64_t *s, uint32_t n) { return (uint32_t)(((pl_splitmix64(s) >> 32) * n) >> 32); }

/* Alias table entry i: keep i when a 32-bit draw is below thr, else take idx (side by side: one cache line) */
typedef struct { uint32_t thr; int32_t idx; } w2v_alias;

/* ---- the trainer's shared state ------------------------------------------------------------------- */
typedef struct {
    const pl_w2v_vocab *v;
    const pl_w2v_corpus *c;
    const pl_w2v_params *p;
    const w2v_kernels *k;
    int stride;                    /* dim rounded up to 8: rows start 32-byte aligned, padding stays 0 */
    float *syn0;                   /* (n, stride) input vectors: the result */
    float *syn1neg;                /* (n, stride) output vectors for negative sampling */
    float *syn1;                   /* (n - 1, stride) Huffman inner nodes for hierarchical softmax */
    uint64_t *keep;                /* (n) subsampling: keep a word when a 32-bit draw is below this */
    w2v_alias *alias;              /* (n) the alias table that draws noise words */
    int64_t *hs_off;               /* (n + 1) each word's Huffman path in hs_point / hs_label */
    int32_t *hs_point;             /* inner nodes from the root down */
    float *hs_label;               /* 1 - code bit: the label each inner node's logistic unit is trained to */
    int max_path;
    float sig[W2V_SIG_N + 1];
    float alpha0, alpha_min;
    int64_t words_total;
    _Alignas(64) _Atomic int64_t words_done;
    _Alignas(64) _Atomic int64_t trained;
    _Atomic int stop, finished;
} trainer;

static float *alloc_rows(int64_t rows, int stride) {
    size_t bytes = ((size_t)PL_MAX(rows, 1) * (size_t)stride * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (!p) return pl_error_null(PL_ERR_NOMEM, "out of memory (%zu bytes of vectors)", bytes);
    memset(p, 0, bytes);
    return p;
}

/* Keep probability (sqrt(f / t) + 1) * t / f of a word with f occurrences, t = sample * total (word2vec.c's
 * formula, also gensim's): words rarer than t are always kept. */
static int make_keep(trainer *t) {
    int32_t n = t->v->n;
    if (!(t->keep = pl_malloc((size_t)n * sizeof *t->keep))) return PL_ERR_NOMEM;
    double thr = t->p->sample * (double)t->v->total;
    for (int32_t i = 0; i < n; i++) {
        double f = (double)t->v->counts[i], keep = t->p->sample > 0 ? (sqrt(f / thr) + 1) * thr / f : 1;
        t->keep[i] = keep >= 1 ? (1ull << 32) : (uint64_t)(keep * 4294967296.0);
    }
    return PL_OK;
}

/* Vose's alias method over count^0.75: one draw and one comparison per negative, tables of n entries
 * (word2vec.c uses a 1e8-entry table; gensim a binary search over the cumulative counts). */
static int make_alias(trainer *t) {
    int32_t n = t->v->n;
    double *q = pl_malloc((size_t)n * sizeof *q), z = 0;
    int32_t *small = pl_malloc((size_t)n * sizeof *small), *large = pl_malloc((size_t)n * sizeof *large);
    t->alias = pl_malloc((size_t)n * sizeof *t->alias);
    if (!q || !small || !large || !t->alias) { free(q); free(small); free(large); return PL_ERR_NOMEM; }
    for (int32_t i = 0; i < n; i++) z += (q[i] = pow((double)t->v->counts[i], 0.75));
    int32_t ns = 0, nl = 0;
    for (int32_t i = 0; i < n; i++) {
        q[i] = q[i] / z * n;
        if (q[i] < 1) small[ns++] = i; else large[nl++] = i;
    }
    while (ns && nl) {
        int32_t s = small[--ns], l = large[nl - 1];
        t->alias[s] = (w2v_alias){(uint32_t)(q[s] * 4294967296.0), l};
        q[l] -= 1 - q[s];
        if (q[l] < 1) { nl--; small[ns++] = l; }
    }
    while (nl) { int32_t l = large[--nl]; t->alias[l] = (w2v_alias){UINT32_MAX, l}; }
    while (ns) { int32_t s = small[--ns]; t->alias[s] = (w2v_alias){UINT32_MAX, s}; } /* rounding leftovers */
    free(q); free(small); free(large);
    return PL_OK;
}

static inline int32_t draw_negative(const trainer *t, uint64_t *rng) {
    uint64_t r = pl_splitmix64(rng);
    int32_t i = (int32_t)(((r >> 32) * (uint64_t)t->v->n) >> 32);
    w2v_alias a = t->alias[i];
    return (uint32_t)r < a.thr ? i : a.idx;
}

/* The Huffman tree over the counts (sorted descending, so two queues give it in linear time): frequent words
 * get short paths. Inner node a (0 .. n-2) is row a of syn1; the root is n-2. */
static int make_huffman(trainer *t) {
    int32_t n = t->v->n;
    int64_t *cnt = pl_malloc((size_t)2 * n * sizeof *cnt);
    int32_t *parent = pl_malloc((size_t)2 * n * sizeof *parent);
    uint8_t *bit = pl_calloc((size_t)2 * n, 1);
    t->hs_off = pl_calloc((size_t)n + 1, sizeof *t->hs_off);
    if (!cnt || !parent || !bit || !t->hs_off) { free(cnt); free(parent); free(bit); return PL_ERR_NOMEM; }
    for (int32_t i = 0; i < n; i++) cnt[i] = t->v->counts[i];
    int64_t leaf = n - 1, node = n;
    for (int32_t a = 0; a < n - 1; a++) {
        int64_t m[2];
        for (int j = 0; j < 2; j++) {
            if (leaf >= 0 && (node >= n + a || cnt[leaf] < cnt[node])) m[j] = leaf--;
            else m[j] = node++;
        }
        cnt[n + a] = cnt[m[0]] + cnt[m[1]];
        parent[m[0]] = n + a, parent[m[1]] = n + a;
        bit[m[1]] = 1;
    }
    for (int32_t i = 0; i < n; i++) {
        int depth = 0;
        for (int64_t b = i; b < 2 * (int64_t)n - 2; b = parent[b]) depth++;
        t->hs_off[i + 1] = t->hs_off[i] + depth;
        t->max_path = PL_MAX(t->max_path, depth);
    }
    int64_t total = t->hs_off[n];
    t->hs_point = pl_malloc((size_t)PL_MAX(total, 1) * sizeof *t->hs_point);
    t->hs_label = pl_malloc((size_t)PL_MAX(total, 1) * sizeof *t->hs_label);
    if (!t->hs_point || !t->hs_label) { free(cnt); free(parent); free(bit); return PL_ERR_NOMEM; }
    for (int32_t i = 0; i < n; i++) {
        int64_t k = t->hs_off[i + 1]; /* walk up from the leaf, filling the path from its end */
        for (int64_t b = i; b < 2 * (int64_t)n - 2; b = parent[b]) {
            k--;
            t->hs_point[k] = parent[b] - n;
            t->hs_label[k] = 1.0f - bit[b];
        }
    }
    free(cnt); free(parent); free(bit);
    return PL_OK;
}

/* ---- one sentence ---------------------------------------------------------------------------------- */
typedef struct {
    trainer *t;
    int64_t tok_begin, tok_end;     /* this thread's slice of the corpus: sentences starting in it */
    uint64_t rng;
    float *neu1, *neu1e;            /* (stride) the hidden layer and its gradient */
    int32_t *sent;                  /* (PL_W2V_MAX_SENTENCE) the sentence after subsampling */
    int32_t *rows;                  /* (negative + 1) targets of one negative-sampling update */
    float *labels;                  /* (negative + 1): 1 for the word, 0 for the noise words */
    float alpha;                    /* the learning rate, refreshed every REPORT_EVERY words */
    pthread_t tid;
} worker;

/* Output-layer updates for predicting `word` from the hidden vector l1 (gradient into neu1e). */
static void predict(worker *w, int32_t word, const float *l1) {
    trainer *t = w->t;
    const pl_w2v_params *p = t->p;
    float a = w->alpha;
    memset(w->neu1e, 0, (size_t)t->stride * sizeof(float));
    if (p->hs) {
        int64_t o = t->hs_off[word];
        t->k->update(l1, w->neu1e, t->syn1, t->hs_point + o, t->hs_label + o, (int)(t->hs_off[word + 1] - o), a,
                     t->stride, t->sig, 0);
    }
    if (p->negative > 0) {
        int n = 0;
        w->rows[n++] = word;
        for (int d = 0; d < p->negative; d++) {
            int32_t r = draw_negative(t, &w->rng);
            if (r != word) w->rows[n++] = r; /* a draw of the word itself is dropped, as in word2vec.c */
        }
        t->k->update(l1, w->neu1e, t->syn1neg, w->rows, w->labels, n, a, t->stride, t->sig, 1);
    }
}

static void train_skipgram(worker *w, const int32_t *s, int len) {
    trainer *t = w->t;
    int win = t->p->window;
    for (int i = 0; i < len; i++) {
        int b = (int)rng_below(&w->rng, (uint32_t)win); /* a random window 1..win: near words weigh more */
        for (int j = PL_MAX(0, i - win + b); j <= PL_MIN(len - 1, i + win - b); j++) {
            if (j == i) continue;
            float *l1 = t->syn0 + (int64_t)s[j] * t->stride; /* as word2vec.c: the context row predicts the word */
            predict(w, s[i], l1);
            t->k->axpy(t->stride, 1.0f, w->neu1e, l1);
        }
    }
}

static void train_cbow(worker *w, const int32_t *s, int len) {
    trainer *t = w->t;
    int win = t->p->window, stride = t->stride;
    for (int i = 0; i < len; i++) {
        int b = (int)rng_below(&w->rng, (uint32_t)win);
        int lo = PL_MAX(0, i - win + b), hi = PL_MIN(len - 1, i + win - b), cnt = hi - lo;
        if (cnt <= 0) continue;
        memset(w->neu1, 0, (size_t)stride * sizeof(float));
        for (int j = lo; j <= hi; j++)
            if (j != i) t->k->axpy(stride, 1.0f, t->syn0 + (int64_t)s[j] * stride, w->neu1);
        for (int d = 0; d < stride; d++) w->neu1[d] *= 1.0f / (float)cnt; /* the mean of the context */
        predict(w, s[i], w->neu1);
        for (int j = lo; j <= hi; j++)
            if (j != i) t->k->axpy(stride, 1.0f, w->neu1e, t->syn0 + (int64_t)s[j] * stride);
    }
}

/* ---- threads ---------------------------------------------------------------------------------------- */
#define REPORT_EVERY 1024 /* words between updates of the shared counter (and of the learning rate) */

static float current_alpha(const trainer *t, int64_t done) {
    float a = t->alpha0 - (t->alpha0 - t->alpha_min) * (float)((double)done / (double)(t->words_total + 1));
    return PL_MAX(a, t->alpha_min);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    trainer *t = w->t;
    const pl_w2v_corpus *c = t->c;
    int64_t s0 = 0, s1 = 0, pending = 0, kept = 0;
    while (s0 < c->n_sent && c->sent[s0] < w->tok_begin) s0++;
    s1 = s0;
    while (s1 < c->n_sent && c->sent[s1] < w->tok_end) s1++;
    w->alpha = current_alpha(t, atomic_load_explicit(&t->words_done, memory_order_relaxed));
    for (int e = 0; e < t->p->epochs && !atomic_load_explicit(&t->stop, memory_order_relaxed); e++) {
        for (int64_t si = s0; si < s1; si++) {
            const int32_t *ids = c->ids + c->sent[si];
            int len = (int)(c->sent[si + 1] - c->sent[si]), n = 0;
            for (int i = 0; i < len; i++)
                if (t->keep[ids[i]] >> 32 || (uint32_t)pl_splitmix64(&w->rng) < t->keep[ids[i]]) w->sent[n++] = ids[i];
            kept += n;
            if (t->p->arch == PL_W2V_SKIPGRAM) train_skipgram(w, w->sent, n);
            else train_cbow(w, w->sent, n);
            pending += len;
            if (pending >= REPORT_EVERY) {
                int64_t done = atomic_fetch_add_explicit(&t->words_done, pending, memory_order_relaxed) + pending;
                pending = 0;
                w->alpha = current_alpha(t, done);
                if (atomic_load_explicit(&t->stop, memory_order_relaxed)) break;
            }
        }
    }
    atomic_fetch_add(&t->words_done, pending);
    atomic_fetch_add(&t->trained, kept);
    atomic_fetch_add(&t->finished, 1);
    return NULL;
}

static void trainer_free(trainer *t) {
    free(t->syn0); free(t->syn1neg); free(t->syn1);
    free(t->keep); free(t->alias);
    free(t->hs_off); free(t->hs_point); free(t->hs_label);
}

static int trainer_init(trainer *t, const pl_w2v_vocab *v, const pl_w2v_corpus *c, const pl_w2v_params *p) {
    t->v = v, t->c = c, t->p = p;
    t->k = w2v_kernels_get();
    t->stride = (p->dim + 7) / 8 * 8;
    t->alpha0 = p->alpha > 0 ? p->alpha : (p->arch == PL_W2V_CBOW ? 0.05f : 0.025f);
    t->alpha_min = PL_MIN(p->min_alpha, t->alpha0);
    t->words_total = c->n_tokens * p->epochs;
    w2v_sigmoid_table(t->sig);
    if (!(t->syn0 = alloc_rows(v->n, t->stride))) return PL_ERR_NOMEM;
    uint64_t rng = stream_start(p->seed, 0);
    for (int32_t i = 0; i < v->n; i++)
        for (int d = 0; d < p->dim; d++) /* word2vec.c's initialization: uniform in [-0.5, 0.5) / dim */
            t->syn0[(int64_t)i * t->stride + d] = ((float)(pl_splitmix64(&rng) >> 40) / 16777216.0f - 0.5f) / (float)p->dim;
    if (p->negative > 0 && (!(t->syn1neg = alloc_rows(v->n, t->stride)) || make_alias(t))) return PL_ERR_NOMEM;
    if (p->hs && (!(t->syn1 = alloc_rows(v->n - 1, t->stride)) || make_huffman(t))) return PL_ERR_NOMEM;
    return make_keep(t);
}

static int check_params(const pl_w2v_params *p) {
    if (p->dim < 1 || p->dim > 10000) return pl_error(PL_ERR_ARG, "--dim must be 1..10000 (got %d)", p->dim);
    if (p->window < 1) return pl_error(PL_ERR_ARG, "--window must be at least 1 (got %d)", p->window);
    if (p->negative < 0 || p->negative > 100) return pl_error(PL_ERR_ARG, "--negative must be 0..100 (got %d)", p->negative);
    if (!p->hs && !p->negative) return pl_error(PL_ERR_ARG, "nothing to train: --negative 0 without --hs");
    if (p->epochs < 1) return pl_error(PL_ERR_ARG, "--epochs must be at least 1 (got %d)", p->epochs);
    if (p->threads < 1 || p->threads > 256) return pl_error(PL_ERR_ARG, "threads must be 1..256 (got %d)", p->threads);
    if (!(p->sample >= 0)) return pl_error(PL_ERR_ARG, "--sample must be >= 0");
    return PL_OK;
}

static void report(trainer *t, double t0) {
    if (!t->p->progress) return;
    int64_t done = atomic_load(&t->words_done);
    pl_w2v_progress pr = {done, t->words_total, current_alpha(t, done), pl_time_s() - t0};
    t->p->progress(t->p->user, &pr);
}

int pl_w2v_train(const pl_w2v_vocab *v, const pl_w2v_corpus *c, const pl_w2v_params *p, pl_w2v_vectors **out,
                 pl_w2v_stats *stats) {
    *out = NULL;
    int rc = check_params(p);
    if (rc) return rc;
    if (v->n < 1 || c->n_tokens < 1) return pl_error(PL_ERR_ARG, "the vocabulary is empty");
    trainer *t = aligned_alloc(64, (sizeof(trainer) + 63) / 64 * 64);
    if (!t) return pl_error(PL_ERR_NOMEM, "out of memory");
    memset(t, 0, sizeof *t);
    worker *ws = pl_calloc((size_t)p->threads, sizeof *ws);
    rc = ws ? trainer_init(t, v, c, p) : PL_ERR_NOMEM;
    int started = 0;
    double t0 = pl_time_s();
    for (int i = 0; !rc && i < p->threads; i++) {
        worker *w = &ws[i];
        w->t = t;
        w->tok_begin = c->n_tokens * i / p->threads, w->tok_end = c->n_tokens * (i + 1) / p->threads;
        w->rng = stream_start(p->seed, (uint64_t)i + 1);
        /* each thread's scratch in its own 64-byte lines: no false sharing between the threads' hot buffers */
        size_t nb = (size_t)t->stride * sizeof(float);
        w->neu1 = aligned_alloc(64, (nb + 63) / 64 * 64);
        w->neu1e = aligned_alloc(64, (nb + 63) / 64 * 64);
        w->sent = aligned_alloc(64, (PL_W2V_MAX_SENTENCE * sizeof(int32_t) + 63) / 64 * 64);
        w->rows = aligned_alloc(64, ((size_t)(p->negative + 1) * sizeof(int32_t) + 63) / 64 * 64);
        w->labels = aligned_alloc(64, ((size_t)(p->negative + 1) * sizeof(float) + 63) / 64 * 64);
        if (!w->neu1 || !w->neu1e || !w->sent || !w->rows || !w->labels) { rc = pl_error(PL_ERR_NOMEM, "out of memory"); break; }
        w->labels[0] = 1;
        for (int d = 1; d <= p->negative; d++) w->labels[d] = 0;
        if (pthread_create(&w->tid, NULL, worker_main, w)) { rc = pl_error(PL_ERR_NOMEM, "cannot start a thread"); break; }
        started++;
    }
    if (rc) atomic_store(&t->stop, 1);
    while (atomic_load(&t->finished) < started) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (p->interrupt && *p->interrupt) atomic_store(&t->stop, 1);
        report(t, t0);
    }
    for (int i = 0; i < started; i++) pthread_join(ws[i].tid, NULL);
    double secs = pl_time_s() - t0;
    if (!rc && atomic_load(&t->stop)) rc = pl_error(PL_ERR_INTERRUPTED, "interrupted: nothing written");
    if (!rc) {
        report(t, t0);
        if (stats) *stats = (pl_w2v_stats){secs, atomic_load(&t->words_done), atomic_load(&t->trained), t->k->name};
        pl_w2v_vectors *vec = pl_w2v_vectors_new(v->n, p->dim);
        if (!vec) rc = PL_ERR_NOMEM;
        for (int32_t i = 0; !rc && i < v->n; i++) {
            if (!(vec->words[i] = pl_strdup(v->words[i]))) rc = PL_ERR_NOMEM;
            else memcpy(vec->v + (int64_t)i * p->dim, t->syn0 + (int64_t)i * t->stride, (size_t)p->dim * sizeof(float));
        }
        if (!rc) rc = pl_w2v_vectors_index(vec);
        if (rc) pl_w2v_vectors_free(vec);
        else *out = vec;
    }
    for (int i = 0; ws && i < p->threads; i++) {
        free(ws[i].neu1); free(ws[i].neu1e); free(ws[i].sent); free(ws[i].rows); free(ws[i].labels);
    }
    free(ws);
    trainer_free(t);
    free(t);
    return rc;
}
