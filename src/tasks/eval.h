/* The eval runner behind `plinth eval`: score a decoder LM (models/llm.h) on a task file (tasks/evaltask.h) in
 * zero-shot / few-shot / chain-of-thought mode. Multiple-choice items in zero/few-shot are scored by the
 * log-likelihood of each choice after the prompt; free answers and every CoT item by greedy generation
 * (tasks/generate.h) and answer extraction. The CLI (src/cli/cmd_eval.c) only parses options and prints.
 * Scoring rules: docs/eval.md. */
#ifndef PL_TASKS_EVAL_H
#define PL_TASKS_EVAL_H

#include "plinth.h"
#include "tasks/bundle.h"
#include "tasks/evaltask.h"
#include "tasks/generate.h"

/* A model ready for evaluation: its bundle (weights, tokenizer, chat template - NULL: plain prompts, used for
 * generation modes only), and the token record of what its KV cache holds, so prompts sharing a prefix
 * (few-shot examples, the prompt of each choice) are evaluated once. */
typedef struct {
    pl_bundle *model;
    pl_gen_session cache;
} pl_eval_model;

typedef struct {
    int n_ctx, n_threads;     /* as pl_llm_params */
    /* chat template for generation prompts: "auto" (NULL) = the model's own if it has one, "none" = plain
     * prompts, or a family name (chatml, llama3, ...) */
    const char *chat;
    const char *lora;           /* a LoRA adapter DIR[:SCALE], or NULL */
    const char *prompt_adapter; /* a prompt-tuning adapter DIR, or NULL */
} pl_eval_model_opts;

/* NULL + pl_last_error() (missing model, no tokenizer, unknown template name). */
pl_eval_model *pl_eval_model_load(const char *path, const pl_eval_model_opts *o);
void pl_eval_model_free(pl_eval_model *m);

typedef void (*pl_eval_progress_fn)(int done, int total, void *ud);

typedef struct {
    pl_eval_mode mode;
    int n_shots;              /* shots put in the prompt (0 for zero-shot) */
    int max_tokens;           /* generation budget; <= 0: 48, or 192 for cot */
    pl_eval_progress_fn progress;
    void *ud;
    volatile sig_atomic_t *interrupt;
} pl_eval_opts;

typedef struct {
    int line;                 /* line in the task file */
    bool correct, correct_norm;
    int pred, pred_norm;      /* multiple choice: the chosen index (-1: none named) */
    double *loglik;           /* log-likelihood modes: n_choices summed log-probs (natural log) */
    int *n_tokens;            /* ... and the number of continuation tokens each */
    int n_choices;
    char *output;             /* generation modes: the generated text */
    char *extracted;          /* ... and the answer extracted from it (normalized) */
} pl_eval_item_result;

typedef struct {
    pl_eval_mode mode;
    int n_shots, n, correct, correct_norm;
    bool loglik;              /* scored by log-likelihood (so correct_norm is meaningful) */
    double seconds;
    pl_eval_item_result *items; /* n */
} pl_eval_result;

/* Score test[0..n_test) (from pl_eval_task_split) with shots[0..o->n_shots). Fills *out (free with
 * pl_eval_result_free). PL_OK, PL_ERR_INTERRUPTED, or a negative status + message (prompt past the
 * context, ...). */
int pl_eval_run(pl_eval_model *m, const pl_eval_task *t, const pl_eval_item *const *shots,
                const pl_eval_item *const *test, int n_test, const pl_eval_opts *o, pl_eval_result *out);
void pl_eval_result_free(pl_eval_result *r);

/* A whole evaluation, every model x task x mode (the task behind plinth eval): the tasks are loaded and split
 * once, each model loaded in turn and run over every task and mode. */
typedef struct {
    const char *const *models, *const *tasks;
    /* per model (NULL, or entries NULL: none): a LoRA adapter (DIR[:SCALE]) and a prompt adapter applied to it, so
     * a base and its adaptations are rows of one table */
    const char *const *model_lora, *const *model_prompt;
    int n_models, n_tasks;
    const pl_eval_mode *modes;
    int n_modes;
    int shots, cot_shots;     /* examples in few-shot / chain-of-thought prompts (the shots pool: the larger) */
    int limit;                /* score only the first `limit` test items (0 = all) */
    int max_tokens;           /* as pl_eval_opts */
    pl_eval_model_opts model;
    /* progress: a model loaded; items done in a run; a run finished (its result) */
    void (*on_model)(const pl_eval_model *m, void *ud);
    void (*on_item)(const pl_eval_model *m, int task, pl_eval_mode mode, int done, int total, void *ud);
    void (*on_result)(const pl_eval_model *m, int task, const pl_eval_result *r, void *ud);
    void *ud;
    volatile sig_atomic_t *interrupt;
} pl_eval_suite;

/* One task of a suite: the parsed file, its split, the items scored, the results [model * n_modes + mode]. */
typedef struct {
    pl_eval_task *task;
    pl_eval_split split;
    int n_test;
    pl_eval_result *res;
} pl_eval_task_run;

/* Load and split every task (runs[n_tasks]) and check the model paths exist, before a long run starts.
 * PL_OK or a negative status + message (naming the file). */
int pl_eval_suite_load(const pl_eval_suite *s, pl_eval_task_run *runs);
/* Run every model x task x mode into runs[].res. PL_OK, PL_ERR_INTERRUPTED, or a negative status + message
 * (a run's message is prefixed with its task file). */
int pl_eval_suite_run(const pl_eval_suite *s, pl_eval_task_run *runs);
void pl_eval_suite_free(const pl_eval_suite *s, pl_eval_task_run *runs);

/* The log-likelihood of each continuation after `prompt` (UTF-8): tokens of prompt + continuation[i] after
 * their longest common prefix with the tokens of prompt, summed log-softmax in double. loglik[i], and the
 * count of scored tokens in n_tok[i] (may be NULL). 0 or a negative status. */
int pl_eval_loglik(pl_eval_model *m, const char *prompt, const char *const *continuations, int n,
                   double *loglik, int *n_tok);

/* Which choice generated text names: the choice pl_eval_check accepts (the answer after the last
 * "answer is", a letter, or the only choice mentioned), else the choice whose text occurs last (as a whole
 * word, case-insensitive) anywhere in the text; -1 if none. */
int pl_eval_named_choice(const pl_eval_item *item, const char *generated);

#endif
