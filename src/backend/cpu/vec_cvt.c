/* f16 <-> f32 rows (vec_cvt.h): the scalar references are core's bit-level conversions; the F16C variants do 8
 * at a time (vcvtph2ps: exact for every half including subnormals and inf, it quiets signalling nans;
 * vcvtps2ph with round-to-nearest-even: core's rounding bit for bit, a nan stays a nan with its payload's top bits). */
#include "backend/cpu/vec_cvt.h"
#include "core/cpu.h"

#include <immintrin.h>

void pl_vec_f16_to_f32_scalar(int64_t n, const pl_fp16 *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = pl_fp16_to_fp32(x[i]);
}

__attribute__((target("avx,f16c"))) void pl_vec_f16_to_f32_f16c(int64_t n, const pl_fp16 *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    pl_vec_f16_to_f32_scalar(n - i, x + i, y + i);
}

/* both directions' variant, as the CPU and PLINTH_CPU allow */
static bool f16c(void) { return pl_cpu_isa() >= PL_ISA_AVX2 && pl_cpu()->f16c; }

typedef void (*cvt_fn)(int64_t, const pl_fp16 *, float *);
static cvt_fn g_cvt;
void pl_vec_f16_to_f32(int64_t n, const pl_fp16 *x, float *y) {
    if (!g_cvt) g_cvt = f16c() ? pl_vec_f16_to_f32_f16c : pl_vec_f16_to_f32_scalar;
    g_cvt(n, x, y);
}

void pl_vec_f32_to_f16_scalar(int64_t n, const float *x, pl_fp16 *y) {
    for (int64_t i = 0; i < n; i++) y[i] = pl_fp32_to_fp16(x[i]);
}

__attribute__((target("avx,f16c"))) void pl_vec_f32_to_f16_f16c(int64_t n, const float *x, pl_fp16 *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    pl_vec_f32_to_f16_scalar(n - i, x + i, y + i);
}

/* a decode step stores each token's K and V rows in an f16 cache through this (the scalar loop was ~1.4% of a
 * SmolLM2 Q4_K_M decode step on one thread, work no other thread shares) */
typedef void (*cvt_back_fn)(int64_t, const float *, pl_fp16 *);
static cvt_back_fn g_cvt_back;
void pl_vec_f32_to_f16(int64_t n, const float *x, pl_fp16 *y) {
    if (!g_cvt_back) g_cvt_back = f16c() ? pl_vec_f32_to_f16_f16c : pl_vec_f32_to_f16_scalar;
    g_cvt_back(n, x, y);
}
