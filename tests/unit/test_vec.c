/* SIMD f32 kernels held to the scalar reference on many lengths (remainders included), at every ISA
 * level this CPU has. */
#include "backend/cpu/vec.h"
#include "core/cpu.h"
#include "test.h"

#include <string.h>

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
    /* find_ge: the first x[i] >= t, at every level, on every length and match position (NaNs never match) */
    {
        float f[300];
        int bad = 0;
        for (int n = 0; n <= 300; n += (n < 80 ? 1 : 37))
            for (int at = -1; at < n; at += (at < 70 ? 1 : 23)) {
                for (int i = 0; i < n; i++) f[i] = i % 7 == 3 ? NAN : rnd(&seed) - 2; /* all below t = 1.5 */
                if (at >= 0) f[at] = at % 2 ? 1.5f : 2.0f; /* equal to t, or above it */
                if (at >= 0 && at + 1 < n) f[at + 1] = 3.0f;
                int64_t want = at < 0 ? n : at;
                bad += pl_vec_find_ge_f32_scalar(n, f, 1.5f) != want;
                if (isa >= PL_ISA_AVX2) bad += pl_vec_find_ge_f32_avx2(n, f, 1.5f) != want;
                if (isa >= PL_ISA_AVX512) bad += pl_vec_find_ge_f32_avx512(n, f, 1.5f) != want;
                bad += pl_vec_find_ge_f32(n, f, 1.5f) != want;
                bad += pl_vec_find_ge_f32(n, f, -INFINITY) != 0; /* f[0] is never a NaN (n 0: 0 too) */
            }
        CHECKF(bad == 0, "find_ge: %d mismatches", bad);
    }
    /* GELU: the polynomial-exp SIMD variants against libm's expf, over a wide range (tails included) */
    float gx[1037], gr[1037], gs[1037], gg[1037], d1[1037], d2[1037];
    for (int i = 0; i < 1037; i++) { gx[i] = (i - 518) * 0.02f; gg[i] = rnd(&seed); }
    gx[0] = -40; gx[1] = 40; gx[2] = 0;
    pl_vec_gelu_f32_scalar(1037, gx, gr);
    for (int lvl = PL_ISA_AVX2; lvl <= (int)isa; lvl++) {
        int bad = 0;
        (lvl == PL_ISA_AVX2 ? pl_vec_gelu_f32_avx2 : pl_vec_gelu_f32_avx512)(1037, gx, gs);
        for (int i = 0; i < 1037; i++) bad += fabsf(gs[i] - gr[i]) > 1e-6f * (1 + fabsf(gr[i]));
        for (int acc = 0; acc < 2; acc++) { /* adding into 0.25, and writing over a NaN (first writer) */
            for (int i = 0; i < 1037; i++) d1[i] = d2[i] = acc ? 0.25f : NAN;
            pl_vec_gelu_grad_f32_scalar(1037, gx, gg, d1, acc);
            (lvl == PL_ISA_AVX2 ? pl_vec_gelu_grad_f32_avx2 : pl_vec_gelu_grad_f32_avx512)(1037, gx, gg, d2, acc);
            for (int i = 0; i < 1037; i++) bad += !(fabsf(d1[i] - d2[i]) <= 1e-6f * (1 + fabsf(d1[i])));
        }
        memcpy(d2, gg, sizeof d2); /* in place: dx is g (a GELU backward that owns its input's gradient) */
        (lvl == PL_ISA_AVX2 ? pl_vec_gelu_grad_f32_avx2 : pl_vec_gelu_grad_f32_avx512)(1037, gx, d2, d2, false);
        pl_vec_gelu_grad_f32_scalar(1037, gx, gg, d1, false);
        for (int i = 0; i < 1037; i++) bad += !(fabsf(d1[i] - d2[i]) <= 1e-6f * (1 + fabsf(d1[i])));
        CHECKF(bad == 0, "gelu isa %d: %d mismatches", lvl, bad);
    }
    /* the reference and every SIMD variant against 0.5 x (1 + tanh(u)) and its derivative in double, relative to
     * the value (the tails included, where 1 + tanh(u) in float would cancel: the form before lost all digits
     * below x = -5; and x near -10 and 10, where the SIMD exponentials reach their clamps at 2^128 and 2^-150) */
    float ys[3][1037], ds[3][1037];
    memcpy(ys[0], gr, sizeof gr);
    pl_vec_gelu_grad_f32_scalar(1037, gx, gg, ds[0], false);
    if (isa >= PL_ISA_AVX2) {
        pl_vec_gelu_f32_avx2(1037, gx, ys[1]);
        pl_vec_gelu_grad_f32_avx2(1037, gx, gg, ds[1], false);
    }
    if (isa >= PL_ISA_AVX512) {
        pl_vec_gelu_f32_avx512(1037, gx, ys[2]);
        pl_vec_gelu_grad_f32_avx512(1037, gx, gg, ds[2], false);
    }
    for (int lvl = 0; lvl <= (int)isa; lvl++) {
        int far = 0;
        for (int i = 0; i < 1037; i++) {
            /* 1 + tanh(u) = 2 s and 1 - tanh(u)^2 = 4 s (1 - s), s = 1 / (1 + e^(-2u)): the double-precision forms
             * that do not cancel either */
            double v = gx[i], u = 0.7978845608028654 * (v + 0.044715 * v * v * v), s = 1 / (1 + exp(-2 * u));
            double y = v * s, dy = s + 2 * v * s * (1 - s) * 0.7978845608028654 * (1 + 3 * 0.044715 * v * v);
            double tol = 2e-6 * (1 + fabs(u) / 8); /* float's rounding of u itself: relative 6e-8 |2u| in e^(-2u) */
            far += !(fabs(ys[lvl][i] - y) <= tol * fabs(y) + 1e-30); /* (where e^(-2u) overflows float, 0 for ~1e-40) */
            far += !(fabs(ds[lvl][i] - gg[i] * dy) <= tol * fabs(gg[i] * dy) + 1e-7 * fabs(gg[i]) + 1e-30);
        }
        CHECKF(far == 0, "gelu isa %d: %d values off double precision", lvl, far);
        /* past the exponential's clamps: e^(-2u) is infinity at x = -40 (gelu 0, not a tiny x 2^-127) and 0 at 40 */
        CHECKF(ys[lvl][0] == 0.0f && ys[lvl][1] == 40.0f && ys[lvl][2] == 0.0f && ds[lvl][0] == 0.0f && ds[lvl][1] == gg[1],
               "gelu isa %d at -40, 40, 0: %g %g %g, gradients %g %g", lvl, ys[lvl][0], ys[lvl][1], ys[lvl][2], ds[lvl][0],
               ds[lvl][1]);
    }
    /* AVX2's 2^k from exponent bits rounds as AVX-512's vscalefps: the same bits (the vector parts; the GEMM's
     * fused GELU of either ISA then matches the separate pass of both) */
    if (isa >= PL_ISA_AVX512)
        CHECK(memcmp(ys[1], ys[2], 1024 * sizeof(float)) == 0 && memcmp(ds[1], ds[2], 1024 * sizeof(float)) == 0);
    CHECK(gr[0] == 0.0f && gr[1] == 40.0f && gr[2] == 0.0f);
    /* QuickGELU, x sigmoid(1.702 x): every variant against double precision (tails and clamps included), the
     * gradients added into and written over, and in place; AVX2 and AVX-512 the same bits */
    for (int lvl = 0; lvl <= (int)isa; lvl++) {
        void (*f)(int64_t, const float *, float *) = lvl == 0 ? pl_vec_qgelu_f32_scalar
                                                     : lvl == PL_ISA_AVX2 ? pl_vec_qgelu_f32_avx2 : pl_vec_qgelu_f32_avx512;
        void (*df)(int64_t, const float *, const float *, float *, bool) =
            lvl == 0 ? pl_vec_qgelu_grad_f32_scalar : lvl == PL_ISA_AVX2 ? pl_vec_qgelu_grad_f32_avx2 : pl_vec_qgelu_grad_f32_avx512;
        int far = 0;
        f(1037, gx, ys[lvl]);
        for (int i = 0; i < 1037; i++) d1[i] = 0.25f;
        df(1037, gx, gg, d1, true);
        memcpy(ds[lvl], gg, sizeof gg);
        df(1037, gx, ds[lvl], ds[lvl], false);
        for (int i = 0; i < 1037; i++) {
            double v = gx[i], s = 1 / (1 + exp(-1.702 * v)), y = v * s, dy = gg[i] * s * (1 + 1.702 * v * (1 - s));
            double tol = 2e-6 * (1 + fabs(v) / 8);
            far += !(fabs(ys[lvl][i] - y) <= tol * fabs(y) + 1e-30);
            far += !(fabs(ds[lvl][i] - dy) <= tol * fabs(dy) + 1e-7 * fabs(gg[i]) + 1e-30);
            far += !(fabs(d1[i] - (0.25 + dy)) <= tol * fabs(dy) + 1e-6);
        }
        CHECKF(far == 0, "quick gelu isa %d: %d values off double precision", lvl, far);
        float far_left = -100, at = 1;
        f(1, &far_left, &at); /* e^170 overflows float: the clamp gives 0 (-0), not NaN */
        CHECKF(at == 0.0f && ys[lvl][1] == 40.0f && ys[lvl][2] == 0.0f, "quick gelu isa %d at -100, 40, 0: %g %g %g", lvl,
               at, ys[lvl][1], ys[lvl][2]);
    }
    if (isa >= PL_ISA_AVX512)
        CHECK(memcmp(ys[1], ys[2], 1024 * sizeof(float)) == 0 && memcmp(ds[1], ds[2], 1024 * sizeof(float)) == 0);
    CHECK_NEAR(gr[518 + 50], 0.5 * 1.0 * (1 + tanh(0.7978845608028654 * (1.0 + 0.044715))), 1e-6); /* x = 1 */
    TEST_DONE();
}
