/* HNSW (vindex.h), after Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using
 * Hierarchical Navigable Small World graphs": every node gets a random top layer (exponentially rarer higher up);
 * a query descends greedily from the top entry point, then runs a beam search of width ef on layer 0. Inserting
 * runs the same search with ef_construction and links the node to neighbours chosen by the paper's heuristic
 * (Algorithm 4: keep a candidate only if it is closer to the node than to every neighbour already kept), which
 * keeps links spread in all directions. Distance = 1 - dot (unit vectors). Nodes lie in one flat array, each a copy
 * of its vector followed by its layer-0 list (2M ids), so the lines a search scores a node by and the
 * lines it then expands the node from come together (hnswlib's layout; reading the caller's rows and a separate
 * list array cost two misses more per node); the few upper-layer lists are allocated per node. With a thread
 * pool, insertion runs on every thread (as hnswlib's): a spin lock per node guards its lists, and a node that
 * rises above the top layer holds the graph's lock while it is linked, as it becomes the entry point. */
#include "rag/vindex.h"

#include "backend/cpu/vec.h"
#include "backend/cpu/vec_dot_simd.h"
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
    size_t stride;        /* bytes a node: its dim floats, then its layer-0 list (M0 ids), cache-line padded */
    char *nodes;          /* (cap, stride), 64-byte aligned */
    int32_t **upper;      /* (cap): node i's lists for layers 1..level[i], each M ids */
    uint8_t *level;       /* (cap) */
    int64_t entry;        /* -1: empty */
    int max_level;
    uint64_t rng;
    double ml;            /* 1 / ln M */
    float (*dot)(int64_t, const float *, const float *); /* the CPU's dot product, picked once */
    int pf_lines, pf_ahead; /* prefetch_vector: the lines of a vector asked for, and how many neighbours ahead */
    bool avx2;            /* dim % 8 == 0 on an AVX2 CPU: searches inline their dot product (search_avx2) */
    _Atomic uint8_t *lock; /* (cap) while a parallel insertion runs, else NULL: node i's lists are being changed */
    pthread_mutex_t top;   /* entry and max_level, while a parallel insertion runs */
};

/* A list holds its layer's maximum of ids (M0 on layer 0, M above), the links first, then -1s: no count field,
 * so that at 32 dimensions a node (128 bytes of vector, 128 of links) is four cache lines, not five. */
static inline float *vec(const pl_hnsw *h, int64_t i) { return (float *)(h->nodes + (size_t)i * h->stride); }
static inline float dist(const pl_hnsw *h, const float *q, int64_t i) { return 1.0f - h->dot(h->dim, q, vec(h, i)); }
static inline int32_t *links(const pl_hnsw *h, int64_t i, int layer) {
    return layer == 0 ? (int32_t *)(h->nodes + (size_t)i * h->stride + (size_t)h->dim * sizeof(float))
                      : h->upper[i] + (layer - 1) * h->M;
}
static inline int max_links(const pl_hnsw *h, int layer) { return layer == 0 ? h->M0 : h->M; }
static inline int degree(const int32_t *l, int m) {
    int n = 0;
    while (n < m && l[n] >= 0) n++;
    return n;
}
static inline void set_links(int32_t *l, int m, const int32_t *ids, int n) {
    for (int i = 0; i < m; i++) l[i] = i < n ? ids[i] : -1;
}
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
    memcpy(tmp, l, (size_t)max_links(h, layer) * sizeof *l);
    node_unlock(h, i);
    return tmp;
}

/* ---- the beam: the ef nearest nodes seen, sorted nearest first; a node still to be expanded keeps its id, one
 * expanded holds ~id (negative). Expanding the nearest unexpanded one next and stopping when none is left is
 * Algorithm 2's two heaps in one array (a candidate pushed out of the ef nearest would only have been popped to
 * end the search). ----------------------------------------------------------------------------------------- */
typedef struct { float d; int32_t id; } cand;

/* c into the beam (n entries, room for ef; c nearer than the last if full): its position */
static inline int beam_insert(cand *b, int *n, int ef, cand c) {
    int lo = 0, len = *n; /* the first entry farther than c */
    while (len > 0) {
        int half = len / 2;
        if (b[lo + half].d <= c.d) { lo += half + 1; len -= half + 1; }
        else len = half;
    }
    int keep = *n < ef ? *n : ef - 1;
    memmove(b + lo + 1, b + lo, (size_t)(keep - lo) * sizeof *b);
    b[lo] = c;
    *n = keep + 1;
    return lo;
}

/* ---- per-search scratch: a bitmap of the visited nodes (the words set are listed, to clear them for the next
 * search: at 100,000 nodes the map is 12.5 KiB and stays in the first-level cache; uint32 epoch marks, 400 KiB,
 * with the dot product called through h->dot, measured the same at 32 dimensions, 5-10% slower at 384), the beam */
typedef struct { uint64_t *bits; int32_t *set; int64_t words, nset; cand *beam; int n, cap; } scratch;

static bool scratch_fit(scratch *s, int64_t n, int ef) {
    int64_t words = (n + 63) / 64;
    for (int64_t i = 0; i < s->nset; i++) s->bits[s->set[i]] = 0;
    s->nset = 0;
    s->n = 0;
    if (words > s->words) {
        uint64_t *b = realloc(s->bits, (size_t)words * sizeof *b);
        if (b) s->bits = b;
        int32_t *w = realloc(s->set, (size_t)words * sizeof *w);
        if (w) s->set = w;
        if (!b || !w) return false;
        memset(s->bits + s->words, 0, (size_t)(words - s->words) * sizeof *b);
        s->words = words;
    }
    if (ef > s->cap) {
        cand *c = realloc(s->beam, (size_t)ef * sizeof *c);
        if (!c) return false;
        s->beam = c; s->cap = ef;
    }
    return true;
}
static void scratch_free(scratch *s) { free(s->bits); free(s->set); free(s->beam); }
/* marks node i visited; false if it was already */
static inline bool visit(scratch *s, int32_t i) {
    uint64_t *w = &s->bits[i >> 6], b = (uint64_t)1 << (i & 63);
    if (*w & b) return false;
    if (!*w) s->set[s->nset++] = i >> 6;
    *w |= b;
    return true;
}

/* Greedy walk on one layer: the closest node reachable from ep by always moving closer */
static int64_t greedy(const pl_hnsw *h, const float *q, int64_t ep, int layer) {
    float d = dist(h, q, ep);
    int32_t tmp[100];
    for (bool moved = true; moved;) {
        moved = false;
        const int32_t *l = links_read(h, ep, layer, tmp);
        for (int i = 0; i < h->M && l[i] >= 0; i++) {
            float di = dist(h, q, l[i]);
            if (di < d) { d = di; ep = l[i]; moved = true; }
        }
    }
    return ep;
}

/* the line holding p into the caches: a prefetch GCC keeps (it deletes a loop of nothing but __builtin_prefetch as
 * one without effects, and with it the first prefetches below: where the search was not inlined as search_avx2's
 * is, that made it twice as slow) */
static inline void prefetch(const void *p) { __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p)); }

/* Their nodes lie far apart, so each neighbour's vector is asked for ahead of its turn. A short vector (up to four
 * lines) is asked for whole, pf_ahead = 32 / lines neighbours ahead: at 32 dimensions (two lines), 16 ahead took
 * 20-30% off a search's time against the first line one ahead (8 ahead: nearly as much; 32: less; the first line
 * only, 16 ahead: half the gain). A long one: its first line, one neighbour ahead; the hardware's own prefetcher
 * follows the rest (at 384 dimensions 2, 4, 8 or 24 lines, one or two ahead, measured the same; every line of
 * every neighbour at once filled the core's miss buffers). */
static inline void prefetch_vector(const pl_hnsw *h, int64_t i) {
    const char *v = (const char *)vec(h, i);
    for (int l = 0; l < h->pf_lines; l++) prefetch(v + 64 * l);
}

typedef float (*dot_fn)(int64_t, const float *, const float *);

/* Algorithm 2: beam search of width ef on one layer from ep, into s->beam (s->n entries: ids, nearest first).
 * Inlined into its two callers below, each with its own dot product. */
static inline __attribute__((always_inline)) bool beam(const pl_hnsw *h, scratch *s, const float *q, int64_t ep, int ef,
                                                      int layer, dot_fn dot) {
    if (!scratch_fit(s, h->n, ef)) return false;
    cand *b = s->beam;
    visit(s, (int32_t)ep);
    b[0] = (cand){1.0f - dot(h->dim, q, vec(h, ep)), (int32_t)ep};
    s->n = 1;
    int m = max_links(h, layer);
    for (int next = 0; next < s->n;) {
        int32_t id = b[next].id;
        b[next].id = ~id;
        while (++next < s->n && b[next].id < 0) {}
        /* the list of the node to expand next (as hnswlib does), unless a neighbour comes nearer */
        if (next < s->n) __builtin_prefetch(links(h, b[next].id, layer));
        const int32_t *l = links(h, id, layer);
        int32_t todo[200]; /* the unvisited neighbours (at most M0 <= 200) */
        int nt = 0;
        node_lock(h, id);
        for (int i = 0; i < m && l[i] >= 0; i++)
            if (visit(s, l[i])) todo[nt++] = l[i];
        node_unlock(h, id);
        for (int i = 0; i < h->pf_ahead && i < nt; i++) prefetch_vector(h, todo[i]);
        for (int i = 0; i < nt; i++) {
            int32_t e = todo[i];
            if (i + h->pf_ahead < nt) prefetch_vector(h, todo[i + h->pf_ahead]);
            float de = 1.0f - dot(h->dim, q, vec(h, e));
            if (s->n < ef || de < b[s->n - 1].d) {
                int at = beam_insert(b, &s->n, ef, (cand){de, e});
                if (at <= next) { next = at; __builtin_prefetch(links(h, e, layer)); }
            }
        }
    }
    for (int i = 0; i < s->n; i++) b[i].id = ~b[i].id;
    return true;
}

__attribute__((target("avx2,fma"))) static bool search_avx2(const pl_hnsw *h, scratch *s, const float *q, int64_t ep,
                                                             int ef, int layer) {
    return beam(h, s, q, ep, ef, layer, dot_f32_avx2); /* pl_vec_dot_f32_avx2, inlined */
}
static bool search_any(const pl_hnsw *h, scratch *s, const float *q, int64_t ep, int ef, int layer) {
    return beam(h, s, q, ep, ef, layer, h->dot);
}
static bool search_layer(const pl_hnsw *h, scratch *s, const float *q, int64_t ep, int ef, int layer) {
    return h->avx2 ? search_avx2(h, s, q, ep, ef, layer) : search_any(h, s, q, ep, ef, layer);
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
    int d = degree(l, m);
    if (d < m) { l[d] = node; node_unlock(h, e); return; }
    const float *ve = vec(h, e);
    int n = 0;
    for (int i = 0; i < m; i++) buf[n++] = (cand){dist(h, ve, l[i]), l[i]};
    buf[n++] = (cand){dist(h, ve, node), node};
    qsort(buf, (size_t)n, sizeof *buf, by_dist);
    int k = select_neighbours(h, buf, n, m);
    for (int i = 0; i < m; i++) l[i] = i < k ? buf[i].id : -1;
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
    h->stride = ((size_t)dim * sizeof(float) + (size_t)h->M0 * sizeof(int32_t) + 63) / 64 * 64;
    h->entry = -1;
    pl_isa isa = pl_cpu_isa();
    h->dot = isa >= PL_ISA_AVX512 ? pl_vec_dot_f32_avx512 : isa >= PL_ISA_AVX2 ? pl_vec_dot_f32_avx2 : pl_vec_dot_f32_scalar;
    h->avx2 = isa == PL_ISA_AVX2 && dim % 8 == 0;
    int lines = (dim * (int)sizeof(float) + 63) / 64;
    h->pf_lines = lines <= 4 ? lines : 1;
    h->pf_ahead = lines <= 4 ? 32 / lines : 1;
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
    set_links(links(h, node, 0), h->M0, NULL, 0);
    h->upper[node] = top > 0 ? pl_malloc((size_t)top * h->M * sizeof(int32_t)) : NULL;
    for (int l = 1; l <= top && h->upper[node]; l++) set_links(links(h, node, l), h->M, NULL, 0);
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
        int n = s->n;
        memcpy(buf, s->beam, (size_t)n * sizeof *buf);
        qsort(buf, (size_t)n, sizeof *buf, by_dist);
        ep = buf[0].id;
        int k = select_neighbours(h, buf, n, h->M); /* M links chosen on every layer (the paper's M), room for M0 on 0 */
        int32_t *mine = links(h, node, l);
        node_lock(h, node);
        for (int i = 0; i < max_links(h, l); i++) mine[i] = i < k ? buf[i].id : -1;
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
            for (int i = 0; i < s->n; i++) pl_topk_push(&t, s->beam[i].id, 1.0f - s->beam[i].d);
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

/* a list as the format keeps it: its count, then the slots (ids, -1 after the last) */
static void put_list(char *o, const int32_t *l, int m) {
    int32_t c = degree(l, m);
    memcpy(o, &c, 4);
    memcpy(o + 4, l, (size_t)m * 4);
}
/* the other way, checking the count and every id against n nodes */
static bool get_list(int32_t *l, const char *o, int m, int64_t n) {
    int32_t c, ids[200];
    memcpy(&c, o, 4);
    if (c < 0 || c > m) return false;
    memcpy(ids, o + 4, (size_t)c * 4);
    for (int j = 0; j < c; j++)
        if (ids[j] < 0 || ids[j] >= n) return false;
    set_links(l, m, ids, c);
    return true;
}

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
    for (size_t i = 0; i < n; i++, o += (size_t)(1 + h->M0) * 4) put_list(p + o, links(h, (int64_t)i, 0), h->M0);
    for (size_t i = 0; i < n; i++)
        for (int l = 1; l <= h->level[i]; l++, o += (size_t)(1 + h->M) * 4) put_list(p + o, links(h, (int64_t)i, l), h->M);
    *blob = p;
    *len = bytes;
    return PL_OK;
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
        o += (size_t)n;
        for (int64_t i = 0; ok && i < n; i++, o += (size_t)(1 + h->M0) * 4) {
            ok = get_list(links(h, i, 0), p + o, h->M0, n);
            memcpy(vec(h, i), vecs + i * dim, (size_t)dim * sizeof(float));
        }
    }
    for (int64_t i = 0; i < n; i++) h->upper[i] = NULL;
    h->n = n;
    for (int64_t i = 0; ok && i < n; i++) {
        int top = h->level[i];
        ok = top <= hdr[4] && len >= o + (size_t)top * (1 + h->M) * 4;
        if (ok && top) ok = (h->upper[i] = pl_malloc((size_t)top * h->M * sizeof(int32_t))) != NULL;
        for (int l = 1; ok && l <= top; l++, o += (size_t)(1 + h->M) * 4) ok = get_list(links(h, i, l), p + o, h->M, n);
    }
    if (!ok || o != len) { pl_hnsw_free(h); return pl_error_null(PL_ERR_FORMAT, "the HNSW index is corrupted"); }
    h->entry = hdr[3];
    h->max_level = hdr[4];
    return h;
}
