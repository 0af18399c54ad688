/* LoRA (Hu et al. 2021): a frozen linear layer y = W x plus a trainable low-rank update s * B (A x), A (r x in),
 * B (out x r), s = alpha / r (alpha / sqrt(r) with rsLoRA). An adapter holds A and B for chosen linear layers
 * of every block of one base model, in one flat f32 buffer with gradients and AdamW moments beside it; the
 * base may stay quantized (gradients flow through its dequantized rows; it gets none itself). Attached to a
 * model (several at once, each with a user scale), the builders add its update in llm_linear. Saved and loaded
 * in PEFT's format (io/peft.h), so `peft.PeftModel.from_pretrained` reads plinth's adapters and back. */
#ifndef PL_MODELS_LORA_H
#define PL_MODELS_LORA_H

#include "io/peft.h"
#include "models/llm.h"

typedef struct pl_lora {
    pl_peft_config cfg;         /* rank, alpha, targets (roles), base name */
    float scale;                /* alpha / r, or alpha / sqrt(r) */
    int n_layer;
    pl_tensor *(*a)[PL_W_COUNT], *(*b)[PL_W_COUNT]; /* [layer][role]: A {in, r}, B {r, out} (graph order), or NULL */
    /* the base it was made for: refused on another */
    pl_llm_arch arch;
    int n_embd, n_ff, q_dim, kv_dim;
    pl_ctx *ctx;
    int64_t n_floats;
    float *w, *g, *adam_m, *adam_v; /* (n_floats) each */
} pl_lora;

/* A new adapter for m: rank r on the roles in `roles` (bits of pl_weight_role: q, k, v, o, gate, up, down),
 * A ~ U(-1/sqrt(in), 1/sqrt(in)) (PEFT's kaiming-uniform), B = 0, so the model starts as the base.
 * NULL + message for an architecture without LoRA support or a rank larger than a targeted layer. */
pl_lora *pl_lora_new(const pl_llm *m, int rank, float alpha, bool rslora, unsigned roles, uint64_t seed);
/* A PEFT adapter directory (adapter_config.json + adapter_model.safetensors), or a llama.cpp LoRA GGUF (a path
 * ending in .gguf), for base m. NULL + message: unsupported settings, a missing tensor, or shapes or an
 * architecture of another base (the reason named). */
pl_lora *pl_lora_load(const pl_llm *m, const char *dir);
/* Save in PEFT's format into dir (created if needed), for base m; base_name goes into the config. */
int pl_lora_save(const pl_lora *l, const pl_llm *m, const char *dir, const char *base_name);
/* Save as a llama.cpp LoRA GGUF (general.type adapter; "<weight>.lora_a" / ".lora_b" in f32) for base m;
 * llama.cpp's --lora and plinth's --lora load it. base_name (or NULL) goes into general.base_model.0.name. */
int pl_lora_save_gguf(const pl_lora *l, const pl_llm *m, const char *path, const char *base_name);
void pl_lora_free(pl_lora *l);
/* Apply l to m's forward passes, its update times user_scale (1: as trained); NULL detaches all. At most
 * PL_LLM_MAX_LORA at once. The adapter must outlive its use. */
int pl_llm_add_lora(pl_llm *m, const pl_lora *l, float user_scale);
/* Bake l into m's weights: W += scale * s * B A for every adapted layer (m trainable: f32 parameters) */
int pl_lora_merge_into(pl_llm *m, const pl_lora *l, float scale);
/* trainable parameters of l (for an optimizer over l->w, l->g) */
static inline int64_t pl_lora_n_params(const pl_lora *l) { return l ? l->n_floats : 0; }

#endif
