/* The tables of architectures: the decoders pl_llm_load knows (GGUF general.architecture and HF model_type names
 * -> its HF naming family, the file that reads its hyper-parameters, finds its weights and builds its graph) and
 * the encoders pl_encoder_load knows, and the image-text models pl_clip_load knows. Adding an architecture = its
 * file in models/ and one row here (and its names in io/llm_names.c, io/encoder_names.c or io/clip_names.c if new). */
#include "models/clip.h"
#include "models/encoder.h"
#include "models/llm.h"

#include <string.h>

static const pl_llm_arch_info k_archs[] = {
    {"llama", {"llama", "mistral", NULL}, PL_LLM_LLAMA, PL_NAMES_LLAMA, NULL, llm_load_llama, llm_build_llama,
     llm_embed_llama, llm_block_llama, llm_head_llama},
    {"qwen2", {"qwen2", NULL}, PL_LLM_QWEN2, PL_NAMES_LLAMA, NULL, llm_load_llama, llm_build_llama,
     llm_embed_llama, llm_block_llama, llm_head_llama},
    {"gpt2", {"gpt2", NULL}, PL_LLM_GPT2, PL_NAMES_GPT2, llm_hparams_gpt2, llm_load_gpt2, llm_build_gpt2},
    {"gemma3", {"gemma3_text", NULL}, PL_LLM_GEMMA3, PL_NAMES_GEMMA3, NULL, llm_load_gemma3, llm_build_gemma3,
     llm_embed_gemma3, llm_block_gemma3, llm_head_gemma3},
};

const pl_llm_arch_info *pl_llm_arch_find(const char *gguf_arch, const char *hf_type) {
    for (size_t i = 0; i < PL_ARRAY_LEN(k_archs); i++) {
        if (gguf_arch && !strcmp(gguf_arch, k_archs[i].name)) return &k_archs[i];
        for (int j = 0; hf_type && j < 4 && k_archs[i].hf_types[j]; j++)
            if (!strcmp(hf_type, k_archs[i].hf_types[j])) return &k_archs[i];
    }
    return NULL;
}

const char *pl_llm_supported(void) { return "llama (also mistral), qwen2, gpt2, gemma3"; }

const char *pl_llm_arch_name(pl_llm_arch a) {
    for (size_t i = 0; i < PL_ARRAY_LEN(k_archs); i++)
        if (k_archs[i].arch == a) return k_archs[i].name;
    return "?";
}

/* ---- encoders (models/encoder.h): config.json model_type -> the file that finds its weights and builds it */
static const pl_encoder_arch_info k_encoders[] = {
    {"bert", {"bert", NULL}, encoder_load_bert, encoder_build_bert},
};

const pl_encoder_arch_info *pl_encoder_arch_find(const char *hf_type) {
    for (size_t i = 0; hf_type && i < PL_ARRAY_LEN(k_encoders); i++)
        for (int j = 0; j < 4 && k_encoders[i].hf_types[j]; j++)
            if (!strcmp(hf_type, k_encoders[i].hf_types[j])) return &k_encoders[i];
    return NULL;
}

const char *pl_encoder_supported(void) { return "bert (BERT, MiniLM, BGE, E5, GTE checkpoints)"; }

/* ---- image-text dual encoders (models/clip.h): config.json model_type -> how each tower is pooled */
static const pl_dual_arch_info k_duals[] = {
    {"clip", {"clip", NULL}, PL_DUAL_CLIP, clip_pool_image, clip_pool_text},
    {"siglip", {"siglip", NULL}, PL_DUAL_SIGLIP, siglip_pool_image, siglip_pool_text},
};

const pl_dual_arch_info *pl_dual_arch_find(const char *hf_type) {
    for (size_t i = 0; hf_type && i < PL_ARRAY_LEN(k_duals); i++)
        for (int j = 0; j < 4 && k_duals[i].hf_types[j]; j++)
            if (!strcmp(hf_type, k_duals[i].hf_types[j])) return &k_duals[i];
    return NULL;
}
