/* Chat templates: render a conversation ({role, content} messages) into the prompt text a chat model was
 * trained on, for the common families (ChatML, Llama-3, Llama-2, Mistral, Gemma, Zephyr). No Jinja engine: the
 * family is recognized from markers in the model's Jinja template (tokenizer.chat_template) and rendered by
 * hand, byte-identical to transformers' apply_chat_template (tests/golden/lm/chat_templates.json).
 * The rendered text includes the BOS text when the family's template does (see docs/chat-templates.md). */
#ifndef PL_TASKS_CHAT_TEMPLATE_H
#define PL_TASKS_CHAT_TEMPLATE_H

#include <stdbool.h>

typedef enum {
    PL_CHAT_CHATML = 0, /* <|im_start|>role\ncontent<|im_end|>\n   (SmolLM2, Qwen2, ...) */
    PL_CHAT_LLAMA3,     /* <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|> */
    PL_CHAT_LLAMA2,     /* <s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST] answer </s> */
    PL_CHAT_MISTRAL,    /* <s>[INST] user [/INST]answer</s> */
    PL_CHAT_GEMMA,      /* <start_of_turn>user\n...<end_of_turn>\n, assistant -> "model", system folded in */
    PL_CHAT_ZEPHYR,     /* <|user|>\ncontent</s>\n */
    PL_CHAT_COUNT
} pl_chat_family;

typedef struct {
    const char *role;    /* "system", "user", "assistant" (others pass through where the family allows) */
    const char *content;
} pl_chat_message;

typedef struct pl_chat_template pl_chat_template;

/* Force a family by name: chatml, llama3, llama2, mistral, gemma, zephyr (also llama-3, llama-2, gemma3).
 * Unknown name -> NULL and an error listing the choices. */
pl_chat_template *pl_chat_template_by_name(const char *name);
/* Recognize the family of a Jinja chat template string by its distinctive markers. For ChatML templates that
 * insert a fixed system message when the conversation has none (SmolLM2, Qwen2), that default is taken from
 * the template. Unrecognized -> NULL and an error naming the families and suggesting --chat-template. */
pl_chat_template *pl_chat_template_detect(const char *jinja);
void pl_chat_template_free(pl_chat_template *t);

pl_chat_family pl_chat_template_family(const pl_chat_template *t);
const char *pl_chat_template_name(const pl_chat_template *t);
/* The system message used when the conversation has none, or NULL. */
const char *pl_chat_template_default_system(const pl_chat_template *t);
/* Override the BOS / EOS texts the template inserts (defaults are the family's usual ones: "<s>", "</s>",
 * "<|begin_of_text|>", "<bos>", ...). NULL leaves one unchanged. 0 or a negative pl_status. */
int pl_chat_template_set_tokens(pl_chat_template *t, const char *bos, const char *eos);
/* The text that ends an assistant turn (a stop string for generation): "<|im_end|>", "<|eot_id|>", ... */
const char *pl_chat_template_end_of_turn(const pl_chat_template *t);

/* Render messages[0..n) into a new NUL-terminated string (caller frees). add_generation_prompt appends the
 * header of an assistant turn (ignored by Llama-2 / Mistral, whose prompt already ends in [/INST]).
 * NULL + message when the family cannot express the conversation (roles not alternating where required). */
char *pl_chat_render(const pl_chat_template *t, const pl_chat_message *messages, int n, bool add_generation_prompt);

#endif
