/* The k best (id, score) pairs seen so far: a min-heap on score of at most k entries, so the worst kept is at the
 * top and a better newcomer replaces it. Shared by exact search, HNSW and the hybrid ranking in rag/. */
#ifndef PL_RAG_TOPK_H
#define PL_RAG_TOPK_H

#include "rag/vindex.h"
#include <math.h>
#include <stdlib.h>

typedef struct { pl_hit *h; int n, k; } pl_topk;

static inline int pl_topk_init(pl_topk *t, int k) {
    t->h = calloc((size_t)k, sizeof *t->h); /* zeroed: the padding after each score too, which callers may memcmp */
    t->n = 0; t->k = k;
    return t->h ? 0 : -4;
}
static inline void pl_topk_free(pl_topk *t) { free(t->h); t->h = NULL; }
/* the score a newcomer must beat (-inf until k are kept) */
static inline float pl_topk_floor(const pl_topk *t) { return t->n < t->k ? -INFINITY : t->h[0].score; }

static inline void pl_topk_push(pl_topk *t, int64_t id, float score) {
    pl_hit *h = t->h;
    int i;
    if (t->n < t->k) { /* sift up */
        for (i = t->n++; i > 0 && h[(i - 1) / 2].score > score; i = (i - 1) / 2) h[i] = h[(i - 1) / 2];
    } else {
        if (score <= h[0].score) return;
        for (i = 0;;) { /* sift down from the top */
            int c = 2 * i + 1;
            if (c >= t->n) break;
            if (c + 1 < t->n && h[c + 1].score < h[c].score) c++;
            if (h[c].score >= score) break;
            h[i] = h[c];
            i = c;
        }
    }
    h[i] = (pl_hit){id, score};
}

/* x ranks above y: the higher score, or at equal scores the lower id */
static inline int pl_topk_above(pl_hit x, pl_hit y) { return x.score > y.score || (x.score == y.score && x.id < y.id); }
/* pl_topk_push with ties broken by id, a total order: the k kept are the k best in pl_topk_sorted's order whatever
 * the order of the pushes, so exact search's threads, each scanning blocks of rows in any order, agree with a
 * single scan. A newcomer that ties the floor may still rank above it: test scores with >= the floor. */
static inline void pl_topk_push_ordered(pl_topk *t, int64_t id, float score) {
    pl_hit *h = t->h, x = {id, score};
    int i;
    if (t->n < t->k) { /* sift up */
        for (i = t->n++; i > 0 && pl_topk_above(h[(i - 1) / 2], x); i = (i - 1) / 2) h[i] = h[(i - 1) / 2];
    } else {
        if (!pl_topk_above(x, h[0])) return;
        for (i = 0;;) { /* sift down from the top */
            int c = 2 * i + 1;
            if (c >= t->n) break;
            if (c + 1 < t->n && pl_topk_above(h[c], h[c + 1])) c++;
            if (pl_topk_above(h[c], x)) break;
            h[i] = h[c];
            i = c;
        }
    }
    h[i] = x;
}

static inline void pl_topk_merge(pl_topk *into, const pl_topk *from) {
    for (int i = 0; i < from->n; i++) pl_topk_push(into, from->h[i].id, from->h[i].score);
}

static inline int pl_topk_cmp(const void *a, const void *b) {
    const pl_hit *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}
/* out[0 .. k): best first (ties: lower id first); the rest id -1, score -inf. The heap is left empty. */
static inline void pl_topk_sorted(pl_topk *t, pl_hit *out) {
    qsort(t->h, (size_t)t->n, sizeof *t->h, pl_topk_cmp);
    for (int i = 0; i < t->k; i++) out[i] = i < t->n ? t->h[i] : (pl_hit){-1, -INFINITY};
    t->n = 0;
}

#endif
