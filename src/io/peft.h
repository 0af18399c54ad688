/* PEFT's LoRA adapter format (adapter_config.json + adapter_model.safetensors), as `peft` writes and reads it:
 * the config's fields plinth uses, what it refuses (DoRA, per-layer rank or alpha patterns, trained biases,
 * fan-in-fan-out weights), and the tensor names: the base weight's Hugging Face name with "base_model.model."
 * before it and ".lora_A.weight" / ".lora_B.weight" for its ".weight". models/lora.c builds on it. */
#ifndef PL_IO_PEFT_H
#define PL_IO_PEFT_H

#include "io/llm_names.h"
#include <stdbool.h>
#include <stddef.h>

/* the linear layers LoRA can target, by their module names in Llama-family checkpoints */
#define PL_LORA_ROLES_N 7
extern const pl_weight_role pl_lora_roles[PL_LORA_ROLES_N];  /* PL_W_Q, K, V, O, GATE, UP, DOWN */
extern const char *const pl_lora_modules[PL_LORA_ROLES_N];   /* "q_proj", ... "down_proj" */
/* the role of a module name ("q_proj"; also the short forms q, k, v, o, gate, up, down), or -1 */
int pl_lora_role_of(const char *module);

typedef struct {
    int r;
    float alpha;
    bool rslora;              /* scale alpha / sqrt(r) instead of alpha / r */
    float dropout;
    unsigned roles;           /* bit per pl_weight_role targeted */
    char base[512];           /* base_model_name_or_path ("" when absent) */
} pl_peft_config;

/* Read dir/adapter_config.json. PL_OK, or a negative status + message naming the unsupported field. */
int pl_peft_config_read(const char *dir, pl_peft_config *c);
/* Write dir/adapter_config.json (atomically), in the form `peft` writes. */
int pl_peft_config_write(const char *dir, const pl_peft_config *c);
/* PEFT's prompt tuning (peft_type PROMPT_TUNING): n_virtual learned input embeddings of width token_dim, in
 * adapter_model.safetensors as "prompt_embeddings" (n_virtual x token_dim) */
typedef struct {
    int n_virtual, token_dim;
    char init_text[1024];     /* prompt_tuning_init_text ("" when random) */
    char base[512];
} pl_peft_prompt_config;
int pl_peft_prompt_config_read(const char *dir, pl_peft_prompt_config *c);
int pl_peft_prompt_config_write(const char *dir, const pl_peft_prompt_config *c);

/* "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight" into buf (which = 'A' or 'B'); false if the
 * family has no such weight or buf is too small */
bool pl_peft_tensor_name(char *buf, size_t cap, pl_names_family f, pl_weight_role role, int layer, char which);

#endif
