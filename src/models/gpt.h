/* GPT-2 for pre-training from scratch: learned positions, pre-LayerNorm blocks, GELU (tanh) MLP, output head
 * tied to the token embedding. Parameters, gradients and AdamW moments each live in one flat buffer (llm.c's
 * layout), so zeroing, clipping and the optimizer are flat loops; every tensor is a view into them.
 * Names follow the PyTorch module names (wte.weight, h.0.attn.c_attn.weight, ...). */
#ifndef PL_MODELS_GPT_H
#define PL_MODELS_GPT_H

#include "core/tensor.h"

typedef struct {
    int vocab;  /* 256 for the byte-level vocabulary */
    int ctx;    /* maximum sequence length (rows of wpe) */
    int dim;    /* embedding width C */
    int layers; /* transformer blocks L */
    int heads;  /* attention heads H (dim % heads == 0) */
} pl_gpt_config;

typedef struct {
    pl_tensor *ln1_w, *ln1_b;   /* (C)                                   */
    pl_tensor *attn_w, *attn_b; /* (3C, C), (3C)   q, k, v stacked        */
    pl_tensor *proj_w, *proj_b; /* (C, C), (C)                            */
    pl_tensor *ln2_w, *ln2_b;   /* (C)                                   */
    pl_tensor *fc_w, *fc_b;     /* (4C, C), (4C)                          */
    pl_tensor *fc2_w, *fc2_b;   /* (C, 4C), (C)                           */
} pl_gpt_block;

typedef struct {
    pl_gpt_config cfg;
    pl_ctx *ctx;                /* owns the parameter tensors (not their data) */
    pl_tensor *wte;             /* (V, C)  token embedding, also the output head */
    pl_tensor *wpe;             /* (ctx, C) position embedding */
    pl_gpt_block *blocks;       /* (L) */
    pl_tensor *lnf_w, *lnf_b;   /* (C) */
    int n_params;
    pl_tensor **params;         /* every parameter, in a fixed order */
    int64_t n_floats;           /* total parameter count */
    float *w, *g, *m, *v;       /* flat: weights, gradients, AdamW first and second moments */
} pl_gpt;

/* Check a configuration; PL_OK or PL_ERR_ARG with a message naming the bad value. */
int pl_gpt_config_check(const pl_gpt_config *cfg);
/* Allocate a model (weights zero). NULL + message on a bad config or no memory. */
pl_gpt *pl_gpt_new(const pl_gpt_config *cfg);
void pl_gpt_free(pl_gpt *m);
/* GPT-2's initialization: N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), LayerNorm 1/0, biases 0. */
void pl_gpt_init(pl_gpt *m, uint64_t seed);
pl_tensor *pl_gpt_find(const pl_gpt *m, const char *name);

/* The forward graph for ids (i32 {T, B}) -> logits {V, T, B}; with targets (i32 {T, B}) also *loss. */
pl_tensor *pl_gpt_forward(pl_ctx *ctx, const pl_gpt *m, pl_tensor *ids, pl_tensor *targets, pl_tensor **loss);

/* Save weights (and, if with_optim, the AdamW moments as m.NAME / v.NAME) with string metadata pairs. */
int pl_gpt_save(const pl_gpt *m, const char *path, bool with_optim, const char *const *meta_kv, int n_meta);
/* Load a model saved by pl_gpt_save (config from its metadata); optimizer moments too when present. */
pl_gpt *pl_gpt_load(const char *path, bool with_optim);

#endif
