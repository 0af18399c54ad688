/* pl_attention_window (sliding-window causal attention, Gemma 3's local layers) against a naive double-precision
 * reference: query i (at position Tk-Tq+i) sees keys max(0, pos-window+1) .. pos. Several windows, queries that
 * follow a cache (Tq < Tk), grouped-query heads; a window as long as the keys equals plain causal attention;
 * gradients of q, k, v against central finite differences. Each on every path: the sgemm one (inference, or
 * no SIMD) and the SIMD kernels of training at each ISA level the CPU has (AVX2, AVX-512). */
#include "core/cpu.h"
#include "core/tensor.h"
#include "test.h"

#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / (1 << 24)) * 2.0 - 1.0);
}
static pl_tensor *rand_t(pl_ctx *ctx, int64_t D, int64_t T, int64_t H) {
    pl_tensor *t = pl_new(ctx, PL_F32, 3, (int64_t[]){D, T, H});
    for (int64_t i = 0; i < pl_nelements(t); i++) pl_f32(t)[i] = frand();
    return t;
}

/* out {D, Hq, Tq} */
static void reference(const pl_tensor *q, const pl_tensor *k, const pl_tensor *v, float scale, int window, double *out) {
    int64_t D = q->ne[0], Tq = q->ne[1], Hq = q->ne[2], Tk = k->ne[1], grp = Hq / k->ne[2];
    double s[128];
    for (int64_t h = 0; h < Hq; h++)
        for (int64_t i = 0; i < Tq; i++) {
            int64_t pos = Tk - Tq + i, lo = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
            double mx = -1e300, sum = 0;
            for (int64_t j = lo; j <= pos; j++) {
                double d = 0;
                for (int64_t c = 0; c < D; c++)
                    d += (double)pl_f32(q)[(h * Tq + i) * D + c] * pl_f32(k)[(h / grp * Tk + j) * D + c];
                s[j] = d * scale;
                if (s[j] > mx) mx = s[j];
            }
            for (int64_t j = lo; j <= pos; j++) { s[j] = exp(s[j] - mx); sum += s[j]; }
            for (int64_t c = 0; c < D; c++) {
                double o = 0;
                for (int64_t j = lo; j <= pos; j++) o += s[j] / sum * pl_f32(v)[(h / grp * Tk + j) * D + c];
                out[(i * Hq + h) * D + c] = o;
            }
        }
}

/* train: q, k, v as parameters and the graph built for backward, so that the forward takes the training path */
static void check_forward(pl_ctx *ctx, int64_t D, int64_t Tq, int64_t Tk, int window, bool train) {
    const int64_t Hq = 4, Hk = 2;
    pl_ctx_reset(ctx);
    pl_tensor *q = rand_t(ctx, D, Tq, Hq), *k = rand_t(ctx, D, Tk, Hk), *v = rand_t(ctx, D, Tk, Hk);
    if (train) { pl_param(ctx, q); pl_param(ctx, k); pl_param(ctx, v); }
    pl_tensor *o = pl_attention_window(ctx, q, k, v, 0.4f, window);
    pl_tensor *c = pl_attention(ctx, q, k, v, 0.4f, true);
    CHECK(o && c);
    if (!o || !c) return;
    pl_graph_forward(ctx, pl_graph_build(ctx, train ? pl_sum(ctx, o) : o, train));
    pl_graph_forward(ctx, pl_graph_build(ctx, train ? pl_sum(ctx, c) : c, train));
    double *want = malloc((size_t)(D * Hq * Tq) * sizeof(double)), d = 0, dc = 0;
    reference(q, k, v, 0.4f, window, want);
    for (int64_t i = 0; i < D * Hq * Tq; i++) {
        d = fmax(d, fabs(pl_f32(o)[i] - want[i]));
        dc = fmax(dc, fabs(pl_f32(o)[i] - pl_f32(c)[i]));
    }
    CHECKF(d < 1e-5, "isa %d%s: D=%lld window %d, %lld queries after %lld keys: max |diff| %.3g", (int)pl_cpu_isa(),
           train ? " train" : "", (long long)D, window, (long long)Tq, (long long)(Tk - Tq), d);
    if (window <= 0 || window >= Tk) CHECKF(dc == 0, "window %d: differs from plain causal by %.3g", window, dc);
    else CHECKF(dc > 1e-3, "window %d changes nothing (%.3g)", window, dc);
    free(want);
}

static double loss_of(const pl_tensor *o, const float *w) {
    double s = 0;
    for (int64_t i = 0; i < pl_nelements(o); i++) s += (double)pl_f32(o)[i] * w[i];
    return s;
}

static void check_grad(pl_ctx *ctx, int64_t D, int64_t Tq, int window) {
    const int64_t Hq = 2, Hk = 1, Tk = Tq;
    pl_ctx_reset(ctx);
    pl_tensor *in[3] = {rand_t(ctx, D, Tq, Hq), rand_t(ctx, D, Tk, Hk), rand_t(ctx, D, Tk, Hk)};
    for (int i = 0; i < 3; i++) pl_param(ctx, in[i]);
    pl_tensor *o = pl_attention_window(ctx, in[0], in[1], in[2], 0.5f, window);
    pl_tensor *w = pl_new(ctx, PL_F32, 4, o->ne);
    for (int64_t i = 0; i < pl_nelements(w); i++) pl_f32(w)[i] = frand();
    pl_graph *g = pl_graph_build(ctx, pl_sum(ctx, pl_mul(ctx, o, w)), true);
    CHECK(g != NULL);
    if (!g) return;
    pl_graph_forward(ctx, g);
    pl_graph_backward(ctx, g);
    for (int i = 0; i < 3; i++) {
        double num2 = 0, diff2 = 0;
        for (int64_t j = 0; j < pl_nelements(in[i]); j++) {
            float *x = pl_f32(in[i]) + j, x0 = *x, h = 1e-2f;
            *x = x0 + h; pl_graph_forward(ctx, g); double lp = loss_of(o, pl_f32(w));
            *x = x0 - h; pl_graph_forward(ctx, g); double lm = loss_of(o, pl_f32(w));
            *x = x0;
            double num = (lp - lm) / (2.0 * h), ana = pl_f32(in[i]->grad)[j];
            num2 += num * num; diff2 += (num - ana) * (num - ana);
        }
        double rel = sqrt(diff2) / fmax(sqrt(num2), 1e-12);
        CHECKF(rel <= 1e-3, "isa %d: D=%lld T=%lld window %d: gradient of input %d: relative error %.3g",
               (int)pl_cpu_isa(), (long long)D, (long long)Tq, window, i, rel);
    }
}

int main(void) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 4 << 20, .n_threads = 2});
    const int windows[] = {0, 1, 3, 5, 9, 80};
    const pl_isa levels[] = {PL_ISA_SCALAR, PL_ISA_AVX2, PL_ISA_AVX512};
    const char *names[] = {"scalar", "AVX2", "AVX-512"};
    for (size_t l = 0; l < PL_ARRAY_LEN(levels); l++) {
        pl_cpu_set_max_isa(levels[l]);
        if (pl_cpu_isa() < levels[l]) { printf("no %s here: its path is not tested\n", names[l]); continue; }
        for (int train = 0; train < 2; train++)
            for (size_t w = 0; w < PL_ARRAY_LEN(windows); w++) {
                check_forward(ctx, 8, 9, 9, windows[w], train);    /* prefill */
                check_forward(ctx, 8, 5, 12, windows[w], train);   /* a chunk after 7 cached positions */
                check_forward(ctx, 8, 1, 20, windows[w], train);   /* one decode step */
                check_forward(ctx, 8, 70, 70, windows[w], train);  /* more than one block of query rows */
                check_forward(ctx, 40, 37, 45, windows[w], train); /* head size and lengths off the vector widths */
            }
        check_grad(ctx, 6, 7, 3);
        check_grad(ctx, 6, 7, 0);
        check_grad(ctx, 32, 13, 5); /* a window ending mid-vector, rows of 13 keys */
    }
    pl_cpu_set_max_isa(PL_ISA_AVX512);
    pl_ctx_free(ctx);
    TEST_DONE();
}
