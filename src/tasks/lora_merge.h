/* `plinth lora merge`: a base model with a LoRA adapter baked into its weights, written as a Hugging Face model
 * directory (f32 safetensors, config, tokenizer) that every plinth command and transformers load without the
 * adapter. The base may be a GGUF (quantized weights are dequantized; a llama GGUF's Q/K rows go back to HF's
 * order) or a HF directory. */
#ifndef PL_TASKS_LORA_MERGE_H
#define PL_TASKS_LORA_MERGE_H

#include "plinth.h"

/* adapter: a PEFT directory or a finetune output, "DIR" or "DIR:SCALE". PL_OK or an error with a message. */
int pl_lora_merge_model(const char *base, const char *adapter, const char *out_dir);

#endif
