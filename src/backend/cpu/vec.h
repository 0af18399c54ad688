/* The f32 vector kernels on the hot paths (dot, axpy, scale), each a scalar reference plus AVX2 and
 * AVX-512 variants; the pl_vec_* entry points dispatch once on the CPU's features (core/cpu.h). */
#ifndef PL_VEC_H
#define PL_VEC_H

#include <stdbool.h>
#include <stdint.h>

float pl_vec_dot_f32(int64_t n, const float *x, const float *y);
void pl_vec_axpy_f32(int64_t n, float a, const float *x, float *y); /* y += a * x */
void pl_vec_scale_f32(int64_t n, float a, float *y);               /* y *= a */
float pl_vec_max_f32(int64_t n, const float *x);
/* the first i with x[i] >= t, else n (a NaN never matches): a k-best scan skips the scores below its floor with it */
int64_t pl_vec_find_ge_f32(int64_t n, const float *x, float t);

/* the variants, for tests that hold the SIMD ones to the reference */
float pl_vec_dot_f32_scalar(int64_t n, const float *x, const float *y);
float pl_vec_dot_f32_avx2(int64_t n, const float *x, const float *y);
float pl_vec_dot_f32_avx512(int64_t n, const float *x, const float *y);
void pl_vec_axpy_f32_scalar(int64_t n, float a, const float *x, float *y);
void pl_vec_axpy_f32_avx2(int64_t n, float a, const float *x, float *y);
void pl_vec_axpy_f32_avx512(int64_t n, float a, const float *x, float *y);
int64_t pl_vec_find_ge_f32_scalar(int64_t n, const float *x, float t);
int64_t pl_vec_find_ge_f32_avx2(int64_t n, const float *x, float t);
int64_t pl_vec_find_ge_f32_avx512(int64_t n, const float *x, float t);



/* GELU (tanh form, GPT-2's): y = gelu(x); dx = (acc ? dx : 0) + g * gelu'(x) (acc false: dx is only written, so
 * a backward pass that is its first writer need not zero it; dx may then be g itself). Computed as
 * x / (1 + e^(-2u)) (vec_gelu_simd.h), with a polynomial exp in the SIMD variants (relative error ~1e-7). */
void pl_vec_gelu_f32(int64_t n, const float *x, float *y);
void pl_vec_gelu_grad_f32(int64_t n, const float *x, const float *g, float *dx, bool acc);
void pl_vec_gelu_f32_scalar(int64_t n, const float *x, float *y);
void pl_vec_gelu_grad_f32_scalar(int64_t n, const float *x, const float *g, float *dx, bool acc);
void pl_vec_gelu_f32_avx2(int64_t n, const float *x, float *y);
void pl_vec_gelu_grad_f32_avx2(int64_t n, const float *x, const float *g, float *dx, bool acc);
void pl_vec_gelu_f32_avx512(int64_t n, const float *x, float *y);
void pl_vec_gelu_grad_f32_avx512(int64_t n, const float *x, const float *g, float *dx, bool acc);
/* QuickGELU, x sigmoid(1.702 x) (CLIP's), forward and backward, in the same form and with the same variants */
void pl_vec_qgelu_f32(int64_t n, const float *x, float *y);
void pl_vec_qgelu_grad_f32(int64_t n, const float *x, const float *g, float *dx, bool acc);
void pl_vec_qgelu_f32_scalar(int64_t n, const float *x, float *y);
void pl_vec_qgelu_grad_f32_scalar(int64_t n, const float *x, const float *g, float *dx, bool acc);
void pl_vec_qgelu_f32_avx2(int64_t n, const float *x, float *y);
void pl_vec_qgelu_grad_f32_avx2(int64_t n, const float *x, const float *g, float *dx, bool acc);
void pl_vec_qgelu_f32_avx512(int64_t n, const float *x, float *y);
void pl_vec_qgelu_grad_f32_avx512(int64_t n, const float *x, const float *g, float *dx, bool acc);
#endif
