/* Attention over a KV cache of cells shared by many sequences (models/kv_cache.c keeps the book): pl_kv_store
 * writes one step's keys or values into the cells the step was given, and pl_attention_cells lets each token
 * attend to its own sequence's cells up to its position (and within a sliding window), read through the step's
 * cell map. A run of a sequence's tokens is one block of queries; when its cells lie in order in the cache (one
 * sequence, the common case) keys are read in place, else gathered into scratch first; a run of one token (a
 * decode step) takes dot products instead of one-row matrix products. Forward only: training attends within the
 * batch (ops/attention.c). */
#include "backend/cpu/attn_kernels.h"
#include "backend/cpu/vec.h"
#include "backend/cpu/vec_exp.h"
#include "ops/ops.h"

#include <cblas.h>
#include <math.h>

enum { MAP_HDR = 2, MAP_REC = 4, ATT_QB = 64 };

static bool map_ok(const pl_tensor *map, int64_t n_tok) {
    if (!map || map->type != PL_I32 || !pl_is_contiguous(map) || pl_nelements(map) < MAP_HDR) return false;
    const int32_t *mp = map->data;
    return mp[0] == n_tok && mp[1] > 0 && pl_nelements(map) >= MAP_HDR + mp[0] + (int64_t)MAP_REC * mp[1];
}

/* ---- the store: cache[h][cell(i)] <- cur[i][h] ------------------------------------------------------------ */
pl_tensor *pl_kv_store(pl_ctx *ctx, pl_tensor *cache, pl_tensor *cur, pl_tensor *map) {
    if (!cache || !cur || !map) return NULL;
    OP_REQUIRE(cur->type == PL_F32 && cur->nb[0] == sizeof(float), "kv_store: f32 rows expected");
    OP_REQUIRE(cache->type == PL_F32 || cache->type == PL_F16, "kv_store: the cache must be f32 or f16");
    OP_REQUIRE(pl_is_contiguous(cache) && cache->ne[0] == cur->ne[0] && cache->ne[2] == cur->ne[1],
               "kv_store: a cache {%lld, cells, %lld} for rows {%lld, %lld, tokens}", (long long)cache->ne[0],
               (long long)cache->ne[2], (long long)cur->ne[0], (long long)cur->ne[1]);
    OP_REQUIRE(map_ok(map, cur->ne[2]), "kv_store: the cell map does not describe %lld tokens", (long long)cur->ne[2]);
    pl_tensor *t = op_node_into(ctx, PL_OP_KV_STORE, cache, cur, map); /* the node is the cache */
    pl_name_suffixed(t, cache->name, " (store)");
    return t;
}

/* tokens s..e: each head's row into its cell (f16 caches: rounded on the way in) */
static void kv_store_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg;
    const pl_tensor *cur = t->src[0];
    const int32_t *cell = (const int32_t *)t->src[1]->data + MAP_HDR;
    const pl_type_traits *tr = pl_dtype_traits(t->type);
    int64_t D = t->ne[0], H = cur->ne[1];
    for (int64_t i = s; i < e; i++)
        for (int64_t h = 0; h < H; h++) {
            const float *src = (const float *)((const char *)cur->data + h * cur->nb[1] + i * cur->nb[2]);
            char *dst = (char *)t->data + ((size_t)h * t->ne[1] + cell[i]) * D * tr->type_size;
            if (t->type == PL_F32) memcpy(dst, src, (size_t)D * sizeof(float));
            else tr->from_float(src, dst, D);
        }
}
void op_kv_store_forward(pl_ctx *ctx, pl_tensor *t) { pl_parallel_for(ctx, t->src[0]->ne[2], kv_store_rows, t); }
void op_kv_store_backward(pl_ctx *ctx, pl_tensor *t) { (void)ctx; (void)t; }

/* ---- attention -------------------------------------------------------------------------------------------- */
pl_tensor *pl_attention_cells(pl_ctx *ctx, pl_tensor *q, pl_tensor *k, pl_tensor *v, pl_tensor *map, float scale, int window) {
    if (!q || !k || !v || !map) return NULL;
    OP_REQUIRE(q->type == PL_F32 && q->nb[0] == sizeof(float), "attention_cells: f32 query rows expected");
    OP_REQUIRE(k->type == v->type && pl_same_shape(k, v) && q->ne[0] == k->ne[0], "attention_cells: k / v caches differ");
    OP_REQUIRE(k->ne[2] > 0 && q->ne[1] % k->ne[2] == 0, "attention_cells: %lld query heads for %lld kv heads",
               (long long)q->ne[1], (long long)k->ne[2]);
    OP_REQUIRE(map_ok(map, q->ne[2]), "attention_cells: the cell map does not describe %lld tokens", (long long)q->ne[2]);
    int64_t ne[3] = {q->ne[0], q->ne[1], q->ne[2]};
    pl_tensor *t = op_new_node(ctx, PL_OP_ATTENTION_CELLS, PL_F32, 3, ne, q, k, v, map);
    if (!t) return NULL;
    t->p.f[0] = scale;
    t->p.i[1] = window > 0 ? window : 0;
    return t;
}

/* work item -> (run, head, block of ATT_QB queries); runs of one token are the decode pass's (below) */
static bool item_of(const pl_tensor *t, int64_t w, const int32_t **rec, int64_t *h, int64_t *qb) {
    const int32_t *mp = t->src[3]->data;
    int64_t Hq = t->ne[1];
    for (int r = 0; r < mp[1]; r++) {
        const int32_t *rr = mp + MAP_HDR + mp[0] + MAP_REC * r;
        if (rr[1] == 1) continue;
        int64_t n = Hq * ((rr[1] + ATT_QB - 1) / ATT_QB);
        if (w < n) { *rec = rr; *h = w % Hq; *qb = w / Hq; return true; }
        w -= n;
    }
    return false;
}
static int64_t n_items(const pl_tensor *t) {
    const int32_t *mp = t->src[3]->data;
    int64_t n = 0;
    for (int r = 0; r < mp[1]; r++) {
        const int32_t len = mp[MAP_HDR + mp[0] + MAP_REC * r + 1];
        if (len > 1) n += t->ne[1] * ((len + ATT_QB - 1) / ATT_QB);
    }
    return n;
}

/* Grow a thread's scratch to n floats (kept across its work items: one allocation a call, not one an item) */
static float *scratch(float **buf, size_t *cap, size_t n) {
    if (n > *cap) {
        float *p = realloc(*buf, n * sizeof(float));
        if (!p) return NULL;
        *buf = p;
        *cap = n;
    }
    return *buf;
}

static bool cells_in_order(const pl_tensor *x, const int32_t *cells, int64_t n) {
    if (x->type != PL_F32) return false;
    for (int64_t j = 1; j < n; j++)
        if (cells[j] != cells[0] + j) return false;
    return true;
}

/* the f32 row of head hk held by one cell */
static inline const float *cell_row(const pl_tensor *x, int64_t hk, int32_t cell) {
    return (const float *)x->data + ((size_t)hk * x->ne[1] + (size_t)cell) * x->ne[0];
}

/* the f16 row of head hk held by one cell (an f16 cache) */
static inline const uint16_t *cell_row_h(const pl_tensor *x, int64_t hk, int32_t cell) {
    return (const uint16_t *)x->data + ((size_t)hk * x->ne[1] + (size_t)cell) * x->ne[0];
}

/* Rows of head hk for the cells cells[0..n): in place when they lie in order and are f32 (ld = D), else
 * converted / gathered into buf (n * D floats). */
static const float *key_rows(const pl_tensor *x, int64_t hk, const int32_t *cells, int64_t n, float *buf) {
    int64_t D = x->ne[0];
    size_t es = pl_dtype_traits(x->type)->type_size;
    const char *head = (const char *)x->data + (size_t)hk * x->ne[1] * D * es;
    if (!buf) return (const float *)head + (size_t)cells[0] * D;
    for (int64_t j = 0; j < n; j++) {
        const char *row = head + (size_t)cells[j] * D * es;
        if (x->type == PL_F32) memcpy(buf + j * D, row, (size_t)D * sizeof(float));
        else pl_dtype_traits(x->type)->to_float(row, buf + j * D, D);
    }
    return buf;
}

/* One query row over n keys (rows of D floats), keys before lo masked: out = softmax(scale q K^T) V. The path of
 * every single-token run, alone or in a batch, so a sequence decodes the same either way; sgemm would pack all
 * of K and V again for each one-row product (most of a deep decode step's time). */
static void one_query(const float *q, const float *K, const float *V, int64_t D, int64_t n, int64_t lo, float scale,
                      float *s, float *out) {
    const pl_attn_kernels *kr = pl_attn_kernels_for(pl_cpu_isa());
    const float **rows = kr ? malloc((size_t)(n - lo) * sizeof *rows) : NULL;
    if (rows) { /* the decode kernels, so that this row gets the bits a decode step's gets */
        for (int64_t j = lo; j < n; j++) rows[j - lo] = K + j * D;
        kr->rows_dots(D, n - lo, rows, q, scale, s + lo);
        pl_vec_softmax_f32(n - lo, s + lo);
        for (int64_t j = lo; j < n; j++) rows[j - lo] = V + j * D;
        kr->rows_wsum(D, n - lo, rows, s + lo, out, false);
        free(rows);
        return;
    }
    for (int64_t j = lo; j < n; j++) s[j] = scale * pl_vec_dot_f32(D, q, K + j * D);
    pl_vec_softmax_f32(n - lo, s + lo);
    memset(out, 0, (size_t)D * sizeof(float));
    for (int64_t j = lo; j < n; j++) pl_vec_axpy_f32(D, s[j], V + j * D, out);
}

static void cells_fwd_range(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    const int32_t *mp = t->src[3]->data;
    int64_t D = q->ne[0], Hq = q->ne[1], grp = Hq / k->ne[2], window = t->p.i[1];
    int ldq = (int)(q->nb[2] / sizeof(float));
    float scale = t->p.f[0], *buf = NULL;
    size_t cap = 0;
    for (int64_t w = s; w < e; w++) {
        const int32_t *rec;
        int64_t h, qb;
        if (!item_of(t, w, &rec, &h, &qb)) break;
        int64_t i0 = rec[0] + qb * ATT_QB, rows = PL_MIN(ATT_QB, rec[0] + rec[1] - i0), p_first = rec[2] + qb * ATT_QB;
        int64_t nk = p_first + rows;                       /* keys the block's last row sees */
        int64_t klo = window && p_first + 1 > window ? p_first + 1 - window : 0; /* the first row's first key */
        int64_t nkk = nk - klo;
        const int32_t *cells = mp + rec[3] + klo;
        bool gather = !cells_in_order(k, cells, nkk);
        float *S = scratch(&buf, &cap, (size_t)(rows * nkk + (gather ? 2 * nkk * D : 0)));
        if (!S) { pl_error(PL_ERR_NOMEM, "attention: no memory for scores"); break; }
        float *kb = gather ? S + rows * nkk : NULL, *vb = gather ? kb + nkk * D : NULL;
        const float *K = key_rows(k, h / grp, cells, nkk, kb), *V = key_rows(v, h / grp, cells, nkk, vb);
        const float *Q = (const float *)((const char *)q->data + h * q->nb[1] + i0 * q->nb[2]);
        if (rows == 1) { /* a decode token: dot products and a weighted sum, K and V read once, nothing packed */
            one_query(Q, K, V, D, nkk, 0, scale, S, pl_f32(t) + (i0 * Hq + h) * D); /* the window starts at klo */
            continue;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)nkk, (int)D, scale, Q, ldq, K, (int)D, 0.0f,
                    S, (int)nkk);
        for (int64_t i = 0; i < rows; i++) {
            float *row = S + i * nkk;
            int64_t n = p_first + i + 1 - klo, lo = window && p_first + i + 1 > window ? p_first + i + 1 - window - klo : 0;
            pl_vec_softmax_f32(n - lo, row + lo);
            for (int64_t j = 0; j < lo; j++) row[j] = 0.0f;
            for (int64_t j = n; j < nkk; j++) row[j] = 0.0f; /* a later position of the run: masked */
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)D, (int)nkk, 1.0f, S, (int)nkk, V, (int)D,
                    0.0f, pl_f32(t) + (i0 * Hq + h) * D, (int)(Hq * D));
    }
    free(buf);
}

/* ---- runs of one token (decode steps): the query heads of a kv head together, keys in chunks ---------------
 * A work item is (run, kv head, chunk of DEC_CHUNK keys): the grp query heads that share the kv head read its
 * keys and values once, and a long context is cut into chunks that the threads share. Each chunk's softmax is
 * kept with its log-sum-exp; the chunks are then merged with weights exp(lse_c - lse). A context of one chunk
 * computes exactly what one_query does per head. DEC_CHUNK is fixed, so a token's result depends neither on the
 * thread count nor on what else is in the batch. */
/* keys a chunk; floats a block of keys (8 KiB: 32 rows of 64). Chunks of 128 keys keep two threads even over a few
 * thousand keys and three kv heads: SmolLM2 Q8_0, tg128 @ d1024, two threads, Intel Xeon, 90.7-92.0 tokens/s with
 * 512-key chunks split in two static shares, 100.4-103.2 handed out one at a time (one thread unchanged); now in
 * guided ranges, so that a thread's next chunk is known and its first keys can be asked for ahead (dec_chunks) */
enum { DEC_CHUNK = 128, DEC_KB_FLOATS = 2048, DEC_MERGE_INLINE = 1 << 16 };
typedef struct {
    pl_tensor *t;
    int n_runs;                /* runs of one token */
    const int32_t **run;       /* their records */
    int64_t *first;            /* first work item of each (items of run i: first[i] .. first[i+1]) */
    float *part;               /* per item and query head of the group: lse, then D output floats */
} dec_job;

static int64_t dec_keys(const pl_tensor *t, const int32_t *rec, int64_t *klo) {
    int64_t window = t->p.i[1], nk = rec[2] + 1;
    *klo = window && nk > window ? nk - window : 0;
    return nk - *klo;
}

/* The rows [i0, i1) of rb bytes each, or the share g of grp of them, asked for a line at a time. Decode steps
 * over a long context read their cache rows from memory once: the next block's rows, asked for a third at a time
 * while this block is met for each of three query heads, took SmolLM2 Q8_0 tg @ d4096 from 31.7 to 33.9 tokens/s
 * on one thread and 60.0 to 64.0 on two (f16 cache, Intel Xeon; a whole block at once 33.3, two blocks ahead
 * 34.1 / 63.5, to L2 only 32.4). asm, not __builtin_prefetch: GCC deletes a loop of nothing but the builtin. */
static void prefetch_share(const void *const *rows, int64_t i0, int64_t i1, int64_t g, int64_t grp, size_t rb) {
    if (!rb) return;
    const int64_t a = i0 + (i1 - i0) * g / grp, b = i0 + (i1 - i0) * (g + 1) / grp;
    for (int64_t i = a; i < b; i++)
        for (size_t o = 0; o < rb; o += 64) {
#if defined(__x86_64__) || defined(__i386__)
            __asm__ volatile("prefetcht0 %0" : : "m"(((const char *)rows[i])[o]));
#else
            __builtin_prefetch((const char *)rows[i] + o);
#endif
        }
}

/* work item w: its run r (advanced from the caller's), kv head, keys (n of them, from cells) */
static const int32_t *dec_item(const dec_job *j, int64_t w, int *r, int64_t *hk, int64_t *c, int64_t *n) {
    while (w >= j->first[*r + 1]) (*r)++;
    const int32_t *rec = j->run[*r], *mp = j->t->src[3]->data;
    const int64_t per = (j->first[*r + 1] - j->first[*r]) / j->t->src[1]->ne[2];
    *hk = (w - j->first[*r]) / per, *c = (w - j->first[*r]) % per;
    int64_t klo, nkk = dec_keys(j->t, rec, &klo);
    *n = PL_MIN(DEC_CHUNK, nkk - *c * DEC_CHUNK);
    return mp + rec[3] + klo + *c * DEC_CHUNK;
}

/* the share g of grp of the f16 rows of head hk at cells[i0 .. i1), asked for (prefetch_share's, by cell) */
static void prefetch_cells(const pl_tensor *x, int64_t hk, const int32_t *cells, int64_t i0, int64_t i1, int64_t g,
                           int64_t grp) {
    const int64_t a = i0 + (i1 - i0) * g / grp, b = i0 + (i1 - i0) * (g + 1) / grp;
    const uint16_t *rows[DEC_CHUNK];
    for (int64_t i = a; i < b; i++) rows[i - a] = cell_row_h(x, hk, cells[i]);
    prefetch_share((const void *const *)rows, 0, b - a, 0, 1, (size_t)x->ne[0] * 2);
}

static void dec_chunks(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    dec_job *j = arg;
    pl_tensor *t = j->t, *q = t->src[0], *k = t->src[1], *v = t->src[2];
    const int64_t D = q->ne[0], Hkv = k->ne[2], grp = q->ne[1] / Hkv;
    const float scale = t->p.f[0];
    const pl_attn_kernels *kr = pl_attn_kernels_for(pl_cpu_isa());
    const float **rows = kr ? malloc(2 * DEC_CHUNK * sizeof *rows) : NULL; /* the chunk's K rows, then its V rows */
    /* an f16 cache is read in place by the f16 kernels (the f32 kernels' bits on the widened rows) */
    const uint16_t **hrows = rows && k->type == PL_F16 && D % kr->vlen == 0 ? malloc(2 * DEC_CHUNK * sizeof *hrows) : NULL;
    /* f32 rows (and f16 rows, for the f16 kernels) are read where they lie, in any order: nothing copied */
    const bool h16 = hrows != NULL, direct = k->type == PL_F32 || h16;
    float *buf = NULL;
    size_t cap = 0;
    int r = 0;
    for (int64_t w = s; w < e; w++) {
        int64_t hk, c, n;
        const int32_t *cells = dec_item(j, w, &r, &hk, &c, &n), *rec = j->run[r];
        const int64_t per = (j->first[r + 1] - j->first[r]) / Hkv;
        float *S = scratch(&buf, &cap, (size_t)(grp * n + (direct ? 0 : 2 * n * D)));
        if (!S) { pl_error(PL_ERR_NOMEM, "attention: no memory for scores"); break; }
        const float *K = direct ? NULL : key_rows(k, hk, cells, n, S + grp * n);
        const float *V = direct ? NULL : key_rows(v, hk, cells, n, S + grp * n + n * D);
        const float *Q = (const float *)((const char *)q->data + hk * grp * q->nb[1] + rec[0] * q->nb[2]);
        float *part = j->part + w * grp * (D + 1);
        /* a context of one chunk: its heads' rows go straight to the output (no merge to do) */
        float *out = per == 1 ? pl_f32(t) + ((int64_t)rec[0] * q->ne[1] + hk * grp) * D : NULL;
        if (kr && rows) { /* SIMD: the scores of all the chunk's keys per query head, then their weighted sums */
            for (int64_t i = 0; i < n; i++) {
                if (h16) hrows[i] = cell_row_h(k, hk, cells[i]), hrows[n + i] = cell_row_h(v, hk, cells[i]);
                else if (direct) rows[i] = cell_row(k, hk, cells[i]), rows[n + i] = cell_row(v, hk, cells[i]);
                else rows[i] = K + i * D, rows[n + i] = V + i * D;
            }
            /* in blocks of kb keys (8 KiB of them), each block for every head of the group while its rows are in L1: the
             * cache is streamed once, not once a head (each row's score and each running sum as in one pass) */
            const int64_t kb = PL_MAX(8, DEC_KB_FLOATS / D / 8 * 8); /* keys a block, whole groups of eight */
            /* f16 rows: the next block's (the first V block's after the last K block) are asked for while this one
             * is met (f32 rows, twice the lines: no faster, 25.4-26.8 tokens/s against 27.0 one thread at d4096) */
            const void *const *any = (const void *const *)hrows;
            const size_t rb = h16 ? (size_t)D * 2 : 0;
            for (int64_t b0 = 0; b0 < n; b0 += kb) {
                for (int64_t g = 0; g < grp; g++) {
                    prefetch_share(any, b0 + kb, PL_MIN(b0 + 2 * kb, 2 * n), g, grp, rb);
                    const float *qg = (const float *)((const char *)Q + g * q->nb[1]);
                    if (h16) kr->rows_dots_h(D, PL_MIN(kb, n - b0), hrows + b0, qg, scale, S + g * n + b0);
                    else kr->rows_dots(D, PL_MIN(kb, n - b0), rows + b0, qg, scale, S + g * n + b0);
                }
            }
            for (int64_t g = 0; g < grp; g++) part[g * (D + 1)] = pl_vec_softmax_f32(n, S + g * n);
            /* and, during the last V block, the first K block of this thread's next item (guided ranges: usually
             * the next chunk of the same head) */
            int rn = r;
            int64_t hkn = 0, cn, nn = 0;
            const int32_t *next = h16 && w + 1 < e ? dec_item(j, w + 1, &rn, &hkn, &cn, &nn) : NULL;
            for (int64_t b0 = 0; b0 < n; b0 += kb) {
                for (int64_t g = 0; g < grp; g++) {
                    if (next && b0 + kb >= n) prefetch_cells(k, hkn, next, 0, PL_MIN(kb, nn), g, grp);
                    else prefetch_share(any, n + b0 + kb, PL_MIN(n + b0 + 2 * kb, 2 * n), g, grp, rb);
                    float *o = out ? out + g * D : part + g * (D + 1) + 1;
                    if (h16) kr->rows_wsum_h(D, PL_MIN(kb, n - b0), hrows + n + b0, S + g * n + b0, o, b0 > 0);
                    else kr->rows_wsum(D, PL_MIN(kb, n - b0), rows + n + b0, S + g * n + b0, o, b0 > 0);
                }
            }
            continue;
        }
        for (int64_t i = 0; i < n; i++) { /* each key row once for all the group's heads */
            const float *kr = direct ? cell_row(k, hk, cells[i]) : K + i * D;
            for (int64_t g = 0; g < grp; g++) S[g * n + i] = scale * pl_vec_dot_f32(D, (const float *)((const char *)Q + g * q->nb[1]), kr);
        }
        for (int64_t g = 0; g < grp; g++) {
            part[g * (D + 1)] = pl_vec_softmax_f32(n, S + g * n);
            memset(part + g * (D + 1) + 1, 0, (size_t)D * sizeof(float));
        }
        for (int64_t i = 0; i < n; i++) {
            const float *vr = direct ? cell_row(v, hk, cells[i]) : V + i * D;
            for (int64_t g = 0; g < grp; g++) pl_vec_axpy_f32(D, S[g * n + i], vr, part + g * (D + 1) + 1);
        }
        if (out)
            for (int64_t g = 0; g < grp; g++) memcpy(out + g * D, part + g * (D + 1) + 1, (size_t)D * sizeof(float));
    }
    free(rows);
    free(hrows);
    free(buf);
}

/* per (run of one token, query head): the chunks merged into the output row */
static void dec_merge(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    dec_job *j = arg;
    pl_tensor *t = j->t;
    const int64_t D = t->ne[0], Hq = t->ne[1], Hkv = t->src[1]->ne[2], grp = Hq / Hkv;
    for (int64_t w = s; w < e; w++) {
        const int64_t r = w / Hq, h = w % Hq, per = (j->first[r + 1] - j->first[r]) / Hkv;
        const float *p0 = j->part + ((j->first[r] + (h / grp) * per) * grp + h % grp) * (D + 1);
        float *out = pl_f32(t) + ((int64_t)j->run[r][0] * Hq + h) * D;
        if (per == 1) continue; /* one chunk: dec_chunks wrote one_query's bits */
        float m = -INFINITY;
        for (int64_t c = 0; c < per; c++) m = PL_MAX(m, p0[c * grp * (D + 1)]);
        double l = 0;
        for (int64_t c = 0; c < per; c++) l += exp((double)p0[c * grp * (D + 1)] - m);
        memset(out, 0, (size_t)D * sizeof(float));
        for (int64_t c = 0; c < per; c++)
            pl_vec_axpy_f32(D, (float)(exp((double)p0[c * grp * (D + 1)] - m) / l), p0 + c * grp * (D + 1) + 1, out);
    }
}

static void attention_decode_runs(pl_ctx *ctx, pl_tensor *t) {
    const int32_t *mp = t->src[3]->data;
    const int64_t D = t->ne[0], Hkv = t->src[1]->ne[2], grp = t->ne[1] / Hkv;
    dec_job j = {.t = t};
    j.run = malloc((size_t)mp[1] * sizeof *j.run);
    j.first = malloc(((size_t)mp[1] + 1) * sizeof *j.first);
    if (!j.run || !j.first) goto out;
    j.first[0] = 0;
    bool merge = false; /* some run has more than one chunk */
    for (int r = 0; r < mp[1]; r++) {
        const int32_t *rr = mp + MAP_HDR + mp[0] + MAP_REC * r;
        if (rr[1] != 1) continue;
        int64_t klo, nkk = dec_keys(t, rr, &klo);
        j.run[j.n_runs] = rr;
        j.first[j.n_runs + 1] = j.first[j.n_runs] + Hkv * ((nkk + DEC_CHUNK - 1) / DEC_CHUNK);
        merge |= nkk > DEC_CHUNK;
        j.n_runs++;
    }
    if (!j.n_runs) goto out;
    j.part = malloc((size_t)j.first[j.n_runs] * grp * (D + 1) * sizeof(float));
    if (!j.part) { pl_error(PL_ERR_NOMEM, "attention: no memory for %lld decode chunks", (long long)j.first[j.n_runs]); goto out; }
    pl_parallel_for_chunks(ctx, j.first[j.n_runs], dec_chunks, &j);
    /* the merge of a few heads' chunks (one decode token: ~20k multiply-adds at 4096 keys) on this thread; a
     * batch of many sequences' on the pool */
    const int64_t n_merge = (int64_t)j.n_runs * t->ne[1];
    if (merge && j.first[j.n_runs] * grp * D <= DEC_MERGE_INLINE) dec_merge(&j, 0, n_merge, 0);
    else if (merge) pl_parallel_for(ctx, n_merge, dec_merge, &j);
out:
    free(j.part);
    free(j.run);
    free(j.first);
}

void op_attention_cells_forward(pl_ctx *ctx, pl_tensor *t) {
    const int64_t n = n_items(t);
    if (n) pl_parallel_for(ctx, n, cells_fwd_range, t);
    attention_decode_runs(ctx, t);
}
void op_attention_cells_backward(pl_ctx *ctx, pl_tensor *t) { (void)ctx; (void)t; }
