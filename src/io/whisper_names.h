/* Whisper's weights by role, and their names in the two layouts plinth reads: Hugging Face
 * (WhisperForConditionalGeneration safetensors) and CTranslate2 model.bin (faster-whisper's), where the
 * projections of self-attention are one fused q|k|v matrix and those of cross-attention q and one fused k|v:
 * a role there is part `part` of `parts` equal row blocks. models/whisper.c asks by role only. */
#ifndef PL_IO_WHISPER_NAMES_H
#define PL_IO_WHISPER_NAMES_H

typedef enum {
    /* whole model */
    WH_CONV1_W, WH_CONV1_B, WH_CONV2_W, WH_CONV2_B, WH_ENC_POS, WH_ENC_LN_W, WH_ENC_LN_B,
    WH_TOK, WH_DEC_POS, WH_DEC_LN_W, WH_DEC_LN_B,
    /* encoder layer %d */
    WH_E_LN1_W, WH_E_LN1_B, WH_E_Q_W, WH_E_Q_B, WH_E_K_W, WH_E_V_W, WH_E_V_B, WH_E_O_W, WH_E_O_B,
    WH_E_LN2_W, WH_E_LN2_B, WH_E_FC1_W, WH_E_FC1_B, WH_E_FC2_W, WH_E_FC2_B,
    /* decoder layer %d: self-attention, cross-attention (X), MLP */
    WH_D_LN1_W, WH_D_LN1_B, WH_D_Q_W, WH_D_Q_B, WH_D_K_W, WH_D_V_W, WH_D_V_B, WH_D_O_W, WH_D_O_B,
    WH_D_LNX_W, WH_D_LNX_B, WH_D_XQ_W, WH_D_XQ_B, WH_D_XK_W, WH_D_XV_W, WH_D_XV_B, WH_D_XO_W, WH_D_XO_B,
    WH_D_LN2_W, WH_D_LN2_B, WH_D_FC1_W, WH_D_FC1_B, WH_D_FC2_W, WH_D_FC2_B,
    WH_ROLE_COUNT
} pl_whisper_role;

typedef struct {
    const char *hf;   /* printf format with the layer's %d where per layer */
    const char *ct2;
    int part, parts;  /* CT2: rows [part, part+1) * n/parts of the named tensor (fused projections) */
} pl_whisper_name;

const pl_whisper_name *pl_whisper_name_of(pl_whisper_role role);

#endif
