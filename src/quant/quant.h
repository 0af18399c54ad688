/* Quantized block types (GGUF-compatible layouts): block structs, reference quantizers, dequantizers
 * and dot kernels. PL_QUANT_TRAITS expands to their rows of the dtype table in core/dtype.c.
 * Weights dot against activations quantized on the fly to the row's vec_dot_type: Q8_0 for Q4_0/Q5_0/Q8_0,
 * Q8_1 (which also stores d*sum) for Q4_1/Q5_1, Q8_K for the 256-element k-quants. See docs/quantization.md. */
#ifndef PL_QUANT_H
#define PL_QUANT_H

#include "core/dtype.h"

#define PL_QK 32   /* elements per block of the _0/_1 types */
#define PL_QK_K 256 /* elements per super-block of the k-quants */

/* Byte layouts exactly as GGUF stores them (all fields little-endian, no padding). */
typedef struct { pl_fp16 d; uint8_t qs[16]; } pl_block_q4_0;               /* x = d*(q-8); q[j] low nibble, q[j+16] high */
typedef struct { pl_fp16 d, m; uint8_t qs[16]; } pl_block_q4_1;            /* x = d*q + m */
typedef struct { pl_fp16 d; uint8_t qh[4]; uint8_t qs[16]; } pl_block_q5_0; /* 5th bit of q[j] = bit j of qh */
typedef struct { pl_fp16 d, m; uint8_t qh[4]; uint8_t qs[16]; } pl_block_q5_1;
typedef struct { pl_fp16 d; int8_t qs[32]; } pl_block_q8_0;                /* x = d*q */
typedef struct { pl_fp16 d, s; int8_t qs[32]; } pl_block_q8_1;             /* s = d * sum(q) */
/* k-quants: 8 sub-blocks of 32; x = d*sc[j]*q - dmin*m[j], sc/m 6-bit packed in scales[12]. */
typedef struct { pl_fp16 d, dmin; uint8_t scales[12]; uint8_t qs[128]; } pl_block_q4_K;
typedef struct { pl_fp16 d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } pl_block_q5_K;
/* 16 sub-blocks of 16; x = d*scales[j]*(q-32), q 6-bit (4 low bits in ql, 2 high in qh). */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; pl_fp16 d; } pl_block_q6_K;
/* Activations for k-quant dots: x = d*q; bsums[i] = sum of q[16i .. 16i+15]. */
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } pl_block_q8_K;

/* Reference quantizers (round-to-nearest for _0/_1 and Q8_*, scale search for k-quants). n % block == 0. */
void pl_quantize_q4_0(const float *x, void *y, int64_t n);
void pl_quantize_q4_1(const float *x, void *y, int64_t n);
void pl_quantize_q5_0(const float *x, void *y, int64_t n);
void pl_quantize_q5_1(const float *x, void *y, int64_t n);
void pl_quantize_q8_0(const float *x, void *y, int64_t n);
void pl_quantize_q8_1(const float *x, void *y, int64_t n);
void pl_quantize_q4_K(const float *x, void *y, int64_t n);
void pl_quantize_q5_K(const float *x, void *y, int64_t n);
void pl_quantize_q6_K(const float *x, void *y, int64_t n);
void pl_quantize_q8_K(const float *x, void *y, int64_t n);
/* k-quant quantizers with per-column importance weights (imatrix; NULL = plain squared error). */
void pl_quantize_q4_K_w(const float *x, void *y, int64_t n, const float *w);
void pl_quantize_q5_K_w(const float *x, void *y, int64_t n, const float *w);
void pl_quantize_q6_K_w(const float *x, void *y, int64_t n, const float *w);
/* The 32-element types with per-column importance weights (quant_weighted.c; NULL = plain squared error):
 * same blocks as the RTN quantizers, scale (and min) searched to minimize the weighted error. */
void pl_quantize_q4_0_w(const float *x, void *y, int64_t n, const float *w);
void pl_quantize_q4_1_w(const float *x, void *y, int64_t n, const float *w);
void pl_quantize_q5_0_w(const float *x, void *y, int64_t n, const float *w);
void pl_quantize_q5_1_w(const float *x, void *y, int64_t n, const float *w);
void pl_quantize_q8_0_w(const float *x, void *y, int64_t n, const float *w);

/* Dequantizers (dispatch once to the best ISA variant; every variant gives identical floats). */
void pl_dequantize_q4_0(const void *x, float *y, int64_t n);
void pl_dequantize_q4_1(const void *x, float *y, int64_t n);
void pl_dequantize_q5_0(const void *x, float *y, int64_t n);
void pl_dequantize_q5_1(const void *x, float *y, int64_t n);
void pl_dequantize_q8_0(const void *x, float *y, int64_t n);
void pl_dequantize_q8_1(const void *x, float *y, int64_t n);
void pl_dequantize_q4_K(const void *x, float *y, int64_t n);
void pl_dequantize_q5_K(const void *x, float *y, int64_t n);
void pl_dequantize_q6_K(const void *x, float *y, int64_t n);
void pl_dequantize_q8_K(const void *x, float *y, int64_t n);

/* Dot kernels (dispatchers): *s = dot(weights x, activations y in the row's vec_dot_type). */
void pl_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void pl_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void pl_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void pl_vec_dot_q5_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void pl_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void pl_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void pl_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void pl_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *x, const void *y);
/* Fast float dots for the f16/bf16 rows (weights f16/bf16, activations f32). */
void pl_vec_dot_f16_f32(int64_t n, float *s, const void *x, const void *y);
void pl_vec_dot_bf16_f32(int64_t n, float *s, const void *x, const void *y);

#define PL_QUANT_ROW(T, NAME, BLK, SIZE, DOT, DOTTYPE) \
    [PL_##T] = {.name = #NAME, .blck_size = BLK, .type_size = SIZE, .is_quantized = true, \
                .to_float = pl_dequantize_##NAME, .from_float = pl_quantize_##NAME, .vec_dot = DOT, \
                .vec_dot_type = DOTTYPE},

#define PL_QUANT_TRAITS \
    PL_QUANT_ROW(Q4_0, q4_0, 32, 18, pl_vec_dot_q4_0_q8_0, PL_Q8_0) \
    PL_QUANT_ROW(Q4_1, q4_1, 32, 20, pl_vec_dot_q4_1_q8_1, PL_Q8_1) \
    PL_QUANT_ROW(Q5_0, q5_0, 32, 22, pl_vec_dot_q5_0_q8_0, PL_Q8_0) \
    PL_QUANT_ROW(Q5_1, q5_1, 32, 24, pl_vec_dot_q5_1_q8_1, PL_Q8_1) \
    PL_QUANT_ROW(Q8_0, q8_0, 32, 34, pl_vec_dot_q8_0_q8_0, PL_Q8_0) \
    PL_QUANT_ROW(Q8_1, q8_1, 32, 36, NULL, PL_Q8_1) \
    PL_QUANT_ROW(Q4_K, q4_K, 256, 144, pl_vec_dot_q4_K_q8_K, PL_Q8_K) \
    PL_QUANT_ROW(Q5_K, q5_K, 256, 176, pl_vec_dot_q5_K_q8_K, PL_Q8_K) \
    PL_QUANT_ROW(Q6_K, q6_K, 256, 210, pl_vec_dot_q6_K_q8_K, PL_Q8_K) \
    PL_QUANT_ROW(Q8_K, q8_K, 256, 292, NULL, PL_Q8_K) \
    [PL_Q2_K] = {.name = "q2_K", .blck_size = 256, .type_size = 84, .is_quantized = true}, \
    [PL_Q3_K] = {.name = "q3_K", .blck_size = 256, .type_size = 110, .is_quantized = true},

/* ---- conveniences over the table ---------------------------------------------------------------- */

/* Encode / decode one row of n elements (n a multiple of the block size; else PL_ERR_ARG). 0 on success. */
int pl_quant_row(pl_dtype t, const float *src, void *dst, int64_t n);
int pl_dequant_row(pl_dtype t, const void *src, float *dst, int64_t n);
/* dot(w_row of wtype, act_row already in wtype's vec_dot_type), n elements. */
float pl_vec_dot(pl_dtype wtype, int64_t n, const void *w_row, const void *act_row);
/* Quantize a row-major f32 tensor [nrows][ncols] into dst (pl_row_size(t, ncols) bytes per row).
 * imatrix (ncols importance weights, may be NULL) guides the scale search of the k-quants and of
 * Q4_0/Q4_1/Q5_0/Q5_1/Q8_0; without it those five stay round-to-nearest.
 * Returns bytes written, or a negative pl_status (ncols not a multiple of the block size: PL_ERR_ARG,
 * so the caller can fall back to another type). */
int64_t pl_quantize_tensor(pl_dtype t, const float *src, void *dst, int64_t nrows, int64_t ncols,
                           const float *imatrix);

#endif
