/* Row conversions, a scalar reference and an F16C variant each, picked at run time: f16 -> f32 (exact; the
 * dequantize + sgemm matmul converts a whole f16 weight with it on every prompt) and f32 -> f16 (rounded to
 * nearest even; an f16 KV cache's rows are stored with it). */
#ifndef PL_VEC_CVT_H
#define PL_VEC_CVT_H

#include "core/dtype.h"

void pl_vec_f16_to_f32(int64_t n, const pl_fp16 *x, float *y);
void pl_vec_f16_to_f32_scalar(int64_t n, const pl_fp16 *x, float *y);
void pl_vec_f16_to_f32_f16c(int64_t n, const pl_fp16 *x, float *y);
void pl_vec_f32_to_f16(int64_t n, const float *x, pl_fp16 *y);
void pl_vec_f32_to_f16_scalar(int64_t n, const float *x, pl_fp16 *y);
void pl_vec_f32_to_f16_f16c(int64_t n, const float *x, pl_fp16 *y);

#endif
