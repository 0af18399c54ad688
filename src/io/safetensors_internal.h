/* safetensors internals shared by the reader (safetensors.c), writer (safetensors_write.c) and sharded
 * model sets (safetensors_model.c). Not for use outside src/io. */
#ifndef PL_IO_SAFETENSORS_INTERNAL_H
#define PL_IO_SAFETENSORS_INTERNAL_H

#include "io/safetensors.h"

typedef struct {
    const char *name;   /* the file's dtype string */
    pl_dtype type;
    size_t size;        /* bytes per element */
} st_dtype_info;

const st_dtype_info *st_dtype_by_name(const char *name);
const st_dtype_info *st_dtype_by_type(pl_dtype t);

struct pl_st {
    const uint8_t *base;
    size_t size;
    void *map;
    size_t map_size;
    size_t header_len, data_off;
    pl_st_tensor *t;
    int64_t n;
    int64_t *sorted;     /* tensor indexes by name */
    char **meta_k, **meta_v;
    int64_t n_meta;
};

#endif
