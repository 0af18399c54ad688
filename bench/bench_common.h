/* What the C benchmarks in bench/ share: a monotonic clock and the process's CPU time, operands on transparent huge pages (as plinth's arena
 * puts a training step's tensors), and a cache flush by a 64 MB sweep. Header-only; each bench is one file. */
#ifndef PL_BENCH_COMMON_H
#define PL_BENCH_COMMON_H

#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static inline double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* the process's CPU time (all threads): on a shared host, the work done, where wall time is also the others' */
static inline double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* with 4 KiB pages the weight-gradient products, which read dY^T a matrix row apart, ran 3-8% slower in every
 * library */
static inline float *huge_alloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, (size_t)2 << 20, bytes) != 0) return NULL;
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

/* a buffer of SWEEP_FLOATS (calloc) whose sweep evicts the caches before a cold call */
#define SWEEP_FLOATS (16u << 20)
static inline void flush(float *sweep) {
    for (size_t i = 0; i < SWEEP_FLOATS; i += 16) sweep[i] += 1.0f;
}

#endif
