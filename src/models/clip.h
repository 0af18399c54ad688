/* Dual encoders: CLIP (Radford et al. 2021) and SigLIP (Zhai et al. 2023) loaded from Hugging Face directories
 * (config.json + model.safetensors + preprocessor_config.json). A ViT image tower (vit.c: patches -> linear ->
 * positions -> pre-LayerNorm blocks -> class token or SigLIP's attention-pooling head) and a text tower (clip.c:
 * causal, pooled at EOS; siglip.c: bidirectional, pooled at the last position, then a linear head) map images and
 * texts into one space; logits are scaled cosine similarities (+ a bias for SigLIP). clip_model.c loads the
 * weights (names from io/clip_names.c) and runs batches; tasks/clip.c calls it. */
#ifndef PL_MODELS_CLIP_H
#define PL_MODELS_CLIP_H

#include "core/common.h"
#include "core/tensor.h"
#include "io/clip_names.h"
#include "io/image.h"
#include <stdbool.h>

typedef enum { PL_ACT_QUICK_GELU, PL_ACT_GELU, PL_ACT_GELU_TANH } pl_act;
typedef enum { PL_DUAL_CLIP, PL_DUAL_SIGLIP } pl_dual_kind;

typedef struct {
    int n_embd, n_layer, n_head, n_ff;
    int n_pos;         /* positions: patches (+1 class token) or text tokens */
    float eps;         /* LayerNorm epsilon */
    pl_act act;
} pl_tower_hparams;

typedef struct {
    pl_tensor *norm1, *norm1_b;                               /* (C)            */
    pl_tensor *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo;         /* (C, C), (C)    */
    pl_tensor *norm2, *norm2_b;                               /* (C)            */
    pl_tensor *up, *up_b, *down, *down_b;                     /* (F, C), (F); (C, F), (C) */
} pl_tower_layer;

typedef struct {
    pl_tower_hparams hp;
    pl_tower_layer *layers;      /* (L) */
    pl_tensor *pos;              /* (n_pos, C) */
    pl_tensor *post_norm, *post_norm_b;
    /* vision */
    int image_size, patch_size, n_patches;
    pl_tensor *patch, *patch_b;  /* (C, 3, P, P) as (3 P P, C): one row per output channel; bias (C) or NULL */
    pl_tensor *cls;              /* (C) CLIP's class token, or NULL */
    pl_tensor *pre_norm, *pre_norm_b;  /* CLIP's LayerNorm before the blocks, or NULL */
    pl_tensor *probe;            /* SigLIP's attention-pooling head: the query (C) */
    pl_tensor *head_q, *head_q_b, *head_k, *head_k_b, *head_v, *head_v_b, *head_o, *head_o_b; /* (C, C), (C) */
    pl_tensor *head_norm, *head_norm_b, *head_up, *head_up_b, *head_down, *head_down_b;
    /* text */
    int n_vocab, eos_id, pad_id;
    pl_tensor *tok;              /* (V, C) */
    pl_tensor *head, *head_b;    /* SigLIP's text head (C, C), (C) */
} pl_tower;

/* a trainable tensor (pl_clip_load_train): its f32 data and gradient, AdamW's moments, its name and file shape */
typedef struct {
    pl_tensor *t;
    float *m, *v;
    char name[160];
    int n_dims;
    int64_t shape[4];     /* in the file's (PyTorch's) order */
} pl_clip_param;

typedef struct pl_clip {
    pl_dual_kind kind;
    const struct pl_dual_arch_info *arch_info;
    pl_tower vision, text;
    int dim;                     /* the shared space: projection_dim (CLIP) or the width (SigLIP) */
    pl_tensor *visual_proj, *text_proj; /* CLIP: (dim, C) each, no bias */
    float logit_scale, logit_bias;      /* logit_scale as stored (its exp multiplies); bias 0 for CLIP */
    pl_tensor *logit_scale_t, *logit_bias_t; /* the same as tensors (scalars; bias NULL for CLIP) */
    bool train;                  /* every weight an f32 copy with a gradient, listed in params */
    uint64_t seed;               /* a new model's initialization */
    pl_clip_param *params; int n_params, cap_params;
    pl_image_processor prep;
    int text_len;                /* SigLIP: texts are padded to this many ids (its training length); CLIP: n_pos */
    char path[1024];
    pl_ctx *wctx, *step;
    struct pl_st_model *st;
    pl_owned owned;
} pl_clip;

/* Load a CLIPModel / SiglipModel directory. NULL + pl_last_error() (with the tensor and the shapes when the
 * config does not match the weights). */
pl_clip *pl_clip_load(const char *path, int n_threads);
/* For training: every weight an f32 copy with a gradient (m->params). init: a new model, its weights drawn from
 * seed as transformers initializes them, from the directory's config.json alone (no model.safetensors). */
pl_clip *pl_clip_load_train(const char *path, int n_threads, bool init, uint64_t seed);
/* model.safetensors of a training model into dir, with the names and shapes transformers loads */
int pl_clip_save_weights(const pl_clip *m, const char *dir);
void pl_clip_free(pl_clip *m);
bool pl_clip_path_ok(const char *path);

/* n images of 3 x S x S pixel values (S = vision.image_size, preprocessed) -> out: n x dim, L2-normalized */
int pl_clip_embed_images(pl_clip *m, const float *pixels, int n, float *out);
/* n texts of ids (ids[i][0 .. n_ids[i]), specials included) -> out: n x dim, L2-normalized. CLIP pools at the
 * EOS; SigLIP's texts are padded with pad_id to text_len first, as its processor does. */
int pl_clip_embed_texts(pl_clip *m, const int32_t *const *ids, const int *n_ids, int n, float *out);
/* unit vectors {D, B} of a batch, in the graph: images {3 P P, patches, B} or ids {T, B} + pool_at (training) */
pl_tensor *pl_clip_image_features(pl_ctx *ctx, const pl_clip *m, pl_tensor *patches);
pl_tensor *pl_clip_text_features(pl_ctx *ctx, const pl_clip *m, pl_tensor *ids, pl_tensor *pool_at);
/* ids and pooling positions of n texts for the text tower: padded to the longest (CLIP) or to text_len (SigLIP) */
int pl_clip_text_inputs(pl_ctx *ctx, const pl_clip *m, const int32_t *const *ids, const int *n_ids, int n,
                        pl_tensor **in, pl_tensor **at);
/* logits_per_image: out[i * n_txt + j] = exp(logit_scale) * <img_i, txt_j> + logit_bias */
void pl_clip_logits(const pl_clip *m, const float *img, int n_img, const float *txt, int n_txt, float *out);

/* ---- for the architecture files and the registry ---- */
typedef struct pl_dual_arch_info {
    const char *name;
    const char *hf_types[4];
    pl_dual_kind kind;
    /* images {3 P P, patches, B} -> pooled {C, B} before any projection */
    pl_tensor *(*pool_image)(pl_ctx *ctx, const pl_clip *m, pl_tensor *x);
    /* ids i32 {T, B}, pool_at i32 {B} (row b * T + position) -> pooled {C, B} */
    pl_tensor *(*pool_text)(pl_ctx *ctx, const pl_clip *m, pl_tensor *ids, pl_tensor *pool_at);
} pl_dual_arch_info;

const pl_dual_arch_info *pl_dual_arch_find(const char *hf_type);

/* vit.c: shared blocks */
pl_tensor *tower_block(pl_ctx *ctx, const pl_tower *t, const pl_tower_layer *b, pl_tensor *x, bool causal);
pl_tensor *tower_mlp(pl_ctx *ctx, pl_act act, pl_tensor *x, pl_tensor *up, pl_tensor *up_b, pl_tensor *down, pl_tensor *down_b);
pl_tensor *vit_embed(pl_ctx *ctx, const pl_tower *v, pl_tensor *patches); /* -> {C, tokens, B} */
pl_tensor *vit_encode(pl_ctx *ctx, const pl_tower *v, pl_tensor *x);
pl_tensor *clip_pool_image(pl_ctx *ctx, const pl_clip *m, pl_tensor *patches);
pl_tensor *clip_pool_text(pl_ctx *ctx, const pl_clip *m, pl_tensor *ids, pl_tensor *pool_at);
pl_tensor *siglip_pool_image(pl_ctx *ctx, const pl_clip *m, pl_tensor *patches);
pl_tensor *siglip_pool_text(pl_ctx *ctx, const pl_clip *m, pl_tensor *ids, pl_tensor *pool_at);
/* the pixels of n images (3 x S x S each) as patch columns {3 P P, (S/P)^2, n}, Conv2d's weight order */
void vit_unfold(const float *pixels, int n, int image_size, int patch, float *out);

#endif
