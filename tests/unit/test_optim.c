/* The optimizer's loops: AdamW's AVX2 and AVX-512 updates against the scalar reference (bit-identical: same
 * operations, no FMA), with and without a folded gradient scale; the SIMD sums of squares against a plain double
 * loop (each ISA level the CPU has; a level above it runs the one below);
 * clipping; the warmup + cosine schedule at its corners. */
#include "core/cpu.h"
#include "test.h"
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / (1 << 24)) * 2.0 - 1.0);
}

static const pl_isa levels[3] = {PL_ISA_SCALAR, PL_ISA_AVX2, PL_ISA_AVX512};

static void adamw_same(int64_t n, float gscale) {
    float *buf[3][3], *g = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) g[i] = frand() * (i % 7 == 0 ? 10.0f : 0.01f);
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < 3; b++) buf[k][b] = malloc((size_t)n * sizeof(float));
    rng = 42;
    for (int64_t i = 0; i < n; i++) {
        float w = frand(), m = 0.01f * frand(), v = 1e-4f * fabsf(frand());
        for (int k = 0; k < 3; k++) buf[k][0][i] = w, buf[k][1][i] = m, buf[k][2][i] = v;
    }
    pl_adamw o = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    for (int k = 0; k < 3; k++) {
        pl_cpu_set_max_isa(levels[k]);
        for (int t = 1; t <= 3; t++) pl_adamw_step_scaled(&o, t, 1e-3f, n, buf[k][0], g, buf[k][1], buf[k][2], gscale);
    }
    pl_cpu_set_max_isa(PL_ISA_AVX512);
    for (int k = 1; k < 3; k++)
        for (int b = 0; b < 3; b++)
            CHECKF(memcmp(buf[0][b], buf[k][b], (size_t)n * sizeof(float)) == 0,
                   "adamw n=%lld scale %g, isa %d: buffer %d differs", (long long)n, gscale, (int)levels[k], b);
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < 3; b++) free(buf[k][b]);
    free(g);
}

int main(void) {
    printf("cpu isa level %d\n", pl_cpu_isa());
    for (int64_t n = 0; n < 40; n++) adamw_same(n, 1.0f);
    adamw_same(1000, 0.37f);
    adamw_same(65537, 1.0f);

    /* the scaled step is the plain step on g * scale */
    float w1[33], w2[33], m1[33] = {0}, m2[33] = {0}, v1[33] = {0}, v2[33] = {0}, g[33], gs[33];
    for (int i = 0; i < 33; i++) { w1[i] = w2[i] = frand(); g[i] = frand(); gs[i] = g[i] * 0.25f; }
    pl_adamw o = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
    pl_adamw_step_scaled(&o, 1, 1e-2f, 33, w1, g, m1, v1, 0.25f);
    pl_adamw_step(&o, 1, 1e-2f, 33, w2, gs, m2, v2);
    CHECK(memcmp(w1, w2, sizeof w1) == 0 && memcmp(v1, v2, sizeof v1) == 0);

    for (int64_t n = 0; n < 70; n += 3) {
        float *x = malloc((size_t)(n + 1) * sizeof(float));
        double ref = 0;
        for (int64_t i = 0; i < n; i++) { x[i] = frand() * 3; ref += (double)x[i] * x[i]; }
        for (int k = 0; k < 3; k++) {
            pl_cpu_set_max_isa(levels[k]);
            CHECK_NEAR(pl_sumsq_f32(n, x), ref, 1e-9 * (ref + 1));
        }
        pl_cpu_set_max_isa(PL_ISA_AVX512);
        free(x);
    }

    float c[4] = {3, 4, 0, 0}; /* norm 5 -> clipped to 1 */
    CHECK_NEAR(pl_clip_grad_norm(c, 4, 1.0f), 5.0f, 1e-6);
    CHECK_NEAR(sqrtf(c[0] * c[0] + c[1] * c[1]), 1.0f, 1e-5);
    CHECK_NEAR(pl_lr_schedule(0, 10, 100, 1.0f, 0.1f), 0.1f, 1e-7);
    CHECK_NEAR(pl_lr_schedule(9, 10, 100, 1.0f, 0.1f), 1.0f, 1e-7);
    CHECK_NEAR(pl_lr_schedule(100, 10, 100, 1.0f, 0.1f), 0.1f, 1e-7);
    TEST_DONE();
}
