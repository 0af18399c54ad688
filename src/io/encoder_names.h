/* The weights of a BERT-family encoder by role, and their names in Hugging Face checkpoints (BertModel's;
 * a BertFor* checkpoint prefixes them with "bert.", which the loader also tries). The loader in
 * src/models/encoder.c asks for a role and a shape; the names live only here. Sits in io/ beside llm_names. */
#ifndef PL_IO_ENCODER_NAMES_H
#define PL_IO_ENCODER_NAMES_H

typedef enum {
    PL_E_TOK_EMBD, PL_E_POS_EMBD, PL_E_TYPE_EMBD, PL_E_EMBD_NORM, PL_E_EMBD_NORM_B,
    PL_E_Q, PL_E_Q_B, PL_E_K, PL_E_K_B, PL_E_V, PL_E_V_B, PL_E_O, PL_E_O_B, PL_E_ATTN_NORM, PL_E_ATTN_NORM_B,
    PL_E_UP, PL_E_UP_B, PL_E_DOWN, PL_E_DOWN_B, PL_E_FFN_NORM, PL_E_FFN_NORM_B,
    PL_E_COUNT
} pl_encoder_role;

/* printf format (%d: the layer) of a role's tensor in a BertModel checkpoint */
const char *pl_encoder_name_hf(pl_encoder_role r);

#endif
