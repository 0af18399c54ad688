/* What the vector-search benches in C share (vindex_bench.c, exact_split.c): vectors from the raw float32 files
 * bench_vindex.py writes; with bench_common.h's CPU time (on a shared host, with one thread, a steadier measure
 * than the wall clock). Header-only; include after core/common.h. */
#ifndef PL_BENCH_VECTORS_H
#define PL_BENCH_VECTORS_H

#include "bench_common.h" /* cpu_s */

#include <stdio.h>
#include <stdlib.h>

/* n vectors of dim floats (the file's length decides n); exits with the reason when it cannot be read */
static inline float *load(const char *path, int dim, int64_t *n) {
    size_t len;
    char *p = pl_read_file(path, &len);
    if (!p) { fprintf(stderr, "%s: %s\n", path, pl_last_error()); exit(1); }
    *n = (int64_t)(len / (sizeof(float) * dim));
    return (float *)p;
}

#endif
