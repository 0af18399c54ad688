/* The KV cache: K and V of every layer in one pool of cells, shared by many sequences of different lengths.
 * A cell holds one token's keys and values at one position; a set of sequences sees it (a fork shares its
 * parent's cells instead of copying them). Sequences are created, removed, truncated and forked here; a batch
 * of tokens from several sequences is placed into free cells and described to the attention op by a cell map
 * (the i32 layout pl_attention_cells reads, core/tensor.h). One sequence is what `plinth run` and `chat` use;
 * many are what the server schedules. */
#ifndef PL_MODELS_KV_CACHE_H
#define PL_MODELS_KV_CACHE_H

#include "core/tensor.h"

#define PL_KV_MAX_SEQ 64 /* sequences at once (a cell's set of sequences is a 64-bit mask) */

typedef struct pl_kv_cache {
    int n_cells, n_layer;
    int64_t head_dim, n_head_kv;
    pl_dtype type;              /* f32 or f16 */
    void *mem;
    pl_tensor **k, **v;         /* (L) each {D, n_cells, Hkv}: cell-major within a head */
    int32_t *cell_pos;          /* (n_cells) position of the token held; -1: free */
    uint64_t *cell_seqs;        /* (n_cells) the sequences that see the cell */
    int32_t seq_len[PL_KV_MAX_SEQ]; /* tokens held (the next position); -1: no such sequence */
    int n_used;                 /* cells in use */
} pl_kv_cache;

/* Cells for n_cells tokens in all; tensors are made in wctx. NULL + message when out of memory. */
pl_kv_cache *pl_kv_cache_new(pl_ctx *wctx, int n_layer, int64_t head_dim, int64_t n_head_kv, int n_cells, pl_dtype type);
void pl_kv_cache_free(pl_kv_cache *c);
/* Touch every page of the cells' memory now (it is allocated untouched, so a process that uses few cells holds
 * few): a server claims its whole cache at start, as llama-server does, and its resident memory then stays flat
 * under load instead of growing as requests reach cells no earlier request used. */
void pl_kv_cache_touch(pl_kv_cache *c);
void pl_kv_clear(pl_kv_cache *c);               /* every sequence removed, every cell free */

int pl_kv_seq_new(pl_kv_cache *c);               /* a new, empty sequence's id, or a negative status */
int pl_kv_seq_remove(pl_kv_cache *c, int seq);   /* its cells no other sequence sees become free */
int pl_kv_seq_truncate(pl_kv_cache *c, int seq, int n_keep); /* keep positions 0 .. n_keep-1 */
int pl_kv_seq_fork(pl_kv_cache *c, int seq);     /* a new sequence that sees the same cells: its id */
int pl_kv_seq_len(const pl_kv_cache *c, int seq);/* tokens held, or a negative status if no such sequence */
bool pl_kv_seq_exists(const pl_kv_cache *c, int seq);

/* One step's placement: put tokens i = 0..n-1 of sequences seq[i] (each sequence's tokens in order, after
 * what it holds) into free cells, and build the cell map for pl_attention_cells in ctx: an i32 tensor.
 * pos[i] receives each token's position. A sequence's consecutive tokens form one run of queries; grain > 0
 * also cuts a run before every position that is a multiple of grain (a prompt read in chunks of grain tokens,
 * several a step, is then attended exactly as it is a chunk a step). The cells are taken only when the whole
 * batch fits; on error nothing changes. The caller undoes the placement with pl_kv_unplace if the step then fails. */
pl_tensor *pl_kv_place(pl_kv_cache *c, pl_ctx *ctx, const int32_t *seq, int n, int32_t *pos, int grain);
void pl_kv_unplace(pl_kv_cache *c, const pl_tensor *map);

#endif
