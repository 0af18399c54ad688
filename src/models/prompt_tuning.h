/* Prompt tuning (Lester et al. 2021): N learned input embeddings ("virtual tokens") put before every sequence's
 * tokens, the model frozen. The adapter is one (C, N) f32 parameter with its gradient and AdamW moments;
 * attached to a model, pl_llm_forward_train prepends it (targets shifted past it), so the logits cover N + T
 * positions as PEFT's do. Saved and loaded in PEFT's PROMPT_TUNING format (io/peft.h). */
#ifndef PL_MODELS_PROMPT_TUNING_H
#define PL_MODELS_PROMPT_TUNING_H

#include "io/peft.h"
#include "models/llm.h"

typedef struct pl_prompt_adapter {
    int n_virtual, n_embd;
    pl_tensor *emb;             /* {C, N}: virtual token i is column... row i (ne0 = C) */
    pl_ctx *ctx;
    int64_t n_floats;           /* C * N */
    float *w, *g, *adam_m, *adam_v;
    char init_text[1024];
} pl_prompt_adapter;

/* N virtual tokens for m: the embeddings of init_ids (repeated to fill N, as PEFT's TEXT init does) when
 * n_init > 0, else N(0, 1) draws (PEFT's RANDOM). */
pl_prompt_adapter *pl_prompt_new(const pl_llm *m, int n_virtual, const int32_t *init_ids, int n_init, uint64_t seed);
/* A PEFT PROMPT_TUNING directory; refused (NULL + message) when its width is not m's */
pl_prompt_adapter *pl_prompt_load(const pl_llm *m, const char *dir);
int pl_prompt_save(const pl_prompt_adapter *p, const char *dir, const char *base_name);
void pl_prompt_free(pl_prompt_adapter *p);
/* Prepend p's virtual tokens in m's training graphs (NULL: none) */
int pl_llm_set_prompt(pl_llm *m, const pl_prompt_adapter *p);

#endif
