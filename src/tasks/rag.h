/* Retrieval-augmented generation over your own files: index (walk, extract, chunk, embed, store; incremental by
 * content hash, deleted files removed), search (dense exact or HNSW, BM25 through FTS5, hybrid by reciprocal rank
 * fusion) and ask (retrieve, number the sources in the prompt within the model's context, generate, cite). The
 * parts are in src/rag/; the embedder is tasks/embed.h, the generator tasks/generate.h. The task behind
 * `plinth rag index|search|ask`. */
#ifndef PL_TASKS_RAG_H
#define PL_TASKS_RAG_H

#include "plinth.h"
#include "rag/chunk.h"
#include "rag/store.h"
#include "tasks/bundle.h"
#include "tasks/embed.h"

/* ---- index ---- */
typedef enum { PL_RAG_ADDED, PL_RAG_UPDATED, PL_RAG_UNCHANGED, PL_RAG_REMOVED, PL_RAG_SKIPPED } pl_rag_file_status;

typedef struct {
    pl_chunk_params chunk;
    int batch;                 /* texts per encoder pass (0: 32) */
    /* each file as it is done: its status, its chunk count, the reason when skipped (NULL otherwise) */
    void (*on_file)(const char *path, pl_rag_file_status st, int n_chunks, const char *reason, void *ud);
    void *ud;
    int hnsw_m, hnsw_ef_construction;   /* 0: 16, 200 */
} pl_rag_index_opts;

typedef struct { int added, updated, unchanged, removed, skipped; int64_t chunks; double seconds_hnsw; } pl_rag_index_stats;

/* Index the files under paths (files or directories, walked in name order, hidden entries skipped) into the
 * database db_path (created if missing). A database indexed by another model is refused. */
int pl_rag_index(pl_embedder *e, const char *db_path, const char *const *paths, int n_paths, const pl_rag_index_opts *o,
                 pl_rag_index_stats *st);

/* The embedding model a database was indexed with (its absolute path), for commands not given one */
int pl_rag_model_path(const char *db_path, char *out, size_t cap);

/* ---- search ---- */
typedef enum { PL_RAG_HYBRID, PL_RAG_DENSE, PL_RAG_BM25 } pl_rag_mode;
typedef enum { PL_RAG_ANN_AUTO, PL_RAG_ANN_EXACT, PL_RAG_ANN_HNSW } pl_rag_ann;

typedef struct pl_rag pl_rag;
/* The database, checked against the embedder (model name, dimension, probe vector), with its vectors in memory
 * and the HNSW graph (rebuilt in memory when the saved one is older than the chunks). NULL + message. */
pl_rag *pl_rag_open(pl_embedder *e, const char *db_path, int n_threads);
void pl_rag_close(pl_rag *r);
int64_t pl_rag_count(const pl_rag *r);

typedef struct {
    int64_t id;
    float score;               /* the mode's score: cosine (dense), BM25, or the fused reciprocal ranks (hybrid) */
    float cosine;              /* the chunk's cosine similarity to the query (every mode) */
    pl_rag_chunk_out chunk;    /* path, text, lines */
} pl_rag_result;

typedef struct {
    int k;                     /* results (default 5) */
    pl_rag_mode mode;
    pl_rag_ann ann;            /* exact or HNSW for the dense part (auto: HNSW above 20,000 chunks) */
    int ef;                    /* HNSW beam width (default 64) */
} pl_rag_search_opts;

/* out: room for o->k results (free each with pl_rag_results_free); *n found; *query_cut: the query was longer
 * than the encoder's context and was cut */
int pl_rag_search(pl_rag *r, const char *query, const pl_rag_search_opts *o, pl_rag_result *out, int *n, bool *query_cut);
void pl_rag_results_free(pl_rag_result *res, int n);

/* ---- ask ---- */
typedef struct {
    pl_rag_search_opts search;
    float min_score;           /* best cosine below this: "not in the documents", no generation (default 0.3) */
    int n_predict;             /* answer tokens at most (default 256) */
    pl_sampler_params sampling;/* default: greedy */
    pl_gen_text_fn on_text;    /* the answer as it is generated */
    void *ud;
} pl_rag_ask_opts;

typedef struct {
    pl_rag_result *sources;    /* the numbered sources the prompt held ([1] = sources[0]) */
    int n_sources;
    bool no_answer;            /* nothing relevant retrieved: no generation */
    float best;                /* the best cosine */
    bool query_cut;
} pl_rag_answer;

pl_rag_ask_opts pl_rag_ask_default_opts(void);
int pl_rag_ask(pl_rag *r, pl_bundle *llm, const char *question, const pl_rag_ask_opts *o, pl_rag_answer *ans);
void pl_rag_answer_free(pl_rag_answer *a);

#endif
