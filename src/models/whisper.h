/* Whisper (Radford et al. 2022): log-mel frames -> two 1-D convolutions with GELU (the second halves the time
 * axis) -> sinusoidal positions -> pre-LayerNorm transformer encoder; a decoder of learned token and position
 * embeddings whose layers attend causally to the text so far (self-attention, KV cache of cells) and to the
 * encoder's output (cross-attention: queries from the text, keys and values from the audio, computed once per
 * 30-s window), logits through the tied token embedding. Weights from a Hugging Face directory (config.json +
 * safetensors) or a CTranslate2 model.bin (faster-whisper); names in io/whisper_names.c. Used by tasks/transcribe. */
#ifndef PL_MODELS_WHISPER_H
#define PL_MODELS_WHISPER_H

#include "core/common.h"
#include "core/tensor.h"
#include "models/kv_cache.h"

typedef struct {
    int n_mels;          /* 80 (128 for large-v3) */
    int n_audio_ctx;     /* encoder positions: 1500 (30 s; the input has 2x as many mel frames) */
    int n_audio_state, n_audio_head, n_audio_layer;
    int n_vocab, n_text_ctx; /* 448 decoder positions */
    int n_text_state, n_text_head, n_text_layer;
    int n_ff_enc, n_ff_dec;
} pl_whisper_hparams;

typedef struct {
    pl_tensor *ln1_w, *ln1_b;                  /* (C) before self-attention                      */
    pl_tensor *q_w, *q_b, *k_w, *v_w, *v_b;    /* (C, C), (C): k has no bias                      */
    pl_tensor *o_w, *o_b;                      /* (C, C), (C)                                     */
    pl_tensor *lnx_w, *lnx_b;                  /* decoder: (C) before cross-attention             */
    pl_tensor *xq_w, *xq_b, *xk_w, *xv_w, *xv_b, *xo_w, *xo_b; /* decoder: cross-attention, as above */
    pl_tensor *ln2_w, *ln2_b;                  /* (C) before the MLP                              */
    pl_tensor *fc1_w, *fc1_b, *fc2_w, *fc2_b;  /* (F, C), (F), (C, F), (C)                        */
} pl_whisper_layer;

typedef struct pl_whisper {
    pl_whisper_hparams hp;
    pl_tensor *conv1_w, *conv1_b;   /* (C, n_mels, 3) stored as {3, n_mels, C}, (C)    */
    pl_tensor *conv2_w, *conv2_b;   /* (C, C, 3), (C): stride 2                        */
    pl_tensor *enc_pos;             /* (n_audio_ctx, C) sinusoids                      */
    pl_tensor *enc_ln_w, *enc_ln_b; /* (C)                                             */
    pl_whisper_layer *enc, *dec;    /* (n_audio_layer), (n_text_layer)                 */
    pl_tensor *tok;                 /* (V, C): embedding and, tied, the output head    */
    pl_tensor *dec_pos;             /* (n_text_ctx, C)                                 */
    pl_tensor *dec_ln_w, *dec_ln_b; /* (C)                                             */
    pl_tensor **cross_k, **cross_v; /* (n_text_layer) {D, n_audio_ctx, H}: this window's */
    bool have_audio;                /* cross_k / cross_v hold an encoded window        */
    pl_kv_cache *cache;             /* self-attention K, V of the text's sequences     */
    int seq0;                       /* the sequence pl_whisper_eval runs on            */
    char path[1024];
    bool from_ct2;
    /* internals */
    pl_ctx *wctx, *step;            /* weights + caches; one call's graph              */
    pl_ctx *step_few;               /* a decoder call of few tokens: on dec_threads    */
    pl_owned owned;                /* copies of the file's weights (f32; f16 kept) */
} pl_whisper;

/* A directory holding model.bin (CTranslate2) or config.json + *.safetensors (HF), or either file itself.
 * Weights become f32 (f16 files are widened: computation is f32, as faster-whisper's float32 runs). n_seq:
 * sequences decoded at once (beams; KV cells = n_seq * n_text_ctx). NULL + pl_last_error(). */
pl_whisper *pl_whisper_load(const char *path, int n_threads, int n_seq);
/* Threads for decoder calls of a few tokens (a step of greedy decoding or of a few beams): each of their ops is a
 * few hundred microseconds of work or less, and on a host whose cores are shared a thread that waits at every op's
 * barrier for a descheduled partner loses more than it gains (bench/RESULTS.md); default 1. Prompts of more tokens,
 * and the encoder, use n_threads. PL_OK, or PL_ERR_NOMEM. */
int pl_whisper_set_decoder_threads(pl_whisper *w, int n);
void pl_whisper_free(pl_whisper *w);
/* Encode one window: mel (n_mels, 2 * n_audio_ctx), bin-major as pl_mel_compute writes it. Fills the
 * cross-attention cache and clears the text's sequences (seq0 is made again, empty). enc_out (may be NULL):
 * room for n_audio_state * n_audio_ctx floats, position-major. PL_OK or a negative status. */
int pl_whisper_encode(pl_whisper *w, const float *mel, float *enc_out);
/* A batch of text tokens: token i of sequence seq[i] at that sequence's next position (kv_cache.h); logits:
 * n_vocab floats per token whose want[i] (NULL: every token), in batch order. Needs an encoded window. */
int pl_whisper_decode(pl_whisper *w, int n, const int32_t *tokens, const int32_t *seq, const bool *want, float *logits);
/* tokens[0..n) on seq0 at positions n_past.. (the sequence is cut back to n_past first); logits of the last
 * token (all: of each). */
int pl_whisper_eval(pl_whisper *w, const int32_t *tokens, int n, int n_past, float *logits, bool all);
/* True when path looks like a Whisper model (a model.bin with a WhisperSpec, or config.json of model_type whisper) */
bool pl_whisper_path_ok(const char *path);

#endif
