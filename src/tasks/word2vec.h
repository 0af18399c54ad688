/* Word2Vec as workflows, behind `plinth word2vec` (the CLI only parses and prints): train vectors from a text
 * file and save them; open a vectors file and ask it for neighbours, analogies, the analogy test set's
 * accuracy, or a PCA map. The pieces live in src/word2vec/ (vocab, train, vectors, query, plot). */
#ifndef PL_TASKS_WORD2VEC_H
#define PL_TASKS_WORD2VEC_H

#include "word2vec/query.h"
#include "word2vec/train.h"

typedef struct {
    const char *text_path, *out_path;
    const char *tokenizer;      /* a model dir / tokenizer.json / .gguf whose subword tokens are the words;
                                   NULL: lower-cased words (for Korean: the eojeol) */
    int format;                 /* -1: binary if out_path ends in .bin, else text; or a pl_w2v_format */
    int min_count;
    pl_w2v_params train;
    bool quiet;                 /* no progress on stderr */
} pl_w2v_train_opts;

typedef struct {
    int64_t raw_tokens, raw_types;   /* words in the text, distinct words */
    int64_t tokens, sentences;       /* corpus after --min-count */
    int32_t vocab;
    pl_w2v_stats stats;
} pl_w2v_train_report;

pl_w2v_train_opts pl_w2v_train_default_opts(void);
/* PL_OK, PL_ERR_INTERRUPTED (nothing written) or an error naming the file. rep may be NULL. */
int pl_w2v_train_file(const pl_w2v_train_opts *o, pl_w2v_train_report *rep);

/* A vectors file opened for questions: the table and its unit-length rows. */
typedef struct { pl_w2v_vectors *t; float *unit; } pl_w2v_space;
pl_w2v_space *pl_w2v_space_open(const char *path);
void pl_w2v_space_free(pl_w2v_space *s);
/* The row of word: exact, else its lower-cased form; -1 and a message naming the word if absent. */
int32_t pl_w2v_space_word(const pl_w2v_space *s, const char *word);

/* Each returns the number of hits written to out (<= k) or a negative pl_status with a message. */
int pl_w2v_task_similar(const pl_w2v_space *s, const char *word, int k, pl_w2v_hit *out);
int pl_w2v_task_analogy(const pl_w2v_space *s, const char *a, const char *b, const char *c, int k, pl_w2v_hit *out);
/* The analogy test set (questions-words.txt format) over the `limit` most frequent words (0 = all). */
int pl_w2v_task_eval(const pl_w2v_space *s, const char *questions_path, int32_t limit, pl_w2v_eval *out);
/* A PCA map of the given words as SVG; var: the variance share of the two axes. */
int pl_w2v_task_plot(const pl_w2v_space *s, const char *const *words, int n, const char *svg_path, float var[2]);

#endif
