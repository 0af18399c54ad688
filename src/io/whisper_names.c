/* The table of Whisper weight names (see whisper_names.h). HF names from transformers' modeling_whisper.py,
 * CTranslate2 names from its specs (whisper_spec.py, transformer_spec.py, common_spec.py): LayerNorm weight and
 * bias are gamma and beta; a linear layer is linear_N/{weight,bias}. */
#include "io/whisper_names.h"

#define HE "model.encoder.layers.%d."
#define HD "model.decoder.layers.%d."
#define CE "encoder/layer_%d/"
#define CD "decoder/layer_%d/"

static const pl_whisper_name k_names[WH_ROLE_COUNT] = {
    [WH_CONV1_W] = {"model.encoder.conv1.weight", "encoder/conv1/weight", 0, 1},
    [WH_CONV1_B] = {"model.encoder.conv1.bias", "encoder/conv1/bias", 0, 1},
    [WH_CONV2_W] = {"model.encoder.conv2.weight", "encoder/conv2/weight", 0, 1},
    [WH_CONV2_B] = {"model.encoder.conv2.bias", "encoder/conv2/bias", 0, 1},
    [WH_ENC_POS] = {"model.encoder.embed_positions.weight", "encoder/position_encodings/encodings", 0, 1},
    [WH_ENC_LN_W] = {"model.encoder.layer_norm.weight", "encoder/layer_norm/gamma", 0, 1},
    [WH_ENC_LN_B] = {"model.encoder.layer_norm.bias", "encoder/layer_norm/beta", 0, 1},
    [WH_TOK] = {"model.decoder.embed_tokens.weight", "decoder/embeddings/weight", 0, 1},
    [WH_DEC_POS] = {"model.decoder.embed_positions.weight", "decoder/position_encodings/encodings", 0, 1},
    [WH_DEC_LN_W] = {"model.decoder.layer_norm.weight", "decoder/layer_norm/gamma", 0, 1},
    [WH_DEC_LN_B] = {"model.decoder.layer_norm.bias", "decoder/layer_norm/beta", 0, 1},

    [WH_E_LN1_W] = {HE "self_attn_layer_norm.weight", CE "self_attention/layer_norm/gamma", 0, 1},
    [WH_E_LN1_B] = {HE "self_attn_layer_norm.bias", CE "self_attention/layer_norm/beta", 0, 1},
    [WH_E_Q_W] = {HE "self_attn.q_proj.weight", CE "self_attention/linear_0/weight", 0, 3},
    [WH_E_Q_B] = {HE "self_attn.q_proj.bias", CE "self_attention/linear_0/bias", 0, 3},
    [WH_E_K_W] = {HE "self_attn.k_proj.weight", CE "self_attention/linear_0/weight", 1, 3},
    [WH_E_V_W] = {HE "self_attn.v_proj.weight", CE "self_attention/linear_0/weight", 2, 3},
    [WH_E_V_B] = {HE "self_attn.v_proj.bias", CE "self_attention/linear_0/bias", 2, 3},
    [WH_E_O_W] = {HE "self_attn.out_proj.weight", CE "self_attention/linear_1/weight", 0, 1},
    [WH_E_O_B] = {HE "self_attn.out_proj.bias", CE "self_attention/linear_1/bias", 0, 1},
    [WH_E_LN2_W] = {HE "final_layer_norm.weight", CE "ffn/layer_norm/gamma", 0, 1},
    [WH_E_LN2_B] = {HE "final_layer_norm.bias", CE "ffn/layer_norm/beta", 0, 1},
    [WH_E_FC1_W] = {HE "fc1.weight", CE "ffn/linear_0/weight", 0, 1},
    [WH_E_FC1_B] = {HE "fc1.bias", CE "ffn/linear_0/bias", 0, 1},
    [WH_E_FC2_W] = {HE "fc2.weight", CE "ffn/linear_1/weight", 0, 1},
    [WH_E_FC2_B] = {HE "fc2.bias", CE "ffn/linear_1/bias", 0, 1},

    [WH_D_LN1_W] = {HD "self_attn_layer_norm.weight", CD "self_attention/layer_norm/gamma", 0, 1},
    [WH_D_LN1_B] = {HD "self_attn_layer_norm.bias", CD "self_attention/layer_norm/beta", 0, 1},
    [WH_D_Q_W] = {HD "self_attn.q_proj.weight", CD "self_attention/linear_0/weight", 0, 3},
    [WH_D_Q_B] = {HD "self_attn.q_proj.bias", CD "self_attention/linear_0/bias", 0, 3},
    [WH_D_K_W] = {HD "self_attn.k_proj.weight", CD "self_attention/linear_0/weight", 1, 3},
    [WH_D_V_W] = {HD "self_attn.v_proj.weight", CD "self_attention/linear_0/weight", 2, 3},
    [WH_D_V_B] = {HD "self_attn.v_proj.bias", CD "self_attention/linear_0/bias", 2, 3},
    [WH_D_O_W] = {HD "self_attn.out_proj.weight", CD "self_attention/linear_1/weight", 0, 1},
    [WH_D_O_B] = {HD "self_attn.out_proj.bias", CD "self_attention/linear_1/bias", 0, 1},
    [WH_D_LNX_W] = {HD "encoder_attn_layer_norm.weight", CD "attention/layer_norm/gamma", 0, 1},
    [WH_D_LNX_B] = {HD "encoder_attn_layer_norm.bias", CD "attention/layer_norm/beta", 0, 1},
    [WH_D_XQ_W] = {HD "encoder_attn.q_proj.weight", CD "attention/linear_0/weight", 0, 1},
    [WH_D_XQ_B] = {HD "encoder_attn.q_proj.bias", CD "attention/linear_0/bias", 0, 1},
    [WH_D_XK_W] = {HD "encoder_attn.k_proj.weight", CD "attention/linear_1/weight", 0, 2},
    [WH_D_XV_W] = {HD "encoder_attn.v_proj.weight", CD "attention/linear_1/weight", 1, 2},
    [WH_D_XV_B] = {HD "encoder_attn.v_proj.bias", CD "attention/linear_1/bias", 1, 2},
    [WH_D_XO_W] = {HD "encoder_attn.out_proj.weight", CD "attention/linear_2/weight", 0, 1},
    [WH_D_XO_B] = {HD "encoder_attn.out_proj.bias", CD "attention/linear_2/bias", 0, 1},
    [WH_D_LN2_W] = {HD "final_layer_norm.weight", CD "ffn/layer_norm/gamma", 0, 1},
    [WH_D_LN2_B] = {HD "final_layer_norm.bias", CD "ffn/layer_norm/beta", 0, 1},
    [WH_D_FC1_W] = {HD "fc1.weight", CD "ffn/linear_0/weight", 0, 1},
    [WH_D_FC1_B] = {HD "fc1.bias", CD "ffn/linear_0/bias", 0, 1},
    [WH_D_FC2_W] = {HD "fc2.weight", CD "ffn/linear_1/weight", 0, 1},
    [WH_D_FC2_B] = {HD "fc2.bias", CD "ffn/linear_1/bias", 0, 1},
};

const pl_whisper_name *pl_whisper_name_of(pl_whisper_role role) {
    return role >= 0 && role < WH_ROLE_COUNT ? &k_names[role] : 0;
}
