/* The inner loop of Word2Vec training, one scalar reference and one AVX2 + FMA variant chosen at run time
 * (core/cpu.h): given the input vector l1 and a list of output rows with their labels, update the rows and
 * accumulate l1's gradient. Used by train.c only; rows are `stride` floats, a multiple of 8, zero-padded. */
#ifndef PL_W2V_KERNELS_H
#define PL_W2V_KERNELS_H

#include <stdint.h>

/* sigmoid(x) for x in (-W2V_MAX_EXP, W2V_MAX_EXP) from a table of W2V_SIG_N entries, as word2vec.c does */
#define W2V_MAX_EXP 6
#define W2V_SIG_N 2048

typedef struct {
    /* for each k < n: f = l1 . syn1[rows[k]]; g = (labels[k] - sigmoid(f)) * alpha;
     * neu1e += g * syn1[rows[k]]; syn1[rows[k]] += g * l1. Outside (-MAX_EXP, MAX_EXP) the sigmoid is taken as
     * 0 or 1 when clamp is set (negative sampling), else the pair is skipped (hierarchical softmax). */
    void (*update)(const float *l1, float *neu1e, float *syn1, const int32_t *rows, const float *labels, int n,
                   float alpha, int stride, const float *sig, int clamp);
    void (*axpy)(int n, float a, const float *x, float *y); /* y += a x */
    const char *name;
} w2v_kernels;

const w2v_kernels *w2v_kernels_get(void);     /* the best the CPU has (capped by PLINTH_CPU) */
const w2v_kernels *w2v_kernels_scalar(void);
void w2v_sigmoid_table(float *sig);          /* fills W2V_SIG_N + 1 entries */

#endif
