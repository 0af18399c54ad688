/* Row kernels built on exp: in-place softmax returning the row's log-sum-exp (what attention keeps for
 * backward) and SwiGLU (silu(g) * u, the Llama MLP). Each is a scalar reference (libm expf) plus AVX2 /
 * AVX-512 variants with a polynomial exp (relative error ~1e-7), picked at run time like the other vec kernels. */
#ifndef PL_VEC_EXP_H
#define PL_VEC_EXP_H

#include <stdint.h>

/* x <- softmax(x); returns max(x) + log(sum(exp(x - max))) of the input. n >= 1. */
float pl_vec_softmax_f32(int64_t n, float *x);
float pl_vec_softmax_f32_scalar(int64_t n, float *x);
float pl_vec_softmax_f32_avx2(int64_t n, float *x);
float pl_vec_softmax_f32_avx512(int64_t n, float *x);

/* o[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i]; o may alias g or u */
void pl_vec_swiglu_f32(int64_t n, const float *g, const float *u, float *o);
void pl_vec_swiglu_f32_scalar(int64_t n, const float *g, const float *u, float *o);
void pl_vec_swiglu_f32_avx2(int64_t n, const float *g, const float *u, float *o);
void pl_vec_swiglu_f32_avx512(int64_t n, const float *g, const float *u, float *o);

#endif
