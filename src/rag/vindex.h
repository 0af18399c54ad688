/* Vector search over unit vectors (similarity = dot product): exact search (every vector scored, GEMM for
 * batches of queries, SIMD dot products for one) and an HNSW graph (Malkov & Yashunin 2016/2018: layers of
 * proximity graphs, greedy descent, beam search on layer 0, the neighbour-selection heuristic), saved to and
 * loaded from a byte blob that the rag store keeps. Vectors are the caller's (n x dim, row-major); the HNSW index
 * keeps a copy of each beside the node's links (the blob holds only the graph). Sits in rag/; used by the rag task
 * and bench/. */
#ifndef PL_RAG_VINDEX_H
#define PL_RAG_VINDEX_H

#include "core/tensor.h"
#include <stddef.h>
#include <stdint.h>

typedef struct { int64_t id; float score; } pl_hit;   /* a vector's row and its dot product with the query */

/* The k best rows of vecs (n x dim) for each of nq queries (nq x dim): out[q * k + i], best first; fewer than k
 * vectors: the rest get id -1. ctx: the thread pool (NULL: this thread). */
int pl_exact_search(pl_ctx *ctx, const float *vecs, int64_t n, int dim, const float *queries, int nq, int k, pl_hit *out);

typedef struct pl_hnsw pl_hnsw;
typedef struct {
    int M;                 /* links a node keeps on the upper layers (2M on layer 0); default 16 */
    int ef_construction;   /* beam width while inserting; default 200 */
    uint64_t seed;         /* node levels */
} pl_hnsw_params;

pl_hnsw *pl_hnsw_new(int dim, const pl_hnsw_params *p);
void pl_hnsw_free(pl_hnsw *h);
/* Add rows [h's count, n) of vecs (copied in: the rows before are not read again). */
int pl_hnsw_add(pl_hnsw *h, const float *vecs, int64_t n);
/* The same on the context's threads (NULL: this thread): the nodes are inserted side by side, as hnswlib does, so
 * the graph depends on the threads' timing (pl_hnsw_add's on the seed alone). */
int pl_hnsw_add_par(pl_ctx *ctx, pl_hnsw *h, const float *vecs, int64_t n);
/* The k best rows for each query (beam width ef >= k), as pl_exact_search. */
int pl_hnsw_search(pl_ctx *ctx, const pl_hnsw *h, const float *queries, int nq, int k, int ef, pl_hit *out);
int64_t pl_hnsw_count(const pl_hnsw *h);
/* The graph as bytes (*blob malloc'd) / back, over vecs of n rows (copied in); a blob that does not describe a graph of n
 * vectors of dim floats is refused (NULL + message). */
int pl_hnsw_save(const pl_hnsw *h, void **blob, size_t *len);
pl_hnsw *pl_hnsw_load(const void *blob, size_t len, const float *vecs, int64_t n, int dim);

#endif
