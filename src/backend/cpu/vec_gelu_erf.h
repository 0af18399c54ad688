/* GELU in its exact form, 0.5 x (1 + erf(x / sqrt 2)) (BERT's "gelu"), forward only: a scalar reference and
 * AVX2 / AVX-512 variants chosen at run time, all of one formula (vec_gelu_erf.c). */
#ifndef PL_VEC_GELU_ERF_H
#define PL_VEC_GELU_ERF_H

#include <stdint.h>

void pl_vec_gelu_erf_f32(int64_t n, const float *x, float *y);
void pl_vec_gelu_erf_f32_scalar(int64_t n, const float *x, float *y);
void pl_vec_gelu_erf_f32_avx2(int64_t n, const float *x, float *y);
void pl_vec_gelu_erf_f32_avx512(int64_t n, const float *x, float *y);

#endif
