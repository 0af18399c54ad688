/* f16 -> f32 rows (vec_cvt.h): the scalar reference is core's bit-level conversion; the F16C variant
 * (vcvtph2ps: exact for every half including subnormals and inf; it quiets signalling nans) does 8 at a time. */
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

typedef void (*cvt_fn)(int64_t, const pl_fp16 *, float *);
static cvt_fn g_cvt;
void pl_vec_f16_to_f32(int64_t n, const pl_fp16 *x, float *y) {
    if (!g_cvt) g_cvt = pl_cpu_isa() >= PL_ISA_AVX2 && pl_cpu()->f16c ? pl_vec_f16_to_f32_f16c : pl_vec_f16_to_f32_scalar;
    g_cvt(n, x, y);
}
