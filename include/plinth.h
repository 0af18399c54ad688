/* plinth — foundation models in C. The public API.
 *
 * This header holds the stable surface (errors, dtypes, tokenizers). The tensor engine's API is
 * src/core/tensor.h (see docs/engine.md); a worked example of it:
 *
 *     pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){ .arena_bytes = 64 << 20, .n_threads = 2 });
 *     pl_tensor *a = pl_new_2d(ctx, PL_F32, 4, 3);           // ne[0] = 4 (contiguous), ne[1] = 3
 *     pl_tensor *x = pl_new_2d(ctx, PL_F32, 4, 2);
 *     pl_param(a);                                           // trainable: gets a gradient
 *     pl_tensor *y = pl_matmul(ctx, a, x);                   // y[n][m] = sum_k a[m][k] * x[n][k]  -> ne = {3, 2}
 *     pl_tensor *loss = pl_mean(ctx, pl_mul(ctx, y, y));
 *     pl_graph *g = pl_graph_build(ctx, loss, true);         // forward + backward
 *     pl_graph_forward(ctx, g); pl_graph_backward(ctx, g);   // a->grad now holds d loss / d a
 *     pl_ctx_free(ctx);
 *
 * Conventions: ne[0] is the innermost (contiguous) dimension, like GGUF: a PyTorch shape (B, T, C) is
 * ne = {C, T, B}. Functions that can fail on outside input return NULL or a negative pl_status and leave a
 * message for pl_last_error(). Enums are append-only. */
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

#ifdef __cplusplus
}
#endif
#endif
