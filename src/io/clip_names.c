/* The tensor names of CLIPModel and SiglipModel checkpoints (clip_names.h). */
#include "io/clip_names.h"

#define L "%s.encoder.layers.%d."
static const char *const k_hf[PL_CL_COUNT] = {
    [PL_CL_POS] = "%s.embeddings.position_embedding.weight",
    [PL_CL_POST_NORM] = "%s.post_layernorm.weight", [PL_CL_POST_NORM_B] = "%s.post_layernorm.bias",
    [PL_CL_NORM1] = L "layer_norm1.weight", [PL_CL_NORM1_B] = L "layer_norm1.bias",
    [PL_CL_Q] = L "self_attn.q_proj.weight", [PL_CL_Q_B] = L "self_attn.q_proj.bias",
    [PL_CL_K] = L "self_attn.k_proj.weight", [PL_CL_K_B] = L "self_attn.k_proj.bias",
    [PL_CL_V] = L "self_attn.v_proj.weight", [PL_CL_V_B] = L "self_attn.v_proj.bias",
    [PL_CL_O] = L "self_attn.out_proj.weight", [PL_CL_O_B] = L "self_attn.out_proj.bias",
    [PL_CL_NORM2] = L "layer_norm2.weight", [PL_CL_NORM2_B] = L "layer_norm2.bias",
    [PL_CL_UP] = L "mlp.fc1.weight", [PL_CL_UP_B] = L "mlp.fc1.bias",
    [PL_CL_DOWN] = L "mlp.fc2.weight", [PL_CL_DOWN_B] = L "mlp.fc2.bias",
    [PL_CL_PATCH] = "%s.embeddings.patch_embedding.weight", [PL_CL_PATCH_B] = "%s.embeddings.patch_embedding.bias",
    [PL_CL_CLASS] = "%s.embeddings.class_embedding",
    [PL_CL_PRE_NORM] = "%s.pre_layrnorm.weight", [PL_CL_PRE_NORM_B] = "%s.pre_layrnorm.bias", /* sic */
    [PL_CL_PROBE] = "%s.head.probe",
    [PL_CL_HEAD_IN] = "%s.head.attention.in_proj_weight", [PL_CL_HEAD_IN_B] = "%s.head.attention.in_proj_bias",
    [PL_CL_HEAD_OUT] = "%s.head.attention.out_proj.weight", [PL_CL_HEAD_OUT_B] = "%s.head.attention.out_proj.bias",
    [PL_CL_HEAD_NORM] = "%s.head.layernorm.weight", [PL_CL_HEAD_NORM_B] = "%s.head.layernorm.bias",
    [PL_CL_HEAD_UP] = "%s.head.mlp.fc1.weight", [PL_CL_HEAD_UP_B] = "%s.head.mlp.fc1.bias",
    [PL_CL_HEAD_DOWN] = "%s.head.mlp.fc2.weight", [PL_CL_HEAD_DOWN_B] = "%s.head.mlp.fc2.bias",
    [PL_CL_TOK] = "%s.embeddings.token_embedding.weight",
    [PL_CL_FINAL_NORM] = "%s.final_layer_norm.weight", [PL_CL_FINAL_NORM_B] = "%s.final_layer_norm.bias",
    [PL_CL_TEXT_HEAD] = "%s.head.weight", [PL_CL_TEXT_HEAD_B] = "%s.head.bias",
    [PL_CL_VISUAL_PROJ] = "visual_projection.weight", [PL_CL_TEXT_PROJ] = "text_projection.weight",
    [PL_CL_LOGIT_SCALE] = "logit_scale", [PL_CL_LOGIT_BIAS] = "logit_bias",
};
#undef L

const char *pl_clip_name_hf(pl_clip_role r) { return r >= 0 && r < PL_CL_COUNT ? k_hf[r] : 0; }
