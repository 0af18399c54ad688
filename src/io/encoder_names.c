/* The tensor names of BERT-family encoders in Hugging Face checkpoints (encoder_names.h). */
#include "io/encoder_names.h"

#define L "encoder.layer.%d."
static const char *const k_hf[PL_E_COUNT] = {
    [PL_E_TOK_EMBD] = "embeddings.word_embeddings.weight", [PL_E_POS_EMBD] = "embeddings.position_embeddings.weight",
    [PL_E_TYPE_EMBD] = "embeddings.token_type_embeddings.weight",
    [PL_E_EMBD_NORM] = "embeddings.LayerNorm.weight", [PL_E_EMBD_NORM_B] = "embeddings.LayerNorm.bias",
    [PL_E_Q] = L "attention.self.query.weight", [PL_E_Q_B] = L "attention.self.query.bias",
    [PL_E_K] = L "attention.self.key.weight", [PL_E_K_B] = L "attention.self.key.bias",
    [PL_E_V] = L "attention.self.value.weight", [PL_E_V_B] = L "attention.self.value.bias",
    [PL_E_O] = L "attention.output.dense.weight", [PL_E_O_B] = L "attention.output.dense.bias",
    [PL_E_ATTN_NORM] = L "attention.output.LayerNorm.weight", [PL_E_ATTN_NORM_B] = L "attention.output.LayerNorm.bias",
    [PL_E_UP] = L "intermediate.dense.weight", [PL_E_UP_B] = L "intermediate.dense.bias",
    [PL_E_DOWN] = L "output.dense.weight", [PL_E_DOWN_B] = L "output.dense.bias",
    [PL_E_FFN_NORM] = L "output.LayerNorm.weight", [PL_E_FFN_NORM_B] = L "output.LayerNorm.bias",
};
#undef L

const char *pl_encoder_name_hf(pl_encoder_role r) { return r >= 0 && r < PL_E_COUNT ? k_hf[r] : 0; }
