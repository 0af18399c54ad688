/* The GGUF reader's private structures, shared by gguf.c (reader) and gguf_write.c (writer, which copies
 * key/values out of an open reader). Not for use outside src/io. */
#ifndef PL_IO_GGUF_INTERNAL_H
#define PL_IO_GGUF_INTERNAL_H

#include "io/gguf.h"

typedef struct {
    char *key;                 /* NUL-terminated copy */
    pl_gguf_type type;
    uint64_t u;                /* unsigned integers and bool */
    int64_t i;                 /* signed integers */
    double f;                  /* f32 / f64 */
    char *str;                 /* PL_GGUF_STR: NUL-terminated copy */
    size_t str_len;
    pl_gguf_type arr_type;     /* PL_GGUF_ARR: element type and count */
    int64_t arr_n;
    void *arr_data;            /* numeric arrays: aligned copy of the packed elements */
    char *arr_pool;            /* string arrays: NUL-terminated strings back to back */
    size_t *arr_off, *arr_len;
} gguf_kv;

struct pl_gguf {
    const uint8_t *base;       /* the file's bytes (mapping or caller memory) */
    size_t size;
    void *map;                 /* non-NULL when we mapped the file */
    size_t map_size;
    uint32_t version, alignment;
    int64_t n_kv, n_tensors;
    gguf_kv *kv;
    pl_gguf_tensor *tensors;
    int64_t *kv_sorted, *t_sorted;   /* indexes sorted by key / tensor name, for binary search */
    size_t data_offset;
};

#endif
