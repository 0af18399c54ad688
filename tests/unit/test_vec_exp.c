/* The SIMD exp kernels (backend/cpu/vec_exp.c) held to the scalar references: row softmax (probabilities
 * and log-sum-exp, on ragged lengths, large ranges that underflow, -inf (masked) entries) and SwiGLU. */
#include "backend/cpu/vec_exp.h"
#include "core/cpu.h"
#include "test.h"

#include <string.h>

static float rnd(unsigned *s) { *s = *s * 1103515245u + 12345u; return (float)((*s >> 8) & 0xffff) / 65536.0f; }

static void check_variant(float (*fn)(int64_t, float *), const char *name) {
    unsigned seed = 7;
    float x[300], r[300], y[300];
    const int lens[] = {1, 3, 8, 15, 16, 17, 31, 64, 100, 257, 300};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int n = lens[li];
        float spread = li % 2 ? 30.0f : 4.0f; /* wide: many exps underflow */
        for (int i = 0; i < n; i++) x[i] = (rnd(&seed) - 0.5f) * 2 * spread;
        if (n > 4) x[n / 3] = -INFINITY;
        memcpy(r, x, sizeof x); memcpy(y, x, sizeof x);
        float lr = pl_vec_softmax_f32_scalar(n, r), ly = fn(n, y);
        CHECKF(fabsf(lr - ly) <= 1e-5f * (1 + fabsf(lr)), "%s n=%d lse %g vs %g", name, n, ly, lr);
        double err = 0, sum = 0;
        for (int i = 0; i < n; i++) { err = fmax(err, fabs(r[i] - y[i])); sum += y[i]; }
        CHECKF(err <= 1e-6, "%s n=%d max |p diff| %g", name, n, err);
        CHECK_NEAR(sum, 1.0, 1e-5);
        if (n > 4) CHECK(y[n / 3] == 0.0f);
    }
}

static void check_swiglu(void (*fn)(int64_t, const float *, const float *, float *), const char *name) {
    unsigned seed = 11;
    float g[203], u[203], r[203], y[203];
    for (int i = 0; i < 203; i++) { g[i] = (rnd(&seed) - 0.5f) * (i < 100 ? 16 : 200); u[i] = rnd(&seed) - 0.5f; }
    pl_vec_swiglu_f32_scalar(203, g, u, r);
    fn(203, g, u, y);
    double err = 0;
    for (int i = 0; i < 203; i++) err = fmax(err, fabs(r[i] - y[i]) / (1e-6 + fabs(r[i])));
    CHECKF(err <= 1e-5, "%s swiglu max rel err %g", name, err);
    memcpy(y, g, sizeof y);
    fn(203, y, u, y); /* in place */
    CHECK(fabsf(y[5] - r[5]) <= 1e-5f * (1 + fabsf(r[5])));
}

int main(void) {
    const pl_cpu_features *f = pl_cpu();
    if (f->avx2 && f->fma) check_variant(pl_vec_softmax_f32_avx2, "avx2");
    if (f->avx512f) check_variant(pl_vec_softmax_f32_avx512, "avx512");
    if (f->avx2 && f->fma) check_swiglu(pl_vec_swiglu_f32_avx2, "avx2");
    if (f->avx512f) check_swiglu(pl_vec_swiglu_f32_avx512, "avx512");
    float one[1] = {3.0f};
    CHECK_NEAR(pl_vec_softmax_f32(1, one), 3.0, 1e-6);
    CHECK(one[0] == 1.0f);
    TEST_DONE();
}
