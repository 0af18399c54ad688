/* Pre-training a GPT from scratch on a UTF-8 text file with a byte-level vocabulary: the workflow behind
 * `plinth train` (the CLI only parses options into pl_train_opts). Writes into out_dir: checkpoint-STEP.safetensors
 * (weights + AdamW moments), state.json (which checkpoint is current), loss.csv and loss.svg. */
#ifndef PL_TASKS_TRAIN_H
#define PL_TASKS_TRAIN_H

#include "models/gpt.h"

#include <signal.h>

typedef struct {
    const char *data_path;
    const char *out_dir;
    pl_gpt_config model;
    int batch, accum;         /* sequences per micro-batch; micro-batches per step */
    int64_t steps, warmup;
    float lr, min_lr, weight_decay, clip, beta1, beta2, eps;
    int eval_every, eval_iters, save_every, log_every;
    float val_frac;
    uint64_t seed;
    int threads;
    bool resume;
    bool quiet;
    volatile sig_atomic_t *interrupt; /* set by a signal handler: save and stop after the current step */
} pl_train_opts;

pl_train_opts pl_train_default_opts(void);
/* PL_OK, PL_ERR_INTERRUPTED (saved, stopped early) or an error with a message. */
int pl_train_gpt(const pl_train_opts *o);
/* Resolve a checkpoint path: a .safetensors file, or a training directory (its state.json names the file). */
int pl_train_resolve_checkpoint(const char *path, char *out, size_t cap);

#endif
