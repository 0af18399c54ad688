/* CPU feature detection, done once. Kernels are compiled for several ISAs with __attribute__((target))
 * and picked here at run time. PLINTH_CPU=scalar|avx2|avx512 caps the level (tests use it to compare). */
#ifndef PL_CPU_H
#define PL_CPU_H

#include <stdbool.h>

typedef struct {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
} pl_cpu_features;

typedef enum { PL_ISA_SCALAR = 0, PL_ISA_AVX2 = 1, PL_ISA_AVX512 = 2 } pl_isa;

const pl_cpu_features *pl_cpu(void);
/* Highest ISA level usable: the CPU's, capped by PLINTH_CPU or pl_cpu_set_max_isa(). */
pl_isa pl_cpu_isa(void);
void pl_cpu_set_max_isa(pl_isa isa); /* tests: force the scalar reference */
int pl_cpu_physical_cores(void);

#endif
