/* The element-type table: every dtype's block size, byte size and conversion/dot kernels, in one place
 * (designated initializers in dtype.c). Quantized block types (src/quant) fill their rows there too.
 * A row of n elements of type t takes pl_row_size(t, n) bytes; n must be a multiple of the block size. */
#ifndef PL_DTYPE_H
#define PL_DTYPE_H

#include "plinth.h"
#include <stdint.h>

typedef uint16_t pl_fp16;
typedef uint16_t pl_bf16;

/* dst[i] = (float)src[i] for n elements (n a multiple of the block size). */
typedef void (*pl_to_float_fn)(const void *src, float *dst, int64_t n);
/* Encode n floats into the type's blocks (round to nearest for quantized types). */
typedef void (*pl_from_float_fn)(const float *src, void *dst, int64_t n);
/* *s = dot(x, y) over n elements, x of this type and y of the row's vec_dot_type. */
typedef void (*pl_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);

typedef struct {
    const char *name;        /* "f32", "q4_K", ... as GGUF/llama.cpp spell them */
    int64_t blck_size;       /* elements per block (1 for plain types) */
    size_t type_size;        /* bytes per block */
    bool is_quantized;
    pl_to_float_fn to_float;
    pl_from_float_fn from_float;   /* reference (round-to-nearest) quantizer */
    pl_vec_dot_fn vec_dot;         /* dot of a row of this type with a row of vec_dot_type */
    pl_dtype vec_dot_type;         /* what activations are converted to before vec_dot */
} pl_type_traits;

const pl_type_traits *pl_dtype_traits(pl_dtype t); /* NULL for an unknown id */
bool pl_dtype_valid(int t);                        /* a known id with a size */
const char *pl_dtype_name(pl_dtype t);             /* "?" for unknown */
int pl_dtype_from_name(const char *name);          /* -1 if unknown; case-insensitive */
size_t pl_row_size(pl_dtype t, int64_t n);         /* bytes for n elements */

/* Scalar conversions (exact, round-to-nearest-even on the way down). */
float pl_fp16_to_fp32(pl_fp16 h);
pl_fp16 pl_fp32_to_fp16(float f);
float pl_bf16_to_fp32(pl_bf16 h);
pl_bf16 pl_fp32_to_bf16(float f);

void pl_fp16_to_fp32_row(const pl_fp16 *x, float *y, int64_t n);
void pl_fp32_to_fp16_row(const float *x, pl_fp16 *y, int64_t n);
void pl_bf16_to_fp32_row(const pl_bf16 *x, float *y, int64_t n);
void pl_fp32_to_bf16_row(const float *x, pl_bf16 *y, int64_t n);

#endif
