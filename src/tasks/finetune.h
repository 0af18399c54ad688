/* Fine-tuning of a loaded model: the workflow behind `plinth finetune`. --method full: the model (GGUF or HF
 * directory; quantized weights dequantized to f32) becomes trainable parameters; --method lora: the base stays as
 * it is (quantized or not, frozen) and a LoRA adapter (models/lora.h) is trained; --method prompt: likewise, and
 * virtual tokens put before every example are (models/prompt_tuning.h). The JSONL examples are rendered
 * with the model's chat template (tasks/finetune_data.h), and AdamW trains on the completions, with a validation
 * split, progress, checkpoints (tasks/checkpoint.h: Hugging Face directories with the tokenizer, or PEFT adapter
 * directories) and --resume. Writes loss.csv / loss.svg beside the checkpoints. */
#ifndef PL_TASKS_FINETUNE_H
#define PL_TASKS_FINETUNE_H

#include "plinth.h"

#include <signal.h>
#include <stdint.h>

typedef struct {
    const char *model, *data_path, *out_dir;
    const char *method;          /* "full", "lora" or "prompt" */
    int n_virtual;               /* prompt: virtual tokens (default 20), initialized from init_text's tokens if given */
    const char *init_text;
    int lora_rank;               /* lora: rank (default 8), alpha (default 2 x rank), target layers */
    float lora_alpha;            /* 0: 2 x rank */
    const char *lora_targets;    /* "q,k,v,o,gate,up,down" (default) or a subset, or "all" */
    bool rslora;
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
    const char *activations;     /* "keep": the step as one graph, every activation kept (fast); "recompute": a layer
                                  * at a time, each layer's forward run again for its backward (a fraction of the
                                  * memory); NULL / "auto": recompute when the base is quantized or keeping them
                                  * would take more than half the available memory */
    volatile sig_atomic_t *interrupt;
} pl_finetune_opts;

pl_finetune_opts pl_finetune_default_opts(void);
/* PL_OK, PL_ERR_INTERRUPTED (saved, stopped early) or an error with a message */
int pl_finetune(const pl_finetune_opts *o);

#endif
