/* Word2Vec's inner loop (kernels.h): the scalar reference, then the AVX2 + FMA variant, picked once from
 * the CPU's features. One call handles one input vector against all its targets (the word and its negatives,
 * or the word's Huffman path), so the target rows are prefetched together before the first dot product. */
#include "word2vec/kernels.h"

#include "backend/cpu/vec_dot_simd.h"
#include "core/cpu.h"

#include <immintrin.h>
#include <math.h>

void w2v_sigmoid_table(float *sig) {
    for (int i = 0; i <= W2V_SIG_N; i++) {
        double x = ((double)i / W2V_SIG_N * 2 - 1) * W2V_MAX_EXP;
        sig[i] = (float)(1 / (1 + exp(-x)));
    }
}

/* sigmoid(f) from the table; false when f is outside (-MAX_EXP, MAX_EXP) and the pair is to be skipped */
static inline int sigmoid_of(float f, const float *sig, int clamp, float *s) {
    if (f <= -W2V_MAX_EXP) { *s = 0; return clamp; }
    if (f >= W2V_MAX_EXP) { *s = 1; return clamp; }
    *s = sig[(int)((f + W2V_MAX_EXP) * (W2V_SIG_N / W2V_MAX_EXP / 2))];
    return 1;
}

/* ---- scalar reference ----------------------------------------------------------------------------- */
static void update_scalar(const float *l1, float *neu1e, float *syn1, const int32_t *rows, const float *labels,
                          int n, float alpha, int stride, const float *sig, int clamp) {
    for (int k = 0; k < n; k++) {
        float *r = syn1 + (int64_t)rows[k] * stride;
        float f = 0, s;
        for (int d = 0; d < stride; d++) f += l1[d] * r[d];
        if (!sigmoid_of(f, sig, clamp, &s)) continue;
        float g = (labels[k] - s) * alpha;
        for (int d = 0; d < stride; d++) {
            neu1e[d] += g * r[d];
            r[d] += g * l1[d];
        }
    }
}

static void axpy_scalar(int n, float a, const float *x, float *y) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* ---- AVX2 + FMA ----------------------------------------------------------------------------------- */
__attribute__((target("avx2,fma")))
static void update_avx2(const float *l1, float *neu1e, float *syn1, const int32_t *rows, const float *labels,
                        int n, float alpha, int stride, const float *sig, int clamp) {
    /* the targets are random rows of a table larger than L2: ask for all of them before the first product */
    for (int k = 0; k < n; k++) {
        const char *p = (const char *)(syn1 + (int64_t)rows[k] * stride);
        for (int b = 0; b < stride * 4; b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
    }
    for (int k = 0; k < n; k++) {
        float *r = syn1 + (int64_t)rows[k] * stride;
        float s;
        if (!sigmoid_of(dot_f32_avx2(stride, l1, r), sig, clamp, &s)) continue; /* stride: a multiple of 8 */
        __m256 g = _mm256_set1_ps((labels[k] - s) * alpha);
        for (int d = 0; d < stride; d += 8) {
            __m256 rv = _mm256_loadu_ps(r + d);
            _mm256_storeu_ps(neu1e + d, _mm256_fmadd_ps(g, rv, _mm256_loadu_ps(neu1e + d)));
            _mm256_storeu_ps(r + d, _mm256_fmadd_ps(g, _mm256_loadu_ps(l1 + d), rv));
        }
    }
}

__attribute__((target("avx2,fma"))) static void axpy_avx2(int n, float a, const float *x, float *y) {
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static const w2v_kernels k_scalar = {update_scalar, axpy_scalar, "scalar"};
static const w2v_kernels k_avx2 = {update_avx2, axpy_avx2, "avx2"};

const w2v_kernels *w2v_kernels_scalar(void) { return &k_scalar; }

const w2v_kernels *w2v_kernels_get(void) {
    const pl_cpu_features *f = pl_cpu();
    return pl_cpu_isa() >= PL_ISA_AVX2 && f->avx2 && f->fma ? &k_avx2 : &k_scalar;
}
