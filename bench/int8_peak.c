/* The roof for 8-bit dot products on AVX2: how many multiply-adds a second one core's integer units give with
 * the instruction mix of plinth's q8_0 eight-row decode kernel (src/backend/cpu/quant_rows.c): per 32 products,
 * a 4-byte activation group broadcast from memory, vpsignb (q8_0 codes are signed on both sides, and vpmaddubsw
 * wants one side unsigned), vpmaddubsw, vpmaddwd (widen to 32 bits) and vpaddd, on independent chains with the
 * weights in registers; and the same without vpsignb (the mix of the 4-bit kernels, whose codes are unsigned).
 * Eight sequences decoded together are bound by the first figure once the weights stream from memory fast
 * enough (issue 15): a step of SmolLM2-135M for eight sequences is 8 x 134.5 M multiply-adds.
 *
 * The third figure is the other way to multiply signed bytes on AVX2: both sides widened to 16 bits (the
 * weights once per block, for all activation rows) and vpmaddwd alone, 16 products an instruction with no sign
 * step and no widening, one broadcast per 16 products instead of per 32.
 *
 * usage: int8_peak [THREADS]   prints: "int8_peak: THREADS threads signed S GMAC/s unsigned U GMAC/s madd16 M GMAC/s" */
#include "bench_common.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define ITERS 20000000L
static int32_t act[64]; /* activation groups, read by broadcast (L1) */
static volatile int32_t sink;

/* four chains; each iteration meets four weight vectors with four broadcast groups: 4 x 32 products */
#define INT8_LOOP(SIGNED)                                                                                          \
    const __m256i ones = _mm256_set1_epi16(1);                                                                     \
    __m256i g0 = _mm256_set1_epi8(-3), g1 = _mm256_set1_epi8(5), g2 = _mm256_set1_epi8(-7), g3 = _mm256_set1_epi8(9); \
    __m256i u0 = _mm256_abs_epi8(g0), u1 = _mm256_abs_epi8(g1), u2 = _mm256_abs_epi8(g2), u3 = _mm256_abs_epi8(g3); \
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;                                                \
    for (long it = 0; it < ITERS; it++) {                                                                          \
        const int32_t *p = act + (it & 15) * 4;                                                                    \
        __m256i b0 = _mm256_set1_epi32(p[0]), b1 = _mm256_set1_epi32(p[1]);                                        \
        __m256i b2 = _mm256_set1_epi32(p[2]), b3 = _mm256_set1_epi32(p[3]);                                        \
        if (SIGNED) {                                                                                              \
            b0 = _mm256_sign_epi8(b0, g0); b1 = _mm256_sign_epi8(b1, g1);                                          \
            b2 = _mm256_sign_epi8(b2, g2); b3 = _mm256_sign_epi8(b3, g3);                                          \
        }                                                                                                          \
        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(u0, b0), ones));                          \
        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_maddubs_epi16(u1, b1), ones));                          \
        a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_maddubs_epi16(u2, b2), ones));                          \
        a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_maddubs_epi16(u3, b3), ones));                          \
    }                                                                                                              \
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));                              \
    return _mm256_extract_epi32(s, 0);

/* 16-bit operands: per iteration eight weight vectors of 16 signed 16-bit values meet eight broadcast pairs of
 * activations, 8 x 16 products (each vpmaddwd sums two products into a 32-bit lane) */
__attribute__((target("avx2"), noinline)) static int32_t chains_madd16(void) {
    __m256i w[8], a[4];
    for (int k = 0; k < 8; k++) w[k] = _mm256_set1_epi16((short)(k - 3));
    for (int k = 0; k < 4; k++) a[k] = _mm256_setzero_si256();
    for (long it = 0; it < ITERS; it++) {
        const int32_t *p = act + (it & 7) * 8;
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) a[k & 3] = _mm256_add_epi32(a[k & 3], _mm256_madd_epi16(w[k], _mm256_set1_epi32(p[k])));
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(a[0], a[1]), _mm256_add_epi32(a[2], a[3]));
    return _mm256_extract_epi32(s, 0);
}
__attribute__((target("avx2"), noinline)) static int32_t chains_signed(void) { INT8_LOOP(1) }
__attribute__((target("avx2"), noinline)) static int32_t chains_unsigned(void) { INT8_LOOP(0) }

static int mode; /* 0: unsigned, 1: signed, 2: madd16 */
static void *run(void *arg) {
    (void)arg;
    sink = mode == 2 ? chains_madd16() : mode ? chains_signed() : chains_unsigned();
    return NULL;
}

/* one round of n threads on mix m: GMAC/s summed over the threads */
static double round_rate(pthread_t *t, int n, int m) {
    mode = m;
    double t0 = now();
    for (int i = 1; i < n; i++)
        if (pthread_create(&t[i], NULL, run, NULL) != 0) { fprintf(stderr, "int8_peak: no thread\n"); exit(1); }
    run(NULL);
    for (int i = 1; i < n; i++) pthread_join(t[i], NULL);
    return (double)n * ITERS * 4 * 32 / (now() - t0) / 1e9;
}
/* best of seven rounds per mix, the mixes taking turns within each round (a busy moment of a shared host then
 * falls on all three alike) */
static void rates(int n, double best[3]) {
    pthread_t *t = calloc((size_t)n, sizeof *t);
    best[0] = best[1] = best[2] = 0;
    for (int round = 0; t && round < 7; round++)
        for (int m = 0; m < 3; m++) {
            double g = round_rate(t, n, m);
            if (g > best[m]) best[m] = g;
        }
    free(t);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    if (n < 1 || n > 1024) {
        fprintf(stderr, "int8_peak: threads must be 1..1024, got %s\n", argc > 1 ? argv[1] : "");
        return 2;
    }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2")) {
        fprintf(stderr, "int8_peak: this CPU has no AVX2\n");
        return 1;
    }
    for (int i = 0; i < 64; i++) act[i] = (int32_t)(0x01020304u * (unsigned)(i + 1));
    double g[3];
    rates(n, g);
    printf("int8_peak: %d threads signed %.1f GMAC/s unsigned %.1f GMAC/s madd16 %.1f GMAC/s\n", n, g[1], g[0], g[2]);
    return 0;
}
