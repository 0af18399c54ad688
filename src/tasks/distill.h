/* Knowledge distillation (Hinton et al. 2015): the workflow behind `plinth distill`. A teacher reads a text once
 * and its temperature-softened next-token distributions, kept sparse (the top k, renormalized), are cached on
 * disk; a student that shares its tokenizer (any architecture, any size; made by `plinth train` or loaded) is
 * trained on T^2 KL(teacher || student at temperature T) + alpha CE(hard next tokens). --kd 0 trains the same
 * student on the hard labels alone, the same steps and tokens: the baseline distillation is measured against.
 * Validation: KL from the teacher's T = 1 distribution (its top k) to the student's, and the student's
 * perplexity, on the tail of the text; both in val.csv. Checkpoints, --resume and loss.csv as plinth train. */
#ifndef PL_TASKS_DISTILL_H
#define PL_TASKS_DISTILL_H

#include "plinth.h"

#include <signal.h>
#include <stdint.h>

typedef struct {
    const char *teacher, *student, *data_path, *out_dir;
    float temperature;      /* default 2 */
    float alpha;            /* weight of the hard-label cross-entropy (default 0.5) */
    float kd;               /* weight of the distillation term (default 1; 0: hard labels only) */
    int top_k;              /* teacher entries kept per position (default 32) */
    int ctx;                /* tokens per training sequence (default 128) */
    int batch;
    int64_t steps;          /* default 200 */
    float lr, min_lr;       /* min_lr < 0: lr / 10 */
    int64_t warmup;         /* < 0: steps / 10 */
    float val_frac;         /* tail of the sequences held out (default 0.1) */
    int eval_every, save_every;
    uint64_t seed;
    int threads;
    bool resume, quiet;
    volatile sig_atomic_t *interrupt;
} pl_distill_opts;

pl_distill_opts pl_distill_default_opts(void);
/* PL_OK, PL_ERR_INTERRUPTED (saved, stopped early) or an error with a message (tokenizers that differ, a text
 * too short for one sequence, ...) */
int pl_distill(const pl_distill_opts *o);

#endif
