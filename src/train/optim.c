/* AdamW, clipping and the learning-rate schedule: flat loops over the parameter buffers. */
#include "train/optim.h"

#include "core/cpu.h"

#include <immintrin.h>
#include <math.h>

/* The update of one element, in the order torch computes it; g arrives already scaled by the clip factor. */
static void adamw_scalar(int64_t n, float *w, const float *g, float *m, float *v, float gscale, float b1, float b2,
                         float step, float bc2_sqrt, float decay, float eps) {
    for (int64_t i = 0; i < n; i++) {
        float gi = gscale == 1.0f ? g[i] : g[i] * gscale;
        w[i] *= decay;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        w[i] -= step * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    }
}

/* The same operations 16 lanes at a time (separate multiplies and adds, no FMA: bit-identical to the above) */
__attribute__((target("avx512f"))) static void adamw_avx512(int64_t n, float *w, const float *g, float *m, float *v,
                                                             float gscale, float b1, float b2, float step,
                                                             float bc2_sqrt, float decay, float eps) {
    const __m512 vb1 = _mm512_set1_ps(b1), vb1c = _mm512_set1_ps(1.0f - b1), vb2 = _mm512_set1_ps(b2),
                 vb2c = _mm512_set1_ps(1.0f - b2), vstep = _mm512_set1_ps(step), vbc = _mm512_set1_ps(bc2_sqrt),
                 vdec = _mm512_set1_ps(decay), veps = _mm512_set1_ps(eps), vgs = _mm512_set1_ps(gscale);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 gi = _mm512_loadu_ps(g + i);
        if (gscale != 1.0f) gi = _mm512_mul_ps(gi, vgs);
        __m512 wi = _mm512_mul_ps(_mm512_loadu_ps(w + i), vdec);
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(vb1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(vb1c, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(vb2, _mm512_loadu_ps(v + i)), _mm512_mul_ps(_mm512_mul_ps(vb2c, gi), gi));
        __m512 den = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), vbc), veps);
        wi = _mm512_sub_ps(wi, _mm512_div_ps(_mm512_mul_ps(vstep, mi), den));
        _mm512_storeu_ps(w + i, wi);
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
    }
    adamw_scalar(n - i, w + i, g + i, m + i, v + i, gscale, b1, b2, step, bc2_sqrt, decay, eps);
}

/* The same, 8 lanes at a time (AVX2 CPUs) */
__attribute__((target("avx2"))) static void adamw_avx2(int64_t n, float *w, const float *g, float *m, float *v,
                                                       float gscale, float b1, float b2, float step, float bc2_sqrt,
                                                       float decay, float eps) {
    const __m256 vb1 = _mm256_set1_ps(b1), vb1c = _mm256_set1_ps(1.0f - b1), vb2 = _mm256_set1_ps(b2),
                 vb2c = _mm256_set1_ps(1.0f - b2), vstep = _mm256_set1_ps(step), vbc = _mm256_set1_ps(bc2_sqrt),
                 vdec = _mm256_set1_ps(decay), veps = _mm256_set1_ps(eps), vgs = _mm256_set1_ps(gscale);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        if (gscale != 1.0f) gi = _mm256_mul_ps(gi, vgs);
        __m256 wi = _mm256_mul_ps(_mm256_loadu_ps(w + i), vdec);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(vb1c, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(vb2c, gi), gi));
        __m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), vbc), veps);
        wi = _mm256_sub_ps(wi, _mm256_div_ps(_mm256_mul_ps(vstep, mi), den));
        _mm256_storeu_ps(w + i, wi);
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
    }
    adamw_scalar(n - i, w + i, g + i, m + i, v + i, gscale, b1, b2, step, bc2_sqrt, decay, eps);
}

void pl_adamw_step_scaled(const pl_adamw *o, int64_t t, float lr, int64_t n, float *w, const float *g, float *m,
                          float *v, float gscale) {
    float b1 = o->beta1, b2 = o->beta2;
    float bc1 = 1.0f - powf(b1, (float)t), bc2 = 1.0f - powf(b2, (float)t);
    float step = lr / bc1, bc2_sqrt = sqrtf(bc2), decay = 1.0f - lr * o->weight_decay;
    pl_isa isa = pl_cpu_isa();
    if (isa >= PL_ISA_AVX512) adamw_avx512(n, w, g, m, v, gscale, b1, b2, step, bc2_sqrt, decay, o->eps);
    else if (isa >= PL_ISA_AVX2) adamw_avx2(n, w, g, m, v, gscale, b1, b2, step, bc2_sqrt, decay, o->eps);
    else adamw_scalar(n, w, g, m, v, gscale, b1, b2, step, bc2_sqrt, decay, o->eps);
}

void pl_adamw_step(const pl_adamw *o, int64_t t, float lr, int64_t n, float *w, const float *g, float *m, float *v) {
    pl_adamw_step_scaled(o, t, lr, n, w, g, m, v, 1.0f);
}

/* sum of squares in double: 8 double lanes on AVX-512 (order differs from the scalar loop only in rounding) */
__attribute__((target("avx512f"))) static double sumsq_avx512(int64_t n, const float *g) {
    __m512d a0 = _mm512_setzero_pd(), a1 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(g + i);
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        a0 = _mm512_fmadd_pd(lo, lo, a0);
        a1 = _mm512_fmadd_pd(hi, hi, a1);
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    for (; i < n; i++) s += (double)g[i] * g[i];
    return s;
}
/* 4 double lanes per register on AVX2 */
__attribute__((target("avx2,fma"))) static double sumsq_avx2(int64_t n, const float *g) {
    __m256d a0 = _mm256_setzero_pd(), a1 = a0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(g + i);
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        a0 = _mm256_fmadd_pd(lo, lo, a0);
        a1 = _mm256_fmadd_pd(hi, hi, a1);
    }
    __m256d a = _mm256_add_pd(a0, a1);
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    double s = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
    for (; i < n; i++) s += (double)g[i] * g[i];
    return s;
}
double pl_sumsq_f32(int64_t n, const float *g) {
    pl_isa isa = pl_cpu_isa();
    if (isa >= PL_ISA_AVX512) return sumsq_avx512(n, g);
    if (isa >= PL_ISA_AVX2) return sumsq_avx2(n, g);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

float pl_clip_grad_norm(float *g, int64_t n, float max_norm) {
    float norm = (float)sqrt(pl_sumsq_f32(n, g));
    if (max_norm > 0 && norm > max_norm) {
        float k = max_norm / (norm + 1e-6f);
        for (int64_t i = 0; i < n; i++) g[i] *= k;
    }
    return norm;
}

float pl_lr_schedule(int64_t step, int64_t warmup, int64_t total, float lr_max, float lr_min) {
    if (step < warmup) return lr_max * (float)(step + 1) / (float)warmup;
    if (step >= total) return lr_min;
    double ratio = (double)(step - warmup) / (double)(total - warmup > 0 ? total - warmup : 1);
    return lr_min + 0.5f * (float)(1.0 + cos(3.141592653589793 * ratio)) * (lr_max - lr_min);
}
