/* HNSW (vindex.h), after Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using
 * Hierarchical Navigable Small World graphs": every node gets a random top layer (exponentially rarer higher up);
 * a query descends greedily from the top entry point, then runs a beam search of width ef on layer 0. Inserting
 * runs the same search with ef_construction and links the node to neighbours chosen by the paper's heuristic
 * (Algorithm 4: keep a candidate only if it is closer to the node than to every neighbour already kept), which
 * keeps links spread in all directions. Distance = 1 - dot (unit vectors). Nodes lie in one flat array, each a copy
 * of its vector followed by its layer-0 list (count + 2M ids), so the lines a search scores a node by and the
 * lines it then expands the node from come together (hnswlib's layout; reading the caller's rows and a separate
 * list array cost two misses more per node); the few upper-layer lists are allocated per node. With a thread
 * pool, insertion runs on every thread (as hnswlib's): a spin lock per node guards its lists, and a node that
 * rises above the top layer holds the graph's lock while it is linked, as it becomes the entry point. */
#include "rag/vindex.h"

#include "backend/cpu/vec.h"
#include "core/common.h"
#include "core/cpu.h"
#include "rag/topk.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

struct pl_hnsw {
    int dim, M, M0, ef_c;
    int64_t n, cap;
    size_t stride;        /* bytes a node: its dim floats, then its layer-0 list (1 + M0 ints), cache-line padded */
    char *nodes;          /* (cap, stride), 64-byte aligned */
    int32_t **upper;      /* (cap): node i's lists for layers 1..level[i], each (1 + M) */
    uint8_t *level;       /* (cap) */
    int64_t entry;        /* -1: empty */
    int max_level;
    uint64_t rng;
    double ml;            /* 1 / ln M */
    float (*dot)(int64_t, const float *, const float *); /* the CPU's dot product, picked once */
    _Atomic uint8_t *lock; /* (cap) while a parallel insertion runs, else NULL: node i's lists are being changed */
    pthread_mutex_t top;   /* entry and max_level, while a parallel insertion runs */
};

static inline float *vec(const pl_hnsw *h, int64_t i) { return (float *)(h->nodes + (size_t)i * h->stride); }
static inline float dist(const pl_hnsw *h, const float *q, int64_t i) { return 1.0f - h->dot(h->dim, q, vec(h, i)); }
static inline int32_t *links(const pl_hnsw *h, int64_t i, int layer) {
    return layer == 0 ? (int32_t *)(h->nodes + (size_t)i * h->stride + (size_t)h->dim * sizeof(float))
                      : h->upper[i] + (layer - 1) * (1 + h->M);
}
static inline int max_links(const pl_hnsw *h, int layer) { return layer == 0 ? h->M0 : h->M; }
static inline void node_lock(const pl_hnsw *h, int64_t i) {
    if (h->lock)
        while (atomic_exchange_explicit(&h->lock[i], 1, memory_order_acquire)) _mm_pause();
}
static inline void node_unlock(const pl_hnsw *h, int64_t i) {
    if (h->lock) atomic_store_explicit(&h->lock[i], 0, memory_order_release);
}
/* node i's list on a layer; while insertions run beside this one, a copy taken under its lock (into tmp) */
static inline const int32_t *links_read(const pl_hnsw *h, int64_t i, int layer, int32_t *tmp) {
    const int32_t *l = links(h, i, layer);
    if (!h->lock) return l;
    node_lock(h, i);
    memcpy(tmp, l, (size_t)(1 + l[0]) * sizeof *l);
    node_unlock(h, i);
    return tmp;
}
/* the first line of node i's vector: the hardware's own prefetcher follows the rest of the node (asking for every
 * line of every neighbour at once filled the core's miss buffers and stalled on the prefetches themselves; at 32
 * dimensions asking for the vector's second line too cost 15% of a search's CPU time) */
static inline void prefetch_vector(const pl_hnsw *h, int64_t i) { __builtin_prefetch(vec(h, i)); }
/* ---- heaps of (distance, id) ---------------------------------------------------------------------------- */
typedef struct { float d; int32_t id; } cand;
typedef struct { cand *v; int n, cap; bool max_top; } heap; /* max_top: the farthest on top (results) */

static inline bool above(const heap *q, cand a, cand b) { return q->max_top ? a.d > b.d : a.d < b.d; }
static bool heap_push(heap *q, cand c) {
    if (q->n == q->cap) {
        int cap = q->cap ? 2 * q->cap : 64;
        cand *v = realloc(q->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        q->v = v; q->cap = cap;
    }
    int i = q->n++;
    for (; i > 0 && above(q, c, q->v[(i - 1) / 2]); i = (i - 1) / 2) q->v[i] = q->v[(i - 1) / 2];
    q->v[i] = c;
    return true;
}
/* the top replaced by c (a pop and a push in one sift) */
static void heap_replace_top(heap *q, cand c) {
    int i = 0;
    for (;;) {
        int ch = 2 * i + 1;
        if (ch >= q->n) break;
        if (ch + 1 < q->n && above(q, q->v[ch + 1], q->v[ch])) ch++;
        if (!above(q, q->v[ch], c)) break;
        q->v[i] = q->v[ch];
        i = ch;
    }
    q->v[i] = c;
}
static cand heap_pop(heap *q) {
    cand top = q->v[0], last = q->v[--q->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && above(q, q->v[c + 1], q->v[c])) c++;
        if (!above(q, q->v[c], last)) break;
        q->v[i] = q->v[c];
        i = c;
    }
    if (q->n) q->v[i] = last;
    return top;
}

/* ---- per-search scratch: visited marks by epoch, the two heaps -------------------------------------------- */
typedef struct { uint32_t *mark; uint32_t epoch; int64_t n; heap cands, found; } scratch;

static bool scratch_fit(scratch *s, int64_t n) {
    if (n > s->n) {
        uint32_t *m = realloc(s->mark, (size_t)n * sizeof *m);
        if (!m) return false;
        memset(m + s->n, 0, (size_t)(n - s->n) * sizeof *m);
        s->mark = m; s->n = n;
    }
    if (++s->epoch == 0) { memset(s->mark, 0, (size_t)s->n * sizeof *s->mark); s->epoch = 1; }
    s->cands = (heap){s->cands.v, 0, s->cands.cap, false};
    s->found = (heap){s->found.v, 0, s->found.cap, true};
    return true;
}
static void scratch_free(scratch *s) { free(s->mark); free(s->cands.v); free(s->found.v); }

/* Greedy walk on one layer: the closest node reachable from ep by always moving closer */
static int64_t greedy(const pl_hnsw *h, const float *q, int64_t ep, int layer) {
    float d = dist(h, q, ep);
    int32_t tmp[1 + 100];
    for (bool moved = true; moved;) {
        moved = false;
        const int32_t *l = links_read(h, ep, layer, tmp);
        for (int i = 1; i <= l[0]; i++) {
            float di = dist(h, q, l[i]);
            if (di < d) { d = di; ep = l[i]; moved = true; }
        }
    }
    return ep;
}

/* Algorithm 2: beam search of width ef on one layer from ep; s->found holds the ef closest (farthest on top) */
static bool search_layer(const pl_hnsw *h, scratch *s, const float *q, int64_t ep, int ef, int layer) {
    if (!scratch_fit(s, h->n)) return false;
    cand c0 = {dist(h, q, ep), (int32_t)ep};
    s->mark[ep] = s->epoch;
    if (!heap_push(&s->cands, c0) || !heap_push(&s->found, c0)) return false;
    while (s->cands.n) {
        cand c = heap_pop(&s->cands);
        if (c.d > s->found.v[0].d && s->found.n >= ef) break;
        const int32_t *l = links(h, c.id, layer);
        int32_t todo[2 * 100 + 1]; /* the unvisited neighbours (at most M0 <= 200) */
        int nt = 0;
        node_lock(h, c.id);
        for (int i = 1; i <= l[0]; i++)
            if (s->mark[l[i]] != s->epoch) { s->mark[l[i]] = s->epoch; todo[nt++] = l[i]; }
        node_unlock(h, c.id);
        /* their nodes lie far apart: each is asked for while the one before it is scored */
        if (nt) prefetch_vector(h, todo[0]);
        for (int i = 0; i < nt; i++) {
            int32_t e = todo[i];
            if (i + 1 < nt) prefetch_vector(h, todo[i + 1]);
            float de = dist(h, q, e);
            if (s->found.n < ef || de < s->found.v[0].d) {
                if (!heap_push(&s->cands, (cand){de, e})) return false;
                if (s->found.n < ef) {
                    if (!heap_push(&s->found, (cand){de, e})) return false;
                } else {
                    heap_replace_top(&s->found, (cand){de, e});
                }
                /* the list of the candidate to expand next (as hnswlib does) */
                __builtin_prefetch(links(h, s->cands.v[0].id, layer));
            }
        }
    }
    return true;
}

static int by_dist(const void *a, const void *b) {
    const cand *x = a, *y = b;
    return x->d != y->d ? (x->d < y->d ? -1 : 1) : (x->id > y->id) - (x->id < y->id);
}

/* Algorithm 4 (without extending candidates or keeping pruned ones): of c[0..n) sorted nearest first, keep up
 * to m, each closer to the base than to any kept one. Returns the count kept (moved to the front). */
static int select_neighbours(const pl_hnsw *h, cand *c, int n, int m) {
    int kept = 0;
    for (int i = 0; i < n && kept < m; i++) {
        bool good = true;
        for (int j = 0; j < kept && good; j++)
            good = 1.0f - h->dot(h->dim, vec(h, c[i].id), vec(h, c[j].id)) >= c[i].d;
        if (good) c[kept++] = c[i];
    }
    return kept;
}

/* Link e -> node on a layer; a full list is re-chosen by the heuristic among its links and the newcomer */
static void link_back(pl_hnsw *h, int64_t e, int32_t node, int layer, cand *buf) {
    int32_t *l = links(h, e, layer);
    int m = max_links(h, layer);
    node_lock(h, e);
    if (l[0] < m) { l[1 + l[0]++] = node; node_unlock(h, e); return; }
    const float *ve = vec(h, e);
    int n = 0;
    for (int i = 1; i <= l[0]; i++) buf[n++] = (cand){dist(h, ve, l[i]), l[i]};
    buf[n++] = (cand){dist(h, ve, node), node};
    qsort(buf, (size_t)n, sizeof *buf, by_dist);
    int k = select_neighbours(h, buf, n, m);
    l[0] = k;
    for (int i = 0; i < k; i++) l[1 + i] = buf[i].id;
    node_unlock(h, e);
}

/* ---- building ------------------------------------------------------------------------------------------- */
pl_hnsw *pl_hnsw_new(int dim, const pl_hnsw_params *p) {
    if (dim <= 0) return pl_error_null(PL_ERR_ARG, "hnsw: dimension %d", dim);
    pl_hnsw *h = pl_calloc(1, sizeof *h);
    if (!h) return NULL;
    h->dim = dim;
    h->M = p && p->M >= 2 ? PL_MIN(p->M, 100) : 16;
    h->M0 = 2 * h->M;
    h->ef_c = p && p->ef_construction > 0 ? p->ef_construction : 200;
    h->rng = p && p->seed ? p->seed : 100;
    h->ml = 1.0 / log((double)h->M);
    h->stride = ((size_t)dim * sizeof(float) + (size_t)(1 + h->M0) * sizeof(int32_t) + 63) / 64 * 64;
    h->entry = -1;
    pl_isa isa = pl_cpu_isa();
    h->dot = isa >= PL_ISA_AVX512 ? pl_vec_dot_f32_avx512 : isa >= PL_ISA_AVX2 ? pl_vec_dot_f32_avx2 : pl_vec_dot_f32_scalar;
    pthread_mutex_init(&h->top, NULL);
    return h;
}

void pl_hnsw_free(pl_hnsw *h) {
    if (!h) return;
    for (int64_t i = 0; i < h->n; i++) free(h->upper[i]);
    free(h->upper); free(h->nodes); free(h->level);
    pthread_mutex_destroy(&h->top);
    free(h);
}

int64_t pl_hnsw_count(const pl_hnsw *h) { return h ? h->n : 0; }

static bool grow(pl_hnsw *h, int64_t n) {
    if (n <= h->cap) return true;
    int64_t cap = PL_MAX(n, 2 * h->cap);
    void *l0 = NULL;
    if (!posix_memalign(&l0, 64, (size_t)cap * h->stride)) {
        if (h->n) memcpy(l0, h->nodes, (size_t)h->n * h->stride);
        free(h->nodes);
        h->nodes = l0;
    }
    int32_t **up = realloc(h->upper, (size_t)cap * sizeof *up);
    if (up) h->upper = up;
    uint8_t *lv = realloc(h->level, (size_t)cap);
    if (lv) h->level = lv;
    if (!l0 || !up || !lv) return false;
    h->cap = cap;
    return true;
}

static int random_level(pl_hnsw *h) {
    double u = ((pl_splitmix64(&h->rng) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
    int l = (int)(-log(u) * h->ml);
    return l > 30 ? 30 : l;
}

/* node's level drawn, its lists emptied (the upper ones allocated) and its vector copied in: before any
 * insertion runs, so that the parallel ones find every node they may meet ready */
static bool prepare(pl_hnsw *h, int64_t node, const float *v) {
    int top = random_level(h);
    h->level[node] = (uint8_t)top;
    links(h, node, 0)[0] = 0;
    h->upper[node] = top > 0 ? calloc((size_t)top * (1 + h->M), sizeof(int32_t)) : NULL;
    memcpy(vec(h, node), v, (size_t)h->dim * sizeof(float));
    return top == 0 || h->upper[node];
}

/* Algorithm 1: link a prepared node into the graph (the first one becomes the entry point) */
static bool insert(pl_hnsw *h, int64_t node, scratch *s, cand *buf) {
    int top = h->level[node];
    if (h->lock) pthread_mutex_lock(&h->top);
    int64_t ep = h->entry;
    int max_level = h->max_level;
    bool rises = ep < 0 || top > max_level; /* it becomes the entry point: others wait until it is linked */
    if (h->lock && !rises) pthread_mutex_unlock(&h->top);
    if (ep < 0) {
        h->entry = node; h->max_level = top;
        if (h->lock) pthread_mutex_unlock(&h->top);
        return true;
    }
    const float *q = vec(h, node);
    bool ok = true;
    for (int l = max_level; l > top; l--) ep = greedy(h, q, ep, l);
    for (int l = PL_MIN(top, max_level); ok && l >= 0; l--) {
        if (!(ok = search_layer(h, s, q, ep, h->ef_c, l))) break;
        int n = s->found.n;
        memcpy(buf, s->found.v, (size_t)n * sizeof *buf);
        qsort(buf, (size_t)n, sizeof *buf, by_dist);
        ep = buf[0].id;
        int k = select_neighbours(h, buf, n, h->M); /* M links chosen on every layer (the paper's M), room for M0 on 0 */
        int32_t *mine = links(h, node, l);
        node_lock(h, node);
        mine[0] = k;
        for (int i = 0; i < k; i++) mine[1 + i] = buf[i].id;
        node_unlock(h, node);
        for (int i = 0; i < k; i++) link_back(h, buf[i].id, (int32_t)node, l, buf + n);
    }
    if (rises) {
        if (top > h->max_level) { h->max_level = top; h->entry = node; }
        if (h->lock) pthread_mutex_unlock(&h->top);
    }
    return ok;
}

typedef struct { pl_hnsw *h; int64_t first; scratch *s; cand **buf; _Atomic bool failed; } insert_job;

static void insert_range(void *arg, int64_t a, int64_t b, int ith) {
    insert_job *j = arg;
    for (int64_t i = a; i < b && !atomic_load(&j->failed); i++)
        if (!insert(j->h, j->first + i, &j->s[ith], j->buf[ith])) atomic_store(&j->failed, true);
}

int pl_hnsw_add_par(pl_ctx *ctx, pl_hnsw *h, const float *vecs, int64_t n) {
    if (!h || !vecs || n < h->n || n > INT32_MAX) return pl_error(PL_ERR_ARG, "hnsw: bad rows to add");
    if (!grow(h, n)) return pl_error(PL_ERR_NOMEM, "hnsw: out of memory for %lld nodes", (long long)n);
    int64_t first = h->n;
    bool ok = true;
    for (int64_t i = first; i < n; i++) {
        h->n = i + 1; /* pl_hnsw_free frees the upper lists of the first n nodes */
        if (!(ok = prepare(h, i, vecs + i * h->dim))) break;
    }
    int nt = ctx && n - first > 1000 ? ctx->n_threads : 1; /* a few nodes: not worth the locks */
    insert_job j = {h, first, pl_calloc((size_t)nt, sizeof(scratch)), pl_calloc((size_t)nt, sizeof(cand *)), false};
    ok = ok && j.s && j.buf;
    for (int t = 0; ok && t < nt; t++) /* found (<= ef_c) + a full list and the newcomer for link_back */
        ok = (j.buf[t] = pl_malloc((size_t)(h->ef_c + h->M0 + 2) * sizeof(cand))) != NULL;
    if (ok && nt > 1 && !(h->lock = pl_calloc((size_t)n, sizeof *h->lock))) ok = false;
    if (ok && nt > 1) {
        if (h->entry < 0) insert_range(&j, 0, 1, 0); /* the entry point first, on its own */
        j.first += h->entry == first;
        pl_parallel_for_dynamic(ctx, n - j.first, insert_range, &j);
    } else if (ok) {
        insert_range(&j, 0, n - first, 0);
    }
    ok = ok && !atomic_load(&j.failed);
    free((void *)h->lock);
    h->lock = NULL;
    for (int t = 0; j.s && t < nt; t++) scratch_free(&j.s[t]);
    for (int t = 0; j.buf && t < nt; t++) free(j.buf[t]);
    free(j.s);
    free(j.buf);
    return ok ? PL_OK : pl_error(PL_ERR_NOMEM, "hnsw: out of memory while inserting");
}

int pl_hnsw_add(pl_hnsw *h, const float *vecs, int64_t n) { return pl_hnsw_add_par(NULL, h, vecs, n); }

/* ---- searching ------------------------------------------------------------------------------------------ */
typedef struct { const pl_hnsw *h; const float *q; int k, ef; pl_hit *out; scratch *s; bool failed; } query_job;

static void query_range(void *arg, int64_t a, int64_t b, int ith) {
    query_job *j = arg;
    const pl_hnsw *h = j->h;
    scratch *s = &j->s[ith];
    pl_topk t;
    if (pl_topk_init(&t, j->k)) { j->failed = true; return; }
    for (int64_t qi = a; qi < b; qi++) {
        const float *q = j->q + qi * h->dim;
        if (h->entry >= 0) {
            int64_t ep = h->entry;
            for (int l = h->max_level; l > 0; l--) ep = greedy(h, q, ep, l);
            if (!search_layer(h, s, q, ep, j->ef, 0)) { j->failed = true; break; }
            for (int i = 0; i < s->found.n; i++) pl_topk_push(&t, s->found.v[i].id, 1.0f - s->found.v[i].d);
        }
        pl_topk_sorted(&t, j->out + qi * j->k);
    }
    pl_topk_free(&t);
}

int pl_hnsw_search(pl_ctx *ctx, const pl_hnsw *h, const float *queries, int nq, int k, int ef, pl_hit *out) {
    if (!h || !queries || !out || nq <= 0 || k <= 0) return pl_error(PL_ERR_ARG, "hnsw search: bad arguments");
    int nt = ctx ? ctx->n_threads : 1;
    query_job j = {h, queries, k, PL_MAX(ef, k), out, pl_calloc((size_t)nt, sizeof(scratch)), false};
    if (!j.s) return PL_ERR_NOMEM;
    if (ctx && nq > 1) pl_parallel_for(ctx, nq, query_range, &j);
    else query_range(&j, 0, nq, 0);
    for (int i = 0; i < nt; i++) scratch_free(&j.s[i]);
    free(j.s);
    return j.failed ? pl_error(PL_ERR_NOMEM, "hnsw search: out of memory") : PL_OK;
}

/* ---- saving: "PLHNSW01", dim M n entry max_level (int32 each), levels (n bytes), layer-0 lists, upper lists --- */
enum { HDR = 8 + 5 * 4 };

int pl_hnsw_save(const pl_hnsw *h, void **blob, size_t *len) {
    size_t n = (size_t)h->n, bytes = HDR + n + n * (1 + h->M0) * 4;
    for (size_t i = 0; i < n; i++) bytes += (size_t)h->level[i] * (1 + h->M) * 4;
    char *p = pl_malloc(bytes ? bytes : 1);
    if (!p) return PL_ERR_NOMEM;
    int32_t hdr[5] = {h->dim, h->M, (int32_t)h->n, (int32_t)h->entry, h->max_level};
    memcpy(p, "PLHNSW01", 8);
    memcpy(p + 8, hdr, sizeof hdr);
    size_t o = HDR;
    if (n) memcpy(p + o, h->level, n);
    o += n;
    for (size_t i = 0; i < n; i++, o += (size_t)(1 + h->M0) * 4) memcpy(p + o, links(h, (int64_t)i, 0), (size_t)(1 + h->M0) * 4);
    for (size_t i = 0; i < n; i++) {
        size_t b = (size_t)h->level[i] * (1 + h->M) * 4;
        if (b) memcpy(p + o, h->upper[i], b);
        o += b;
    }
    *blob = p;
    *len = bytes;
    return PL_OK;
}

static bool lists_ok(const int32_t *l, int64_t count, int m, int64_t n) {
    for (int64_t i = 0; i < count; i++, l += 1 + m) {
        if (l[0] < 0 || l[0] > m) return false;
        for (int j = 1; j <= l[0]; j++)
            if (l[j] < 0 || l[j] >= n) return false;
    }
    return true;
}

pl_hnsw *pl_hnsw_load(const void *blob, size_t len, const float *vecs, int64_t n, int dim) {
    const char *p = blob;
    int32_t hdr[5];
    if (n > 0 && !vecs) return pl_error_null(PL_ERR_ARG, "hnsw load: no vectors");
    if (len < HDR || memcmp(p, "PLHNSW01", 8)) return pl_error_null(PL_ERR_FORMAT, "the HNSW index is not one plinth wrote");
    memcpy(hdr, p + 8, sizeof hdr);
    if (hdr[0] != dim || hdr[2] != n || hdr[1] < 2 || hdr[1] > 100 || hdr[3] < (n ? 0 : -1) || hdr[3] >= n || hdr[4] < 0 || hdr[4] > 30)
        return pl_error_null(PL_ERR_FORMAT, "the HNSW index does not match its %lld vectors of %d floats", (long long)n, dim);
    pl_hnsw *h = pl_hnsw_new(dim, &(pl_hnsw_params){.M = hdr[1]});
    if (!h || !grow(h, n ? n : 1)) { pl_hnsw_free(h); return NULL; }
    size_t o = HDR, l0 = (size_t)n * (1 + h->M0) * 4;
    bool ok = len >= o + (size_t)n + l0;
    if (ok) {
        memcpy(h->level, p + o, (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            memcpy(links(h, i, 0), p + o + n + (size_t)i * (1 + h->M0) * 4, (size_t)(1 + h->M0) * 4);
            memcpy(vec(h, i), vecs + i * dim, (size_t)dim * sizeof(float));
            ok = ok && lists_ok(links(h, i, 0), 1, h->M0, n);
        }
        o += (size_t)n + l0;
    }
    for (int64_t i = 0; i < n; i++) h->upper[i] = NULL;
    h->n = n;
    for (int64_t i = 0; ok && i < n; i++) {
        size_t b = (size_t)h->level[i] * (1 + h->M) * 4;
        ok = h->level[i] <= hdr[4] && len >= o + b;
        if (ok && b) {
            h->upper[i] = pl_malloc(b);
            ok = h->upper[i] && (memcpy(h->upper[i], p + o, b), lists_ok(h->upper[i], h->level[i], h->M, n));
        }
        o += b;
    }
    if (!ok || o != len) { pl_hnsw_free(h); return pl_error_null(PL_ERR_FORMAT, "the HNSW index is corrupted"); }
    h->entry = hdr[3];
    h->max_level = hdr[4];
    return h;
}
