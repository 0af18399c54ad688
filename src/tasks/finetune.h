/* Full fine-tuning of a loaded model: the workflow behind `plinth finetune --method full`. The model (GGUF or HF
 * directory; quantized weights dequantized to f32) becomes trainable parameters, the JSONL examples are rendered
 * with its chat template (tasks/finetune_data.h), and AdamW trains every weight on the completions, with a
 * validation split, progress, checkpoints (Hugging Face directories with the tokenizer; tasks/checkpoint.h) and
 * --resume. Writes loss.csv / loss.svg beside the checkpoints. */
#ifndef PL_TASKS_FINETUNE_H
#define PL_TASKS_FINETUNE_H

#include "plinth.h"

#include <signal.h>
#include <stdint.h>

typedef struct {
    const char *model, *data_path, *out_dir;
    const char *method;          /* "full" */
    const char *chat;            /* chat template: NULL / "auto" = the model's, "none" = plain text, or a family name */
    int ctx;                     /* tokens per example at most (0: 512, or the model's context if smaller) */
    int batch, accum, epochs;
    int64_t steps;               /* 0: epochs over the training examples */
    int64_t warmup;
    float lr, min_lr;            /* min_lr < 0: lr / 10 */
    float weight_decay, clip, beta1, beta2, eps, val_frac;
    int eval_every, save_every, log_every;
    uint64_t seed;
    int threads;
    bool resume, quiet;
    volatile sig_atomic_t *interrupt;
} pl_finetune_opts;

pl_finetune_opts pl_finetune_default_opts(void);
/* PL_OK, PL_ERR_INTERRUPTED (saved, stopped early) or an error with a message */
int pl_finetune(const pl_finetune_opts *o);

#endif
