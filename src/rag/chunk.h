/* Cutting a document's text into chunks for retrieval: at most max_tokens tokens of the embedding model each,
 * cut at paragraph (blank line) boundaries, else at sentence ends, else between words; consecutive chunks share
 * up to `overlap` tokens of whole paragraphs / sentences, so an answer on a boundary is whole in one of them.
 * Each chunk keeps its byte range and line range (for citations) and the markdown heading above it. Sits in
 * rag/; the rag task (tasks/rag.c) calls it with the encoder's tokenizer. */
#ifndef PL_RAG_CHUNK_H
#define PL_RAG_CHUNK_H

#include "plinth.h"
#include <stddef.h>

typedef struct {
    int max_tokens;      /* tokens a chunk may hold (without the model's special tokens); default 200 */
    int overlap;         /* tokens of the previous chunk's end repeated at the start of the next; default 40 */
} pl_chunk_params;

typedef struct {
    size_t start, end;           /* bytes [start, end) of the text */
    int line_first, line_last;   /* 1-based lines of the first and the last byte */
    int n_tokens;                /* tokens of its pieces, summed */
    size_t head_start, head_len; /* the last markdown heading line before it ("# Title"), head_len 0: none */
} pl_chunk;

/* Chunks of text[0..len) (*out malloc'd, *n of them; no chunk for blank text). PL_OK or a negative status. */
int pl_chunk_text(const pl_tokenizer *tok, const char *text, size_t len, const pl_chunk_params *p, pl_chunk **out, int *n);

#endif
