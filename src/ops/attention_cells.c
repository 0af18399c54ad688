/* Attention over a KV cache of cells shared by many sequences (models/kv_cache.c keeps the book): pl_kv_store
 * writes one step's keys or values into the cells the step was given, and pl_attention_cells lets each token
 * attend to its own sequence's cells up to its position (and within a sliding window), read through the step's
 * cell map. A run of a sequence's tokens is one block of queries; when its cells lie in order in the cache (one
 * sequence, the common case) keys are read in place, else gathered into scratch first; a run of one token (a
 * decode step) takes dot products instead of one-row matrix products. Forward only: training attends within the
 * batch (ops/attention.c). */
#include "backend/cpu/vec.h"
#include "backend/cpu/vec_exp.h"
#include "ops/ops.h"

#include <cblas.h>

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
    if (t) snprintf(t->name, sizeof t->name, "%.50s (store)", cache->name);
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

/* work item -> (run, head, block of ATT_QB queries) */
static bool item_of(const pl_tensor *t, int64_t w, const int32_t **rec, int64_t *h, int64_t *qb) {
    const int32_t *mp = t->src[3]->data;
    int64_t Hq = t->ne[1];
    for (int r = 0; r < mp[1]; r++) {
        const int32_t *rr = mp + MAP_HDR + mp[0] + MAP_REC * r;
        int64_t n = Hq * ((rr[1] + ATT_QB - 1) / ATT_QB);
        if (w < n) { *rec = rr; *h = w % Hq; *qb = w / Hq; return true; }
        w -= n;
    }
    return false;
}
static int64_t n_items(const pl_tensor *t) {
    const int32_t *mp = t->src[3]->data;
    int64_t n = 0;
    for (int r = 0; r < mp[1]; r++) n += t->ne[1] * ((mp[MAP_HDR + mp[0] + MAP_REC * r + 1] + ATT_QB - 1) / ATT_QB);
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

void op_attention_cells_forward(pl_ctx *ctx, pl_tensor *t) { pl_parallel_for(ctx, n_items(t), cells_fwd_range, t); }
void op_attention_cells_backward(pl_ctx *ctx, pl_tensor *t) { (void)ctx; (void)t; }
