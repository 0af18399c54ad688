/* SIMD f32 kernels held to the scalar reference on many lengths (remainders included), at every ISA
 * level this CPU has. */
#include "backend/cpu/vec.h"
#include "core/cpu.h"
#include "test.h"

static float rnd(unsigned *s) { *s = *s * 1664525u + 1013904223u; return ((*s >> 8) / 16777216.0f) * 2 - 1; }

int main(void) {
    unsigned seed = 7;
    float x[1031], y[1031], y1[1031], y2[1031], y3[1031];
    pl_isa isa = pl_cpu_isa();
    printf("cpu isa level %d (avx512 vnni %d, bf16 %d)\n", isa, pl_cpu()->avx512vnni, pl_cpu()->avx512bf16);
    for (int n = 0; n <= 1031; n += (n < 70 ? 1 : 97)) {
        for (int i = 0; i < n; i++) { x[i] = rnd(&seed); y[i] = rnd(&seed); }
        float ref = pl_vec_dot_f32_scalar(n, x, y);
        double exact = 0, mag = 0;
        for (int i = 0; i < n; i++) { exact += (double)x[i] * y[i]; mag += fabs((double)x[i] * y[i]); }
        CHECK_NEAR(ref, exact, 1e-5 * (mag + 1));
        if (isa >= PL_ISA_AVX2) CHECK_NEAR(pl_vec_dot_f32_avx2(n, x, y), ref, 1e-5 * (mag + 1));
        if (isa >= PL_ISA_AVX512) CHECK_NEAR(pl_vec_dot_f32_avx512(n, x, y), ref, 1e-5 * (mag + 1));
        for (int i = 0; i < n; i++) y1[i] = y2[i] = y3[i] = y[i];
        pl_vec_axpy_f32_scalar(n, 0.37f, x, y1);
        if (isa >= PL_ISA_AVX2) pl_vec_axpy_f32_avx2(n, 0.37f, x, y2);
        if (isa >= PL_ISA_AVX512) pl_vec_axpy_f32_avx512(n, 0.37f, x, y3);
        int bad = 0;
        for (int i = 0; i < n; i++) {
            if (isa >= PL_ISA_AVX2 && fabsf(y2[i] - y1[i]) > 1e-6f) bad++;
            if (isa >= PL_ISA_AVX512 && fabsf(y3[i] - y1[i]) > 1e-6f) bad++;
        }
        CHECKF(bad == 0, "axpy n=%d: %d mismatches", n, bad);
    }
    TEST_DONE();
}
