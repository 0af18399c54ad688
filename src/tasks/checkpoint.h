/* A training run's checkpoints, shared by `plinth train` and `plinth finetune`: out_dir/checkpoint-STEP/ is a
 * Hugging Face model directory (models/llm_save.c: config.json, model.safetensors, generation_config.json; the
 * tokenizer's files) that every plinth command and transformers load, plus optimizer.safetensors (the AdamW
 * moments) for --resume. It is written as checkpoint-STEP.tmp and renamed, so a kill never leaves half a
 * checkpoint under a real name; then out_dir/state.json names it, and the previous one is deleted. */
#ifndef PL_TASKS_CHECKPOINT_H
#define PL_TASKS_CHECKPOINT_H

#include "models/llm.h"
#include "plinth.h"

#include <cjson/cJSON.h>

/* tok NULL: the byte vocabulary (a byte-level tokenizer.json, token id = byte). state: what state.json holds
 * besides "step" and "checkpoint" (added here); not freed. */
int pl_ckpt_save(const char *out_dir, int64_t step, const pl_llm *m, const pl_tokenizer *tok, cJSON *state);
/* The same with what goes into the checkpoint directory written by write(dir, ud) (a LoRA adapter, say) */
int pl_ckpt_save_with(const char *out_dir, int64_t step, int (*write)(const char *dir, void *ud), void *ud, cJSON *state);
/* A checkpoint to load: a training directory (its state.json names the current checkpoint directory) or a
 * checkpoint directory itself; out: the checkpoint directory. */
int pl_train_resolve_checkpoint(const char *path, char *out, size_t cap);
/* The AdamW moments saved with a checkpoint into m's buffers (every parameter must be there) */
int pl_ckpt_load_optimizer(const char *ckdir, pl_llm *m);
/* state.json's "step" of a training directory, or a negative status */
int64_t pl_ckpt_step(const char *out_dir);
/* mkdir -p, and a probe that the directory can be written */
int pl_mkdir_p(const char *dir);

#endif
