/* Pre-training a decoder model from scratch on a UTF-8 text file: the workflow behind `plinth train` (the CLI only
 * parses options into pl_train_opts). Any architecture pl_llm_new makes (gpt2, llama, qwen2), with a byte-level
 * vocabulary or the tokenizer of an existing model. Writes into out_dir: checkpoint-STEP/ (a Hugging Face model
 * directory plus the AdamW moments; tasks/checkpoint.h), state.json (which checkpoint is current), loss.csv and
 * loss.svg. */
#ifndef PL_TASKS_TRAIN_H
#define PL_TASKS_TRAIN_H

#include "models/llm.h"

#include <signal.h>

typedef struct {
    pl_llm_arch arch;         /* PL_LLM_GPT2 (default), PL_LLM_LLAMA or PL_LLM_QWEN2 */
    int ctx;                  /* sequence length (GPT-2's learned positions) */
    int dim, layers, heads;   /* width C, blocks L, attention heads (dim % heads == 0) */
    int kv_heads;             /* llama / qwen2: key-value heads (0: = heads) */
    int ff;                   /* MLP width (0: 4*dim for gpt2, 8/3*dim rounded up to 16 for llama / qwen2) */
} pl_train_model;

typedef struct {
    const char *data_path;
    const char *out_dir;
    const char *tokenizer;    /* a model (GGUF or HF directory) whose tokenizer to use; NULL: bytes */
    pl_train_model model;
    int batch, accum;         /* sequences per micro-batch; micro-batches per step */
    int64_t steps, warmup;
    float lr, min_lr;         /* min_lr < 0: lr / 10 */
    float weight_decay, clip, beta1, beta2, eps;
    int eval_every, eval_iters, save_every, log_every;
    float val_frac;
    uint64_t seed;
    int threads;
    bool resume;
    bool quiet;
    volatile sig_atomic_t *interrupt; /* set by a signal handler: save and stop after the current step */
} pl_train_opts;

pl_train_opts pl_train_default_opts(void);
/* PL_OK or PL_ERR_ARG with a message naming the bad value */
int pl_train_model_check(const pl_train_model *m);
/* PL_OK, PL_ERR_INTERRUPTED (saved, stopped early) or an error with a message. */
int pl_train(const pl_train_opts *o);

#endif
