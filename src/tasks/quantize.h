/* Quantize a GGUF model into another GGUF file of a chosen type, with llama.cpp's type mixtures (Q4_K_M, Q5_K_M:
 * output/attn_v/ffn_down layers get Q6_K; the output tensor gets Q6_K in every quantized type) and its fallbacks
 * for rows that do not divide into blocks. Input tensors of any readable type (f32/f16/bf16 or quantized) are
 * decoded to f32 first. Written atomically (tmp + rename). The task behind `plinth quantize`; see docs/quantize.md. */
#ifndef PL_TASKS_QUANTIZE_H
#define PL_TASKS_QUANTIZE_H

#include "plinth.h"
#include <stdbool.h>
#include <stdint.h>

/* A target: "Q4_K_M" etc. base = the type most tensors get; ftype = llama.cpp's general.file_type value. */
typedef struct {
    const char *name;
    pl_dtype base;
    int ftype;
    int mix;          /* 0 none, 1 Q4_K_M, 2 Q5_K_M */
} pl_quant_target;

/* The target named (case-insensitive), or NULL + a message listing the choices. */
const pl_quant_target *pl_quant_target_find(const char *name);
const char *pl_quant_target_list(void);        /* "Q8_0, Q4_0, ..." */
/* The name of a general.file_type value ("Q4_K_M"), or NULL if it is not one of the targets. */
const char *pl_quant_ftype_name(int ftype);

typedef struct {
    int n_threads;    /* 0: physical cores */
    /* called before each tensor (i of n) with the chosen type; NULL: silent */
    void (*on_tensor)(int i, int n, const char *name, pl_dtype from, pl_dtype to, void *ud);
    /* called with a one-line note (a fallback type, a requantized tensor); NULL: silent */
    void (*on_note)(const char *msg, void *ud);
    void *ud;
    /* importance weights per column (tasks/imatrix.h) for the quantized types' scale searches; NULL: none.
     * Tensors without an entry are quantized unweighted, with a note. */
    const struct pl_imatrix *imatrix;
} pl_quant_opts;

typedef struct {
    int n_tensors;
    int n_by_type[64];        /* tensors written per pl_dtype */
    int n_fallback;           /* tensors whose row length forced another type */
    int n_requantized;        /* tensors decoded from a quantized type */
    int n_imatrix;            /* tensors quantized with importance weights */
    uint64_t bytes_in, bytes_out;   /* tensor data */
    uint64_t n_elements;      /* weights in all tensors */
    double seconds;
} pl_quant_stats;

/* Which type tensor `name` (ne[0] = row length, n_dims) gets under target t: the mixture rules, then the
 * block-size fallback (*wanted: the type the rules chose when a fallback replaced it, else -1). i_attn_v / n_attn_v: this attn_v's index and the count
 * (for the "more bits" layers); n_layer; has_output: the file has output.weight (else token_embd is the head).
 * Returns -1 for tensors that are not quantized (kept as they are). */
int pl_quant_tensor_type(const pl_quant_target *t, const char *name, int n_dims, int64_t ne0, int i_attn_v,
                         int n_attn_v, int n_layer, bool has_output, int *wanted);

/* Quantize GGUF file `in` to `out`. PL_OK or a negative status + message; nothing is left under `out` on failure. */
int pl_quantize_file(const char *in, const char *out, const pl_quant_target *t, const pl_quant_opts *o,
                     pl_quant_stats *stats);

#endif
