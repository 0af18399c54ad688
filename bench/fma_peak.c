/* The roof for f32 compute: how many GFLOP/s this CPU's FMA units give with N threads, each running 12
 * independent chains of vector FMAs (enough to cover the FMA latency on every x86 core we know of), on the
 * widest vectors it has (AVX-512 where the CPU has it, else AVX2 + FMA; chosen at run time, no -march flags).
 * One FMA on a vector of W floats counts as 2W FLOPs. The figure is the best of five rounds, summed over the
 * threads of a round. bench/bench_train.py puts training steps against it ("% of peak"); issue 2.
 *
 * usage: fma_peak [THREADS]   prints: "fma_peak: THREADS threads ISA GFLOPS" (GFLOPS a number) */
#include "bench_common.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define CHAINS 12
#define ITERS 40000000L /* of 12 FMAs: ~0.15-0.3 s a round on a 3 GHz core */

static volatile float seed = 1.0f; /* unknown to the compiler: no chain starts at a value it can fold */

/* a = a * b + c on every chain; b < 1 and c small, so the values settle near c / (1 - b): no overflow, no
 * subnormals. Returns a sum of the chains so that the compiler keeps the work. */
#define FMA_LOOP(V, SET1, FMADD, FIRST)                                                                       \
    V a[CHAINS];                                                                                               \
    V b = SET1(0.999f), c = SET1(0.001f);                                                                      \
    _Pragma("GCC unroll 12") for (int i = 0; i < CHAINS; i++) a[i] = SET1(seed * (float)i);                          \
    for (long it = 0; it < ITERS; it++) {                                                                      \
        _Pragma("GCC unroll 12") for (int i = 0; i < CHAINS; i++) a[i] = FMADD(a[i], b, c);                   \
    }                                                                                                          \
    float s = 0;                                                                                               \
    for (int i = 0; i < CHAINS; i++) s += FIRST(a[i]);                                                         \
    return s;

__attribute__((target("avx512f"))) static float chains512(void) {
    FMA_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_cvtss_f32)
}
__attribute__((target("avx2,fma"))) static float chains256(void) {
    FMA_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32)
}

static int wide; /* 1: AVX-512 */
static volatile float sink;

static void *run(void *arg) {
    (void)arg;
    sink = wide ? chains512() : chains256();
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    if (n < 1 || n > 1024) {
        fprintf(stderr, "fma_peak: threads must be 1..1024, got %s\n", argv[1]);
        return 2;
    }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "fma_peak: this CPU has no AVX2 + FMA\n");
        return 1;
    }
    wide = __builtin_cpu_supports("avx512f");
    pthread_t *t = calloc((size_t)n, sizeof *t);
    if (!t) return 1;
    double best = 0;
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (int i = 1; i < n; i++)
            if (pthread_create(&t[i], NULL, run, NULL) != 0) { fprintf(stderr, "fma_peak: no thread\n"); return 1; }
        run(NULL);
        for (int i = 1; i < n; i++) pthread_join(t[i], NULL);
        double dt = now() - t0, gflops = (double)n * ITERS * CHAINS * 2.0 * (wide ? 16 : 8) / dt / 1e9;
        if (gflops > best) best = gflops;
    }
    printf("fma_peak: %d threads %s %.1f\n", n, wide ? "AVX-512" : "AVX2", best);
    free(t);
    return 0;
}
