/* Contrastive training of a CLIP or SigLIP model (plinth clip train): from scratch (config.json written from the
 * sizes given, weights drawn as transformers draws them, a word-level tokenizer over the captions) or from a
 * checkpoint (--init), on Fashion-MNIST with captions from templates or on image-caption pairs from JSONL (the
 * synthetic scenes among them). Each step embeds a batch of image-caption pairs with both towers and takes CLIP's
 * or SigLIP's loss (ops/contrastive.c), AdamW, the temperature clamped at 100 as CLIP does; zero-shot accuracy from
 * text prompts alone on held-out images as it goes (for pairs: which of the held-out set's captions each held-out
 * image retrieves first), and on the test split at the end. The output is a Hugging Face model directory
 * (transformers loads it) + loss.csv / loss.svg and accuracy.csv. */
#ifndef PL_TASKS_CLIP_TRAIN_H
#define PL_TASKS_CLIP_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *data;        /* a Fashion-MNIST directory (NULL: Debian's), a pairs .jsonl file, or a directory holding
                                train.jsonl (and heldout.jsonl: the validation pairs unless val_data says) */
    const char *val_data;    /* pairs: the validation .jsonl (NULL: dir/heldout.jsonl, else the last n_val pairs) */
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
    bool pairs;              /* trained on pairs: val_acc is caption retrieval top-1 among the n_val_captions distinct
                                validation captions; all_acc among those and every training caption (n_all_captions);
                                chance: the expected top-1 of a random ranking (1 / captions) */
    int n_val_captions, n_all_captions;
    double all_acc;
    double seconds;
} pl_clip_train_result;

int pl_clip_train(const pl_clip_train_opts *o, pl_clip_train_result *r);

#endif
