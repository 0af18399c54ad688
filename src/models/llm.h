/* Decoder language models loaded from a GGUF file or a Hugging Face directory (config.json + *.safetensors):
 * hyper-parameters, weights mapped from the file (never copied, except tiny norm/bias vectors stored in a
 * non-f32 type) or, for training, f32 parameters in one flat buffer with their gradients; the KV cache of many
 * sequences (kv_cache.h); pl_llm_decode, which runs a batch of tokens from several sequences through the
 * architecture's graph (src/models/llama.c, gpt2_lm.c, gemma3.c; chosen in registry.c), and the training graph
 * of the same builder (pl_llm_forward_train). Used by tasks/generate (plinth run, chat) and tasks/finetune. */
#ifndef PL_MODELS_LLM_H
#define PL_MODELS_LLM_H

#include "core/common.h"
#include "core/tensor.h"
#include "io/llm_names.h"
#include "models/kv_cache.h"
#include <stdbool.h>

typedef enum { PL_LLM_LLAMA, PL_LLM_QWEN2, PL_LLM_GPT2, PL_LLM_GEMMA3 } pl_llm_arch;
#define PL_LLM_MAX_LORA 8

typedef struct {
    pl_llm_arch arch;
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot;
    float norm_eps;         /* RMSNorm (llama, qwen2) or LayerNorm (gpt2) epsilon */
    float rope_theta;       /* freq_base */
    float rope_freq_scale;  /* linear scaling: 1/factor; 1 = none */
    int rope_mode;          /* PL_ROPE_NORMAL (llama GGUF: Q/K rows permuted) or PL_ROPE_NEOX (HF, qwen2) */
    bool tied_output;       /* the LM head is the token embedding */
    /* gemma3: sliding-window (local) attention on the layers where swa_layer[l] (window keys, local rope base) */
    int n_swa;              /* window: a query at p sees keys p-n_swa+1 .. p; 0 = every layer global */
    float rope_theta_swa;   /* freq_base of the local layers */
    float attn_scale;       /* multiplies q k^T (gemma3: query_pre_attn_scalar^-1/2); 0 = 1/sqrt(head_dim) */
} pl_llm_hparams;

typedef struct {
    pl_tensor *attn_norm, *attn_norm_b;    /* (C)                                   */
    pl_tensor *wq, *wk, *wv, *bq, *bk, *bv;/* (Hq*D, C), (Hkv*D, C) x2, biases (qwen2) */
    pl_tensor *wqkv, *bqkv;                /* gpt2: (3C, C), (3C)  q, k, v stacked    */
    pl_tensor *wo, *bo;                    /* (C, Hq*D)                              */
    pl_tensor *ffn_norm, *ffn_norm_b;      /* (C)                                   */
    pl_tensor *ffn_gate, *ffn_up, *ffn_up_b;/* (F, C)                                */
    pl_tensor *ffn_down, *ffn_down_b;      /* (C, F)                                */
    /* gemma3 */
    pl_tensor *attn_q_norm, *attn_k_norm;  /* (D): RMSNorm of each q / k head                     */
    pl_tensor *attn_post_norm, *ffn_post_norm; /* (C): RMSNorm of the attention / MLP output before the residual */
    bool swa;                              /* sliding-window (local) layer                          */
} pl_llm_layer;

/* A trainable weight (pl_llm_params.train): an f32 tensor in the flat buffer, its gradient beside it */
typedef struct {
    pl_tensor *t;
    char hf_name[256];          /* its name in a Hugging Face checkpoint */
    int flags;                 /* LLM_W_*: how the HF tensor maps to t (transposed, Gemma's 1 + w) */
} pl_llm_param;

typedef struct pl_llm {
    pl_llm_hparams hp;
    int n_ctx;                 /* KV-cache cells (tokens over all sequences) */
    pl_llm_layer *layers;      /* (L) */
    pl_tensor *tok_embd;       /* (V, C) */
    pl_tensor *pos_embd;       /* gpt2: (n_ctx_train, C) */
    pl_tensor *out_norm, *out_norm_b; /* (C) */
    pl_tensor *output;         /* (V, C): tok_embd when tied */
    pl_tensor *rope_freqs;     /* llama3 scaling: f32 (n_rot/2) divisors, or NULL */
    char path[1024];
    bool from_gguf;
    bool dequantize;           /* pl_llm_params.dequantize: weights are f32 copies, not mapped */
    bool kv_f16;               /* pl_llm_params.kv_f16: the cache holds f16 */
    pl_kv_cache *cache;        /* K and V of every sequence */
    int seq0;                  /* the sequence pl_llm_eval runs on */
    /* training (pl_llm_params.train): every weight an f32 parameter in one flat buffer */
    bool train;
    pl_llm_param *params; int n_params, cap_params;
    int64_t n_floats, cap_floats;   /* parameter count; room in the buffers */
    float *w, *g, *adam_m, *adam_v; /* (n_floats) each: weights, gradients, AdamW moments */
    /* LoRA adapters applied to the forward passes (models/lora.h), each with its user scale */
    const struct pl_lora *lora[PL_LLM_MAX_LORA];
    float lora_scale[PL_LLM_MAX_LORA];
    int n_lora;
    const struct pl_prompt_adapter *prompt; /* virtual tokens put before training sequences (prompt_tuning.h) */
    /* internals */
    const struct pl_llm_arch_info *arch_info; /* the registry row */
    pl_ctx *wctx, *step;       /* weights + cache (long-lived); one decode step's graph (reset per eval) */
    struct pl_gguf *gguf;
    struct pl_st_model *st;
    const void *hfconfig;      /* pl_hfconfig *, while loading */
    pl_owned owned;                /* f32 copies of small non-f32 vectors */
} pl_llm;

typedef struct {
    int n_ctx;      /* 0: the model's context length, capped at 4096 */
    int n_threads;  /* 0: physical cores */
    bool dequantize;/* convert every non-f32 weight to an f32 copy at load (exact f32 math, as transformers
                     * runs a dequantized GGUF; memory: 4 bytes a parameter instead of mapped blocks) */
    bool kv_f16;    /* store the KV cache in f16 (half the memory; K/V rounded to f16, widened to f32 for
                     * attention each step) */
    bool train;     /* every weight becomes an f32 parameter with a gradient (dequantized; HF GPT-2's Conv1D
                     * weights transposed to (out, in)), in one flat buffer: for fine-tuning */
    bool no_pack;   /* keep the weights only as loaded: by default the matrices whose type has a packed kernel on
                     * this CPU (q8_0 on AVX2 without VNNI) also get their rows packed for it at load (pl_matmul_pack),
                     * and every product reads those; memory for that copy, the mapped file's pages then mostly idle */
} pl_llm_params;

/* Load a .gguf file or a HF model directory. NULL + pl_last_error() (unsupported architecture named,
 * missing tensor, shape mismatch, ...). */
pl_llm *pl_llm_load(const char *path, int n_threads);
/* A new trainable model (gpt2, llama or qwen2) of the given hyper-parameters, weights zero until
 * pl_llm_init_weights: N(0, 0.02), output projections N(0, 0.02/sqrt(2L)) (GPT-2's), norms 1, biases 0. */
pl_llm *pl_llm_new(const pl_llm_hparams *hp, const pl_llm_params *params);
void pl_llm_init_weights(pl_llm *m, uint64_t seed);
/* Save as a Hugging Face model directory (config.json, model.safetensors, generation_config.json) that
 * transformers' AutoModelForCausalLM loads as is; bos / eos: token ids for the configs (-1: none). A model
 * from a llama GGUF has its Q/K rows put back in HF's order. */
int pl_llm_save_hf(const pl_llm *m, const char *dir, int bos, int eos);
pl_llm *pl_llm_load_ex(const char *path, const pl_llm_params *params);
void pl_llm_free(pl_llm *m);
/* Run tokens[0..n) at positions n_past.. (appending their K/V to the cache, whose first n_past entries must
 * hold the earlier tokens). logits: room for n_vocab floats (all=false: the last position only) or
 * n*n_vocab (all=true, position-major). PL_OK or a negative status (past the context, bad token id). A long
 * run goes through the model PL_LLM_UBATCH tokens a pass (llama.cpp's ubatch), so a step's memory is bounded by
 * that many tokens whatever the prompt's length. */
#define PL_LLM_UBATCH 512
int pl_llm_eval(pl_llm *m, const int32_t *tokens, int n, int n_past, float *logits, bool all);

/* ---- many sequences at once ---- */
/* Sequences in the KV cache: create (returns its id), remove (its cells are freed), truncate (keep positions
 * 0 .. n_keep-1), fork (a new sequence sharing the parent's cells: returns its id), length. Negative status +
 * message for an unknown id or no room. */
int pl_llm_seq_new(pl_llm *m);
int pl_llm_seq_remove(pl_llm *m, int seq);
int pl_llm_seq_truncate(pl_llm *m, int seq, int n_keep);
int pl_llm_seq_fork(pl_llm *m, int seq);
int pl_llm_seq_len(const pl_llm *m, int seq);
/* A batch: token i belongs to sequence seq[i] and goes at the next position of it (a sequence's tokens in
 * order; prefill chunks and single decode tokens of different sequences may mix). logits: whether token i's
 * logits are wanted (NULL: every token's). */
typedef struct {
    int n;
    const int32_t *tokens, *seq;
    const bool *logits;
    bool rows_apart; /* each token's numbers whatever else the batch holds (a server mixing conversations): the
                      * matrix products keep their per-row kernels at any batch size, where a batch of 32 tokens
                      * or more would otherwise take the (faster, f32-activation) dequantize + GEMM path */
    int chunk;       /* > 0: a sequence's tokens are attended in runs cut at positions that are multiples of chunk,
                      * so a prompt read several chunks a batch gets the numbers it gets a chunk a batch */
} pl_llm_batch;
/* Run the batch; out receives n_vocab floats per wanted token, in batch order. PL_OK, or a negative status
 * with nothing changed (unknown sequence, bad token, no room in the cache). */
int pl_llm_decode(pl_llm *m, const pl_llm_batch *b, float *out);

/* ---- training (pl_llm_params.train) ---- */
/* The training graph in ctx: ids and targets i32 {T, B} (targets -1: no loss there) -> the mean cross-entropy
 * over the targets (a scalar node); *logits (if not NULL) gets the {V, T, B} logits. Attention runs among the
 * batch's tokens (causal, per row of the batch); the KV cache is not touched. */
pl_tensor *pl_llm_forward_train(pl_ctx *ctx, pl_llm *m, pl_tensor *ids, pl_tensor *targets, pl_tensor **logits);
/* The same loss and gradients a layer at a time (activation checkpointing, models/llm_train.c), for architectures
 * whose builder comes in parts (llama, qwen2, gemma3): forward keeps each layer's input only (T*B*C floats a layer);
 * backward runs each layer's forward again from it, then its backward, in one work arena that a single layer's graph
 * fills; the LM head and the cross-entropy run over chunks of the rows that have a target (head_rows a chunk; 0:
 * as many as fit the arena a layer needed). Fill ids and targets (i32 {T, B}, targets -1: no loss), then step. */
typedef struct pl_llm_ckpt {
    pl_tensor *ids, *targets;   /* the caller's to fill */
    pl_llm *m;
    pl_ctx *io, *work;          /* ids, targets, positions (long-lived); one piece's graph (reset for each) */
    pl_tensor *pos;
    int64_t T, B, N, C;         /* N: T plus a prompt adapter's virtual tokens */
    float *x;                   /* (L + 1) x (C, N, B): each layer's input, then the last layer's output */
    float *dx;                  /* (C, N, B): d loss / d the output of the layer being differentiated */
    bool *needs;                /* [L + 1]: whether x[l] leads back to something trainable */
    int32_t *rows, *tg;         /* the rows that have a target, and their targets (shifted past virtual tokens) */
    float *xr;                  /* a head chunk's rows, gathered */
    int head_rows;              /* rows per head chunk */
    size_t peak_work;           /* the work arena's largest size */
} pl_llm_ckpt;
/* NULL + message when m's architecture has no parts (gpt2) or out of memory. params: the work context's (threads). */
pl_llm_ckpt *pl_llm_ckpt_new(pl_llm *m, int T, int B, const pl_ctx_params *params, int head_rows);
/* The mean cross-entropy of the batch in ids / targets (NAN + message on failure); with backward, the gradients of
 * everything trainable (the model's parameters, its adapters, its virtual tokens): set when reset, else added to. */
float pl_llm_ckpt_step(pl_llm_ckpt *c, bool backward, bool reset);
/* what the step holds at its peak: the layers' inputs, the work arena, the head's rows (for reports) */
size_t pl_llm_ckpt_bytes(const pl_llm_ckpt *c);
void pl_llm_ckpt_free(pl_llm_ckpt *c);
/* The parameter named name in Hugging Face checkpoints, or NULL */
const pl_llm_param *pl_llm_param_find(const pl_llm *m, const char *hf_name);
int pl_llm_n_vocab(const pl_llm *m);
int pl_llm_n_ctx(const pl_llm *m);
/* touch all of the KV cache's memory now (pl_kv_cache_touch): a server's start */
void pl_llm_touch_cache(pl_llm *m);
/* fn sees every node of every later pl_llm_eval after it is computed (weights carry their GGUF names, whatever
 * the file format); NULL stops it. What tasks/imatrix.c collects activation statistics with. */
void pl_llm_set_observer(pl_llm *m, pl_observe_fn fn, void *ud);
const char *pl_llm_arch_name(pl_llm_arch a);
/* "llama (also mistral), qwen2, gpt2, gemma3 (GGUF)" */
const char *pl_llm_supported(void);
/* True when path looks like something pl_llm_load takes: a *.gguf file or a directory with config.json. */
bool pl_llm_path_ok(const char *path);

/* ---- for the architecture files and the registry ---- */
struct llm_inputs;
struct pl_hfconfig;
enum { LLM_W_OPTIONAL = 1, LLM_W_HF_TRANSPOSED = 2, LLM_W_F32 = 4, LLM_W_CONST = 8, LLM_W_GGUF_MINUS_ONE = 16 };
/* The weight of a role in layer `layer`, named by the file format's table (io/llm_names.c; NULL when the
 * format has no such weight), checked against ne0 x ne1 (ne1 = 0: a vector). HF_TRANSPOSED: stored (in, out) as GPT-2's Conv1D; a
 * transposed view is returned. F32: converted to an f32 copy if stored otherwise (for pl_mul/pl_add).
 * CONST: not a trainable weight (rope frequency factors). GGUF_MINUS_ONE: a norm that multiplies by (1 + w)
 * (Gemma), whose GGUF files store 1 + w: the tensor holds w, as HF files and PyTorch do (so weight decay
 * pulls it towards 0, as torch's AdamW does).
 * NULL + message if missing (unless OPTIONAL: NULL, no message) or of the wrong shape. */
pl_tensor *llm_weight(pl_llm *m, pl_weight_role role, int layer, int64_t ne0, int64_t ne1, int flags, bool *failed);

typedef struct pl_llm_arch_info {
    const char *name;              /* GGUF general.architecture */
    const char *hf_types[4];       /* config.json model_type values */
    pl_llm_arch arch;
    pl_names_family names;         /* its weights' HF names (io/llm_names.c) */
    /* hyper-parameters from an HF config.json whose keys are not llama's (NULL: llama's) */
    int (*hparams_hf)(pl_llm *m, const struct pl_hfconfig *c);
    int (*load)(pl_llm *m);        /* find and check the weights */
    pl_tensor *(*build)(pl_ctx *ctx, pl_llm *m, const struct llm_inputs *in); /* logits, see llm_inputs */
    /* build's three parts, for training a layer at a time (llm_train.c); NULL: the architecture trains as one graph.
     * embed: ids (and virtual tokens) -> x {C, T, B}; block: layer l, x -> x; head: x {C, N..} -> logits {V, N..} */
    pl_tensor *(*embed)(pl_ctx *ctx, pl_llm *m, const struct llm_inputs *in);
    pl_tensor *(*block)(pl_ctx *ctx, pl_llm *m, int l, const struct llm_inputs *in, pl_tensor *x);
    pl_tensor *(*head)(pl_ctx *ctx, pl_llm *m, pl_tensor *x);
} pl_llm_arch_info;

const pl_llm_arch_info *pl_llm_arch_find(const char *gguf_arch, const char *hf_type);

/* What a builder gets: token ids i32 {T, B} at positions pos i32 {T}. With a cell map (a decode step, B = 1)
 * attention runs over the KV cache of each token's sequence, after storing the step's K and V in it; without
 * (training), among the batch's own tokens, causal per row. rows: which of the T tokens' logits to return
 * (i32, a decode step), NULL for all. The builder returns logits {V, rows or T, B}. */
typedef struct llm_inputs {
    pl_tensor *ids, *pos, *map, *rows;
    pl_tensor *prefix;  /* {C, N, B} input embeddings before the tokens' (prompt tuning), or NULL; pos covers N + T */
} llm_inputs;
/* prompt tuning: in->prefix, the virtual tokens {C, N, B} */
bool llm_prompt_inputs(pl_ctx *ctx, const pl_llm *m, llm_inputs *in);
/* the token embeddings x {C, T, B} with in->prefix before them: {C, N + T, B} */
pl_tensor *llm_with_prefix(pl_ctx *ctx, pl_tensor *x, const llm_inputs *in);

int llm_load_llama(pl_llm *m);
pl_tensor *llm_build_llama(pl_ctx *ctx, pl_llm *m, const llm_inputs *in);
pl_tensor *llm_embed_llama(pl_ctx *ctx, pl_llm *m, const llm_inputs *in);
pl_tensor *llm_block_llama(pl_ctx *ctx, pl_llm *m, int l, const llm_inputs *in, pl_tensor *x);
pl_tensor *llm_head_llama(pl_ctx *ctx, pl_llm *m, pl_tensor *x);
int llm_load_gpt2(pl_llm *m);
int llm_hparams_gpt2(pl_llm *m, const struct pl_hfconfig *c);
pl_tensor *llm_build_gpt2(pl_ctx *ctx, pl_llm *m, const llm_inputs *in);
int llm_load_gemma3(pl_llm *m);
pl_tensor *llm_build_gemma3(pl_ctx *ctx, pl_llm *m, const llm_inputs *in);
pl_tensor *llm_embed_gemma3(pl_ctx *ctx, pl_llm *m, const llm_inputs *in);
pl_tensor *llm_block_gemma3(pl_ctx *ctx, pl_llm *m, int l, const llm_inputs *in, pl_tensor *x);
pl_tensor *llm_head_gemma3(pl_ctx *ctx, pl_llm *m, pl_tensor *x);
/* Shared blocks. Attention of layer l: q {D, Hq, T, B}, k, v {D, Hkv, T, B} (positions applied) ->
 * {D*Hq, T, B}, over the cache (storing k, v first) or among the batch's tokens; window > 0: sliding window. */
pl_tensor *llm_attend(pl_ctx *ctx, pl_llm *m, int l, const llm_inputs *in, pl_tensor *q, pl_tensor *k, pl_tensor *v,
                      float scale, int window);
/* x @ w.T (+ b) for the linear layer of role `role` in layer l, plus every attached LoRA adapter's update there */
pl_tensor *llm_linear(pl_ctx *ctx, const pl_llm *m, int l, pl_weight_role role, pl_tensor *x, pl_tensor *w, pl_tensor *b);
/* the base weight of a LoRA-targetable role (q, k, v, o, gate, up, down) in layer l, or NULL */
pl_tensor *llm_role_weight(const pl_llm *m, int l, pl_weight_role role);
/* A llama GGUF's Q / K rows (head_dim D, interleaved for its NORMAL rope: GGUF row h*D + 2i + k is HF's row
 * h*D + k*D/2 + i) from HF's order (to_hf false) or back to it: rows x cols floats, src -> dst */
void llm_qk_rows(float *dst, const float *src, int64_t rows, int64_t cols, int64_t D, bool to_hf);
/* The rows of x {C, T, B} whose logits are wanted (in->rows), or x. */
pl_tensor *llm_keep_rows(pl_ctx *ctx, pl_tensor *x, const llm_inputs *in);

#endif
