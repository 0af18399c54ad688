/* Hugging Face model-directory configs: config.json as a key lookup (hyper-parameters), and
 * tokenizer_config.json's chat template and special tokens as plain strings. JSON parsing is cJSON's.
 * Sits in io/: used by the HF model loaders, the tokenizer and `plinth info`. tokenizer.json itself is
 * parsed by src/tokenizer. */
#ifndef PL_IO_HFCONFIG_H
#define PL_IO_HFCONFIG_H

#include "plinth.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pl_hfconfig pl_hfconfig;

/* path: a config.json, or a directory holding one. NULL + pl_last_error() if missing or malformed. */
pl_hfconfig *pl_hfconfig_load(const char *path);
pl_hfconfig *pl_hfconfig_parse(const char *json, size_t len);   /* must be a JSON object */
void pl_hfconfig_free(pl_hfconfig *c);

/* Keys: a top-level key ("hidden_size"), or a dotted path into nested objects ("text_config.hidden_size")
 * when no top-level key has that exact name. Getters return `def` (NULL for strings) when the key is
 * missing or of another JSON type. */
bool pl_hfconfig_has(const pl_hfconfig *c, const char *key);
int64_t pl_hfconfig_get_int(const pl_hfconfig *c, const char *key, int64_t def);  /* integral numbers only */
double pl_hfconfig_get_float(const pl_hfconfig *c, const char *key, double def);  /* any number */
const char *pl_hfconfig_get_str(const pl_hfconfig *c, const char *key);           /* owned by c */
bool pl_hfconfig_get_bool(const pl_hfconfig *c, const char *key, bool def);
/* Arrays: length (-1 if not an array), string element (NULL if not a string), number element. */
int pl_hfconfig_arr_n(const pl_hfconfig *c, const char *key);
const char *pl_hfconfig_arr_str(const pl_hfconfig *c, const char *key, int i);
double pl_hfconfig_arr_float(const pl_hfconfig *c, const char *key, int i, double def);
/* The whole document, as cJSON (const cJSON *), for callers that need more. */
const void *pl_hfconfig_json(const pl_hfconfig *c);

/* tokenizer_config.json (+ chat_template.jinja beside it, which newer HF checkpoints use instead).
 * Special tokens may be written as "x" or as an AddedToken object {"content": "x", ...}; both give "x". */
typedef struct {
    char *chat_template;     /* NULL if none; from a list of named templates, the one named "default" (else the first) */
    char *bos_token, *eos_token, *unk_token, *pad_token, *sep_token, *cls_token, *mask_token; /* NULL if unset */
    char *tokenizer_class;   /* e.g. "BertTokenizer" */
    int add_bos_token;       /* 1, 0, or -1 if unset */
    int add_eos_token;       /* 1, 0, or -1 if unset */
    int do_lower_case;       /* 1, 0, or -1 if unset */
    int64_t model_max_length;/* -1 if unset or the "unlimited" sentinel (>= 1e18) */
} pl_hf_tokenizer_config;

/* path: a tokenizer_config.json or a directory. A directory without one gives an empty config and PL_OK
 * (many models ship none); a malformed file gives PL_ERR_FORMAT. Free with pl_hf_tokenizer_config_free. */
int pl_hf_tokenizer_config_load(const char *path, pl_hf_tokenizer_config *out);
void pl_hf_tokenizer_config_free(pl_hf_tokenizer_config *tc);

#endif
