/* Encoder models (BERT family: BERT, MiniLM, BGE / E5 / GTE-style checkpoints) loaded from a Hugging Face
 * directory (config.json + *.safetensors, and sentence-transformers' modules.json / pooling config):
 * hyper-parameters, weights mapped from the file, and pl_encoder_embed, which runs a batch of sentences packed
 * end to end (no padding: attention stays within each sentence) through the architecture's graph (bert.c,
 * chosen in registry.c) and pools each sentence's token states into one vector (mean or CLS, then L2
 * normalization when the model says so). Used by tasks/embed (plinth embed, rag, the server's embeddings). */
#ifndef PL_MODELS_ENCODER_H
#define PL_MODELS_ENCODER_H

#include "core/common.h"
#include "core/tensor.h"
#include "io/encoder_names.h"
#include "io/st_config.h"
#include <stdbool.h>

typedef struct {
    int n_vocab, n_embd, n_layer, n_head, n_ff;
    int n_pos;              /* learned positions (max_position_embeddings) */
    int n_types;            /* token-type (segment) embeddings; every token here is of type 0 */
    float norm_eps;         /* LayerNorm epsilon */
} pl_encoder_hparams;

typedef struct {
    pl_tensor *wq, *bq, *wk, *bk, *wv, *bv; /* (C, C), (C)        */
    pl_tensor *wo, *bo;                     /* (C, C), (C)        */
    pl_tensor *attn_norm, *attn_norm_b;     /* (C): post-attention LayerNorm */
    pl_tensor *ffn_up, *ffn_up_b;           /* (F, C), (F)        */
    pl_tensor *ffn_down, *ffn_down_b;       /* (C, F), (C)        */
    pl_tensor *ffn_norm, *ffn_norm_b;       /* (C): post-MLP LayerNorm */
} pl_encoder_layer;

typedef struct pl_encoder {
    pl_encoder_hparams hp;
    pl_st_config pooling;      /* pooling mode, normalization, max_seq_length */
    int max_tokens;            /* tokens a sentence may have (specials included): max_seq_length, else n_pos */
    pl_tensor *tok_embd;       /* (V, C) */
    pl_tensor *pos_embd;       /* (n_pos, C) */
    pl_tensor *type_embd;      /* (n_types, C) */
    pl_tensor *embd_norm, *embd_norm_b; /* (C) */
    pl_encoder_layer *layers;  /* (L) */
    char path[1024];
    const struct pl_encoder_arch_info *arch_info;
    pl_ctx *wctx, *step;       /* weights (long-lived); one batch's graph (reset per batch) */
    struct pl_st_model *st;
    pl_owned owned;                /* f32 copies of non-f32 vectors */
} pl_encoder;

/* Load a HF model directory whose config.json names an encoder architecture. NULL + pl_last_error(). */
pl_encoder *pl_encoder_load(const char *path, int n_threads);
void pl_encoder_free(pl_encoder *m);
/* True when the directory's config.json names an encoder architecture the registry knows. */
bool pl_encoder_path_ok(const char *path);

/* A batch of n sentences, sentence i = ids[i][0 .. n_ids[i]) (special tokens included, 1 .. max_tokens ids) ->
 * out: n * n_embd floats, one pooled vector per sentence. hidden (NULL or room for the total token count *
 * n_embd): every token's last hidden state, sentences one after another. PL_OK or a negative status. */
int pl_encoder_embed(pl_encoder *m, const int32_t *const *ids, const int *n_ids, int n, float *out, float *hidden);

/* ---- for the architecture files and the registry ---- */
/* The inputs of a batch: ids and positions i32 {N} (sentences packed end to end), seg i32 {S+1} (sentence s
 * holds tokens seg[s] .. seg[s+1]-1). The builder returns the last hidden states {C, N}. */
typedef struct { pl_tensor *ids, *pos, *seg; } encoder_inputs;

typedef struct pl_encoder_arch_info {
    const char *name;
    const char *hf_types[4];       /* config.json model_type values */
    int (*load)(pl_encoder *m);    /* find and check the weights */
    pl_tensor *(*build)(pl_ctx *ctx, pl_encoder *m, const encoder_inputs *in);
} pl_encoder_arch_info;

const pl_encoder_arch_info *pl_encoder_arch_find(const char *hf_type);
const char *pl_encoder_supported(void);
/* The weight of a role in layer `layer`, checked against ne0 x ne1 (ne1 = 0: a vector). f32: converted to an
 * f32 copy if stored otherwise (norms, biases, the type embedding). NULL + message if missing or misshapen. */
pl_tensor *encoder_weight(pl_encoder *m, pl_encoder_role role, int layer, int64_t ne0, int64_t ne1, bool f32, bool *failed);

int encoder_load_bert(pl_encoder *m);
pl_tensor *encoder_build_bert(pl_ctx *ctx, pl_encoder *m, const encoder_inputs *in);

#endif
