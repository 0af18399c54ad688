/* The erf GELU rows (backend/cpu/vec_gelu_erf.c): the scalar reference within 4e-7 (absolute, scaled by |x|) of
 * 0.5 x (1 + erf(x / sqrt 2)) in double precision over [-10, 10], and each SIMD variant the CPU has within 1e-6
 * relative of the scalar reference, tails (lengths not a multiple of the vector) included. */
#include "backend/cpu/vec_gelu_erf.h"
#include "core/cpu.h"
#include "test.h"

int main(void) {
    enum { N = 20003 };
    static float x[N], ref[N], got[N];
    for (int i = 0; i < N; i++) x[i] = -10.0f + 20.0f * i / (N - 1);
    pl_vec_gelu_erf_f32_scalar(N, x, ref);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double exact = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
        worst = fmax(worst, fabs(ref[i] - exact) / fmax(1.0, fabs(x[i])));
    }
    CHECKF(worst < 4e-7, "scalar reference vs erf: %.3g", worst);
    pl_isa isa = pl_cpu_isa();
    for (int v = 1; v <= 2; v++) {
        if ((v == 1 && isa < PL_ISA_AVX2) || (v == 2 && isa < PL_ISA_AVX512)) continue;
        for (int n = N - 17; n <= N; n += 17) {
            if (v == 1) pl_vec_gelu_erf_f32_avx2(n, x, got); else pl_vec_gelu_erf_f32_avx512(n, x, got);
            double w = 0;
            for (int i = 0; i < n; i++) w = fmax(w, fabs(got[i] - ref[i]) / fmax(1e-3, fabs(ref[i])));
            CHECKF(w < 1e-6, "%s vs scalar, n %d: %.3g", v == 1 ? "avx2" : "avx512", n, w);
        }
    }
    pl_vec_gelu_erf_f32(N, x, got);
    CHECK(got[N / 2] == ref[N / 2] || fabs(got[N / 2] - ref[N / 2]) < 1e-9);
    TEST_DONE();
}
