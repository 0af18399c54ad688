/* The KV cache's cells and sequences (kv_cache.h): allocation, the sequence operations, and the placement of
 * one batch of tokens into free cells with the cell map the attention op reads. Cell contents are written by
 * the graph (pl_kv_store); this file only keeps the book of which cell holds which position of whom. */
#include "models/kv_cache.h"

#include <string.h>

/* bytes of one layer's keys (or values): every cell of every kv head */
static size_t layer_bytes(int64_t D, int64_t Hkv, int n_cells, pl_dtype type) {
    return (size_t)D * n_cells * Hkv * pl_dtype_traits(type)->type_size;
}

pl_kv_cache *pl_kv_cache_new(pl_ctx *wctx, int n_layer, int64_t D, int64_t Hkv, int n_cells, pl_dtype type) {
    pl_kv_cache *c = pl_calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = (pl_kv_cache){.n_cells = n_cells, .n_layer = n_layer, .head_dim = D, .n_head_kv = Hkv, .type = type};
    size_t per = layer_bytes(D, Hkv, n_cells, type);
    c->mem = calloc(2 * (size_t)n_layer, per); /* calloc: pages are touched only when used (0 is 0.0 in f16 too) */
    c->k = pl_calloc((size_t)n_layer, sizeof *c->k);
    c->v = pl_calloc((size_t)n_layer, sizeof *c->v);
    c->cell_pos = pl_malloc((size_t)n_cells * sizeof *c->cell_pos);
    c->cell_seqs = pl_calloc((size_t)n_cells, sizeof *c->cell_seqs);
    if (!c->mem || !c->k || !c->v || !c->cell_pos || !c->cell_seqs) {
        pl_kv_cache_free(c);
        return pl_error_null(PL_ERR_NOMEM, "out of memory for a KV cache of %d tokens", n_cells);
    }
    int64_t ne[3] = {D, n_cells, Hkv};
    for (int l = 0; l < n_layer; l++) {
        c->k[l] = pl_new_mapped(wctx, type, 3, ne, (char *)c->mem + (2 * (size_t)l) * per);
        c->v[l] = pl_new_mapped(wctx, type, 3, ne, (char *)c->mem + (2 * (size_t)l + 1) * per);
        if (!c->k[l] || !c->v[l]) { pl_kv_cache_free(c); return NULL; }
        pl_set_name(c->k[l], "cache_k.%d", l);
        pl_set_name(c->v[l], "cache_v.%d", l);
    }
    pl_kv_clear(c);
    return c;
}

void pl_kv_cache_touch(pl_kv_cache *c) {
    if (!c || !c->mem) return;
    const size_t bytes = 2 * (size_t)c->n_layer * layer_bytes(c->head_dim, c->n_head_kv, c->n_cells, c->type);
    for (size_t o = 0; o < bytes; o += 4096) ((volatile char *)c->mem)[o] = 0; /* zero, as calloc gave it */
}

void pl_kv_cache_free(pl_kv_cache *c) {
    if (!c) return;
    free(c->mem); free(c->k); free(c->v); free(c->cell_pos); free(c->cell_seqs);
    free(c);
}

void pl_kv_clear(pl_kv_cache *c) {
    for (int i = 0; i < c->n_cells; i++) { c->cell_pos[i] = -1; c->cell_seqs[i] = 0; }
    for (int s = 0; s < PL_KV_MAX_SEQ; s++) c->seq_len[s] = -1;
    c->n_used = 0;
}

/* ---- sequences ---------------------------------------------------------------------------------------- */
bool pl_kv_seq_exists(const pl_kv_cache *c, int seq) { return seq >= 0 && seq < PL_KV_MAX_SEQ && c->seq_len[seq] >= 0; }

static int seq_check(const pl_kv_cache *c, int seq) {
    if (!pl_kv_seq_exists(c, seq)) return pl_error(PL_ERR_ARG, "sequence %d does not exist (never created, or removed)", seq);
    return PL_OK;
}

int pl_kv_seq_len(const pl_kv_cache *c, int seq) { int rc = seq_check(c, seq); return rc ? rc : c->seq_len[seq]; }

int pl_kv_seq_new(pl_kv_cache *c) {
    for (int s = 0; s < PL_KV_MAX_SEQ; s++)
        if (c->seq_len[s] < 0) { c->seq_len[s] = 0; return s; }
    return pl_error(PL_ERR_ARG, "no free sequence: %d are open at once", PL_KV_MAX_SEQ);
}

/* drop seq from every cell at position >= n_keep; a cell nobody sees any more is free */
static void seq_drop_from(pl_kv_cache *c, int seq, int n_keep) {
    uint64_t bit = 1ull << seq;
    for (int i = 0; i < c->n_cells; i++) {
        if (!(c->cell_seqs[i] & bit) || c->cell_pos[i] < n_keep) continue;
        c->cell_seqs[i] &= ~bit;
        if (!c->cell_seqs[i]) { c->cell_pos[i] = -1; c->n_used--; }
    }
}

int pl_kv_seq_remove(pl_kv_cache *c, int seq) {
    int rc = seq_check(c, seq);
    if (rc) return rc;
    seq_drop_from(c, seq, 0);
    c->seq_len[seq] = -1;
    return PL_OK;
}

int pl_kv_seq_truncate(pl_kv_cache *c, int seq, int n_keep) {
    int rc = seq_check(c, seq);
    if (rc) return rc;
    if (n_keep < 0) return pl_error(PL_ERR_ARG, "cannot keep %d tokens", n_keep);
    if (n_keep >= c->seq_len[seq]) return PL_OK;
    seq_drop_from(c, seq, n_keep);
    c->seq_len[seq] = n_keep;
    return PL_OK;
}

int pl_kv_seq_fork(pl_kv_cache *c, int seq) {
    int rc = seq_check(c, seq);
    if (rc) return rc;
    int child = pl_kv_seq_new(c);
    if (child < 0) return child;
    uint64_t bit = 1ull << seq;
    for (int i = 0; i < c->n_cells; i++)
        if (c->cell_seqs[i] & bit) c->cell_seqs[i] |= 1ull << child;
    c->seq_len[child] = c->seq_len[seq];
    return child;
}

/* ---- placing a batch --------------------------------------------------------------------------------------
 * The map (i32): [0] tokens N, [1] runs R, [2 .. 2+N) each token's cell, then R records {q0, nq, p0, off}: a run
 * of nq consecutive tokens of one sequence starting at token q0 and position p0, whose sequence's cells for
 * positions 0 .. p0+nq-1 are listed in position order at map[off ..]. */
enum { MAP_HDR = 2, MAP_REC = 4 };

/* the cells of seq holding positions 0 .. n-1, in position order, into out; false if one is missing */
static bool seq_cells(const pl_kv_cache *c, int seq, int n, int32_t *out) {
    for (int p = 0; p < n; p++) out[p] = -1;
    uint64_t bit = 1ull << seq;
    for (int i = 0; i < c->n_cells; i++)
        if ((c->cell_seqs[i] & bit) && c->cell_pos[i] < n) out[c->cell_pos[i]] = i;
    for (int p = 0; p < n; p++)
        if (out[p] < 0) return false;
    return true;
}

/* whether token i ends its run: the batch's last, the next is another sequence's, or the next position is a
 * multiple of grain */
static bool run_ends(const int32_t *seq, const int32_t *pos, int n, int i, int grain) {
    return i + 1 == n || seq[i + 1] != seq[i] || (grain > 0 && (pos[i] + 1) % grain == 0);
}

pl_tensor *pl_kv_place(pl_kv_cache *c, pl_ctx *ctx, const int32_t *seq, int n, int32_t *pos, int grain) {
    if (n <= 0) return pl_error_null(PL_ERR_ARG, "no tokens to place");
    int32_t len[PL_KV_MAX_SEQ];
    memcpy(len, c->seq_len, sizeof len);
    for (int i = 0; i < n; i++) {
        if (seq_check(c, seq[i])) return NULL;
        pos[i] = len[seq[i]]++;
    }
    if (n > c->n_cells - c->n_used)
        return pl_error_null(PL_ERR_ARG, "the KV cache is full: %d tokens do not fit in the %d free cells of %d",
                             n, c->n_cells - c->n_used, c->n_cells);
    int n_runs = 0;
    int64_t n_keys = 0;
    for (int i = 0; i < n; i++)
        if (run_ends(seq, pos, n, i, grain)) n_runs++, n_keys += pos[i] + 1; /* a run's last token sees them all */
    pl_tensor *map = pl_new_1d(ctx, PL_I32, MAP_HDR + n + (int64_t)MAP_REC * n_runs + n_keys);
    if (!map) return NULL;
    int32_t *mp = map->data, *rec = mp + MAP_HDR + n, off = MAP_HDR + n + MAP_REC * n_runs;
    mp[0] = n;
    mp[1] = n_runs;
    for (int i = 0, cell = 0; i < n; i++) { /* free cells, in order */
        while (c->cell_pos[cell] >= 0) cell++;
        c->cell_pos[cell] = pos[i];
        c->cell_seqs[cell] = 1ull << seq[i];
        mp[MAP_HDR + i] = cell;
        c->seq_len[seq[i]] = pos[i] + 1;
        c->n_used++;
    }
    for (int i = 0, q0 = 0; i < n; i++) {
        if (!run_ends(seq, pos, n, i, grain)) continue;
        int nk = pos[i] + 1;
        *rec++ = q0; *rec++ = i + 1 - q0; *rec++ = pos[q0]; *rec++ = off;
        if (!seq_cells(c, seq[i], nk, mp + off)) {
            pl_kv_unplace(c, map);
            return pl_error_null(PL_ERR_ARG, "sequence %d lacks a cell below position %d (corrupt cache)", seq[i], nk);
        }
        off += nk;
        q0 = i + 1;
    }
    return map;
}

void pl_kv_unplace(pl_kv_cache *c, const pl_tensor *map) {
    const int32_t *mp = map->data;
    int n = mp[0];
    for (int i = n - 1; i >= 0; i--) {
        int cell = mp[MAP_HDR + i];
        if (c->cell_pos[cell] < 0) continue;
        int s = __builtin_ctzll(c->cell_seqs[cell]);
        if (c->seq_len[s] > c->cell_pos[cell]) c->seq_len[s] = c->cell_pos[cell];
        c->cell_pos[cell] = -1;
        c->cell_seqs[cell] = 0;
        c->n_used--;
    }
}
