/* The tensor-name tables of decoder LMs, one per file format (llm_names.h). */
#include "io/llm_names.h"

#include <stddef.h>

static const char *const k_gguf[PL_W_COUNT] = {
    [PL_W_TOK_EMBD] = "token_embd.weight", [PL_W_POS_EMBD] = "position_embd.weight",
    [PL_W_OUT_NORM] = "output_norm.weight", [PL_W_OUT_NORM_B] = "output_norm.bias", [PL_W_OUTPUT] = "output.weight",
    [PL_W_ROPE_FREQS] = "rope_freqs.weight",
    [PL_W_ATTN_NORM] = "blk.%d.attn_norm.weight", [PL_W_ATTN_NORM_B] = "blk.%d.attn_norm.bias",
    [PL_W_Q] = "blk.%d.attn_q.weight", [PL_W_K] = "blk.%d.attn_k.weight", [PL_W_V] = "blk.%d.attn_v.weight",
    [PL_W_Q_B] = "blk.%d.attn_q.bias", [PL_W_K_B] = "blk.%d.attn_k.bias", [PL_W_V_B] = "blk.%d.attn_v.bias",
    [PL_W_QKV] = "blk.%d.attn_qkv.weight", [PL_W_QKV_B] = "blk.%d.attn_qkv.bias",
    [PL_W_O] = "blk.%d.attn_output.weight", [PL_W_O_B] = "blk.%d.attn_output.bias",
    [PL_W_Q_NORM] = "blk.%d.attn_q_norm.weight", [PL_W_K_NORM] = "blk.%d.attn_k_norm.weight",
    [PL_W_ATTN_POST_NORM] = "blk.%d.post_attention_norm.weight",
    [PL_W_FFN_NORM] = "blk.%d.ffn_norm.weight", [PL_W_FFN_NORM_B] = "blk.%d.ffn_norm.bias",
    [PL_W_GATE] = "blk.%d.ffn_gate.weight", [PL_W_UP] = "blk.%d.ffn_up.weight", [PL_W_UP_B] = "blk.%d.ffn_up.bias",
    [PL_W_DOWN] = "blk.%d.ffn_down.weight", [PL_W_DOWN_B] = "blk.%d.ffn_down.bias",
    [PL_W_FFN_POST_NORM] = "blk.%d.post_ffw_norm.weight",
};

#define L "model.layers.%d."
static const char *const k_hf[PL_NAMES_COUNT][PL_W_COUNT] = {
    [PL_NAMES_LLAMA] = {
        [PL_W_TOK_EMBD] = "model.embed_tokens.weight", [PL_W_OUT_NORM] = "model.norm.weight", [PL_W_OUTPUT] = "lm_head.weight",
        [PL_W_ATTN_NORM] = L "input_layernorm.weight",
        [PL_W_Q] = L "self_attn.q_proj.weight", [PL_W_K] = L "self_attn.k_proj.weight", [PL_W_V] = L "self_attn.v_proj.weight",
        [PL_W_Q_B] = L "self_attn.q_proj.bias", [PL_W_K_B] = L "self_attn.k_proj.bias", [PL_W_V_B] = L "self_attn.v_proj.bias",
        [PL_W_O] = L "self_attn.o_proj.weight", [PL_W_FFN_NORM] = L "post_attention_layernorm.weight",
        [PL_W_GATE] = L "mlp.gate_proj.weight", [PL_W_UP] = L "mlp.up_proj.weight", [PL_W_DOWN] = L "mlp.down_proj.weight",
    },
    [PL_NAMES_GEMMA3] = {
        [PL_W_TOK_EMBD] = "model.embed_tokens.weight", [PL_W_OUT_NORM] = "model.norm.weight", [PL_W_OUTPUT] = "lm_head.weight",
        [PL_W_ATTN_NORM] = L "input_layernorm.weight",
        [PL_W_Q] = L "self_attn.q_proj.weight", [PL_W_K] = L "self_attn.k_proj.weight", [PL_W_V] = L "self_attn.v_proj.weight",
        [PL_W_Q_NORM] = L "self_attn.q_norm.weight", [PL_W_K_NORM] = L "self_attn.k_norm.weight",
        [PL_W_O] = L "self_attn.o_proj.weight", [PL_W_ATTN_POST_NORM] = L "post_attention_layernorm.weight",
        [PL_W_FFN_NORM] = L "pre_feedforward_layernorm.weight", [PL_W_FFN_POST_NORM] = L "post_feedforward_layernorm.weight",
        [PL_W_GATE] = L "mlp.gate_proj.weight", [PL_W_UP] = L "mlp.up_proj.weight", [PL_W_DOWN] = L "mlp.down_proj.weight",
    },
    /* GPT2LMHeadModel's; a bare GPT2Model checkpoint's lack the "transformer." (the loader tries both) */
    [PL_NAMES_GPT2] = {
        [PL_W_TOK_EMBD] = "transformer.wte.weight", [PL_W_POS_EMBD] = "transformer.wpe.weight",
        [PL_W_OUT_NORM] = "transformer.ln_f.weight", [PL_W_OUT_NORM_B] = "transformer.ln_f.bias",
        [PL_W_ATTN_NORM] = "transformer.h.%d.ln_1.weight", [PL_W_ATTN_NORM_B] = "transformer.h.%d.ln_1.bias",
        [PL_W_QKV] = "transformer.h.%d.attn.c_attn.weight", [PL_W_QKV_B] = "transformer.h.%d.attn.c_attn.bias",
        [PL_W_O] = "transformer.h.%d.attn.c_proj.weight", [PL_W_O_B] = "transformer.h.%d.attn.c_proj.bias",
        [PL_W_FFN_NORM] = "transformer.h.%d.ln_2.weight", [PL_W_FFN_NORM_B] = "transformer.h.%d.ln_2.bias",
        [PL_W_UP] = "transformer.h.%d.mlp.c_fc.weight", [PL_W_UP_B] = "transformer.h.%d.mlp.c_fc.bias",
        [PL_W_DOWN] = "transformer.h.%d.mlp.c_proj.weight", [PL_W_DOWN_B] = "transformer.h.%d.mlp.c_proj.bias",
    },
};
#undef L

const char *pl_weight_name_gguf(pl_weight_role r) { return r >= 0 && r < PL_W_COUNT ? k_gguf[r] : NULL; }
const char *pl_weight_name_hf(pl_names_family f, pl_weight_role r) {
    return f >= 0 && f < PL_NAMES_COUNT && r >= 0 && r < PL_W_COUNT ? k_hf[f][r] : NULL;
}
