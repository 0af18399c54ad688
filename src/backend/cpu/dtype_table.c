/* The type-traits table (one row per dtype, designated initializers, as GGUF numbers them): sizes and the
 * row conversions and dot products of each type. Quantized rows point at src/quant's kernels, half-precision
 * rows at this backend's; unknown ids have no row. core/dtype.h declares the lookups. */
#include "core/dtype.h"
#include "core/common.h"
#include "backend/cpu/vec_cvt.h"
#include "quant/quant.h"

#include <string.h>
#include <strings.h>

void pl_fp16_to_fp32_row(const pl_fp16 *x, float *y, int64_t n) { pl_vec_f16_to_f32(n, x, y); } /* F16C when present */
void pl_fp32_to_fp16_row(const float *x, pl_fp16 *y, int64_t n) { pl_vec_f32_to_f16(n, x, y); }        /* F16C when present */
void pl_bf16_to_fp32_row(const pl_bf16 *x, float *y, int64_t n) { for (int64_t i = 0; i < n; i++) y[i] = pl_bf16_to_fp32(x[i]); }
void pl_fp32_to_bf16_row(const float *x, pl_bf16 *y, int64_t n) { for (int64_t i = 0; i < n; i++) y[i] = pl_fp32_to_bf16(x[i]); }

static void f32_to_float(const void *s, float *d, int64_t n) { memcpy(d, s, (size_t)n * 4); }
static void f32_from_float(const float *s, void *d, int64_t n) { memcpy(d, s, (size_t)n * 4); }
static void f16_to_float(const void *s, float *d, int64_t n) { pl_fp16_to_fp32_row(s, d, n); }
static void f16_from_float(const float *s, void *d, int64_t n) { pl_fp32_to_fp16_row(s, d, n); }
static void bf16_to_float(const void *s, float *d, int64_t n) { pl_bf16_to_fp32_row(s, d, n); }
static void bf16_from_float(const float *s, void *d, int64_t n) { pl_fp32_to_bf16_row(s, d, n); }

static void f32_vec_dot(int64_t n, float *s, const void *x, const void *y) {
    const float *a = x, *b = y;
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (double)a[i] * b[i];
    *s = (float)acc;
}

static const pl_type_traits g_traits[PL_DTYPE_COUNT] = {
    [PL_F32] = {.name = "f32", .blck_size = 1, .type_size = 4, .to_float = f32_to_float,
                .from_float = f32_from_float, .vec_dot = f32_vec_dot, .vec_dot_type = PL_F32},
    [PL_F16] = {.name = "f16", .blck_size = 1, .type_size = 2, .to_float = f16_to_float,
                .from_float = f16_from_float, .vec_dot = pl_vec_dot_f16_f32, .vec_dot_type = PL_F32},
    [PL_BF16] = {.name = "bf16", .blck_size = 1, .type_size = 2, .to_float = bf16_to_float,
                 .from_float = bf16_from_float, .vec_dot = pl_vec_dot_bf16_f32, .vec_dot_type = PL_F32},
    [PL_F64] = {.name = "f64", .blck_size = 1, .type_size = 8},
    [PL_I8] = {.name = "i8", .blck_size = 1, .type_size = 1},
    [PL_I16] = {.name = "i16", .blck_size = 1, .type_size = 2},
    [PL_I32] = {.name = "i32", .blck_size = 1, .type_size = 4},
    [PL_I64] = {.name = "i64", .blck_size = 1, .type_size = 8},
    PL_QUANT_TRAITS /* quantized rows, from quant/quant.h */
};

const pl_type_traits *pl_dtype_traits(pl_dtype t) {
    if ((int)t < 0 || t >= PL_DTYPE_COUNT || !g_traits[t].name) return NULL;
    return &g_traits[t];
}
bool pl_dtype_valid(int t) { return t >= 0 && t < PL_DTYPE_COUNT && g_traits[t].name && g_traits[t].type_size; }
const char *pl_dtype_name(pl_dtype t) { return pl_dtype_valid((int)t) ? g_traits[t].name : "?"; }
int pl_dtype_from_name(const char *name) {
    for (int t = 0; t < PL_DTYPE_COUNT; t++)
        if (g_traits[t].name && !strcasecmp(g_traits[t].name, name)) return t;
    return -1;
}
size_t pl_row_size(pl_dtype t, int64_t n) {
    const pl_type_traits *tr = pl_dtype_traits(t);
    return tr ? (size_t)(n / tr->blck_size) * tr->type_size : 0;
}
