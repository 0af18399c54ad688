/* f32 dot / axpy / scale: scalar reference, AVX2+FMA and AVX-512 variants compiled with target attributes
 * (no global -m flags) and chosen at first use from pl_cpu_isa(). */
#include "backend/cpu/vec.h"
#include "backend/cpu/vec_dot_simd.h"
#include "core/cpu.h"

#include <immintrin.h>
#include <math.h>

float pl_vec_dot_f32_scalar(int64_t n, const float *x, const float *y) {
    float acc[8] = {0}; /* eight partial sums, like the SIMD lanes, so rounding is comparable */
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[i + j] * y[i + j];
    float s = 0;
    for (int j = 0; j < 8; j++) s += acc[j];
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

__attribute__((target("avx2,fma"))) float pl_vec_dot_f32_avx2(int64_t n, const float *x, const float *y) { return dot_f32_avx2(n, x, y); }

__attribute__((target("avx512f"))) float pl_vec_dot_f32_avx512(int64_t n, const float *x, const float *y) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

void pl_vec_axpy_f32_scalar(int64_t n, float a, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}
__attribute__((target("avx2,fma"))) void pl_vec_axpy_f32_avx2(int64_t n, float a, const float *x, float *y) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}
__attribute__((target("avx512f"))) void pl_vec_axpy_f32_avx512(int64_t n, float a, const float *x, float *y) {
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

int64_t pl_vec_find_ge_f32_scalar(int64_t n, const float *x, float t) {
    int64_t i = 0;
    while (i < n && !(x[i] >= t)) i++;
    return i;
}
/* 32 floats a step (four compares, one test of their OR); the step that holds a match finds it lane by lane */
__attribute__((target("avx2"))) int64_t pl_vec_find_ge_f32_avx2(int64_t n, const float *x, float t) {
    __m256 vt = _mm256_set1_ps(t);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 m = _mm256_or_ps(_mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vt, _CMP_GE_OQ),
                                             _mm256_cmp_ps(_mm256_loadu_ps(x + i + 8), vt, _CMP_GE_OQ)),
                                _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i + 16), vt, _CMP_GE_OQ),
                                             _mm256_cmp_ps(_mm256_loadu_ps(x + i + 24), vt, _CMP_GE_OQ)));
        if (!_mm256_testz_ps(m, m)) break;
    }
    for (; i + 8 <= n; i += 8) {
        int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), vt, _CMP_GE_OQ));
        if (m) return i + __builtin_ctz((unsigned)m);
    }
    return i + pl_vec_find_ge_f32_scalar(n - i, x + i, t);
}
__attribute__((target("avx512f"))) int64_t pl_vec_find_ge_f32_avx512(int64_t n, const float *x, float t) {
    __m512 vt = _mm512_set1_ps(t);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), vt, _CMP_GE_OQ);
        __mmask16 m2 = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i + 16), vt, _CMP_GE_OQ);
        if (m | m2) return i + (m ? __builtin_ctz(m) : 16 + __builtin_ctz(m2));
    }
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __mmask16 m = _mm512_mask_cmp_ps_mask(k, _mm512_maskz_loadu_ps(k, x + i), vt, _CMP_GE_OQ);
        if (m) return i + __builtin_ctz(m);
    }
    return n;
}

typedef float (*dot_fn)(int64_t, const float *, const float *);
typedef void (*axpy_fn)(int64_t, float, const float *, float *);
static dot_fn g_dot;
static axpy_fn g_axpy;
static int64_t (*g_find_ge)(int64_t, const float *, float);

static void pick(void) {
    pl_isa isa = pl_cpu_isa();
    g_dot = isa >= PL_ISA_AVX512 ? pl_vec_dot_f32_avx512 : isa >= PL_ISA_AVX2 ? pl_vec_dot_f32_avx2 : pl_vec_dot_f32_scalar;
    g_axpy = isa >= PL_ISA_AVX512 ? pl_vec_axpy_f32_avx512 : isa >= PL_ISA_AVX2 ? pl_vec_axpy_f32_avx2 : pl_vec_axpy_f32_scalar;
    g_find_ge = isa >= PL_ISA_AVX512 ? pl_vec_find_ge_f32_avx512
              : isa >= PL_ISA_AVX2   ? pl_vec_find_ge_f32_avx2
                                     : pl_vec_find_ge_f32_scalar;
}

float pl_vec_dot_f32(int64_t n, const float *x, const float *y) {
    if (!g_dot) pick();
    return g_dot(n, x, y);
}
void pl_vec_axpy_f32(int64_t n, float a, const float *x, float *y) {
    if (!g_axpy) pick();
    g_axpy(n, a, x, y);
}
int64_t pl_vec_find_ge_f32(int64_t n, const float *x, float t) {
    if (!g_find_ge) pick();
    return g_find_ge(n, x, t);
}
void pl_vec_scale_f32(int64_t n, float a, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] *= a;
}
float pl_vec_max_f32(int64_t n, const float *x) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}
