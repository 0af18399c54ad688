/* Model-path resolution: what a user-given PATH is (a GGUF file, a safetensors file, a sharded set's
 * index.json, or a Hugging Face model directory), decided by content (magic bytes), not only by name.
 * Sits in io/: `plinth info`, the model loaders and the tokenizer loader share it. */
#ifndef PL_IO_MODEL_PATH_H
#define PL_IO_MODEL_PATH_H

#include "plinth.h"

typedef enum {
    PL_MODEL_GGUF = 1,         /* a .gguf file (or a directory holding exactly one, and no safetensors) */
    PL_MODEL_SAFETENSORS = 2,  /* one .safetensors file (config.json etc. may sit beside it) */
    PL_MODEL_ST_INDEX = 3,     /* a model.safetensors.index.json */
    PL_MODEL_HF_DIR = 4,       /* a directory with config.json and/or *.safetensors */
} pl_model_kind;

/* Returns the kind (> 0) or a negative pl_status with a message. *resolved (malloc'd, caller frees) gets
 * the path to open: the file itself, the directory, or the one GGUF inside a directory; a config.json
 * path resolves to its directory. */
int pl_model_path_resolve(const char *path, char **resolved);

/* The directory part of a file path ("." if none), malloc'd. */
char *pl_path_dirname(const char *path);
/* dir + "/" + name, malloc'd. */
char *pl_path_join(const char *dir, const char *name);

#endif
