/* `plinth lora export`: a LoRA adapter (PEFT directory or finetune output) written as a llama.cpp LoRA GGUF for
 * its base, which `llama-cli --lora` and plinth's --lora load. */
#ifndef PL_TASKS_LORA_EXPORT_H
#define PL_TASKS_LORA_EXPORT_H

#include "plinth.h"

/* adapter: "DIR" or "DIR:SCALE" (the scale folds into adapter.lora.alpha). PL_OK or an error with a message. */
int pl_lora_export_gguf(const char *base, const char *adapter, const char *out_path);

#endif
