/* The fused attention op's SIMD paths, AVX2 and AVX-512 (register-blocked kernels, packed K^T / V^T, skipped
 * masked tiles; each that the CPU has, capped with pl_cpu_set_max_isa), against its reference path (scalar:
 * sgemm per block): output and the gradients of q, k, v on head sizes 6..128 (on and off the vector widths),
 * sequence lengths 1..130 (block edges at 64, odd lengths), queries after a cache (Tq < Tk, including decode
 * rows that take the dot-product path), grouped-query heads, sliding windows, no mask, and q/k/v as strided
 * views of a fused projection. Also: 1 and 2 threads give bit-identical results (one writer each). */
#include "backend/cpu/attn_kernels.h"
#include "core/cpu.h"
#include "core/tensor.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int D, Tq, Tk, Hq, Hk, B, causal, window, fused;
} shape;

static uint64_t rng;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / (1 << 24)) * 2.0 - 1.0);
}
static pl_tensor *rand_param(pl_ctx *ctx, int64_t a, int64_t b, int64_t c, int64_t d, float amp) {
    pl_tensor *t = pl_new(ctx, PL_F32, 4, (int64_t[]){a, b, c, d});
    for (int64_t i = 0; i < pl_nelements(t); i++) pl_f32(t)[i] = amp * frand();
    pl_param(ctx, t);
    return t;
}
static float *copy_of(const pl_tensor *t) {
    float *c = malloc((size_t)pl_nelements(t) * sizeof(float));
    if (c) memcpy(c, t->data, (size_t)pl_nelements(t) * sizeof(float));
    return c;
}

/* res: output, then the gradients of the inputs (q, k, v; or the fused qkv); returns how many, 0 on failure */
static int run(const shape *s, pl_isa isa, int threads, float *res[4], int64_t len[4]) {
    pl_cpu_set_max_isa(isa);
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = threads});
    if (!ctx) return 0;
    rng = 0x2545F4914F6CDD1Dull;
    float amp = 1.5f; /* scores up to ~ D * amp^2 * scale: exercises the max subtraction */
    pl_tensor *in[3], *q, *k, *v;
    int n_in;
    if (s->fused) { /* q, k, v sliced from one {3 D H, T, B} projection, as a GPT block does */
        int64_t D = s->D, H = s->Hq, T = s->Tq;
        pl_tensor *qkv = rand_param(ctx, 3 * D * H, T, s->B, 1, amp);
        size_t nb[4] = {4, (size_t)D * 4, qkv->nb[1], qkv->nb[2]};
        pl_tensor *view[3];
        for (int i = 0; i < 3; i++)
            view[i] = pl_permute(ctx, pl_view(ctx, qkv, 4, (int64_t[]){D, H, T, s->B}, nb, (size_t)(i * D * H * 4)), 0, 2, 1, 3);
        q = view[0]; k = view[1]; v = view[2];
        in[0] = qkv;
        n_in = 1;
    } else {
        q = in[0] = rand_param(ctx, s->D, s->Tq, s->Hq, s->B, amp);
        k = in[1] = rand_param(ctx, s->D, s->Tk, s->Hk, s->B, amp);
        v = in[2] = rand_param(ctx, s->D, s->Tk, s->Hk, s->B, 1.0f);
        n_in = 3;
    }
    float scale = 1.0f / sqrtf((float)s->D);
    pl_tensor *o = s->window ? pl_attention_window(ctx, q, k, v, scale, s->window) : pl_attention(ctx, q, k, v, scale, s->causal);
    if (!o) { pl_ctx_free(ctx); return 0; }
    pl_tensor *w = pl_new(ctx, PL_F32, 4, o->ne);
    for (int64_t i = 0; i < pl_nelements(w); i++) pl_f32(w)[i] = frand();
    pl_graph *g = pl_graph_build(ctx, pl_sum(ctx, pl_mul(ctx, o, w)), true);
    if (!g) { pl_ctx_free(ctx); return 0; }
    for (int i = 0; i < n_in; i++) memset(in[i]->grad->data, 0, pl_nbytes(in[i]->grad));
    pl_graph_forward(ctx, g);
    pl_graph_backward(ctx, g);
    res[0] = copy_of(o);
    len[0] = pl_nelements(o);
    for (int i = 0; i < n_in; i++) {
        res[1 + i] = copy_of(in[i]->grad);
        len[1 + i] = pl_nelements(in[i]);
    }
    pl_ctx_free(ctx);
    return 1 + n_in;
}

/* max |a - b| over max(1, max |b|): the gradients' scale grows with D and T */
static double rel_diff(const float *a, const float *b, int64_t n) {
    double d = 0, m = 1;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
        if (!isfinite(a[i])) return INFINITY;
    }
    return d / m;
}

static const char *isa_name(pl_isa isa) { return isa == PL_ISA_AVX512 ? "AVX-512" : "AVX2"; }

/* levels: the SIMD ISA levels to hold to the reference */
static void check_shape(const shape *s, const pl_isa *levels, int n_levels) {
    static const char *what[4] = {"output", "grad 1", "grad 2", "grad 3"};
    float *ref[4] = {0};
    int64_t len[4] = {0};
    int n = run(s, PL_ISA_SCALAR, 2, ref, len);
    CHECKF(n > 0, "D=%d Tq=%d Tk=%d: reference run failed: %s", s->D, s->Tq, s->Tk, pl_last_error());
    for (int l = 0; l < n_levels && n > 0; l++) {
        float *simd[4] = {0}, *simd2[4] = {0};
        int n1 = run(s, levels[l], 1, simd, len), n2 = run(s, levels[l], 2, simd2, len);
        CHECK(n1 == n && n2 == n);
        for (int i = 0; i < n && n1 == n && n2 == n; i++) {
            double d = rel_diff(simd[i], ref[i], len[i]);
            CHECKF(d < 2e-5, "%s D=%d Tq=%d Tk=%d Hq=%d Hk=%d B=%d causal=%d window=%d fused=%d: %s differs by %.3g",
                   isa_name(levels[l]), s->D, s->Tq, s->Tk, s->Hq, s->Hk, s->B, s->causal, s->window, s->fused, what[i],
                   d);
            CHECKF(memcmp(simd[i], simd2[i], (size_t)len[i] * sizeof(float)) == 0,
                   "%s D=%d Tq=%d Tk=%d: %s differs between 1 and 2 threads", isa_name(levels[l]), s->D, s->Tq, s->Tk,
                   what[i]);
        }
        for (int i = 0; i < 4; i++) { free(simd[i]); free(simd2[i]); }
    }
    for (int i = 0; i < 4; i++) free(ref[i]);
}

/* The decode kernels over rows that lie anywhere (pl_attn_rows_dots / rows_wsum, as attention over a batch's KV
 * cells uses them) against a double-precision reference, at every ISA level the CPU has: head sizes on and off
 * the vector widths (the masked tail, strips of 4 vectors and what is left), 1..37 rows scattered in memory. */
static void check_row_kernels(const pl_isa *levels, int n_levels) {
    static const int Ds[] = {6, 8, 24, 40, 64, 100, 128, 200};
    static const int ns[] = {1, 3, 4, 5, 17, 37};
    float *pool = malloc(64 * 256 * sizeof(float)), q[256], p[64], out[256];
    for (int i = 0; i < 64 * 256; i++) pool[i] = frand();
    for (int li = 0; li < n_levels; li++) {
        const pl_attn_kernels *kr = pl_attn_kernels_for(levels[li]);
        CHECK(kr && kr->rows_dots && kr->rows_wsum);
        if (!kr) continue;
        double worst = 0;
        for (size_t di = 0; di < PL_ARRAY_LEN(Ds); di++)
            for (size_t ni = 0; ni < PL_ARRAY_LEN(ns); ni++) {
                const int D = Ds[di], n = ns[ni];
                const float *rows[64];
                for (int j = 0; j < n; j++) rows[j] = pool + ((j * 29 + D) % 63) * 256 + (j % 3); /* unaligned, any order */
                for (int d = 0; d < D; d++) q[d] = frand();
                for (int j = 0; j < n; j++) p[j] = frand();
                kr->rows_dots(D, n, rows, q, 0.125f, out);
                for (int j = 0; j < n; j++) { /* a row's score is its score alone, bit for bit, wherever it lies */
                    float one;
                    kr->rows_dots(D, 1, rows + j, q, 0.125f, &one);
                    CHECKF(memcmp(&one, out + j, sizeof one) == 0, "%s rows_dots D=%d: row %d of %d is not its score alone",
                           isa_name(levels[li]), D, j, n);
                }
                for (int j = 0; j < n; j++) {
                    double ref = 0, mag = 0;
                    for (int d = 0; d < D; d++) ref += (double)q[d] * rows[j][d], mag += fabs((double)q[d] * rows[j][d]);
                    double e = fabs(out[j] - 0.125 * ref) / (0.125 * mag + 1e-30);
                    worst = e > worst ? e : worst;
                }
                out[D] = 12345.0f; /* past the row: must stay */
                kr->rows_wsum(D, n, rows, p, out, false);
                CHECK(out[D] == 12345.0f);
                if (n > 3) { /* in two blocks, the second resumed from the first's sums: the same bits */
                    float two[257];
                    two[D] = 12345.0f;
                    kr->rows_wsum(D, 3, rows, p, two, false);
                    kr->rows_wsum(D, n - 3, rows + 3, p + 3, two, true);
                    CHECKF(memcmp(two, out, (size_t)D * sizeof(float)) == 0 && two[D] == 12345.0f,
                           "%s rows_wsum D=%d n=%d: two blocks are not one pass", isa_name(levels[li]), D, n);
                }
                for (int d = 0; d < D; d++) {
                    double ref = 0, mag = 0;
                    for (int j = 0; j < n; j++) ref += (double)p[j] * rows[j][d], mag += fabs((double)p[j] * rows[j][d]);
                    double e = fabs(out[d] - ref) / (mag + 1e-30);
                    worst = e > worst ? e : worst;
                }
            }
        /* the f16 kernels (an f16 cache read in place): the f32 kernels' bits on the rows widened first */
        for (size_t di = 0; di < PL_ARRAY_LEN(Ds); di++)
            for (size_t ni = 0; ni < PL_ARRAY_LEN(ns); ni++) {
                const int D = Ds[di], n = ns[ni];
                if (D % kr->vlen) continue; /* those go through the widening gather */
                static uint16_t hpool[37][256];
                static float wide[37][256];
                const uint16_t *hrows[37];
                const float *frows[37];
                for (int j = 0; j < n; j++) {
                    for (int d = 0; d < D; d++) hpool[j][d] = pl_fp32_to_fp16(4 * frand() - 2), wide[j][d] = pl_fp16_to_fp32(hpool[j][d]);
                    hrows[j] = hpool[j], frows[j] = wide[j];
                }
                for (int d = 0; d < D; d++) q[d] = frand();
                for (int j = 0; j < n; j++) p[j] = frand();
                float a[256], b[256];
                kr->rows_dots(D, n, frows, q, 0.125f, a);
                kr->rows_dots_h(D, n, hrows, q, 0.125f, b);
                CHECKF(memcmp(a, b, (size_t)n * sizeof(float)) == 0, "%s rows_dots_h D=%d n=%d: not the f32 kernel's bits",
                       isa_name(levels[li]), D, n);
                kr->rows_wsum(D, n, frows, p, a, false);
                kr->rows_wsum_h(D, n, hrows, p, b, false);
                CHECKF(memcmp(a, b, (size_t)D * sizeof(float)) == 0, "%s rows_wsum_h D=%d n=%d: not the f32 kernel's bits",
                       isa_name(levels[li]), D, n);
                if (n > 3) { /* resumed: acc */
                    kr->rows_wsum_h(D, 3, hrows, p, b, false);
                    kr->rows_wsum_h(D, n - 3, hrows + 3, p + 3, b, true);
                    CHECKF(memcmp(a, b, (size_t)D * sizeof(float)) == 0, "%s rows_wsum_h D=%d n=%d: two blocks are not one pass",
                           isa_name(levels[li]), D, n);
                }
            }
        printf("%-7s decode row kernels: worst error %.2e of the terms' magnitude\n", isa_name(levels[li]), worst);
        CHECKF(worst < 1e-6, "%s decode row kernels: error %.2e", isa_name(levels[li]), worst);
    }
    free(pool);
}

int main(void) {
    pl_isa levels[2];
    int n_levels = 0;
    pl_cpu_set_max_isa(PL_ISA_AVX512);
    for (pl_isa l = PL_ISA_AVX2; l <= PL_ISA_AVX512; l++)
        if (pl_cpu_isa() >= l) levels[n_levels++] = l;
        else printf("no %s here: its path is not tested\n", isa_name(l));
    /* D, Tq, Tk, Hq, Hk, B, causal, window, fused */
    static const shape shapes[] = {
        {64, 128, 128, 2, 2, 2, 1, 0, 0},  /* the training shape: two query blocks */
        {64, 130, 130, 4, 2, 1, 1, 0, 0},  /* a 2-row third block, grouped heads */
        {32, 33, 33, 3, 1, 2, 1, 0, 0},
        {40, 7, 7, 2, 2, 1, 1, 0, 0},      /* 40 = 16 + 16 + 8: a masked last vector */
        {80, 1, 1, 2, 1, 1, 1, 0, 0},
        {128, 65, 65, 2, 2, 1, 1, 0, 0},   /* two 64-wide column chunks */
        {6, 7, 7, 2, 1, 1, 1, 0, 0},       /* head smaller than a vector */
        {64, 1, 130, 4, 2, 1, 1, 0, 0},    /* decode after a cache: dot-product path */
        {40, 3, 45, 2, 1, 2, 1, 0, 0},     /* 3 rows: still the dot-product path */
        {64, 7, 40, 2, 2, 1, 1, 0, 0},     /* chunk after a cache: packed path */
        {80, 33, 100, 2, 2, 1, 1, 0, 0},
        {64, 130, 130, 2, 2, 1, 1, 17, 0}, /* sliding window */
        {80, 33, 70, 2, 1, 1, 1, 9, 0},    /* window after a cache */
        {32, 70, 70, 2, 2, 1, 1, 64, 0},
        {64, 50, 50, 2, 2, 1, 0, 0, 0},    /* no mask */
        {32, 45, 20, 2, 1, 2, 0, 0, 0},    /* no mask, more queries than keys */
        {64, 70, 70, 3, 3, 2, 1, 0, 1},    /* strided views of a fused qkv */
        {24, 29, 29, 2, 2, 1, 1, 0, 0},    /* 24 = 3 AVX2 vectors, 1.5 AVX-512 vectors */
        {100, 77, 77, 2, 1, 1, 1, 0, 0},   /* 100 = 12.5 AVX2 vectors: masked transposes and products */
        {96, 61, 61, 6, 2, 1, 1, 0, 0},    /* 3 query heads per kv head, 61 = 7 x 8 + 5 keys */
        {128, 100, 100, 2, 2, 1, 1, 0, 0}, /* two column chunks, odd block of 36 rows */
        {48, 90, 90, 4, 2, 1, 1, 23, 0},   /* window ending mid-vector */
        {32, 2, 37, 2, 2, 1, 1, 0, 0},     /* decode rows: dot products with a key tail */
        {100, 3, 45, 2, 1, 1, 0, 0, 0},    /* dot products with a head-size tail, no mask */
        {64, 37, 83, 2, 2, 1, 0, 0, 0},    /* no mask, odd lengths */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) check_shape(&shapes[i], levels, n_levels);
    check_row_kernels(levels, n_levels);
    pl_cpu_set_max_isa(PL_ISA_AVX512);
    TEST_DONE();
}
