/* Continuous batching: many generation requests over one model at once, the task behind `plinth serve`.
 * N slots share the model's multi-sequence KV cache; one thread runs steps, each one pl_llm_decode batch of a
 * token from every generating slot, then a chunk of a newly admitted prompt (its own batch). Every request has
 * its own sampler (seeded: its reply does not depend on its neighbours), detokenizer, stop strings, token
 * budget and optional JSON constraint (tasks/json_schema.h). Requests wait in a bounded queue; a finished
 * slot keeps its tokens' K/V so a next prompt with the same prefix (a system prompt) skips that prefill. */
#ifndef PL_TASKS_SCHEDULER_H
#define PL_TASKS_SCHEDULER_H

#include "tasks/bundle.h"
#include "tasks/generate.h"
#include "tasks/json_schema.h"

#include <stdbool.h>
#include <stdint.h>

#define PL_SCHED_MAX_TOP 20 /* top_logprobs at most (OpenAI's limit) */
#define PL_SCHED_ERR_BUSY (-100) /* the queue is full: try again later */

typedef struct {
    int n_slots;       /* requests generating at once (default 4) */
    int n_ctx_slot;    /* most tokens of one request, prompt + reply (default 2048) */
    int max_queue;     /* requests waiting for a slot; one more is refused with PL_SCHED_ERR_BUSY (default 64) */
    int prefill_chunk; /* prompts are read in chunks of this many tokens, four chunks per step while others
                        * generate (default 16); a cached prefix is reused in whole chunks */
} pl_sched_params;

/* What to generate. Strings are copied by pl_sched_submit; json becomes the request's (freed with it, also
 * when the submission fails). */
typedef struct {
    const char *prompt;       /* the text (a chat is rendered first with pl_chat_render) */
    bool add_special;         /* tokenize with BOS etc. (false for rendered chats, which carry their own) */
    int n_predict;            /* most tokens to generate; <= 0: until EOS or the slot's context is full */
    pl_sampler_params sampling;
    const char *const *stops; /* stop strings (not emitted) */
    int n_stops;
    int top_logprobs;         /* < 0: no log-probabilities; else the chosen token's and this many alternatives' */
    pl_json_schema *json;       /* constrain the reply to this schema's JSON (NULL: free text) */
} pl_sched_job;

/* One generated token: its text (the detokenizer's piece, so the pieces concatenate to the reply), its
 * log-probability under the model (log-softmax of the raw logits) and the best alternatives. */
typedef struct {
    int32_t id;
    size_t text_off, text_len;  /* into the request's token text */
    float logprob;
    int n_top;
    int32_t top_id[PL_SCHED_MAX_TOP];
    float top_logprob[PL_SCHED_MAX_TOP];
} pl_sched_token;

typedef struct pl_sched pl_sched;
typedef struct pl_sched_req pl_sched_req;

/* What pl_sched_poll hands over: the text and tokens that became final since the last poll. */
typedef struct {
    char *text; size_t n_text;          /* new reply text (malloc'd, NUL-terminated; caller frees) */
    pl_sched_token *toks; int n_toks;   /* new tokens (malloc'd; caller frees) */
    char *tok_text;                     /* the request's token text so far (malloc'd copy when n_toks > 0) */
    bool started;                       /* the prompt has been read (the first token is coming) */
    bool done;                          /* nothing more will come */
    pl_gen_stop stop;                   /* why it ended (done) */
    int status;                         /* PL_OK or the error that ended it (done) */
    char error[256];
    int n_prompt, n_generated, n_reused;/* tokens: prompt, reply, prompt tokens found in the cache */
} pl_sched_update;

/* Start the scheduler thread on an opened bundle (borrowed: outlives the scheduler). NULL + message when the
 * model's KV cache cannot hold n_slots x n_ctx_slot tokens or the thread cannot start. */
pl_sched *pl_sched_new(pl_bundle *b, const pl_sched_params *p);
/* Stop: requests still queued or generating end with PL_ERR_INTERRUPTED; the thread is joined. Requests held
 * by clients stay valid (poll, release) until pl_sched_free. */
void pl_sched_stop(pl_sched *s);
/* Stop (if not yet) and free; every request must have been released. */
void pl_sched_free(pl_sched *s);
/* Refuse new requests from now on (PL_SCHED_ERR_BUSY); those admitted finish. */
void pl_sched_drain(pl_sched *s);
/* Tokenize and queue a job. NULL + message: PL_ERR_ARG (empty or invalid prompt; a prompt of as many tokens as
 * the context or more: the message gives both numbers), PL_SCHED_ERR_BUSY (the queue is full or draining);
 * *status gets the code. */
pl_sched_req *pl_sched_submit(pl_sched *s, const pl_sched_job *job, int *status);
/* Wait up to timeout_s for output past what earlier polls returned (or the end); fills u. 1: something new
 * (or done), 0: nothing yet. */
int pl_sched_poll(pl_sched_req *r, pl_sched_update *u, double timeout_s);
void pl_sched_update_free(pl_sched_update *u);
/* The client is gone: the request stops at the next step and its slot becomes free. */
void pl_sched_cancel(pl_sched_req *r);
/* Cancel if still running and free the request (the scheduler lets go of it at its next step). */
void pl_sched_release(pl_sched_req *r);

/* Latency histograms (seconds) with fixed upper bounds, cumulative counts as Prometheus wants them. */
#define PL_SCHED_HIST_N 12
extern const double pl_sched_hist_bounds[PL_SCHED_HIST_N];
typedef struct { uint64_t count[PL_SCHED_HIST_N + 1]; double sum; uint64_t n; } pl_sched_hist; /* last: +Inf */

typedef struct {
    int n_slots, busy_slots, queued;
    int kv_cells_used, kv_cells;
    uint64_t requests_done, prompt_tokens, prompt_tokens_reused, generated_tokens, steps;
    double decode_seconds;              /* time inside pl_llm_decode + sampling */
    pl_sched_hist ttft, itl, latency;   /* time to first token, between tokens, whole request */
    bool draining;
} pl_sched_stats;
void pl_sched_get_stats(pl_sched *s, pl_sched_stats *st);

#endif
