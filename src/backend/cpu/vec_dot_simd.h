/* pl_vec_dot_f32_avx2's dot product (backend/cpu/vec.c) as a static inline, for loops that call it per row and
 * want it inlined (vec.c itself; HNSW search, rag/hnsw.c; word2vec's updates, word2vec/kernels.c): one body, so
 * every caller's sums are the same operations in the same order and give the same bits. */
#ifndef PL_VEC_DOT_SIMD_H
#define PL_VEC_DOT_SIMD_H

#include "backend/cpu/vec_exp_simd.h" /* hsum256 */

#include <stdint.h>

/* two accumulators over 16 floats a step, one more step of 8, hsum256 of their sum, the last n % 8 in order */
TGT256 static inline __attribute__((always_inline)) float dot_f32_avx2(int64_t n, const float *x, const float *y) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

#endif
