/* Fine-tuning data: a JSONL file of chat conversations ({"messages": [{"role", "content"}, ...]}) or
 * prompt/completion pairs ({"prompt", "completion"}), rendered with the model's chat template (or plainly,
 * without one), tokenized, with the loss on the completion (the last assistant turn) only. Examples longer
 * than the context are cut; one with nothing left to learn is skipped; both are counted. */
#ifndef PL_TASKS_FINETUNE_DATA_H
#define PL_TASKS_FINETUNE_DATA_H

#include "plinth.h"
#include "tasks/chat_template.h"

typedef struct {
    int32_t *ids;      /* (n) tokens */
    int32_t *targets;  /* (n) the token position t must predict (a completion token), or -1 */
    int n;
} pl_ft_example;

typedef struct {
    pl_ft_example *ex;
    int n;
    int n_cut, n_skipped; /* longer than the context: cut; nothing to learn left: skipped */
} pl_ft_data;

/* tmpl NULL: prompt + completion as plain text, the tokenizer's EOS after the completion. Errors name the file
 * and line (not JSON, no messages / prompt+completion, no final assistant turn, invalid UTF-8). */
int pl_ft_data_load(const char *path, const pl_tokenizer *tok, const pl_chat_template *tmpl, int ctx, pl_ft_data *out);
void pl_ft_data_free(pl_ft_data *d);

#endif
