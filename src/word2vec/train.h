/* Word2Vec training (Mikolov et al. 2013): CBOW (predict a word from the mean of its context) or skip-gram
 * (predict each context word from the word), each with negative sampling or hierarchical softmax, frequent
 * words subsampled, the learning rate decayed linearly, Hogwild threads (lock-free updates of shared rows).
 * Reads the corpus and vocabulary from vocab.h; returns the input vectors as a table (vectors.h). */
#ifndef PL_W2V_TRAIN_H
#define PL_W2V_TRAIN_H

#include "word2vec/vectors.h"
#include "word2vec/vocab.h"

#include <signal.h>

typedef enum { PL_W2V_CBOW = 0, PL_W2V_SKIPGRAM = 1 } pl_w2v_arch;

typedef struct {
    int64_t words_done, words_total; /* corpus words (after --min-count, before subsampling) over all epochs */
    float alpha;                     /* the learning rate now */
    double elapsed;                  /* seconds since training began */
} pl_w2v_progress;

typedef struct {
    pl_w2v_arch arch;
    int dim, window, negative;  /* negative: noise words a target (0 = none) */
    bool hs;                    /* hierarchical softmax over a Huffman tree */
    double sample;              /* subsampling threshold (0 = off) */
    float alpha, min_alpha;     /* start and end learning rate; alpha <= 0: 0.05 for CBOW, 0.025 for skip-gram */
    int epochs, threads;
    uint64_t seed;
    void (*progress)(void *user, const pl_w2v_progress *p); /* called about 10 times a second, and at the end */
    void *user;
    volatile sig_atomic_t *interrupt; /* set by a signal handler: stop early (PL_ERR_INTERRUPTED) */
} pl_w2v_params;

typedef struct {
    double seconds;             /* wall time of the training loop alone */
    int64_t words;              /* corpus words processed, all epochs (the words/s numerator) */
    int64_t trained;            /* of those, kept by subsampling */
    const char *kernel;         /* "avx2" or "scalar" */
} pl_w2v_stats;

pl_w2v_params pl_w2v_default_params(void);
/* One thread and a seed give the same vectors bit for bit on the same kernel (ISA). *out: words copied from v. */
int pl_w2v_train(const pl_w2v_vocab *v, const pl_w2v_corpus *c, const pl_w2v_params *p, pl_w2v_vectors **out,
                 pl_w2v_stats *stats);

#endif
