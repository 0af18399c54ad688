/* The model bundle: what every command that runs a decoder LM needs from one path - the model (models/llm.h),
 * its tokenizer, its chat template, and the generation options that go with them. Built in one place
 * (pl_bundle_open) for run, chat, eval, perplexity, imatrix and bench. Uses the pl_llm API only. */
#ifndef PL_TASKS_BUNDLE_H
#define PL_TASKS_BUNDLE_H

#include "models/llm.h"
#include "plinth.h"
#include "tasks/chat_template.h"
#include "tasks/generate.h"

typedef struct {
    int n_ctx, n_threads;      /* as pl_llm_params: 0 = the model's context (at most 4096), physical cores */
    bool dequantize, kv_f16;   /* as pl_llm_params */
    bool no_tokenizer;         /* the weights only (bench runs random token ids) */
    /* the chat template: NULL or "auto" = the model's own if it has one, "none" = plain prompts, or a family
     * name (chatml, llama3, ...) */
    const char *chat;
    bool need_chat;            /* a model without a template is an error (chat) */
    /* LoRA adapters applied to the model: PEFT directories, each "DIR" or "DIR:SCALE" (scale 1 by default) */
    const char *lora[PL_LLM_MAX_LORA];
    int n_lora;
    const char *prompt_adapter;  /* a PEFT prompt-tuning directory: its virtual tokens lead every sequence */
} pl_bundle_params;

typedef struct {
    pl_llm *llm;
    pl_tokenizer *tok;         /* NULL with no_tokenizer */
    pl_chat_template *chat;    /* NULL: plain prompts */
    const char *end_of_turn;   /* the template's, the stop string of rendered prompts (NULL without one) */
    char *path;                /* what was opened: the path given, or the one GGUF in the directory given */
    char *name;                /* the given path's last component */
    struct pl_lora *lora[PL_LLM_MAX_LORA]; /* the adapters applied (bundle-owned) */
    int n_lora;
    struct pl_prompt_adapter *prompt;
} pl_bundle;

/* 1: path names a model pl_bundle_open takes (a GGUF file, or a directory with config.json and its
 * safetensors; or a training directory of plinth train / finetune: its current checkpoint), *model_path (malloc'd) what to open; 0: something else;
 * negative + message: the path cannot be read or classified. Decided by io/model_path.h. */
int pl_bundle_resolve(const char *path, char **model_path);
/* An adapter given as "DIR" or "DIR:SCALE" (a PEFT directory, or a finetune output: its current checkpoint)
 * -> dir and *scale (1 without one). PL_OK, or PL_ERR_ARG + message for a scale that is not a number. */
int pl_adapter_spec(const char *spec, char *dir, size_t cap, float *scale);
/* NULL + pl_last_error() (no such model, unsupported architecture, no tokenizer, a tokenizer larger than the
 * model's vocabulary, an unknown or unrecognized chat template). */
pl_bundle *pl_bundle_open(const char *path, const pl_bundle_params *params);
void pl_bundle_free(pl_bundle *b);
/* The generation options for this model's prompts: the defaults, and for prompts rendered with its chat
 * template (chat) the template's end of turn as stop string and no BOS added (the text carries it). */
pl_gen_opts pl_bundle_gen_opts(const pl_bundle *b, bool chat);

/* The model's own chat template: GGUF tokenizer.chat_template, or the chat_template of tokenizer_config.json
 * beside a model's safetensors. NULL with *failed false when it has none; NULL with *failed true and a message
 * when one exists but cannot be read or recognized. */
pl_chat_template *pl_chat_template_for_model(const char *model_path, bool *failed);

#endif
