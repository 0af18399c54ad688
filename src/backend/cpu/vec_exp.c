/* Row softmax with log-sum-exp and SwiGLU (vec_exp.h): scalar references (libm expf) and AVX2 / AVX-512
 * variants on the polynomial exp of vec_exp_simd.h; inputs below -87.3 (including -inf from a mask) give
 * exactly 0, as expf does near there. */
#include "backend/cpu/vec_exp.h"
#include "backend/cpu/vec_exp_simd.h"
#include "core/cpu.h"

#include <immintrin.h>
#include <math.h>

float pl_vec_softmax_f32_scalar(int64_t n, float *x) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    double l = 0;
    for (int64_t i = 0; i < n; i++) { x[i] = expf(x[i] - m); l += x[i]; }
    float inv = (float)(1.0 / l);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
    return m + (float)log(l);
}

/* ---- AVX-512 ---- */
TGT512 float pl_vec_softmax_f32_avx512(int64_t n, float *x) {
    int64_t i;
    __m512 vm = _mm512_set1_ps(-INFINITY);
    for (i = 0; i + 16 <= n; i += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + i));
    float m = _mm512_reduce_max_ps(vm);
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    __m512 vs = _mm512_setzero_ps(), mm = _mm512_set1_ps(m);
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), mm));
        _mm512_storeu_ps(x + i, e);
        vs = _mm512_add_ps(vs, e);
    }
    double l = _mm512_reduce_add_ps(vs);
    for (; i < n; i++) { x[i] = expf(x[i] - m); l += x[i]; }
    __m512 inv = _mm512_set1_ps((float)(1.0 / l));
    for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= (float)(1.0 / l);
    return m + (float)log(l);
}

void pl_vec_swiglu_f32_scalar(int64_t n, const float *g, const float *u, float *o) {
    for (int64_t i = 0; i < n; i++) o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
TGT512 void pl_vec_swiglu_f32_avx512(int64_t n, const float *g, const float *u, float *o) {
    int64_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(g + i), e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), x));
        _mm512_storeu_ps(o + i, _mm512_mul_ps(_mm512_div_ps(x, _mm512_add_ps(one, e)), _mm512_loadu_ps(u + i)));
    }
    pl_vec_swiglu_f32_scalar(n - i, g + i, u + i, o + i);
}

/* ---- AVX2 ---- */
TGT256 float pl_vec_softmax_f32_avx2(int64_t n, float *x) {
    int64_t i;
    __m256 vm = _mm256_set1_ps(-INFINITY);
    for (i = 0; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    float m = hmax256(vm);
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    __m256 vs = _mm256_setzero_ps(), mm = _mm256_set1_ps(m);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mm));
        _mm256_storeu_ps(x + i, e);
        vs = _mm256_add_ps(vs, e);
    }
    double l = hsum256(vs);
    for (; i < n; i++) { x[i] = expf(x[i] - m); l += x[i]; }
    __m256 inv = _mm256_set1_ps((float)(1.0 / l));
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= (float)(1.0 / l);
    return m + (float)log(l);
}

TGT256 void pl_vec_swiglu_f32_avx2(int64_t n, const float *g, const float *u, float *o) {
    int64_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i), e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), x));
        _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    pl_vec_swiglu_f32_scalar(n - i, g + i, u + i, o + i);
}

typedef void (*swiglu_fn)(int64_t, const float *, const float *, float *);
static swiglu_fn g_swiglu;
void pl_vec_swiglu_f32(int64_t n, const float *g, const float *u, float *o) {
    if (!g_swiglu) {
        pl_isa isa = pl_cpu_isa();
        g_swiglu = isa >= PL_ISA_AVX512 ? pl_vec_swiglu_f32_avx512
                 : isa >= PL_ISA_AVX2 ? pl_vec_swiglu_f32_avx2 : pl_vec_swiglu_f32_scalar;
    }
    g_swiglu(n, g, u, o);
}

typedef float (*softmax_fn)(int64_t, float *);
static softmax_fn g_softmax;
float pl_vec_softmax_f32(int64_t n, float *x) {
    if (!g_softmax) {
        pl_isa isa = pl_cpu_isa();
        g_softmax = isa >= PL_ISA_AVX512 ? pl_vec_softmax_f32_avx512
                  : isa >= PL_ISA_AVX2 ? pl_vec_softmax_f32_avx2 : pl_vec_softmax_f32_scalar;
    }
    return g_softmax(n, x);
}
