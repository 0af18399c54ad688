/* The retrieval store: one SQLite file holding which embedding model indexed it (name, dimension, a probe
 * vector), the indexed files (path, content hash), their chunks (byte and line ranges, text, vector) with an FTS5
 * table over the chunk texts (BM25), and the HNSW graph of the vectors. Every change to a file's chunks is one
 * transaction, so a process killed while indexing leaves the database as it was after the last whole file.
 * Sits in rag/; the rag task (tasks/rag.c) drives it. */
#ifndef PL_RAG_STORE_H
#define PL_RAG_STORE_H

#include "rag/vindex.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct pl_rag_db pl_rag_db;

enum { PL_RAG_PROBE = 8 };
typedef struct {
    char model[256];            /* the embedding model's name */
    char model_path[1024];      /* where it was loaded from (absolute), for commands not given one */
    int dim;                    /* its vectors' floats */
    float probe[PL_RAG_PROBE];  /* the first floats of its vector for a fixed text: same name, other weights? */
    int chunk_tokens, overlap;  /* the chunking the files were cut with */
} pl_rag_meta;

typedef struct {
    int64_t start, end;         /* bytes of the file's text */
    int line_first, line_last;
    const char *text; size_t len;
    const char *head; size_t head_len;  /* the heading the encoder read before the text ("": none) */
} pl_rag_chunk_in;

typedef struct {
    char *path, *text;          /* malloc'd */
    int line_first, line_last;
} pl_rag_chunk_out;

/* Open (create: make it if missing). NULL + message for a file that is not an SQLite database, is damaged, or
 * is another program's database. */
pl_rag_db *pl_rag_db_open(const char *path, bool create);
void pl_rag_db_close(pl_rag_db *db);
/* *has false: a new database (no model yet) */
int pl_rag_db_meta(pl_rag_db *db, pl_rag_meta *out, bool *has);
int pl_rag_db_set_meta(pl_rag_db *db, const pl_rag_meta *m);

/* The stored hash of a file (*found false: not indexed) */
int pl_rag_db_file_hash(pl_rag_db *db, const char *path, uint64_t *hash, bool *found);
/* A file's chunks and vectors (n x dim) replace what it had, in one transaction */
int pl_rag_db_put_file(pl_rag_db *db, const char *path, uint64_t hash, const pl_rag_chunk_in *c, const float *vecs, int n);
int pl_rag_db_remove_file(pl_rag_db *db, const char *path);
/* Every indexed path (*paths malloc'd, each malloc'd) */
int pl_rag_db_files(pl_rag_db *db, char ***paths, int *n);
int64_t pl_rag_db_count(pl_rag_db *db);   /* chunks, or a negative status */
int64_t pl_rag_db_generation(pl_rag_db *db); /* bumped by every change of chunks */

/* Every chunk's id and vector, in id order (*ids, *vecs malloc'd) */
int pl_rag_db_vectors(pl_rag_db *db, int dim, int64_t **ids, float **vecs, int64_t *n);
/* The k best chunks for the words of query by FTS5's BM25 (score: -bm25, higher is better); *n found */
int pl_rag_db_bm25(pl_rag_db *db, const char *query, int k, pl_hit *out, int *n);
int pl_rag_db_chunk(pl_rag_db *db, int64_t id, pl_rag_chunk_out *out);
void pl_rag_chunk_out_free(pl_rag_chunk_out *c);
/* The saved HNSW graph if it was built at generation gen (*blob NULL otherwise); save one */
int pl_rag_db_get_ann(pl_rag_db *db, int64_t gen, void **blob, size_t *len);
int pl_rag_db_put_ann(pl_rag_db *db, int64_t gen, const void *blob, size_t len);

#endif
