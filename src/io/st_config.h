/* What a sentence-transformers model directory says about turning token states into one vector:
 * modules.json (which modules, in order), the Pooling module's config.json (mean / CLS / max), whether a
 * Normalize module follows, and sentence_bert_config.json's max_seq_length. Sits in io/ beside hfconfig.h;
 * read by the encoder loader (src/models/encoder.c). */
#ifndef PL_IO_ST_CONFIG_H
#define PL_IO_ST_CONFIG_H

#include "plinth.h"
#include <stdbool.h>

typedef enum { PL_POOL_MEAN, PL_POOL_CLS } pl_pool_mode;

typedef struct {
    bool found;            /* the directory has a modules.json */
    pl_pool_mode pool;     /* default (no sentence-transformers files): mean */
    bool normalize;        /* a Normalize module follows the pooling; default: true */
    int max_seq_length;    /* tokens a text is cut to (specials included); 0: not said */
} pl_st_config;

/* PL_OK with the defaults when dir has no modules.json; PL_ERR_FORMAT / PL_ERR_UNSUPPORTED + message for a
 * malformed file or a module plinth does not run (max pooling, a Dense layer, ...). */
int pl_st_config_load(const char *dir, pl_st_config *out);

#endif
