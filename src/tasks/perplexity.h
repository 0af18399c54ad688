/* Perplexity of a decoder LM over a text, defined exactly as llama.cpp's `llama-perplexity` so figures compare:
 * tokenize the whole text (add_special), cut it into chunks of n_ctx tokens, run each chunk from an empty
 * cache (its first token replaced by BOS when the tokenizer adds BOS), and score only the second half of each
 * chunk: logits at position i (n_ctx/2 <= i < n_ctx-1) predict token i+1. The task behind `plinth perplexity`. */
#ifndef PL_TASKS_PERPLEXITY_H
#define PL_TASKS_PERPLEXITY_H

#include "models/llm.h"
#include "plinth.h"

typedef struct {
    int n_ctx;       /* tokens per chunk (default 512); the model must have been loaded with n_ctx >= this */
    int n_batch;     /* tokens per pl_llm_eval call (<= 0: n_ctx) */
    int n_chunks;    /* at most this many chunks (<= 0: all whole chunks of the text) */
    bool all_logits; /* compute logits for the first half too (the output matrix then sees every position:
                      * what imatrix collection needs); the score is the same */
} pl_ppl_opts;

typedef struct {
    int n_tokens;        /* of the whole text */
    int n_chunks;        /* chunks evaluated */
    int n_scored;        /* tokens scored: n_chunks * (n_ctx - 1 - n_ctx/2) */
    double nll;          /* mean negative log-likelihood (nats) */
    double ppl;          /* exp(nll) */
    double ppl_err;      /* llama.cpp's +/-: ppl * sd(token NLL) / sqrt(n_scored - 1) */
    double seconds;
    bool add_bos;        /* the first token of each chunk was set to BOS */
} pl_ppl_result;

/* Called after each chunk: chunk index (0-based), the running perplexity, and that chunk's scored tokens:
 * their positions in the token stream (pos[k] = the predicted token's index) and NLLs. */
typedef void (*pl_ppl_chunk_fn)(int chunk, double ppl_so_far, const int *pos, const double *nll, int n, void *ud);

pl_ppl_opts pl_ppl_default_opts(void);
/* PL_OK, or a negative status + message (text shorter than 2*n_ctx tokens, n_ctx larger than the model's cache,
 * a failed evaluation). */
int pl_perplexity(pl_llm *m, const pl_tokenizer *tok, const char *text, size_t len, const pl_ppl_opts *o,
                  pl_ppl_chunk_fn on_chunk, void *ud, pl_ppl_result *res);

#endif
