/* Text generation with a decoder LM (models/llm.h): tokenize, prefill, sample token by token with the sampler
 * chain, stream the text through a callback (split only at UTF-8 boundaries, held back while it may be the
 * start of a stop string), stop at EOS / a stop string / the token budget / an interrupt. The task behind
 * `plinth run` for GGUF and HF models, and `plinth chat` (which reuses the cached prefix across turns). */
#ifndef PL_TASKS_GENERATE_H
#define PL_TASKS_GENERATE_H

#include "models/llm.h"
#include "plinth.h"
#include "tasks/sample.h"
#include <signal.h>

typedef struct {
    int n_predict;                 /* most tokens to generate (<= 0: until EOS or the context is full) */
    pl_sampler_params sampling;
    const char *const *stops;      /* stop strings (not emitted) */
    int n_stops;
    bool add_special;              /* tokenize the prompt with BOS etc. as the tokenizer is configured */
    bool parse_special;            /* reserved: special tokens in the prompt text are always recognised */
    volatile sig_atomic_t *interrupt; /* set to nonzero to stop (then PL_ERR_INTERRUPTED) */
} pl_gen_opts;

typedef enum { PL_GEN_STOP_LENGTH, PL_GEN_STOP_EOS, PL_GEN_STOP_STRING, PL_GEN_STOP_CONTEXT } pl_gen_stop;

typedef struct {
    int n_prompt, n_generated;     /* tokens */
    int n_reused;                  /* prompt tokens found already in the cache (not evaluated again) */
    double t_prompt, t_generate;   /* seconds */
    pl_gen_stop stop;
} pl_gen_stats;

/* What the KV cache holds (the tokens evaluated so far), so a next call with a prompt that extends them
 * (a chat's next turn) evaluates only the new part. Zero-initialize; free with pl_gen_session_free. */
typedef struct { int32_t *tokens; int n, cap; } pl_gen_session;
void pl_gen_session_free(pl_gen_session *s);

pl_gen_opts pl_gen_default_opts(void);
typedef void (*pl_gen_text_fn)(const char *text, size_t len, void *ud);

/* Generate after `prompt` (UTF-8, non-empty). session may be NULL (start from an empty cache).
 * PL_OK, PL_ERR_INTERRUPTED (what was generated has been emitted), or a negative status + message. */
int pl_generate(pl_llm *m, const pl_tokenizer *tok, const char *prompt, const pl_gen_opts *o,
                pl_gen_text_fn on_text, void *ud, pl_gen_session *session, pl_gen_stats *stats);

#endif
