/* CPU feature detection through cpuid/xgetbv (x86-64) and physical-core counting from sysfs. */
#include "core/cpu.h"
#include "core/common.h"

#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static pl_cpu_features g_feat;
static int g_detected;
static int g_max_isa = -1;

static void detect(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        bool osxsave = (c >> 27) & 1;
        unsigned long long xcr0 = 0;
        if (osxsave) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            xcr0 = ((unsigned long long)hi << 32) | lo;
        }
        bool ymm = (xcr0 & 6) == 6, zmm = (xcr0 & 0xe6) == 0xe6;
        g_feat.fma = ymm && ((c >> 12) & 1);
        g_feat.f16c = ymm && ((c >> 29) & 1);
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            g_feat.avx2 = ymm && ((b >> 5) & 1);
            g_feat.avx512f = zmm && ((b >> 16) & 1);
            g_feat.avx512dq = zmm && ((b >> 17) & 1);
            g_feat.avx512bw = zmm && ((b >> 30) & 1);
            g_feat.avx512vl = zmm && ((b >> 31) & 1);
            g_feat.avx512vnni = zmm && ((c >> 11) & 1);
        }
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) g_feat.avx512bf16 = zmm && ((a >> 5) & 1);
    }
#endif
    const char *env = getenv("PLINTH_CPU");
    if (env && g_max_isa < 0) {
        if (!strcmp(env, "scalar")) g_max_isa = PL_ISA_SCALAR;
        else if (!strcmp(env, "avx2")) g_max_isa = PL_ISA_AVX2;
        else if (!strcmp(env, "avx512")) g_max_isa = PL_ISA_AVX512;
    }
    g_detected = 1;
}

const pl_cpu_features *pl_cpu(void) {
    if (!g_detected) detect();
    return &g_feat;
}

pl_isa pl_cpu_isa(void) {
    const pl_cpu_features *f = pl_cpu();
    pl_isa isa = PL_ISA_SCALAR;
    if (f->avx2 && f->fma && f->f16c) isa = PL_ISA_AVX2;
    if (isa == PL_ISA_AVX2 && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq) isa = PL_ISA_AVX512;
    if (g_max_isa >= 0 && (int)isa > g_max_isa) isa = (pl_isa)g_max_isa;
    return isa;
}

void pl_cpu_set_max_isa(pl_isa isa) {
    pl_cpu();
    g_max_isa = (int)isa;
}

int pl_cpu_physical_cores(void) {
    /* Count distinct (package, core) pairs; fall back to the online CPU count. */
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    int seen[1024][2], nseen = 0;
    for (long i = 0; i < n && i < 1024; i++) {
        char path[256];
        int pkg = -1, core = -1;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/physical_package_id", i);
        FILE *f = fopen(path, "r");
        if (!f) return (int)n;
        if (fscanf(f, "%d", &pkg) != 1) pkg = -1;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/core_id", i);
        f = fopen(path, "r");
        if (!f) return (int)n;
        if (fscanf(f, "%d", &core) != 1) core = -1;
        fclose(f);
        int dup = 0;
        for (int j = 0; j < nseen; j++) dup |= seen[j][0] == pkg && seen[j][1] == core;
        if (!dup) { seen[nseen][0] = pkg; seen[nseen][1] = core; nseen++; }
    }
    return nseen > 0 ? nseen : (int)n;
}
