/* Word vectors as a table (words + an n x dim float matrix) and word2vec's two file formats: text (a header
 * "N DIM", then "word v1 ... vDIM" a line) and binary (the same header, then "word " + DIM little-endian
 * float32 + "\n" a word), both as Mikolov's word2vec.c writes them and gensim's load_word2vec_format reads. */
#ifndef PL_W2V_VECTORS_H
#define PL_W2V_VECTORS_H

#include "word2vec/vocab.h"

typedef struct {
    int32_t n, dim;
    char **words;           /* (n) */
    float *v;               /* (n, dim) row-major */
    w2v_strmap map;         /* word -> row */
} pl_w2v_vectors;

typedef enum { PL_W2V_TEXT = 0, PL_W2V_BINARY = 1 } pl_w2v_format;

/* A table of n rows of dim floats, zeroed, words to be filled in by the caller (then pl_w2v_vectors_index). */
pl_w2v_vectors *pl_w2v_vectors_new(int32_t n, int32_t dim);
int pl_w2v_vectors_index(pl_w2v_vectors *t); /* builds the word -> row map; a repeated word is an error */
void pl_w2v_vectors_free(pl_w2v_vectors *t);
int32_t pl_w2v_vectors_find(const pl_w2v_vectors *t, const char *word); /* -1 if absent */

int pl_w2v_save(const pl_w2v_vectors *t, const char *path, pl_w2v_format fmt);
/* Either format (told apart by the first vector's line). NULL + pl_last_error() naming the file and the line
 * or word for: a missing file, a bad header, a row with more or fewer values than the header's dimension, a
 * truncated file, a value that is not a finite number. */
pl_w2v_vectors *pl_w2v_load(const char *path);

#endif
