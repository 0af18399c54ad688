/* Internal: every ISA variant of the quant kernels, exposed so tests can hold each SIMD variant to the
 * scalar reference directly. The dispatchers in quant_dispatch.c pick one per kernel, once. Variants
 * named _avx2 need avx2+fma+f16c; _avx512 need avx512f/bw/vl/dq (and use VNNI when pl_cpu() has it,
 * through the _vnni variants). */
#ifndef PL_QUANT_KERNELS_H
#define PL_QUANT_KERNELS_H

#include "quant/quant.h"

#define PL_QK_DOTS(X) X(q4_0_q8_0) X(q4_1_q8_1) X(q5_0_q8_0) X(q5_1_q8_1) X(q8_0_q8_0) \
    X(q4_K_q8_K) X(q5_K_q8_K) X(q6_K_q8_K) X(f16_f32) X(bf16_f32)
#define PL_QK_DEQUANTS(X) X(q4_0) X(q4_1) X(q5_0) X(q5_1) X(q8_0) X(q4_K) X(q5_K) X(q6_K)

#define PL_QK_DECL_DOT(K) \
    void pl_vec_dot_##K##_scalar(int64_t n, float *s, const void *x, const void *y); \
    void pl_vec_dot_##K##_avx2(int64_t n, float *s, const void *x, const void *y); \
    void pl_vec_dot_##K##_avx512(int64_t n, float *s, const void *x, const void *y);
#define PL_QK_DECL_DEQ(K) \
    void pl_dequantize_##K##_scalar(const void *x, float *y, int64_t n); \
    void pl_dequantize_##K##_avx2(const void *x, float *y, int64_t n); \
    void pl_dequantize_##K##_avx512(const void *x, float *y, int64_t n);
PL_QK_DOTS(PL_QK_DECL_DOT)
PL_QK_DEQUANTS(PL_QK_DECL_DEQ)

/* Helpers shared by the kernels. */
static inline float quant_fp16(pl_fp16 h) { return pl_fp16_to_fp32(h); }

/* The 6-bit scale j and min j of a q4_K/q5_K super-block (packing as GGUF defines it). */
static inline void quant_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#endif
