/* pl_attention_window (sliding-window causal attention, Gemma 3's local layers) against a naive double-precision
 * reference: query i (at position Tk-Tq+i) sees keys max(0, pos-window+1) .. pos. Several windows, queries that
 * follow a cache (Tq < Tk), grouped-query heads; a window as long as the keys equals plain causal attention;
 * gradients of q, k, v against central finite differences. */
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

static void check_forward(pl_ctx *ctx, int64_t Tq, int64_t Tk, int window) {
    const int64_t D = 8, Hq = 4, Hk = 2;
    pl_ctx_reset(ctx);
    pl_tensor *q = rand_t(ctx, D, Tq, Hq), *k = rand_t(ctx, D, Tk, Hk), *v = rand_t(ctx, D, Tk, Hk);
    pl_tensor *o = pl_attention_window(ctx, q, k, v, 0.4f, window);
    pl_tensor *c = pl_attention(ctx, q, k, v, 0.4f, true);
    CHECK(o && c);
    if (!o || !c) return;
    pl_graph_forward(ctx, pl_graph_build(ctx, o, false));
    pl_graph_forward(ctx, pl_graph_build(ctx, c, false));
    double *want = malloc((size_t)(D * Hq * Tq) * sizeof(double)), d = 0, dc = 0;
    reference(q, k, v, 0.4f, window, want);
    for (int64_t i = 0; i < D * Hq * Tq; i++) {
        d = fmax(d, fabs(pl_f32(o)[i] - want[i]));
        dc = fmax(dc, fabs(pl_f32(o)[i] - pl_f32(c)[i]));
    }
    CHECKF(d < 1e-5, "window %d, %lld queries after %lld keys: max |diff| %.3g", window, (long long)Tq,
           (long long)(Tk - Tq), d);
    if (window <= 0 || window >= Tk) CHECKF(dc == 0, "window %d: differs from plain causal by %.3g", window, dc);
    else CHECKF(dc > 1e-3, "window %d changes nothing (%.3g)", window, dc);
    free(want);
}

static double loss_of(const pl_tensor *o, const float *w) {
    double s = 0;
    for (int64_t i = 0; i < pl_nelements(o); i++) s += (double)pl_f32(o)[i] * w[i];
    return s;
}

static void check_grad(pl_ctx *ctx, int window) {
    const int64_t D = 6, Hq = 2, Hk = 1, Tq = 7, Tk = 7;
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
        CHECKF(rel <= 1e-3, "window %d: gradient of input %d: relative error %.3g", window, i, rel);
    }
}

int main(void) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 4 << 20, .n_threads = 2});
    const int windows[] = {0, 1, 3, 5, 9, 80};
    for (size_t w = 0; w < PL_ARRAY_LEN(windows); w++) {
        check_forward(ctx, 9, 9, windows[w]);    /* prefill */
        check_forward(ctx, 5, 12, windows[w]);   /* a chunk after 7 cached positions */
        check_forward(ctx, 1, 20, windows[w]);   /* one decode step */
        check_forward(ctx, 70, 70, windows[w]);  /* more than one block of query rows */
    }
    check_grad(ctx, 3);
    check_grad(ctx, 0);
    pl_ctx_free(ctx);
    TEST_DONE();
}
