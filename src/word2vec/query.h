/* Questions asked of trained word vectors: the nearest words by cosine similarity, analogies by vector
 * offset (b - a + c, "a is to b as c is to ?"), and the accuracy on an analogy test set in the format of
 * Mikolov's questions-words.txt (": section" lines, then "a b c d" questions), scored as gensim scores it. */
#ifndef PL_W2V_QUERY_H
#define PL_W2V_QUERY_H

#include "word2vec/vectors.h"

typedef struct { int32_t id; float score; } pl_w2v_hit;

/* The rows scaled to unit length (zero rows stay zero): (t->n, t->dim), the caller frees. */
float *pl_w2v_unit_rows(const pl_w2v_vectors *t);
/* The k rows nearest q by cosine (q need not be unit; unit from pl_w2v_unit_rows), among the first `limit`
 * rows (0 = all), leaving out the rows in excl. Returns how many hits were written, best first. */
int pl_w2v_nearest(const pl_w2v_vectors *t, const float *unit, const float *q, int k, int32_t limit,
                   const int32_t *excl, int n_excl, pl_w2v_hit *out);
int pl_w2v_similar(const pl_w2v_vectors *t, const float *unit, int32_t word, int k, pl_w2v_hit *out);
/* unit(b) - unit(a) + unit(c) against every word but a, b and c */
int pl_w2v_analogy(const pl_w2v_vectors *t, const float *unit, int32_t a, int32_t b, int32_t c, int k,
                   pl_w2v_hit *out);

/* Case-insensitive lookup, as gensim's evaluation does: the lower-cased word's most frequent spelling
 * (lowest row), or -1. Built once with pl_w2v_fold_init. */
typedef struct { w2v_strmap map; char **keys; int32_t n; } pl_w2v_fold;
int pl_w2v_fold_init(pl_w2v_fold *f, const pl_w2v_vectors *t, int32_t limit);
int32_t pl_w2v_fold_find(const pl_w2v_fold *f, const char *word);
void pl_w2v_fold_free(pl_w2v_fold *f);

typedef struct { char name[96]; int correct, total, skipped; } pl_w2v_section;
typedef struct {
    pl_w2v_section *sec;
    int n_sec;
    int correct, total;  /* over the questions whose four words are all in the vocabulary */
    int skipped;         /* questions with a word outside it */
} pl_w2v_eval;

/* Score every question of an analogy file (text, len bytes) against the first `limit` rows (0 = all; gensim's
 * default is 300000): the prediction is the nearest word to b - a + c other than a, b, c, case-insensitive. */
int pl_w2v_eval_analogies(const pl_w2v_vectors *t, const char *text, size_t len, int32_t limit, pl_w2v_eval *out);
void pl_w2v_eval_free(pl_w2v_eval *e);

#endif
