/* Word2Vec's first stage: text -> words -> a counted vocabulary -> the corpus as word ids. Sits under the
 * trainer (word2vec/train.c) and the task (tasks/word2vec.c). Words are lower-cased runs of letters, digits
 * and marks (for Korean: the eojeol), or the subword tokens of a model's tokenizer. */
#ifndef PL_W2V_VOCAB_H
#define PL_W2V_VOCAB_H

#include "plinth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Open-addressing map from NUL-terminated strings (not copied: they must outlive the map) to int32. */
typedef struct { const char *key; uint32_t hash; int32_t val; } w2v_slot;
typedef struct { w2v_slot *slots; size_t cap, n; } w2v_strmap;
uint32_t w2v_hash(const char *s, size_t n);
int w2v_strmap_put(w2v_strmap *m, const char *key, int32_t val);   /* PL_OK or PL_ERR_NOMEM; replaces */
int32_t w2v_strmap_get(const w2v_strmap *m, const char *key);       /* -1 if absent */
void w2v_strmap_free(w2v_strmap *m);

/* Sentences end at a blank line (a paragraph) and are cut at this many words, as gensim cuts its jobs. */
#define PL_W2V_MAX_SENTENCE 10000

typedef struct {
    int32_t n;              /* words kept (count >= min_count), most frequent first */
    char **words;           /* (n) */
    int64_t *counts;        /* (n) */
    int64_t total;          /* sum of counts: the corpus length */
    w2v_strmap map;         /* word -> id */
} pl_w2v_vocab;

typedef struct {
    int32_t *ids;           /* (n_tokens) the text as word ids, words below min_count left out */
    int64_t n_tokens;
    int64_t *sent;          /* (n_sent + 1) where each sentence starts in ids; sent[n_sent] = n_tokens */
    int64_t n_sent;
    int64_t raw_tokens;     /* words in the text before --min-count */
    int64_t raw_types;      /* distinct words before --min-count */
} pl_w2v_corpus;

/* Tokenize text (len bytes, valid UTF-8, checked here), count, keep words seen >= min_count times, and map
 * the text to ids. tok: a model's tokenizer, or NULL for lower-cased words. Errors (with a message): empty
 * or binary text, no words, no word left after min_count. */
int pl_w2v_build(const char *text, size_t len, const pl_tokenizer *tok, int min_count, pl_w2v_vocab *vocab,
                 pl_w2v_corpus *corpus);
void pl_w2v_vocab_free(pl_w2v_vocab *v);
void pl_w2v_corpus_free(pl_w2v_corpus *c);

/* Lower-case a UTF-8 word into out (cap bytes, NUL-terminated); false if it does not fit. */
bool pl_w2v_lower(const char *s, char *out, size_t cap);

#endif
