/* Row conversions on the prefill path: f16 -> f32 (exact), a scalar reference and an F16C variant picked at
 * run time. The dequantize + sgemm matmul converts a whole f16 weight with it on every prompt. */
#ifndef PL_VEC_CVT_H
#define PL_VEC_CVT_H

#include "core/dtype.h"

void pl_vec_f16_to_f32(int64_t n, const pl_fp16 *x, float *y);
void pl_vec_f16_to_f32_scalar(int64_t n, const pl_fp16 *x, float *y);
void pl_vec_f16_to_f32_f16c(int64_t n, const pl_fp16 *x, float *y);

#endif
