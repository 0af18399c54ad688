/* CTranslate2's model.bin, read in C (the layout its Python spec writer, ctranslate2/specs/model_spec.py
 * `_serialize`, produces): u32 binary version (>= 5 here), string spec name, u32 spec revision, u32 variable count,
 * then per variable: string name, u8 rank, u32 dims[rank], u8 dtype (0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16),
 * u32 byte count, the bytes (row-major, not aligned); then u32 alias count and (alias, target) string pairs.
 * A string is u16 length (with its NUL), the characters, NUL. The file is mapped; data pointers point into it.
 * Sits in io/: the Whisper loader (models/whisper.c) reads faster-whisper's model directories through it. */
#ifndef PL_IO_CT2_H
#define PL_IO_CT2_H

#include "core/common.h"
#include "core/dtype.h"

#include <stdint.h>

typedef struct {
    const char *name;   /* NUL-terminated, in the mapping */
    int rank;           /* 0 (a scalar) .. 4 */
    int64_t shape[4];   /* row-major, as in the file (the last dim contiguous) */
    int ct2_type;       /* the file's dtype id */
    pl_dtype type;      /* PL_F32 / PL_F16 / PL_BF16 / PL_I8 / PL_I16 / PL_I32 */
    const void *data;   /* nbytes in the mapping, possibly unaligned */
    uint64_t nbytes;
} pl_ct2_var;

typedef struct pl_ct2 pl_ct2;
pl_ct2 *pl_ct2_open(const char *path);    /* NULL + pl_last_error(): missing, truncated, malformed */
void pl_ct2_close(pl_ct2 *m);
const char *pl_ct2_spec(const pl_ct2 *m); /* "WhisperSpec", ... */
int pl_ct2_revision(const pl_ct2 *m);
int pl_ct2_n_vars(const pl_ct2 *m);
const pl_ct2_var *pl_ct2_var_at(const pl_ct2 *m, int i);
/* by name, aliases followed; NULL if absent */
const pl_ct2_var *pl_ct2_find(const pl_ct2 *m, const char *name);
/* a scalar integer variable (i8/i16/i32), or def */
int64_t pl_ct2_get_int(const pl_ct2 *m, const char *name, int64_t def);
/* n elements from element `first` of a float variable (f32/f16/bf16) converted to f32 (unaligned-safe) */
int pl_ct2_to_f32(const pl_ct2_var *v, int64_t first, int64_t n, float *out);

#endif
