/* plinth — foundation models in C. The public API: load a model, tokenize, run a batch of sequences, sample,
 * generate, train a step, save. A whole program (examples/generate.c is this with its options and messages):
 *
 *     #include <plinth.h>
 *     #include <stdio.h>
 *
 *     static void print_text(const char *text, size_t len, void *ud) { (void)ud; fwrite(text, 1, len, stdout); }
 *
 *     int main(int argc, char **argv) {
 *         if (argc != 3) { fprintf(stderr, "usage: %s MODEL PROMPT\n", argv[0]); return 2; }
 *         pl_model *m = pl_model_load(argv[1], NULL);         // a .gguf, a HF directory or a training directory
 *         if (!m) { fprintf(stderr, "%s\n", pl_last_error()); return 1; }
 *         pl_generate_params p = pl_generate_default_params();
 *         p.n_predict = 64;                                   // tokens at most; p.sampling: temperature, top-k, ...
 *         int rc = pl_generate_text(m, argv[2], &p, print_text, NULL);
 *         if (rc != PL_OK) fprintf(stderr, "%s\n", pl_last_error());
 *         pl_model_free(m);
 *         return rc == PL_OK ? 0 : 1;
 *     }
 *
 * Below it: a batch of tokens from many sequences at once (pl_decode, the sequence functions) with the sampler
 * chain for anything generate does not do, and training (pl_trainer: forward, backward and AdamW on a model
 * loaded with .train = true; pl_model_save writes it as a Hugging Face directory). examples/finetune.c uses them;
 * docs/api.md walks through both examples. Everything here is all a program needs: it compiles with -Iinclude
 * alone and links libplinth. (The tensor engine underneath is src/core/tensor.h, internal; see docs/engine.md.)
 *
 * Conventions: functions that can fail on outside input (files, text, ids, sizes, NULL handles) return NULL or
 * a negative pl_status and leave a message for pl_last_error(); nothing here exits or aborts on bad input.
 * Whoever creates an object frees it. Enums are append-only. A model and what hangs off it (its tokenizer,
 * sequences, trainer) are used from one thread at a time; each call uses the model's n_threads. */
#ifndef PLINTH_H
#define PLINTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PL_VERSION "0.1.0"
#define PL_MAX_DIMS 4
#define PL_MAX_SRC 4
#define PL_MAX_NAME 64

typedef enum {
    PL_OK = 0,
    PL_ERR_IO = -1,        /* a file could not be opened, read or written */
    PL_ERR_FORMAT = -2,    /* a file or text is malformed */
    PL_ERR_ARG = -3,       /* a bad argument from the caller or the user */
    PL_ERR_NOMEM = -4,     /* an allocation failed */
    PL_ERR_UNSUPPORTED = -5,
    PL_ERR_INTERRUPTED = -6,
} pl_status;

/* The message left by the last failing call on this thread ("" if none). */
const char *pl_last_error(void);

/* Element types. The numbers are GGUF's (ggml_type), so a GGUF tensor's type id is a pl_dtype. */
typedef enum {
    PL_F32 = 0,
    PL_F16 = 1,
    PL_Q4_0 = 2,
    PL_Q4_1 = 3,
    PL_Q5_0 = 6,
    PL_Q5_1 = 7,
    PL_Q8_0 = 8,
    PL_Q8_1 = 9,
    PL_Q2_K = 10,
    PL_Q3_K = 11,
    PL_Q4_K = 12,
    PL_Q5_K = 13,
    PL_Q6_K = 14,
    PL_Q8_K = 15,
    PL_I8 = 24,
    PL_I16 = 25,
    PL_I32 = 26,
    PL_I64 = 27,
    PL_F64 = 28,
    PL_BF16 = 30,
    PL_DTYPE_COUNT = 40,
} pl_dtype;

/* ---- tokenizer: encode / decode (src/tokenizer) ---------------------------------------------- */
typedef struct pl_tokenizer pl_tokenizer;
/* Load from a Hugging Face tokenizer.json (or a model directory holding one) or a GGUF file. */
pl_tokenizer *pl_tokenizer_load(const char *path);
void pl_tokenizer_free(pl_tokenizer *tok);
/* Write tok, whatever it was loaded from, as Hugging Face tokenizer files into the existing directory dir:
 * tokenizer.json, tokenizer_config.json (special tokens, add_bos/eos_token, chat template, model_max_length)
 * and special_tokens_map.json, each replaced atomically; transformers' AutoTokenizer loads them as is and
 * pl_tokenizer_load(dir) gives the same ids. PL_OK or a negative pl_status (nothing left behind on failure). */
int pl_tokenizer_save_hf(const pl_tokenizer *tok, const char *dir);
/* Encode text (len bytes) into ids (room for cap). Returns the number of ids the text needs (may be > cap,
 * then call again with a larger buffer) or a negative pl_status. add_special: add BOS/EOS etc. as configured. */
int pl_tokenize(const pl_tokenizer *tok, const char *text, size_t len, int32_t *ids, int cap, bool add_special);
/* Decode ids into out (room for cap bytes, NUL-terminated when it fits). Returns the bytes needed
 * (excluding NUL) or a negative pl_status. skip_special: leave out special tokens. */
int pl_detokenize(const pl_tokenizer *tok, const int32_t *ids, int n, char *out, size_t cap, bool skip_special);
int pl_tokenizer_n_vocab(const pl_tokenizer *tok);

/* ---- tokenizer: more (owner: src/tokenizer) ---- */
/* Text passed to pl_tokenize need not be valid UTF-8: each maximal invalid byte sequence is replaced by
 * U+FFFD first (as Python's bytes.decode("utf-8", "replace")), then encoded as HF would encode that text. */
int32_t pl_tokenizer_bos(const pl_tokenizer *tok);           /* -1 if none */
int32_t pl_tokenizer_eos(const pl_tokenizer *tok);           /* -1 if none */
int32_t pl_tokenizer_token_id(const pl_tokenizer *tok, const char *token);  /* exact vocab string; -1 if absent */
/* The vocabulary string of id ("Ġhello", "▁hi", "##ing", "<|im_end|>"); NULL if out of range. */
const char *pl_tokenizer_token_str(const pl_tokenizer *tok, int32_t id, size_t *len);
bool pl_tokenizer_is_special(const pl_tokenizer *tok, int32_t id);
/* Streaming decoder for generation: feed ids one at a time; each step returns the text that became
 * complete (valid UTF-8, possibly ""), held in the stream until the next call; flush returns the rest.
 * NULL + pl_last_error() on a bad id. The concatenation equals pl_detokenize of all ids. */
typedef struct pl_detok_stream pl_detok_stream;
pl_detok_stream *pl_detok_stream_new(const pl_tokenizer *tok, bool skip_special);
const char *pl_detok_stream_step(pl_detok_stream *s, int32_t id, size_t *len);
const char *pl_detok_stream_flush(pl_detok_stream *s, size_t *len);
void pl_detok_stream_free(pl_detok_stream *s);

/* ---- models ------------------------------------------------------------------------------------------------ */
/* A decoder language model (llama / mistral, qwen2, gpt2, gemma3) with its tokenizer and KV cache. */
typedef struct pl_model pl_model;

typedef struct {
    int n_ctx;      /* KV-cache cells, the tokens of all sequences together; 0: the model's context, at most 4096 */
    int n_threads;  /* 0: the physical cores */
    bool train;     /* every weight an f32 trainable parameter (dequantized), for pl_trainer and pl_model_save */
} pl_model_params;

pl_model_params pl_model_default_params(void);
/* Load a .gguf file, a Hugging Face model directory (config.json, *.safetensors, tokenizer.json), a directory
 * holding one .gguf, or a training directory of plinth train / finetune / pl_model_save (its checkpoint); with
 * its tokenizer. params NULL: the defaults. NULL + pl_last_error() when the path or the model is not usable. */
pl_model *pl_model_load(const char *path, const pl_model_params *params);
void pl_model_free(pl_model *m);
int pl_model_n_vocab(const pl_model *m);   /* rows of logits per token; a negative pl_status for m NULL */
int pl_model_n_ctx(const pl_model *m);     /* KV-cache cells */
/* The tokenizer loaded with the model, owned by it (valid until pl_model_free); NULL for m NULL. */
const pl_tokenizer *pl_model_tokenizer(const pl_model *m);
/* Write a model loaded with .train = true into the directory dir (created if missing) as a Hugging Face model:
 * config.json, model.safetensors, generation_config.json and the tokenizer's files; pl_model_load(dir) and
 * transformers load it. PL_OK or a negative pl_status. */
int pl_model_save(const pl_model *m, const char *dir);

/* ---- sequences and batches: many sequences share the model's KV cache ---------------------------------------- */
/* A new, empty sequence: its id (>= 0), or a negative pl_status. */
int pl_seq_new(pl_model *m);
int pl_seq_remove(pl_model *m, int seq);                /* frees its cells */
int pl_seq_truncate(pl_model *m, int seq, int n_keep);  /* keep positions 0 .. n_keep-1 */
int pl_seq_fork(pl_model *m, int seq);  /* a new sequence holding what seq holds (cells shared): its id */
int pl_seq_len(const pl_model *m, int seq);             /* tokens held, or a negative pl_status */
/* Token i goes to sequence seq[i], at its next position (a sequence's tokens in order; prompts of some
 * sequences may mix with single tokens of others). logits[i]: whether token i's logits are wanted (NULL: all). */
typedef struct {
    int n;
    const int32_t *tokens;
    const int32_t *seq;
    const bool *logits;
} pl_batch;
/* Run a batch; out gets n_vocab floats for each wanted token, in batch order. PL_OK, or a negative pl_status
 * with nothing changed (an unknown sequence, a token outside the vocabulary, no room in the cache). */
int pl_decode(pl_model *m, const pl_batch *batch, float *out);

/* ---- sampling: logits -> the next token (src/tasks/sample.c; docs/sampling.md) -------------------------------- */
/* The chain, like llama.cpp's: penalties -> logit bias -> top-k -> top-p -> min-p -> temperature -> draw. */
typedef struct { int32_t token; float bias; } pl_logit_bias;
typedef struct {
    float temperature;       /* <= 0: greedy (after penalties and bias). default 0.8 */
    int top_k;               /* <= 0: off. default 40 */
    float top_p;             /* >= 1: off. default 0.95 */
    float min_p;             /* <= 0: off. default 0.05 */
    float repeat_penalty;    /* 1: off (default) */
    float presence_penalty;  /* 0: off (default) */
    float frequency_penalty; /* 0: off (default) */
    int penalty_last_n;      /* how much history the penalties see; default 64, -1 all, 0 off */
    const pl_logit_bias *logit_bias; /* copied by pl_sampler_new; -INFINITY bans a token */
    int n_logit_bias;
    uint64_t seed;           /* default 0xC0FFEE; same seed + same inputs -> same tokens on every machine */
} pl_sampler_params;

typedef struct pl_sampler pl_sampler;

pl_sampler_params pl_sampler_default_params(void);
/* NULL + message on bad params (none, n_vocab <= 0, NaN temperature, top_p/min_p out of [0,1], repeat_penalty
 * <= 0); start from pl_sampler_default_params(). */
pl_sampler *pl_sampler_new(const pl_sampler_params *params, int n_vocab);
void pl_sampler_free(pl_sampler *s);
/* Restart the random stream from `seed`. */
void pl_sampler_reseed(pl_sampler *s, uint64_t seed);
/* Next token from logits[0..n_vocab) (not modified) and the history (oldest first); a negative status when
 * s or logits is NULL. */
int32_t pl_sampler_sample(pl_sampler *s, const float *logits, const int32_t *history, int n_history);

/* ---- generation: prompt -> streamed text (src/tasks/generate.c) ------------------------------------------- */
typedef struct {
    int n_predict;               /* most tokens to generate (<= 0: until EOS or the context is full). default 200 */
    pl_sampler_params sampling;  /* default pl_sampler_default_params() */
    const char *const *stops;    /* stop strings: generation ends before one (not emitted) */
    int n_stops;
    bool add_special;            /* tokenize the prompt with BOS etc. as the tokenizer is configured. default true */
} pl_generate_params;
pl_generate_params pl_generate_default_params(void);
/* Text as it becomes complete UTF-8 (len bytes, not NUL-terminated). */
typedef void (*pl_text_fn)(const char *text, size_t len, void *ud);
/* Generate after prompt (UTF-8, non-empty), calling on_text (may be NULL) with each piece; stops at EOS, a stop
 * string, n_predict tokens or a full context. Runs on a sequence of its own: the caller's sequences stay as they
 * are (they share the cache's cells). params NULL: the defaults. PL_OK or a negative pl_status. */
int pl_generate_text(pl_model *m, const char *prompt, const pl_generate_params *params, pl_text_fn on_text, void *ud);

/* ---- training: one step = forward + backward + AdamW over every weight (model loaded with .train) ------------ */
typedef struct pl_trainer pl_trainer;
typedef struct {
    int batch, seq_len;          /* each step takes batch x seq_len tokens (B x T). default 1 x 64 */
    float beta1, beta2, eps, weight_decay; /* AdamW, as torch.optim.AdamW. default 0.9, 0.999, 1e-8, 0.01 */
    float clip;                  /* the gradients' global norm clipped to this; <= 0: no clipping. default 1 */
    int n_threads;               /* 0: the physical cores */
} pl_trainer_params;
pl_trainer_params pl_trainer_default_params(void);
/* NULL + message when m was not loaded with .train or the params are out of range (seq_len > the model's
 * context). The trainer holds the graph of one step and the AdamW step count; the moments live in the model. */
pl_trainer *pl_trainer_new(pl_model *m, const pl_trainer_params *params);
void pl_trainer_free(pl_trainer *t);
/* One step on ids and targets, each n = batch x seq_len token ids, row-major (row b's tokens at b*seq_len ..):
 * targets[i] is the token that should follow ids[i] (usually ids shifted by one), -1 where no loss is wanted
 * (padding, prompts). Learning rate lr. *loss (may be NULL) gets the mean cross-entropy over the targets, before
 * the update. PL_OK, or a negative pl_status with the weights unchanged (n != batch x seq_len, an id outside the
 * vocabulary, no target, a loss that is not finite). The cache's sequences still hold K/V of the old weights. */
int pl_trainer_step(pl_trainer *t, const int32_t *ids, const int32_t *targets, int n, float lr, float *loss);

/* ---- sentence embeddings: texts -> unit vectors (src/tasks/embed.c) -------------------------------------------- */
/* An encoder (BERT family: all-MiniLM-L6-v2, BGE, E5, GTE) from a Hugging Face / sentence-transformers directory,
 * with its tokenizer. Vectors are pooled as the directory's modules.json says (mean or CLS, L2-normalized), so
 * the dot product of two is their cosine similarity. */
typedef struct pl_embedder pl_embedder;
typedef struct {
    int n_threads;               /* 0: the physical cores */
} pl_embedder_params;
pl_embedder_params pl_embedder_default_params(void);
pl_embedder *pl_embedder_load(const char *path, const pl_embedder_params *params); /* NULL + message */
void pl_embedder_free(pl_embedder *e);
int pl_embedder_dim(const pl_embedder *e);        /* floats a vector */
int pl_embedder_max_tokens(const pl_embedder *e); /* a longer text is cut to this many tokens */
const char *pl_embedder_name(const pl_embedder *e); /* the model directory's name */
/* n NUL-terminated texts -> out (n * dim floats, in the texts' order). Batched; a text's vector does not depend
 * on the others. PL_OK or a negative pl_status. */
int pl_embed_texts(pl_embedder *e, const char *const *texts, int n, float *out);

#ifdef __cplusplus
}
#endif
#endif
