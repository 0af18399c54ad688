/* The quant entry points the dtype table points at: dispatchers that pick each kernel's best ISA variant
 * once (scalar, AVX2, AVX-512 [+VNNI for the integer dots]), and the row / tensor conveniences over the
 * table (pl_quant_row, pl_dequant_row, pl_vec_dot, pl_quantize_tensor). */
#include "quant/quant_kernels.h"
#include "core/common.h"
#include "core/cpu.h"

#include <assert.h>

/* Integer dots use VNNI in their AVX-512 variant, so they need it; float kernels do not. */
static int pick_level(bool needs_vnni) {
    const pl_isa isa = pl_cpu_isa();
    if (isa >= PL_ISA_AVX512 && (!needs_vnni || pl_cpu()->avx512vnni)) return 2;
    return isa >= PL_ISA_AVX2 ? 1 : 0;
}

/* MAXL caps the level: q4_K/q5_K's AVX-512 variants measured slower than AVX2 (1 GB/s less on a
 * 4096 x 1024 matvec), so those stay on AVX2 until that changes; the variants are still tested. */
#define DEFINE_DOT_DISPATCH(K, VNNI, MAXL) \
    void pl_vec_dot_##K(int64_t n, float *s, const void *x, const void *y) { \
        static pl_vec_dot_fn fn; \
        pl_vec_dot_fn f = __atomic_load_n(&fn, __ATOMIC_ACQUIRE); \
        if (!f) { \
            const pl_vec_dot_fn v[3] = {pl_vec_dot_##K##_scalar, pl_vec_dot_##K##_avx2, pl_vec_dot_##K##_avx512}; \
            const int l = pick_level(VNNI); \
            f = v[l < (MAXL) ? l : (MAXL)]; \
            __atomic_store_n(&fn, f, __ATOMIC_RELEASE); \
        } \
        f(n, s, x, y); \
    }
#define DEFINE_DEQ_DISPATCH(K) \
    void pl_dequantize_##K(const void *x, float *y, int64_t n) { \
        static pl_to_float_fn fn; \
        pl_to_float_fn f = __atomic_load_n(&fn, __ATOMIC_ACQUIRE); \
        if (!f) { \
            const pl_to_float_fn v[3] = {pl_dequantize_##K##_scalar, pl_dequantize_##K##_avx2, \
                                         pl_dequantize_##K##_avx512}; \
            f = v[pick_level(false)]; \
            __atomic_store_n(&fn, f, __ATOMIC_RELEASE); \
        } \
        f(x, y, n); \
    }

DEFINE_DOT_DISPATCH(q4_0_q8_0, true, 2)
DEFINE_DOT_DISPATCH(q4_1_q8_1, true, 2)
DEFINE_DOT_DISPATCH(q5_0_q8_0, true, 2)
DEFINE_DOT_DISPATCH(q5_1_q8_1, true, 2)
DEFINE_DOT_DISPATCH(q8_0_q8_0, true, 2)
DEFINE_DOT_DISPATCH(q4_K_q8_K, true, 1)
DEFINE_DOT_DISPATCH(q5_K_q8_K, true, 1)
DEFINE_DOT_DISPATCH(q6_K_q8_K, true, 2)
DEFINE_DOT_DISPATCH(f16_f32, false, 2)
DEFINE_DOT_DISPATCH(bf16_f32, false, 2)
PL_QK_DEQUANTS(DEFINE_DEQ_DISPATCH)

/* ---- conveniences --------------------------------------------------------------------------------- */

static const pl_type_traits *row_traits(pl_dtype t, int64_t n, const char *what) {
    const pl_type_traits *tr = pl_dtype_traits(t);
    if (!tr || !tr->type_size) return pl_error_null(PL_ERR_ARG, "%s: unknown dtype %d", what, (int)t);
    if (n < 0 || n % tr->blck_size)
        return pl_error_null(PL_ERR_ARG, "%s: row of %lld elements is not a multiple of %s's block size %lld",
                             what, (long long)n, tr->name, (long long)tr->blck_size);
    return tr;
}

int pl_quant_row(pl_dtype t, const float *src, void *dst, int64_t n) {
    const pl_type_traits *tr = row_traits(t, n, "quantize");
    if (!tr) return PL_ERR_ARG;
    if (!tr->from_float) return pl_error(PL_ERR_UNSUPPORTED, "quantize: no encoder for %s", tr->name);
    tr->from_float(src, dst, n);
    return 0;
}

int pl_dequant_row(pl_dtype t, const void *src, float *dst, int64_t n) {
    const pl_type_traits *tr = row_traits(t, n, "dequantize");
    if (!tr) return PL_ERR_ARG;
    if (!tr->to_float) return pl_error(PL_ERR_UNSUPPORTED, "dequantize: no decoder for %s", tr->name);
    tr->to_float(src, dst, n);
    return 0;
}

float pl_vec_dot(pl_dtype wtype, int64_t n, const void *w_row, const void *act_row) {
    const pl_type_traits *tr = pl_dtype_traits(wtype);
    assert(tr && tr->vec_dot && n % tr->blck_size == 0);
    float s;
    tr->vec_dot(n, &s, w_row, act_row);
    return s;
}

int64_t pl_quantize_tensor(pl_dtype t, const float *src, void *dst, int64_t nrows, int64_t ncols,
                           const float *imatrix) {
    const pl_type_traits *tr = row_traits(t, ncols, "quantize");
    if (!tr) return PL_ERR_ARG;
    if (nrows < 0) return pl_error(PL_ERR_ARG, "quantize: negative row count");
    void (*weighted)(const float *, void *, int64_t, const float *) = NULL;
    if (t == PL_Q4_K) weighted = pl_quantize_q4_K_w;
    else if (t == PL_Q5_K) weighted = pl_quantize_q5_K_w;
    else if (t == PL_Q6_K) weighted = pl_quantize_q6_K_w;
    else if (t == PL_Q4_0) weighted = pl_quantize_q4_0_w;
    else if (t == PL_Q4_1) weighted = pl_quantize_q4_1_w;
    else if (t == PL_Q5_0) weighted = pl_quantize_q5_0_w;
    else if (t == PL_Q5_1) weighted = pl_quantize_q5_1_w;
    else if (t == PL_Q8_0) weighted = pl_quantize_q8_0_w;
    if (!tr->from_float && !weighted) return pl_error(PL_ERR_UNSUPPORTED, "quantize: no encoder for %s", tr->name);
    const size_t row_bytes = pl_row_size(t, ncols);
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = src + r * ncols;
        uint8_t *y = (uint8_t *)dst + (size_t)r * row_bytes;
        if (weighted && imatrix) weighted(x, y, ncols, imatrix);
        else tr->from_float(x, y, ncols);
    }
    return (int64_t)(row_bytes * (size_t)nrows);
}
