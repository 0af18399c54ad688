/* safetensors reader and writer, and sharded model sets (a directory, or model.safetensors.index.json).
 * The reader maps the file read-only, parses the JSON header with cJSON, and checks every tensor's dtype,
 * shape and data_offsets against the data section before handing out pointers into the mapping.
 * Sits in io/: used by the HF model loaders (with hfconfig.h), `plinth info`, and checkpoint export. */
#ifndef PL_IO_SAFETENSORS_H
#define PL_IO_SAFETENSORS_H

#include "plinth.h"
#include <stddef.h>
#include <stdint.h>

#define PL_ST_MAX_DIMS 8
#define PL_ST_MAX_HEADER (100u << 20)   /* headers above 100 MB are rejected */

typedef struct {
    char *name;                   /* NUL-terminated */
    pl_dtype type;                /* F32 F16 BF16 F64 I8 I16 I32 I64; U8 and BOOL read as PL_I8 (see dtype_name) */
    const char *dtype_name;       /* the file's spelling: "F32", "BF16", "U8", "BOOL", ... */
    int n_dims;                   /* 0 (a scalar) .. PL_ST_MAX_DIMS */
    int64_t shape[PL_ST_MAX_DIMS];/* as in the file (PyTorch order: the last dim is contiguous) */
    int64_t numel;
    const void *data;             /* into the mapping; aligned to the element size in files written by HF/plinth */
    size_t nbytes;                /* numel * element size */
    uint64_t begin;               /* data_offsets[0], relative to the data section */
    int shard;                    /* index of the shard holding it (pl_st_model); 0 for a single file */
} pl_st_tensor;

typedef struct pl_st pl_st;

pl_st *pl_st_open(const char *path);                       /* NULL + pl_last_error() */
pl_st *pl_st_open_memory(const void *data, size_t size);   /* copies nothing: keep data alive */
void pl_st_close(pl_st *st);

int64_t pl_st_n_tensors(const pl_st *st);
const pl_st_tensor *pl_st_tensor_at(const pl_st *st, int64_t i);   /* header order */
const pl_st_tensor *pl_st_find(const pl_st *st, const char *name); /* NULL if absent */
size_t pl_st_file_size(const pl_st *st);
size_t pl_st_header_size(const pl_st *st);                          /* the JSON header's length N */

/* __metadata__ (string -> string). */
const char *pl_st_metadata_get(const pl_st *st, const char *key);  /* NULL if absent */
int64_t pl_st_metadata_n(const pl_st *st);
const char *pl_st_metadata_key(const pl_st *st, int64_t i);

/* The shape in plinth/GGUF order (ne[0] innermost = the file's last dim; unused dims 1).
 * Returns n_dims, or -1 if the tensor has more than 4 dims. A scalar gives 1 dim of 1. */
int pl_st_tensor_ne(const pl_st_tensor *t, int64_t ne[4]);

/* ---- model sets (one file or shards) --------------------------------------------------------------- */
typedef struct pl_st_model pl_st_model;

/* path: a .safetensors file; a model.safetensors.index.json (weight_map -> shard files beside it); or a
 * directory holding model.safetensors.index.json, else model.safetensors, else any *.safetensors files
 * (opened in name order). Every tensor of the weight_map must be found in its shard. */
pl_st_model *pl_st_model_open(const char *path);
void pl_st_model_close(pl_st_model *m);
int pl_st_model_n_shards(const pl_st_model *m);
const pl_st *pl_st_model_shard(const pl_st_model *m, int i);
const char *pl_st_model_shard_path(const pl_st_model *m, int i);
int64_t pl_st_model_n_tensors(const pl_st_model *m);                         /* over all shards */
const pl_st_tensor *pl_st_model_tensor_at(const pl_st_model *m, int64_t i);  /* shard order, then header order */
const pl_st_tensor *pl_st_model_find(const pl_st_model *m, const char *name);
size_t pl_st_model_total_bytes(const pl_st_model *m);                        /* sum of shard file sizes */

/* ---- writer ---------------------------------------------------------------------------------------- */
/* The header is {"__metadata__": {...}, tensors in the order added}, each tensor's data_offsets following
 * the previous one, then space-padded so the data section starts at a multiple of 8 (as HF writes). */
typedef struct pl_st_writer pl_st_writer;
pl_st_writer *pl_st_writer_new(void);
void pl_st_writer_free(pl_st_writer *w);
int pl_st_writer_set_metadata(pl_st_writer *w, const char *key, const char *value);
/* shape in file (PyTorch) order; type F32 F16 BF16 F64 I8 I16 I32 I64. data: numel * elsize bytes,
 * copied if `copy`, else referenced until written. */
int pl_st_writer_add(pl_st_writer *w, const char *name, pl_dtype type, int n_dims, const int64_t *shape,
                     const void *data, bool copy);
int pl_st_writer_write_file(pl_st_writer *w, const char *path);               /* tmp + fsync + rename */
int pl_st_writer_write_memory(pl_st_writer *w, void **out, size_t *out_len);  /* *out: free() it */

#endif
