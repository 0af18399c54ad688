/* The weights of a decoder language model by role, and their names in each file format: GGUF's (llama.cpp's
 * names, the same for every architecture) and Hugging Face's (per family of checkpoints). The loaders in
 * src/models/ ask for a role and a shape; the names live only here. Sits in io/ beside the file readers. */
#ifndef PL_IO_LLM_NAMES_H
#define PL_IO_LLM_NAMES_H

typedef enum {
    PL_W_TOK_EMBD, PL_W_POS_EMBD, PL_W_OUT_NORM, PL_W_OUT_NORM_B, PL_W_OUTPUT, PL_W_ROPE_FREQS,
    PL_W_ATTN_NORM, PL_W_ATTN_NORM_B, PL_W_Q, PL_W_K, PL_W_V, PL_W_Q_B, PL_W_K_B, PL_W_V_B, PL_W_QKV, PL_W_QKV_B,
    PL_W_O, PL_W_O_B, PL_W_Q_NORM, PL_W_K_NORM, PL_W_ATTN_POST_NORM,
    PL_W_FFN_NORM, PL_W_FFN_NORM_B, PL_W_GATE, PL_W_UP, PL_W_UP_B, PL_W_DOWN, PL_W_DOWN_B, PL_W_FFN_POST_NORM,
    PL_W_COUNT
} pl_weight_role;

/* Hugging Face naming families: LlamaForCausalLM (and Mistral, Qwen2), Gemma3ForCausalLM, GPT2LMHeadModel */
typedef enum { PL_NAMES_LLAMA, PL_NAMES_GEMMA3, PL_NAMES_GPT2, PL_NAMES_COUNT } pl_names_family;

/* printf formats (%d: the layer) or NULL where the format has no such weight */
const char *pl_weight_name_gguf(pl_weight_role r);
const char *pl_weight_name_hf(pl_names_family f, pl_weight_role r);

#endif
