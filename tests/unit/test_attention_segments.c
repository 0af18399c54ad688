/* pl_attention_segments (ops/attention_segments.c), the encoder's attention over sentences packed end to end,
 * held to pl_attention (full, no mask) run on each sentence alone: lengths across the 64-row query blocks, a
 * one-token sentence, and offsets that do not cut the tokens into sequences refused. Each ISA level's path (sgemm
 * for scalar, the register-blocked kernels for AVX2 / AVX-512) is held to that reference, and the SIMD paths to
 * the scalar one. */
#include "core/common.h"
#include "core/cpu.h"
#include "core/tensor.h"
#include "test.h"

static void fill(pl_tensor *t, uint64_t *s) {
    float *p = pl_f32(t);
    for (int64_t i = 0; i < pl_nelements(t); i++) p[i] = (float)((pl_splitmix64(s) >> 40) / 16777216.0 * 2 - 1);
}

int main(void) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 64 << 20, .n_threads = 2});
    enum { D = 32, H = 3, S = 6 };
    const int32_t len[S] = {3, 70, 1, 130, 200, 64};
    int N = 0;
    for (int s = 0; s < S; s++) N += len[s];
    uint64_t seed = 7;
    pl_tensor *q = pl_new_3d(ctx, PL_F32, D, H, N), *k = pl_new_3d(ctx, PL_F32, D, H, N), *v = pl_new_3d(ctx, PL_F32, D, H, N);
    fill(q, &seed); fill(k, &seed); fill(v, &seed);
    pl_tensor *seg = pl_new_1d(ctx, PL_I32, S + 1);
    int32_t *off = seg->data;
    off[0] = 0;
    for (int s = 0; s < S; s++) off[s + 1] = off[s] + len[s];
    float scale = 0.35f;
    pl_isa top = pl_cpu_isa();
    float *ref = malloc((size_t)N * H * D * sizeof(float));
    for (int isa = PL_ISA_SCALAR; isa <= (int)top; isa++) {
        pl_cpu_set_max_isa((pl_isa)isa);
        pl_tensor *y = pl_attention_segments(ctx, q, k, v, seg, scale);
        CHECK(y != NULL);
        pl_graph_forward(ctx, pl_graph_build(ctx, y, false));
        double worst = 0, vs_scalar = 0;
        for (int s = 0; s < S; s++) { /* sentence s alone: (D, H, T) -> (D, T, H) views, full attention */
            pl_tensor *qs = pl_permute(ctx, pl_slice(ctx, q, 2, off[s], len[s]), 0, 2, 1, 3);
            pl_tensor *ks = pl_permute(ctx, pl_slice(ctx, k, 2, off[s], len[s]), 0, 2, 1, 3);
            pl_tensor *vs = pl_permute(ctx, pl_slice(ctx, v, 2, off[s], len[s]), 0, 2, 1, 3);
            pl_tensor *ys = pl_attention(ctx, qs, ks, vs, scale, false); /* (D, H, T, 1) */
            pl_graph_forward(ctx, pl_graph_build(ctx, ys, false));
            const float *a = pl_f32(y) + (size_t)off[s] * H * D, *b = pl_f32(ys);
            for (int i = 0; i < len[s] * H * D; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
        }
        if (isa == PL_ISA_SCALAR) memcpy(ref, pl_f32(y), (size_t)N * H * D * sizeof(float));
        for (int i = 0; i < N * H * D; i++) vs_scalar = fmax(vs_scalar, fabs((double)pl_f32(y)[i] - ref[i]));
        CHECKF(worst < 1e-6, "isa %d: max difference from per-sentence attention %.3g", isa, worst);
        CHECKF(vs_scalar < 1e-6, "isa %d: max difference from the scalar path %.3g", isa, vs_scalar);
    }
    pl_cpu_set_max_isa(top);
    free(ref);
    off[2] = off[1]; /* an empty sentence */
    CHECK(pl_attention_segments(ctx, q, k, v, seg, scale) == NULL);
    off[2] = off[1] + 1; off[S] = N - 1; /* offsets that stop short of the tokens */
    CHECK(pl_attention_segments(ctx, q, k, v, seg, scale) == NULL);
    pl_ctx_free(ctx);
    TEST_DONE();
}
