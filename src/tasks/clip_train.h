/* Contrastive training of a CLIP or SigLIP model (plinth clip train): from scratch (config.json written from the
 * sizes given, weights drawn as transformers draws them, a word-level tokenizer over the captions) or from a
 * checkpoint (--init), on Fashion-MNIST with captions from templates. Each step embeds a batch of image-caption
 * pairs with both towers and takes CLIP's or SigLIP's loss (ops/contrastive.c), AdamW, the temperature clamped at
 * 100 as CLIP does; zero-shot accuracy from text prompts alone on held-out images as it goes, and on the test
 * split at the end. The output is a Hugging Face model directory (transformers loads it) + loss.csv / loss.svg and
 * accuracy.csv. */
#ifndef PL_TASKS_CLIP_TRAIN_H
#define PL_TASKS_CLIP_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *data;        /* a Fashion-MNIST directory (NULL: Debian's) */
    const char *out_dir;     /* created if needed */
    const char *init;        /* a CLIP / SigLIP directory to start from (NULL: a new model) */
    bool siglip;             /* the loss (and, for a new model, the architecture) */
    int width, layers, heads, text_width, text_layers, dim, patch; /* a new model's sizes (0: defaults) */
    int batch, epochs, eval_every, n_val, threads;
    int max_steps;           /* > 0: stop after this many steps (a short run) */
    int n_test;              /* > 0: evaluate on the first n_test test images only */
    float lr, weight_decay;
    uint64_t seed;
    bool quiet;
} pl_clip_train_opts;

typedef struct {
    int steps;
    double final_loss, val_acc, test_acc;  /* zero-shot accuracies in [0, 1] */
    double seconds;
} pl_clip_train_result;

int pl_clip_train(const pl_clip_train_opts *o, pl_clip_train_result *r);

#endif
