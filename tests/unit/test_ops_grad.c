/* Gradient check for every op: the analytic gradient from pl_graph_backward against central finite
 * differences of loss = sum(out * W) computed in double precision from the f32 forward pass.
 * Passes when ||analytic - numeric|| / max(||analytic||, ||numeric||) <= 1e-3 for every input. */
#include "core/cpu.h"
#include "core/tensor.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / (1 << 24)) * 2.0 - 1.0);
}
static void fill(pl_tensor *t, float lo, float hi) {
    for (int64_t i = 0; i < pl_nelements(t); i++) pl_f32(t)[i] = lo + (hi - lo) * 0.5f * (frand() + 1.0f);
}

typedef pl_tensor *(*build_fn)(pl_ctx *ctx, pl_tensor **in, void *ud);

static double loss_of(pl_tensor *out, const float *w) {
    double s = 0;
    pl_tensor *c = out;
    int64_t idx = 0;
    for (int64_t i3 = 0; i3 < c->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < c->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < c->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < c->ne[0]; i0++) s += (double)*(float *)pl_at(c, i0, i1, i2, i3) * w[idx++];
    return s;
}

/* in[0..n_in) are f32 params created by the caller with their data set */
static void gradcheck(const char *name, pl_ctx *ctx, pl_tensor **in, int n_in, build_fn build, void *ud) {
    pl_tensor *out = build(ctx, in, ud);
    CHECKF(out != NULL, "%s: builder failed: %s", name, pl_last_error());
    if (!out) return;
    pl_tensor *w = pl_new(ctx, PL_F32, out->n_dims, out->ne);
    fill(w, -1, 1);
    pl_tensor *loss = pl_sum(ctx, pl_mul(ctx, pl_cont(ctx, out), w));
    pl_graph *g = pl_graph_build(ctx, loss, true);
    CHECKF(g != NULL, "%s: graph: %s", name, pl_last_error());
    if (!g) return;
    for (int i = 0; i < n_in; i++) if (in[i]->grad) memset(in[i]->grad->data, 0, pl_nbytes(in[i]->grad));
    pl_graph_forward(ctx, g);
    pl_graph_backward(ctx, g);
    for (int i = 0; i < n_in; i++) {
        if (!(in[i]->flags & PL_FLAG_PARAM)) continue;
        double num2 = 0, ana2 = 0, diff2 = 0;
        int64_t n = pl_nelements(in[i]);
        int64_t step = n > 400 ? n / 200 : 1; /* sample large inputs */
        for (int64_t j = 0; j < n; j += step) {
            float *x = pl_f32(in[i]) + j, x0 = *x;
            float h = 1e-2f * (fabsf(x0) > 1 ? fabsf(x0) : 1);
            *x = x0 + h; pl_graph_forward(ctx, g); double lp = loss_of(out, pl_f32(w));
            *x = x0 - h; pl_graph_forward(ctx, g); double lm = loss_of(out, pl_f32(w));
            *x = x0;
            double num = (lp - lm) / (2.0 * ((double)(x0 + h) - (double)x0)), ana = pl_f32(in[i]->grad)[j];
            num2 += num * num; ana2 += ana * ana; diff2 += (num - ana) * (num - ana);
        }
        double rel = sqrt(diff2) / fmax(fmax(sqrt(num2), sqrt(ana2)), 1e-12);
        CHECKF(rel <= 1e-3, "%s: input %d relative error %.3g", name, i, rel);
        if (getenv("VERBOSE")) printf("%-28s input %d  rel err %.2e\n", name, i, rel);
    }
    /* a second backward pass must add the same gradients again: the intermediate gradients are reset lazily
     * (core/grad_reset.c zeroes them just in time, matmul overwrites them), and a missed reset would show here */
    pl_graph_forward(ctx, g); /* leave forward values consistent */
    float *g1[8] = {0};
    for (int i = 0; i < n_in && i < 8; i++)
        if (in[i]->flags & PL_FLAG_PARAM) {
            size_t bytes = (size_t)pl_nelements(in[i]) * sizeof(float);
            g1[i] = malloc(bytes);
            memcpy(g1[i], pl_f32(in[i]->grad), bytes);
        }
    pl_graph_backward(ctx, g);
    for (int i = 0; i < n_in && i < 8; i++) {
        if (!g1[i]) continue;
        double worst = 0;
        for (int64_t j = 0; j < pl_nelements(in[i]); j++)
            worst = fmax(worst, fabs(pl_f32(in[i]->grad)[j] - 2.0 * g1[i][j]) / (fabs(2.0 * g1[i][j]) + 1e-3));
        CHECKF(worst <= 1e-5, "%s: input %d: a second backward pass added %.3g (relative) more or less than the first",
               name, i, worst);
    }
    /* pl_graph_backward_reset sets the parameters' gradients as a pass onto zeroed ones adds them: the same bits,
     * whatever the buffers held before (NaN here) */
    for (int i = 0; i < n_in && i < 8; i++)
        if (g1[i]) for (int64_t j = 0; j < pl_nelements(in[i]); j++) pl_f32(in[i]->grad)[j] = NAN;
    pl_graph_backward_reset(ctx, g);
    for (int i = 0; i < n_in && i < 8; i++) {
        if (!g1[i]) continue;
        int64_t bad = 0;
        for (int64_t j = 0; j < pl_nelements(in[i]); j++)
            bad += memcmp(&pl_f32(in[i]->grad)[j], &g1[i][j], sizeof(float)) != 0;
        CHECKF(bad == 0, "%s: input %d: backward with reset differs from a pass onto zeroed gradients in %lld of %lld",
               name, i, (long long)bad, (long long)pl_nelements(in[i]));
        free(g1[i]);
    }
}

static pl_tensor *param(pl_ctx *ctx, int n_dims, int64_t a, int64_t b, int64_t c, int64_t d) {
    pl_tensor *t = pl_new(ctx, PL_F32, n_dims, (int64_t[]){a, b, c, d});
    fill(t, -1, 1);
    pl_param(ctx, t);
    return t;
}

/* ---- builders ---- */
static pl_tensor *b_matmul(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_matmul(c, in[0], in[1]); }
static pl_tensor *b_matmul_tt(pl_ctx *c, pl_tensor **in, void *ud) { /* both operands as transposed views */
    (void)ud; return pl_matmul(c, pl_transpose(c, in[0]), pl_transpose(c, in[1]));
}
static pl_tensor *b_matmul_bias(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_matmul_bias(c, in[0], in[1], in[2]); }
/* h = W1 x feeds two products and a square: h's gradient is overwritten by the first matmul's backward, then
 * added to by the second and by mul's */
static pl_tensor *b_matmul_shared(pl_ctx *c, pl_tensor **in, void *ud) {
    (void)ud;
    pl_tensor *h = pl_matmul(c, in[0], in[1]);
    return pl_add(c, pl_add(c, pl_matmul(c, in[2], h), pl_matmul(c, in[3], h)), pl_mul(c, h, h));
}
static pl_tensor *b_ln_affine(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_layernorm_affine(c, in[0], in[1], in[2], 1e-5f); }
static pl_tensor *b_conv1d(pl_ctx *c, pl_tensor **in, void *ud) { /* stride 2, padding 1, as Whisper's conv2 */
    (void)ud; return pl_conv1d(c, in[0], in[2], in[1], 2, 1);
}
static pl_tensor *b_conv1d_t(pl_ctx *c, pl_tensor **in, void *ud) { /* input a transposed view {T, C} of {C, T} */
    (void)ud; return pl_conv1d(c, in[0], in[2], pl_transpose(c, pl_gelu(c, in[1], false)), 1, 1);
}
static pl_tensor *b_add(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_add(c, in[0], in[1]); }
static pl_tensor *b_sub(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_sub(c, in[0], in[1]); }
static pl_tensor *b_mul(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_mul(c, in[0], in[1]); }
static pl_tensor *b_scale(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_scale(c, in[0], -1.7f); }
static pl_tensor *b_get_rows(pl_ctx *c, pl_tensor **in, void *ud) { return pl_get_rows(c, in[0], ud); }
static pl_tensor *b_rms(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_rmsnorm(c, in[0], 1e-5f); }
static pl_tensor *b_ln(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_layernorm(c, in[0], 1e-5f); }
static pl_tensor *b_rope(pl_ctx *c, pl_tensor **in, void *ud) { return pl_rope(c, in[0], ud, 8, PL_ROPE_NORMAL, 10000.f, 1.0f, NULL); }
static pl_tensor *b_rope_neox(pl_ctx *c, pl_tensor **in, void *ud) {
    return pl_rope(c, in[0], ud, 6, PL_ROPE_NEOX, 500.f, 0.5f, in[1]);
}
static pl_tensor *b_softmax(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_softmax(c, in[0], 0.7f, false, 0); }
static pl_tensor *b_softmax_causal(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_softmax(c, in[0], 1.3f, true, 2); }
typedef struct { bool causal; } attn_ud;
static pl_tensor *b_attn(pl_ctx *c, pl_tensor **in, void *ud) {
    return pl_attention(c, in[0], in[1], in[2], 0.35f, ((attn_ud *)ud)->causal);
}
static pl_tensor *b_attn_views(pl_ctx *c, pl_tensor **in, void *ud) {
    /* q, k, v sliced from one fused projection {3*D*H, T, B}, as a GPT block does */
    pl_tensor *qkv = in[0];
    int64_t D = 8, H = 2, T = qkv->ne[1], B = qkv->ne[2];
    size_t nb[4] = {4, D * 4, qkv->nb[1], qkv->nb[2]};
    pl_tensor *q = pl_permute(c, pl_view(c, qkv, 4, (int64_t[]){D, H, T, B}, nb, 0), 0, 2, 1, 3);
    pl_tensor *k = pl_permute(c, pl_view(c, qkv, 4, (int64_t[]){D, H, T, B}, nb, D * H * 4), 0, 2, 1, 3);
    pl_tensor *v = pl_permute(c, pl_view(c, qkv, 4, (int64_t[]){D, H, T, B}, nb, 2 * D * H * 4), 0, 2, 1, 3);
    (void)ud;
    return pl_attention(c, q, k, v, 0.35f, true);
}
/* Views of an intermediate (not a parameter) take windows of its gradient as theirs (core/grad_plan.c): the builders
 * below keep the views so that the test can check which ones were aliased. */
static pl_tensor *g_views[4], *g_gelu_in, *g_resid;
static pl_tensor *qkv_views(pl_ctx *c, pl_tensor **in, pl_tensor **q, pl_tensor **k, pl_tensor **v) {
    int64_t D = 8, H = 2, T = 5, B = 2;
    pl_tensor *qkv = pl_reshape_3d(c, pl_matmul(c, in[0], in[1]), 3 * D * H, T, B); /* {48, 10} -> {48, 5, 2} */
    size_t nb[4] = {4, D * 4, qkv->nb[1], qkv->nb[2]};
    *q = pl_permute(c, pl_view(c, qkv, 4, (int64_t[]){D, H, T, B}, nb, 0), 0, 2, 1, 3); /* views of a view */
    *k = pl_permute(c, pl_view(c, qkv, 4, (int64_t[]){D, H, T, B}, nb, D * H * 4), 0, 2, 1, 3);
    *v = pl_permute(c, pl_view(c, qkv, 4, (int64_t[]){D, H, T, B}, nb, 2 * D * H * 4), 0, 2, 1, 3);
    g_views[0] = *q; g_views[1] = *k; g_views[2] = *v; g_views[3] = qkv;
    return qkv;
}
/* q, k, v aliased: attention writes their gradients through the strides */
static pl_tensor *b_attn_qkv_matmul(pl_ctx *c, pl_tensor **in, void *ud) {
    pl_tensor *q, *k, *v;
    (void)ud;
    qkv_views(c, in, &q, &k, &v);
    return pl_attention(c, q, k, v, 0.35f, true);
}
static pl_tensor *b_attn_qkv_mixed(pl_ctx *c, pl_tensor **in, void *ud) { /* q also feeds cont: q keeps its own */
    pl_tensor *q, *k, *v;
    (void)ud;
    qkv_views(c, in, &q, &k, &v);
    return pl_add(c, pl_attention(c, q, k, v, 0.35f, true), pl_permute(c, pl_cont(c, q), 0, 2, 1, 3));
}
static pl_tensor *b_views_of_base(pl_ctx *c, pl_tensor **in, void *ud) {
    /* three contiguous windows of one intermediate {6, 12} into different consumers, one a view of a view, one
     * used twice by one op, one covering the whole base (a matmul writes it with beta 0) */
    (void)ud;
    pl_tensor *base = pl_matmul(c, in[0], in[1]);
    pl_tensor *a = pl_slice(c, base, 1, 0, 4);                                /* {6, 4} */
    pl_tensor *b = pl_reshape_3d(c, pl_slice(c, base, 1, 4, 8), 6, 4, 2);     /* {6, 4, 2}: a view of a view */
    pl_tensor *w = pl_reshape_3d(c, base, 6, 6, 2);                           /* the whole base */
    g_views[0] = a; g_views[1] = b; g_views[2] = w; g_views[3] = base;
    pl_tensor *top = pl_concat(c, pl_gelu(c, a, true), pl_reshape_2d(c, pl_mul(c, b, b), 6, 8), 1); /* {6, 12} */
    pl_tensor *prod = pl_matmul(c, in[2], w);                                 /* {3, 6, 2} */
    pl_tensor *back = pl_matmul(c, in[3], pl_reshape_2d(c, prod, 3, 12));  /* {6, 12} */
    return pl_add(c, top, pl_reshape_2d(c, pl_scale(c, back, 0.5f), 6, 12));
}
/* element-wise ops on intermediates, whose stale gradients they write instead of adding to (core/grad_reset.c's lazy
 * reset): a broadcast b, one intermediate with two consumers, and x * x (a and b one tensor) */
static pl_tensor *b_elementwise_chain(pl_ctx *c, pl_tensor **in, void *ud) {
    (void)ud;
    pl_tensor *p = pl_matmul(c, in[0], in[1]), *q = pl_matmul(c, in[2], in[1]); /* {6, 12} */
    pl_tensor *row = pl_matmul(c, in[2], in[3]);                                   /* {6, 1}, broadcast */
    pl_tensor *t1 = pl_mul(c, pl_gelu(c, p, true), row);
    pl_tensor *t2 = pl_sub(c, t1, pl_scale(c, pl_silu(c, pl_gelu(c, q, false)), 0.3f));
    pl_tensor *t3 = pl_add(c, pl_add(c, t2, p), pl_sub(c, q, row));                /* q - row: q has two consumers */
    return pl_mul(c, t3, t3);
}
/* residual sums: an addend that feeds only its sum shares the sum's gradient (f in x + f(x), nested sums) */
static pl_tensor *b_residual(pl_ctx *c, pl_tensor **in, void *ud) {
    (void)ud;
    pl_tensor *x = pl_matmul(c, in[0], in[1]);                       /* {6, 12} */
    pl_tensor *xs = pl_scale(c, x, 1.1f);                             /* only into a tanh GELU: turned in place */
    pl_tensor *f = pl_matmul(c, in[2], pl_gelu(c, xs, true));        /* {6, 12}, only into t1 */
    pl_tensor *t1 = pl_add(c, x, f);
    pl_tensor *f2 = pl_scale(c, t1, 0.7f);
    pl_tensor *t2 = pl_add(c, t1, f2);
    pl_tensor *s = pl_scale(c, t2, 1.3f), *inner = pl_add(c, s, pl_gelu(c, t2, true)); /* a sum of two addends */
    g_views[0] = f; g_views[1] = f2; g_views[2] = inner; g_views[3] = s;
    g_gelu_in = xs;
    g_resid = x; /* consumed by xs too, before the matmul f: shares t1's gradient as well */
    return pl_add(c, inner, t2);
}
/* the same residual x + f(x), but x has a consumer after f (x * (x + f)): its gradient must stay its own */
static pl_tensor *b_residual_late_use(pl_ctx *c, pl_tensor **in, void *ud) {
    (void)ud;
    pl_tensor *x = pl_matmul(c, in[0], in[1]);
    pl_tensor *f = pl_matmul(c, in[2], pl_gelu(c, pl_scale(c, x, 1.1f), true));
    g_resid = x;
    return pl_mul(c, pl_add(c, x, f), pl_scale(c, x, 0.5f));
}
/* both addends of a sum feed only it, one of them a tanh GELU (whose backward would turn a shared buffer in
 * place under the other addend's feet) */
static pl_tensor *b_two_addends(pl_ctx *c, pl_tensor **in, void *ud) {
    (void)ud;
    pl_tensor *a = pl_matmul(c, in[0], in[1]), *b = pl_gelu(c, pl_matmul(c, in[2], in[1]), true);
    return pl_add(c, a, b);
}
static void check_aliased(const char *name, bool q, bool k, bool v, bool base) {
    bool want[4] = {q, k, v, base};
    for (int i = 0; i < 4; i++)
        CHECKF(((g_views[i]->flags & PL_FLAG_GRAD_ALIAS) != 0) == want[i], "%s: tensor %d %s another's gradient", name,
               i, want[i] ? "does not share" : "shares");
}
static pl_tensor *b_gelu_tanh(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_gelu(c, in[0], true); }
static pl_tensor *b_gelu_erf(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_gelu(c, in[0], false); }
static pl_tensor *b_gelu_quick(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_quick_gelu(c, in[0]); }
static pl_tensor *b_silu(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_silu(c, in[0]); }
static pl_tensor *b_swiglu(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_swiglu(c, in[0], in[1]); }
static pl_tensor *b_ce(pl_ctx *c, pl_tensor **in, void *ud) { return pl_cross_entropy(c, in[0], ud, 3); }
static pl_tensor *b_kl(pl_ctx *c, pl_tensor **in, void *ud) {
    pl_tensor **sp = ud; /* ids, probs */
    return pl_kl_topk(c, in[0], sp[0], sp[1], 2.0f);
}
static pl_tensor *b_sum(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_sum(c, in[0]); }
static pl_tensor *b_mean(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_mean(c, in[0]); }
static pl_tensor *b_concat(pl_ctx *c, pl_tensor **in, void *ud) { return pl_concat(c, in[0], in[1], *(int *)ud); }
static pl_tensor *b_cont(pl_ctx *c, pl_tensor **in, void *ud) { (void)ud; return pl_cont(c, pl_permute(c, in[0], 2, 0, 1, 3)); }
static pl_tensor *b_slice_reshape(pl_ctx *c, pl_tensor **in, void *ud) {
    (void)ud;
    pl_tensor *s = pl_slice(c, in[0], 1, 1, 2);  /* {6, 2, 3} of {6, 4, 3} */
    return pl_mul(c, pl_cont(c, s), pl_reshape_3d(c, in[1], 6, 2, 3));
}

/* The fused LayerNorm's SIMD rows (AVX2, AVX-512: each the CPU has) against its scalar reference: forward values
 * and all three gradients, on row lengths with and without a remainder of 8 or 16 */
static void ln_affine_simd_vs_scalar(int64_t n) {
    float *res[3][4] = {{0}};
    const pl_isa isa[3] = {PL_ISA_SCALAR, PL_ISA_AVX2, PL_ISA_AVX512};
    for (int pass = 0; pass < 3; pass++) {
        pl_cpu_set_max_isa(isa[pass]);
        pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
        rng = 12345;
        pl_tensor *x = param(ctx, 2, n, 7, 1, 1), *w = param(ctx, 1, n, 1, 1, 1), *b = param(ctx, 1, n, 1, 1, 1);
        pl_tensor *r = pl_new_2d(ctx, PL_F32, n, 7);
        fill(r, -1, 1);
        pl_tensor *y = pl_layernorm_affine(ctx, x, w, b, 1e-5f);
        pl_graph *g = pl_graph_build(ctx, pl_sum(ctx, pl_mul(ctx, y, r)), true);
        pl_graph_forward(ctx, g);
        pl_graph_backward(ctx, g);
        pl_tensor *outs[4] = {y, x->grad, w->grad, b->grad};
        for (int k = 0; k < 4; k++) {
            res[pass][k] = malloc((size_t)pl_nelements(outs[k]) * sizeof(float));
            memcpy(res[pass][k], outs[k]->data, (size_t)pl_nelements(outs[k]) * sizeof(float));
        }
        pl_ctx_free(ctx);
    }
    pl_cpu_set_max_isa(PL_ISA_AVX512);
    const int64_t len[4] = {n * 7, n * 7, n, n};
    for (int k = 0; k < 4; k++) {
        for (int pass = 1; pass < 3; pass++) {
            int bad = 0;
            for (int64_t i = 0; i < len[k]; i++)
                if (fabsf(res[0][k][i] - res[pass][k][i]) > 1e-4f * (1.0f + fabsf(res[0][k][i]))) bad++;
            CHECKF(bad == 0, "layernorm affine n=%lld output %d, isa %d: %d SIMD/scalar mismatches", (long long)n, k,
                   (int)isa[pass], bad);
        }
        for (int pass = 0; pass < 3; pass++) free(res[pass][k]);
    }
}

/* The attention gradient checks, on the path of ISA level isa (the caller caps the CPU at it). */
static void attention_gradchecks(pl_ctx *ctx, pl_isa isa) {
    static const char *isa_name[3] = {"sgemm", "AVX2", "AVX-512"};
    pl_tensor *in[3];
    char name[96];
    /* D, Hq, Hkv, causal, Tq, Tk: head sizes on and off the vector widths, grouped heads, odd lengths */
    int shapes[][6] = {{32, 2, 2, 0, 5, 6}, {64, 4, 2, 1, 5, 6}, {128, 2, 1, 1, 5, 6}, {40, 3, 1, 1, 23, 23},
                       {96, 2, 2, 0, 13, 11}};
    for (int i = 0; i < 5; i++) {
        int D = shapes[i][0], Hq = shapes[i][1], Hk = shapes[i][2];
        in[0] = param(ctx, 4, D, shapes[i][4], Hq, 2);
        in[1] = param(ctx, 4, D, shapes[i][5], Hk, 2);
        in[2] = param(ctx, 4, D, shapes[i][5], Hk, 2);
        attn_ud ud = {shapes[i][3] != 0};
        snprintf(name, sizeof name, "%s attention D=%d Hq=%d Hkv=%d T=%d/%d%s", isa_name[isa], D, Hq, Hk, shapes[i][4],
                 shapes[i][5], ud.causal ? " causal" : "");
        gradcheck(name, ctx, in, 3, b_attn, &ud);
    }
    in[0] = param(ctx, 3, 3 * 8 * 2, 5, 2, 1);
    snprintf(name, sizeof name, "%s attention on fused qkv views", isa_name[isa]);
    gradcheck(name, ctx, in, 1, b_attn_views, NULL);
    /* rows in several blocks (backward takes 32 or 64 query rows at a time, forward 64), a short last block,
     * and queries behind a longer key list (as after a KV cache) */
    int blocks[][2] = {{70, 70}, {40, 45}}; /* Tq, Tk */
    for (int i = 0; i < 2; i++) {
        in[0] = param(ctx, 4, 8, blocks[i][0], 2, 1);
        in[1] = param(ctx, 4, 8, blocks[i][1], 1, 1);
        in[2] = param(ctx, 4, 8, blocks[i][1], 1, 1);
        attn_ud ud = {true};
        snprintf(name, sizeof name, "%s attention causal Tq=%d Tk=%d", isa_name[isa], blocks[i][0], blocks[i][1]);
        gradcheck(name, ctx, in, 3, b_attn, &ud);
    }
    in[0] = param(ctx, 4, 8, 70, 2, 1); in[1] = param(ctx, 4, 8, 70, 2, 1); in[2] = param(ctx, 4, 8, 70, 2, 1);
    attn_ud full = {false};
    snprintf(name, sizeof name, "%s attention full T=70", isa_name[isa]);
    gradcheck(name, ctx, in, 3, b_attn, &full);
    in[0] = param(ctx, 2, 5, 48, 1, 1); in[1] = param(ctx, 2, 5, 10, 1, 1);
    snprintf(name, sizeof name, "%s attention on aliased qkv views", isa_name[isa]);
    gradcheck(name, ctx, in, 2, b_attn_qkv_matmul, NULL);
    check_aliased(name, true, true, true, false); /* the reshape is skipped: views of a view point at the base */
    in[0] = param(ctx, 2, 5, 48, 1, 1); in[1] = param(ctx, 2, 5, 10, 1, 1);
    snprintf(name, sizeof name, "%s qkv views, q also into cont", isa_name[isa]);
    gradcheck(name, ctx, in, 2, b_attn_qkv_mixed, NULL);
    check_aliased(name, false, true, true, false);
}

int main(void) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
    pl_tensor *in[4];

    in[0] = param(ctx, 2, 24, 5, 1, 1); in[1] = param(ctx, 3, 24, 3, 2, 1);
    gradcheck("matmul", ctx, in, 2, b_matmul, NULL);
    in[0] = param(ctx, 4, 16, 7, 2, 2); in[1] = param(ctx, 4, 16, 9, 4, 2); /* broadcast a over grouped batches */
    gradcheck("matmul batched+broadcast", ctx, in, 2, b_matmul, NULL);
    in[0] = param(ctx, 2, 5, 24, 1, 1); in[1] = param(ctx, 2, 3, 24, 1, 1);
    gradcheck("matmul transposed views", ctx, in, 2, b_matmul_tt, NULL);
    in[0] = param(ctx, 2, 96, 40, 1, 1); in[1] = param(ctx, 2, 96, 48, 1, 1); /* big enough for BLAS */
    gradcheck("matmul blas", ctx, in, 2, b_matmul, NULL);
    in[2] = param(ctx, 1, 40, 1, 1, 1); /* the bias rides in the sgemm (beta = 1) */
    gradcheck("matmul+bias blas", ctx, in, 3, b_matmul_bias, NULL);
    in[0] = param(ctx, 2, 96, 40, 1, 1); in[1] = param(ctx, 3, 96, 16, 3, 1); /* batches of b as one tall product */
    gradcheck("matmul+bias blas batched", ctx, in, 3, b_matmul_bias, NULL);
    in[0] = param(ctx, 2, 24, 5, 1, 1); in[1] = param(ctx, 3, 24, 3, 2, 1); in[2] = param(ctx, 1, 5, 1, 1, 1);
    gradcheck("matmul+bias small", ctx, in, 3, b_matmul_bias, NULL); /* dot path, bias added after */
    in[0] = param(ctx, 2, 40, 32, 1, 1); in[1] = param(ctx, 2, 40, 24, 1, 1);
    in[2] = param(ctx, 2, 32, 32, 1, 1); in[3] = param(ctx, 2, 32, 32, 1, 1);
    gradcheck("matmul shared input", ctx, in, 4, b_matmul_shared, NULL);

    in[0] = param(ctx, 3, 6, 4, 3, 1); in[1] = param(ctx, 3, 6, 1, 3, 1);
    gradcheck("add broadcast", ctx, in, 2, b_add, NULL);
    gradcheck("sub broadcast", ctx, in, 2, b_sub, NULL);
    gradcheck("mul broadcast", ctx, in, 2, b_mul, NULL);
    in[1] = param(ctx, 3, 6, 4, 3, 1);
    gradcheck("mul same shape", ctx, in, 2, b_mul, NULL);
    gradcheck("scale", ctx, in, 1, b_scale, NULL);

    pl_tensor *ids = pl_new_2d(ctx, PL_I32, 5, 2);
    int32_t idv[10] = {3, 1, 3, 0, 6, 2, 2, 5, 1, 3};
    memcpy(ids->data, idv, sizeof idv);
    in[0] = param(ctx, 2, 8, 7, 1, 1);
    gradcheck("get_rows", ctx, in, 1, b_get_rows, ids);

    in[0] = param(ctx, 3, 16, 3, 2, 1);
    gradcheck("rmsnorm", ctx, in, 1, b_rms, NULL);
    gradcheck("layernorm", ctx, in, 1, b_ln, NULL);
    in[1] = param(ctx, 1, 16, 1, 1, 1); in[2] = param(ctx, 1, 16, 1, 1, 1);
    gradcheck("layernorm affine", ctx, in, 3, b_ln_affine, NULL);

    pl_tensor *pos = pl_new_1d(ctx, PL_I32, 3);
    int32_t pv[3] = {0, 5, 17};
    memcpy(pos->data, pv, sizeof pv);
    in[0] = param(ctx, 4, 10, 2, 3, 2);
    gradcheck("rope normal", ctx, in, 1, b_rope, pos);
    in[1] = pl_new_1d(ctx, PL_F32, 3);
    fill(in[1], 1, 4); /* frequency factors (not trained) */
    gradcheck("rope neox + freq factors", ctx, in, 1, b_rope_neox, pos);

    in[0] = param(ctx, 3, 7, 5, 2, 1);
    gradcheck("softmax", ctx, in, 1, b_softmax, NULL);
    gradcheck("softmax causal", ctx, in, 1, b_softmax_causal, NULL);

    /* attention's gradients on each path: sgemm (scalar cap) and the SIMD kernels at each level the CPU has */
    const pl_isa levels[3] = {PL_ISA_SCALAR, PL_ISA_AVX2, PL_ISA_AVX512};
    for (int l = 0; l < 3; l++) {
        pl_cpu_set_max_isa(levels[l]);
        if (pl_cpu_isa() == levels[l]) attention_gradchecks(ctx, levels[l]);
    }
    pl_cpu_set_max_isa(PL_ISA_AVX512);
    in[0] = param(ctx, 2, 5, 6, 1, 1); in[1] = param(ctx, 2, 5, 12, 1, 1);
    in[2] = param(ctx, 2, 6, 3, 1, 1); in[3] = param(ctx, 2, 3, 6, 1, 1);
    gradcheck("views of one intermediate", ctx, in, 4, b_views_of_base, NULL);
    check_aliased("views of one intermediate", true, true, true, false);

    in[0] = param(ctx, 2, 5, 6, 1, 1); in[1] = param(ctx, 2, 5, 12, 1, 1);
    in[2] = param(ctx, 2, 5, 6, 1, 1); in[3] = param(ctx, 2, 5, 1, 1, 1);
    gradcheck("element-wise on intermediates", ctx, in, 4, b_elementwise_chain, NULL);
    in[0] = param(ctx, 2, 5, 6, 1, 1); in[1] = param(ctx, 2, 5, 12, 1, 1); in[2] = param(ctx, 2, 6, 6, 1, 1);
    gradcheck("residual sums", ctx, in, 3, b_residual, NULL);
    check_aliased("residual sums", true, true, true, true);
    CHECK(g_gelu_in->flags & PL_FLAG_GRAD_ALIAS);
    CHECK(g_resid->flags & PL_FLAG_GRAD_ALIAS);
    gradcheck("residual used after its sum", ctx, in, 3, b_residual_late_use, NULL);
    CHECK(!(g_resid->flags & PL_FLAG_GRAD_ALIAS));
    in[0] = param(ctx, 2, 5, 6, 1, 1); in[1] = param(ctx, 2, 5, 12, 1, 1); in[2] = param(ctx, 2, 5, 6, 1, 1);
    gradcheck("two addends, one a GELU", ctx, in, 3, b_two_addends, NULL);

    in[0] = param(ctx, 2, 9, 4, 1, 1);
    for (int64_t i = 0; i < 36; i++) pl_f32(in[0])[i] *= 3;
    gradcheck("gelu tanh", ctx, in, 1, b_gelu_tanh, NULL);
    gradcheck("gelu erf", ctx, in, 1, b_gelu_erf, NULL);
    gradcheck("gelu quick", ctx, in, 1, b_gelu_quick, NULL);
    gradcheck("silu", ctx, in, 1, b_silu, NULL);
    in[1] = param(ctx, 2, 9, 4, 1, 1);
    gradcheck("swiglu", ctx, in, 2, b_swiglu, NULL);

    pl_tensor *tg = pl_new_2d(ctx, PL_I32, 4, 2);
    int32_t tv[8] = {0, 3, 9, 2, 3, 5, 1, 7}; /* 3 is the ignore index */
    memcpy(tg->data, tv, sizeof tv);
    in[0] = param(ctx, 3, 11, 4, 2, 1);
    gradcheck("cross_entropy", ctx, in, 1, b_ce, tg);
    /* distillation: k = 3 teacher entries a row (row 5 carries none), temperature 2 */
    pl_tensor *kid = pl_new_2d(ctx, PL_I32, 3, 8), *kp = pl_new_2d(ctx, PL_F32, 3, 8);
    for (int r = 0; r < 8; r++)
        for (int j = 0; j < 3; j++) {
            ((int32_t *)kid->data)[r * 3 + j] = r == 5 ? -1 : (r * 3 + j * 4) % 11;
            pl_f32(kp)[r * 3 + j] = j == 0 ? 0.6f : r % 2 ? 0.2f : 0.1f; /* even rows: 0.2 outside the three */
        }
    pl_tensor *kl_src[2] = {kid, kp};
    gradcheck("kl_topk", ctx, in, 1, b_kl, kl_src);
    { /* and its value: the mean over the 7 rows with entries of sum_j p_j (log p_j - log q_{id_j}), q = softmax(x / 2),
       * plus p_r (log p_r - log q_r) for the mass outside the three, p_r = 1 - sum_j p_j, q_r = 1 - sum_j q_{id_j} */
        pl_tensor *kl = pl_kl_topk(ctx, in[0], kid, kp, 2.0f);
        pl_graph_forward(ctx, pl_graph_build(ctx, kl, false));
        double want = 0;
        for (int r = 0; r < 8; r++) {
            if (r == 5) continue;
            const float *x = pl_f32(in[0]) + r * 11;
            double z = 0;
            for (int i = 0; i < 11; i++) z += exp(x[i] / 2.0);
            double ps = 0, qs = 0;
            for (int j = 0; j < 3; j++) {
                double pj = pl_f32(kp)[r * 3 + j], lq = x[((int32_t *)kid->data)[r * 3 + j]] / 2.0 - log(z);
                want += pj * (log(pj) - lq);
                ps += pj, qs += exp(lq);
            }
            if (r % 2 == 0) want += (1 - ps) * (log(1 - ps) - log(1 - qs));
        }
        CHECK_NEAR(pl_f32(kl)[0], want / 7, 1e-5);
    }

    in[0] = param(ctx, 3, 5, 3, 2, 1);
    gradcheck("sum", ctx, in, 1, b_sum, NULL);
    gradcheck("mean", ctx, in, 1, b_mean, NULL);
    for (int d = 0; d < 3; d++) {
        int64_t nb[3] = {5, 3, 2};
        nb[d] = 4;
        in[0] = param(ctx, 3, 5, 3, 2, 1);
        in[1] = param(ctx, 3, nb[0], nb[1], nb[2], 1);
        char name[32];
        snprintf(name, sizeof name, "concat dim %d", d);
        gradcheck(name, ctx, in, 2, b_concat, &d);
    }
    in[0] = param(ctx, 3, 4, 3, 5, 1);
    gradcheck("cont of permuted view", ctx, in, 1, b_cont, NULL);
    in[0] = param(ctx, 3, 6, 4, 3, 1); in[1] = param(ctx, 2, 12, 3, 1, 1);
    gradcheck("slice + reshape views", ctx, in, 2, b_slice_reshape, NULL);
    in[0] = param(ctx, 3, 3, 4, 5, 1); in[1] = param(ctx, 2, 11, 4, 1, 1); in[2] = param(ctx, 1, 5, 1, 1, 1);
    gradcheck("conv1d stride 2", ctx, in, 3, b_conv1d, NULL);
    in[1] = param(ctx, 2, 4, 11, 1, 1);
    gradcheck("conv1d of a transposed view", ctx, in, 3, b_conv1d_t, NULL);

    pl_ctx_free(ctx);
    ln_affine_simd_vs_scalar(37);
    ln_affine_simd_vs_scalar(5);
    ln_affine_simd_vs_scalar(384);
    TEST_DONE();
}
