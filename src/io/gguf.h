/* GGUF (v2/v3) reader and writer. The reader maps the file read-only, checks every count, length and offset
 * against the file size before it allocates or reads, and hands out tensors whose data points into the
 * mapping. The writer builds a file from key/values and tensors and writes it atomically or into memory.
 * Sits in io/: used by model loaders, the tokenizer (tokenizer.ggml.*), `plinth info` and quantize.
 * Assumes a little-endian host (as GGUF files are little-endian); big-endian files are rejected. */
#ifndef PL_IO_GGUF_H
#define PL_IO_GGUF_H

#include "plinth.h"
#include <stddef.h>
#include <stdint.h>

typedef enum {
    PL_GGUF_U8 = 0, PL_GGUF_I8 = 1, PL_GGUF_U16 = 2, PL_GGUF_I16 = 3, PL_GGUF_U32 = 4, PL_GGUF_I32 = 5,
    PL_GGUF_F32 = 6, PL_GGUF_BOOL = 7, PL_GGUF_STR = 8, PL_GGUF_ARR = 9, PL_GGUF_U64 = 10, PL_GGUF_I64 = 11,
    PL_GGUF_F64 = 12,
    PL_GGUF_TYPE_COUNT = 13,
} pl_gguf_type;

#define PL_GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
    char *name;        /* NUL-terminated copy */
    pl_dtype type;
    int n_dims;        /* 1..4 */
    int64_t ne[4];     /* ne[0] innermost, as in the file; unused dims are 1 */
    uint64_t offset;   /* relative to the start of the data section, as in the file */
    size_t nbytes;     /* pl_row_size(type, ne[0]) * ne[1] * ne[2] * ne[3] */
    const void *data;  /* points into the mapping (or the caller's memory for pl_gguf_open_memory) */
} pl_gguf_tensor;

typedef struct pl_gguf pl_gguf;

/* ---- reader --------------------------------------------------------------------------------------- */
pl_gguf *pl_gguf_open(const char *path);                      /* NULL + pl_last_error() */
pl_gguf *pl_gguf_open_memory(const void *data, size_t size);  /* copies no tensor data: keep `data` alive */
void pl_gguf_close(pl_gguf *g);
/* Bytes [p, p + n) of a file mapping (pl_gguf_open) are not needed for now: its whole pages go back to the page
 * cache (the process's resident memory drops; a later read maps them again, unchanged). Nothing for memory
 * given by pl_gguf_open_memory or outside the mapping. */
void pl_gguf_release(const pl_gguf *g, const void *p, size_t n);

uint32_t pl_gguf_version(const pl_gguf *g);
uint32_t pl_gguf_alignment(const pl_gguf *g);        /* general.alignment or 32 */
size_t pl_gguf_data_offset(const pl_gguf *g);        /* byte offset of the data section in the file */
size_t pl_gguf_file_size(const pl_gguf *g);

int64_t pl_gguf_n_kv(const pl_gguf *g);
const char *pl_gguf_key(const pl_gguf *g, int64_t i);           /* NUL-terminated; NULL if i is out of range */
int64_t pl_gguf_find_key(const pl_gguf *g, const char *key);    /* -1 if absent */
pl_gguf_type pl_gguf_kv_type(const pl_gguf *g, int64_t i);

/* Typed getters return a default if the key is missing or of another type.
 * Strings: every string the reader hands out is a NUL-terminated copy owned by the pl_gguf (valid until
 * pl_gguf_close); *len (if len is non-NULL) gives its byte length, which matters only if it holds a NUL. */
const char *pl_gguf_get_str(const pl_gguf *g, const char *key, size_t *len);  /* NULL if absent */
int64_t pl_gguf_get_int(const pl_gguf *g, const char *key, int64_t def);      /* any integer type or bool */
double pl_gguf_get_float(const pl_gguf *g, const char *key, double def);      /* f32/f64 or any integer */

/* Value of kv i by index (for dumping every kv). The scalar getters convert as above. */
const char *pl_gguf_kv_str(const pl_gguf *g, int64_t i, size_t *len);         /* NULL unless a string */
int64_t pl_gguf_kv_int(const pl_gguf *g, int64_t i, int64_t def);
uint64_t pl_gguf_kv_u64(const pl_gguf *g, int64_t i, uint64_t def);           /* exact for u64 values */
double pl_gguf_kv_float(const pl_gguf *g, int64_t i, double def);

/* Arrays (kv i of type PL_GGUF_ARR). Nested arrays are rejected when the file is opened. */
pl_gguf_type pl_gguf_arr_type(const pl_gguf *g, int64_t i);   /* element type; PL_GGUF_TYPE_COUNT if not an array */
int64_t pl_gguf_arr_n(const pl_gguf *g, int64_t i);           /* -1 if not an array */
/* Numeric (and bool) arrays: the elements packed as in the file, in an aligned copy owned by the pl_gguf,
 * so casting to (const float *) etc. is safe. NULL for string arrays or non-arrays. */
const void *pl_gguf_arr_data(const pl_gguf *g, int64_t i);
const char *pl_gguf_arr_str(const pl_gguf *g, int64_t i, int64_t j, size_t *len); /* NUL-terminated copy */

int64_t pl_gguf_n_tensors(const pl_gguf *g);
const pl_gguf_tensor *pl_gguf_tensor_at(const pl_gguf *g, int64_t i);
const pl_gguf_tensor *pl_gguf_find_tensor(const pl_gguf *g, const char *name);  /* NULL if absent */

const char *pl_gguf_type_name(pl_gguf_type t);   /* "u8", ..., "array"; "?" if unknown */
size_t pl_gguf_type_size(pl_gguf_type t);        /* bytes of a scalar; 0 for string/array/unknown */

/* ---- writer --------------------------------------------------------------------------------------- */
/* Key/values keep the order in which they were first set (setting a key again replaces its value in
 * place); tensors keep the order in which they were added. Tensor data is laid out in that order, each
 * tensor starting at an offset aligned to general.alignment (32 unless set as a u32 kv), padded with
 * zeros, and the file ends padded to the alignment - as llama.cpp and the gguf Python package write. */
typedef struct pl_gguf_writer pl_gguf_writer;

pl_gguf_writer *pl_gguf_writer_new(void);
void pl_gguf_writer_free(pl_gguf_writer *w);
int pl_gguf_writer_set_version(pl_gguf_writer *w, uint32_t version);   /* 2 or 3 (default 3) */

/* Scalars: `val` points to a value of the C type matching t (uint8_t, ..., bool as uint8_t/bool, double). */
int pl_gguf_writer_set(pl_gguf_writer *w, const char *key, pl_gguf_type t, const void *val);
int pl_gguf_writer_set_u32(pl_gguf_writer *w, const char *key, uint32_t v);
int pl_gguf_writer_set_i32(pl_gguf_writer *w, const char *key, int32_t v);
int pl_gguf_writer_set_u64(pl_gguf_writer *w, const char *key, uint64_t v);
int pl_gguf_writer_set_f32(pl_gguf_writer *w, const char *key, float v);
int pl_gguf_writer_set_bool(pl_gguf_writer *w, const char *key, bool v);
int pl_gguf_writer_set_str(pl_gguf_writer *w, const char *key, const char *s);             /* NUL-terminated */
int pl_gguf_writer_set_strn(pl_gguf_writer *w, const char *key, const char *s, size_t len); /* must be UTF-8 */
/* Numeric array of n elements of type elem (packed little-endian, copied). */
int pl_gguf_writer_set_arr(pl_gguf_writer *w, const char *key, pl_gguf_type elem, const void *data, int64_t n);
/* String array; lens may be NULL (then strlen). Copied. */
int pl_gguf_writer_set_arr_str(pl_gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                               int64_t n);
/* Copy kv i of a reader (any type) under the same key. */
int pl_gguf_writer_copy_kv(pl_gguf_writer *w, const pl_gguf *g, int64_t i);

/* Add a tensor. ne[0] innermost; ne[0] must be a multiple of the type's block size. data holds
 * pl_row_size(type, ne[0]) * rows bytes; copied if `copy`, else referenced (keep it alive until written). */
int pl_gguf_writer_add_tensor(pl_gguf_writer *w, const char *name, pl_dtype type, int n_dims, const int64_t *ne,
                              const void *data, bool copy);

/* A writer holding every kv and tensor of g in g's order (tensor data referenced: keep g open). */
pl_gguf_writer *pl_gguf_writer_from(const pl_gguf *g);

int pl_gguf_writer_write_file(pl_gguf_writer *w, const char *path);                /* tmp + fsync + rename */
int pl_gguf_writer_write_memory(pl_gguf_writer *w, void **out, size_t *out_len);   /* *out: free() it */

#endif
