/* GELU with the tanh approximation, forward and backward: the scalar reference (libm expf) and AVX2 /
 * AVX-512 variants on the polynomial exp of vec_exp_simd.h (shared with softmax and SwiGLU).
 * gelu(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3);
 * gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2). */
#include "backend/cpu/vec.h"
#include "backend/cpu/vec_exp_simd.h"
#include "core/cpu.h"

#include <immintrin.h>
#include <math.h>

#define K0 0.7978845608028654f
#define K1 0.044715f

static inline float tanh_ref(float u) { return u > 15.f ? 1.f : u < -15.f ? -1.f : 1.0f - 2.0f / (expf(2.0f * u) + 1.0f); }

void pl_vec_gelu_f32_scalar(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + tanh_ref(K0 * (x[i] + K1 * x[i] * x[i] * x[i])));
}
void pl_vec_gelu_grad_f32_scalar(int64_t n, const float *x, const float *g, float *dx, bool acc) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], t = tanh_ref(K0 * (v + K1 * v * v * v));
        float d = g[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * K0 * (1.0f + 3.0f * K1 * v * v));
        dx[i] = acc ? dx[i] + d : d;
    }
}

/* ---- AVX-512 ---- */
TGT512 static inline __m512 tanh512(__m512 u) {
    __m512 e = exp512(_mm512_add_ps(u, u));
    return _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
}
TGT512 static inline __m512 inner512(__m512 v) { /* u = K0 (v + K1 v^3) */
    return _mm512_mul_ps(_mm512_set1_ps(K0), _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(K1), v), _mm512_mul_ps(v, v), v));
}
TGT512 void pl_vec_gelu_f32_avx512(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i), t = tanh512(inner512(v));
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(_mm512_set1_ps(1.0f), t)));
    }
    pl_vec_gelu_f32_scalar(n - i, x + i, y + i);
}
TGT512 void pl_vec_gelu_grad_f32_avx512(int64_t n, const float *x, const float *g, float *dx, bool acc) {
    int64_t i = 0;
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i), t = tanh512(inner512(v));
        __m512 a = _mm512_mul_ps(half, _mm512_add_ps(one, t));
        __m512 du = _mm512_mul_ps(_mm512_set1_ps(K0), _mm512_fmadd_ps(_mm512_set1_ps(3.0f * K1), _mm512_mul_ps(v, v), one));
        __m512 b = _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_mul_ps(_mm512_fnmadd_ps(t, t, one), du));
        __m512 gi = _mm512_loadu_ps(g + i), ab = _mm512_add_ps(a, b);
        _mm512_storeu_ps(dx + i, acc ? _mm512_fmadd_ps(gi, ab, _mm512_loadu_ps(dx + i)) : _mm512_mul_ps(gi, ab));
    }
    pl_vec_gelu_grad_f32_scalar(n - i, x + i, g + i, dx + i, acc);
}

/* ---- AVX2 ---- */
TGT256 static inline __m256 tanh256(__m256 u) {
    __m256 e = exp256(_mm256_add_ps(u, u));
    return _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
}
TGT256 static inline __m256 inner256(__m256 v) {
    return _mm256_mul_ps(_mm256_set1_ps(K0), _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(K1), v), _mm256_mul_ps(v, v), v));
}
TGT256 void pl_vec_gelu_f32_avx2(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i), t = tanh256(inner256(v));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(_mm256_set1_ps(1.0f), t)));
    }
    pl_vec_gelu_f32_scalar(n - i, x + i, y + i);
}
TGT256 void pl_vec_gelu_grad_f32_avx2(int64_t n, const float *x, const float *g, float *dx, bool acc) {
    int64_t i = 0;
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i), t = tanh256(inner256(v));
        __m256 a = _mm256_mul_ps(half, _mm256_add_ps(one, t));
        __m256 du = _mm256_mul_ps(_mm256_set1_ps(K0), _mm256_fmadd_ps(_mm256_set1_ps(3.0f * K1), _mm256_mul_ps(v, v), one));
        __m256 b = _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_mul_ps(_mm256_fnmadd_ps(t, t, one), du));
        __m256 gi = _mm256_loadu_ps(g + i), ab = _mm256_add_ps(a, b);
        _mm256_storeu_ps(dx + i, acc ? _mm256_fmadd_ps(gi, ab, _mm256_loadu_ps(dx + i)) : _mm256_mul_ps(gi, ab));
    }
    pl_vec_gelu_grad_f32_scalar(n - i, x + i, g + i, dx + i, acc);
}

typedef void (*gelu_fn)(int64_t, const float *, float *);
typedef void (*gelu_grad_fn)(int64_t, const float *, const float *, float *, bool);
static gelu_fn g_gelu;
static gelu_grad_fn g_gelu_grad;
static void pick(void) {
    pl_isa isa = pl_cpu_isa();
    g_gelu = isa >= PL_ISA_AVX512 ? pl_vec_gelu_f32_avx512 : isa >= PL_ISA_AVX2 ? pl_vec_gelu_f32_avx2 : pl_vec_gelu_f32_scalar;
    g_gelu_grad = isa >= PL_ISA_AVX512 ? pl_vec_gelu_grad_f32_avx512
                : isa >= PL_ISA_AVX2 ? pl_vec_gelu_grad_f32_avx2 : pl_vec_gelu_grad_f32_scalar;
}
void pl_vec_gelu_f32(int64_t n, const float *x, float *y) {
    if (!g_gelu) pick();
    g_gelu(n, x, y);
}
void pl_vec_gelu_grad_f32(int64_t n, const float *x, const float *g, float *dx, bool acc) {
    if (!g_gelu_grad) pick();
    g_gelu_grad(n, x, g, dx, acc);
}
