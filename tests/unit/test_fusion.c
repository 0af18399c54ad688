/* The graph's write-back fusions (core/fusion.c; sgemm.c's epilogue): two MLP blocks with residual
 * connections, x + W2 gelu(W1 x + b1) + b2 (and one without biases), at sizes that take plinth's GEMM, give the
 * same bits with the fusions as without (a context made with .fuse = PL_FUSE_OFF: PLINTH_FUSE=0 on the command
 * line): the loss, every gradient, on one thread and on two;
 * the fusions are really taken, in the GEMM's write-back at every ISA level this CPU has from AVX2 up (AVX2's
 * and AVX-512's kernels), by the ops' own code after a BLAS product below it; a sum whose other addend is
 * computed after the product is not fused into it (it would read the addend before it exists: the second pass,
 * on new inputs, would show it). Forward-only graphs built with pl_graph_build_fused (the encoder's: an erf GELU
 * and residual sums) give the bits of pl_graph_build's unfused ones, with both fusions taken. */
#include "core/cpu.h"
#include "core/tensor.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

enum { C = 64, H = 256, R = 48, NP = 9 };
static uint32_t rng;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (float)((rng >> 8) & 0xFFFF) / 65536.0f - 0.5f; }

/* in_gemm: the residual product's own output was left unwritten (NaN), as only its GEMM's write-back leaves it */
typedef struct { float loss[2]; float *grad[NP]; int fused_fwd, fused_bwd, in_gemm; } result;

static void run(bool fuse, int threads, result *r) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = threads, .fuse = fuse ? PL_FUSE_ON : PL_FUSE_OFF});
    int64_t shapes[NP][2] = {{C, R}, {C, H}, {H, 1}, {H, C}, {C, 1}, {C, H}, {H, C}, {C, C}, {C, 1}};
    pl_tensor *p[NP];
    rng = 99;
    for (int i = 0; i < NP; i++) {
        /* x: R columns as 2 batches of R / 2 (a weight then multiplies all batches as one product, which plinth's
         * GEMM takes with its epilogue; 2-D activations go batch-free through the plain product) */
        p[i] = shapes[i][1] == 1 ? pl_new_1d(ctx, PL_F32, shapes[i][0])
               : i == 0          ? pl_new_3d(ctx, PL_F32, C, R / 2, 2)
                                 : pl_new_2d(ctx, PL_F32, shapes[i][0], shapes[i][1]);
        for (int64_t k = 0; k < pl_nelements(p[i]); k++) pl_f32(p[i])[k] = frand() * (i == 0 ? 4.0f : 0.5f);
        pl_param(ctx, p[i]);
    }
    pl_tensor *x = p[0];
    /* block 1: x + W2 gelu(W1 x + b1) + b2 */
    pl_tensor *m2 = pl_matmul_bias(ctx, p[3], pl_gelu(ctx, pl_matmul_bias(ctx, p[1], x, p[2]), true), p[4]);
    pl_tensor *y = pl_add(ctx, x, m2);
    /* block 2, no biases, the residual as the second addend */
    pl_tensor *z = pl_add(ctx, pl_matmul(ctx, p[6], pl_gelu(ctx, pl_matmul(ctx, p[5], y), true)), y);
    /* a sum whose other addend is computed after the product (depth-first order: src[0] first) */
    pl_tensor *w = pl_add(ctx, pl_matmul_bias(ctx, p[7], z, p[8]), pl_scale(ctx, pl_gelu(ctx, z, true), 0.5f));
    pl_tensor *loss = pl_mean(ctx, pl_mul(ctx, w, w));
    pl_graph *g = pl_graph_build(ctx, loss, true);
    CHECK(g != NULL);
    r->fused_fwd = r->fused_bwd = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        r->fused_fwd += (g->nodes[i]->flags & PL_FLAG_FUSED_FWD) != 0;
        r->fused_bwd += (g->nodes[i]->flags & PL_FLAG_FUSED_BWD) != 0;
    }
    for (int64_t k = 0; k < pl_nelements(m2); k++) pl_f32(m2)[k] = NAN;
    for (int pass = 0; pass < 2; pass++) { /* the second on new inputs: stale buffers would show */
        if (pass) for (int64_t k = 0; k < pl_nelements(x); k++) pl_f32(x)[k] = frand() * 4.0f;
        pl_graph_forward(ctx, g);
        if (!pass) r->in_gemm = isnan(pl_f32(m2)[0]) && isnan(pl_f32(m2)[pl_nelements(m2) - 1]);
        pl_graph_backward_reset(ctx, g);
        r->loss[pass] = pl_f32(loss)[0];
    }
    for (int i = 0; i < NP; i++) {
        size_t n = (size_t)pl_nelements(p[i]) * sizeof(float);
        r->grad[i] = malloc(n);
        memcpy(r->grad[i], p[i]->grad->data, n);
    }
    pl_ctx_free(ctx);
}

/* the whole comparison at the ISA level the CPU is capped to */
static void check_level(pl_isa level) {
    result plain, fused, fused2;
    run(false, 1, &plain);
    run(true, 1, &fused);
    run(true, 2, &fused2);
    CHECKF(plain.fused_fwd == 0 && plain.fused_bwd == 0, "PL_FUSE_OFF still fused %d / %d", plain.fused_fwd,
           plain.fused_bwd);
    /* forward: both GELUs after a product, both residual sums; not the last sum; backward: both GELUs */
    CHECKF(fused.fused_fwd == 4 && fused.fused_bwd == 2, "isa %d: fused %d forward, %d backward", level, fused.fused_fwd,
           fused.fused_bwd);
    /* where plinth's GEMM takes the products (AVX2 and up), the fusions run in its write-back */
    bool gemm = level >= PL_ISA_AVX2;
    CHECKF(fused.in_gemm == gemm && fused2.in_gemm == gemm && !plain.in_gemm,
           "isa %d: residual in the GEMM %d %d (unfused %d)", level, fused.in_gemm, fused2.in_gemm, plain.in_gemm);
    for (int pass = 0; pass < 2; pass++)
        CHECKF(memcmp(&plain.loss[pass], &fused.loss[pass], 4) == 0 && memcmp(&plain.loss[pass], &fused2.loss[pass], 4) == 0,
               "isa %d pass %d: loss %.9g fused %.9g (2 threads %.9g)", level, pass, plain.loss[pass], fused.loss[pass],
               fused2.loss[pass]);
    CHECK(plain.loss[0] != plain.loss[1]);
    for (int i = 0; i < NP; i++) {
        int64_t n = i == 2 ? H : i == 4 || i == 8 ? C : i == 7 ? C * C : i == 0 ? C * R : C * H;
        int diff = 0, zero = 1;
        for (int64_t k = 0; k < n; k++) {
            diff += memcmp(&plain.grad[i][k], &fused.grad[i][k], 4) != 0 || memcmp(&plain.grad[i][k], &fused2.grad[i][k], 4) != 0;
            zero &= plain.grad[i][k] == 0.0f;
        }
        CHECKF(diff == 0 && !zero, "isa %d parameter %d: %d gradient elements differ (all zero: %d)", level, i, diff, zero);
        free(plain.grad[i]), free(fused.grad[i]), free(fused2.grad[i]);
    }
}

/* An encoder block's forward, x + W2 gelu_erf(W1 x + b1) + b2 (quick: CLIP's QuickGELU for gelu_erf), as
 * pl_graph_build_fused builds it or not: y's bits; *fused: the nodes computed in a write-back; *in_gemm: the
 * residual product's own output left unwritten */
static float *encoder_block(bool fuse, int threads, bool quick, int *fused, bool *in_gemm) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = threads, .fuse = fuse ? PL_FUSE_ON : PL_FUSE_OFF});
    pl_tensor *x = pl_new_2d(ctx, PL_F32, C, R), *w1 = pl_new_2d(ctx, PL_F32, C, H), *b1 = pl_new_1d(ctx, PL_F32, H);
    pl_tensor *w2 = pl_new_2d(ctx, PL_F32, H, C), *b2 = pl_new_1d(ctx, PL_F32, C);
    pl_tensor *all[] = {x, w1, b1, w2, b2};
    rng = 7;
    for (int i = 0; i < 5; i++)
        for (int64_t k = 0; k < pl_nelements(all[i]); k++) pl_f32(all[i])[k] = frand() * (i == 0 ? 4.0f : 0.5f);
    pl_tensor *h = pl_matmul_bias(ctx, w1, x, b1);
    pl_tensor *m2 = pl_matmul_bias(ctx, w2, quick ? pl_quick_gelu(ctx, h) : pl_gelu(ctx, h, false), b2);
    pl_tensor *y = pl_add(ctx, x, m2);
    pl_graph *g = fuse ? pl_graph_build_fused(ctx, y) : pl_graph_build(ctx, y, false);
    CHECK(g != NULL);
    *fused = 0;
    for (int i = 0; i < g->n_nodes; i++) *fused += (g->nodes[i]->flags & PL_FLAG_FUSED_FWD) != 0;
    for (int64_t k = 0; k < pl_nelements(m2); k++) pl_f32(m2)[k] = NAN;
    pl_graph_forward(ctx, g);
    *in_gemm = isnan(pl_f32(m2)[0]);
    float *out = malloc((size_t)pl_nelements(y) * sizeof *out);
    memcpy(out, pl_f32(y), (size_t)pl_nelements(y) * sizeof *out);
    pl_ctx_free(ctx);
    return out;
}

static void check_encoder_block(bool quick) {
    int nf[3];
    bool gemm[3];
    float *plain = encoder_block(false, 1, quick, &nf[0], &gemm[0]), *one = encoder_block(true, 1, quick, &nf[1], &gemm[1]),
          *two = encoder_block(true, 2, quick, &nf[2], &gemm[2]);
    bool avx2 = pl_cpu_isa() >= PL_ISA_AVX2;
    CHECKF(nf[0] == 0 && nf[1] == 2 && nf[2] == 2, "forward-only fusions: %d unfused, %d and %d fused", nf[0], nf[1], nf[2]);
    CHECKF(!gemm[0] && gemm[1] == avx2 && gemm[2] == avx2, "residual in the GEMM: %d %d %d", gemm[0], gemm[1], gemm[2]);
    CHECK(memcmp(plain, one, (size_t)C * R * sizeof(float)) == 0 && memcmp(plain, two, (size_t)C * R * sizeof(float)) == 0);
    free(plain), free(one), free(two);
}

static void count_matmuls(void *ud, pl_ctx *ctx, const pl_tensor *t) {
    (void)ctx;
    if (t->op == PL_OP_MATMUL) (*(int *)ud)++;
}

/* Sibling products (fusion.c's siblings_decide): a decode step's q, k, v and gate, up projections, q8_0 weights of
 * one input, as one job. With 8 activation rows (eight sequences' step) and 1 (one sequence's), on one thread and
 * two: the same bits as each product alone (fuse off), the later siblings marked computed by the first, an
 * observer (which sees every node in order) still given each one, a product with a bias left out, and a second
 * pass on new inputs showing no stale output. */
enum { SK = 128, SN = 8 };
static float *sibling_products(bool fuse, int threads, int n_act, bool observe, int *fused) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = threads, .fuse = fuse ? PL_FUSE_ON : PL_FUSE_OFF});
    const int64_t rows[4] = {96, 32, 40, 64}; /* 40: the eight-row kernel and the four-row one's leftovers */
    pl_tensor *x = pl_new_2d(ctx, PL_F32, SK, n_act), *w[4], *y[4];
    pl_tensor *bias = pl_new_1d(ctx, PL_F32, rows[3]);
    float *wf = malloc(SK * sizeof *wf);
    rng = 21;
    for (int i = 0; i < 4; i++) {
        w[i] = pl_new_2d(ctx, PL_Q8_0, SK, rows[i]);
        for (int64_t m = 0; m < rows[i]; m++) {
            for (int k = 0; k < SK; k++) wf[k] = frand();
            pl_dtype_traits(PL_Q8_0)->from_float(wf, (char *)w[i]->data + m * w[i]->nb[1], SK);
        }
    }
    free(wf);
    for (int64_t k = 0; k < rows[3]; k++) pl_f32(bias)[k] = frand();
    for (int i = 0; i < 3; i++) y[i] = pl_matmul(ctx, w[i], x);
    y[3] = pl_matmul_bias(ctx, w[3], x, bias); /* not a sibling: its bias is added by its own forward */
    /* consumers in between, so that the siblings are not neighbours in the graph's order */
    pl_tensor *out = pl_concat(ctx, pl_concat(ctx, pl_scale(ctx, y[0], 2.0f), pl_add(ctx, y[1], y[1]), 0),
                               pl_concat(ctx, pl_scale(ctx, y[2], 0.5f), y[3], 0), 0);
    pl_graph *g = pl_graph_build(ctx, out, false);
    CHECK(g != NULL);
    *fused = 0;
    for (int i = 0; i < g->n_nodes; i++) *fused += (g->nodes[i]->flags & PL_FLAG_FUSED_FWD) != 0;
    int seen = 0;
    if (observe) ctx->observe = count_matmuls, ctx->observe_ud = &seen;
    size_t n = (size_t)pl_nelements(out);
    float *r = malloc(2 * n * sizeof *r);
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t k = 0; k < pl_nelements(x); k++) pl_f32(x)[k] = frand() * 3.0f;
        pl_graph_forward(ctx, g);
        memcpy(r + pass * n, pl_f32(out), n * sizeof *r);
    }
    if (observe) CHECKF(seen == 8, "an observer saw %d products in two passes, not 8", seen);
    pl_ctx_free(ctx);
    return r;
}

static void check_siblings(void) {
    for (int n_act = 1; n_act <= SN; n_act += SN - 1) {
        int nf[4];
        float *plain = sibling_products(false, 1, n_act, false, &nf[0]), *one = sibling_products(true, 1, n_act, false, &nf[1]);
        float *two = sibling_products(true, 2, n_act, false, &nf[2]), *seen = sibling_products(true, 2, n_act, true, &nf[3]);
        size_t bytes = 2 * (size_t)(96 + 32 + 40 + 64) * n_act * sizeof(float);
        CHECKF(nf[0] == 0 && nf[1] == 2 && nf[2] == 2, "siblings marked: %d unfused, %d and %d fused", nf[0], nf[1], nf[2]);
        CHECKF(memcmp(plain, one, bytes) == 0 && memcmp(plain, two, bytes) == 0 && memcmp(plain, seen, bytes) == 0,
               "sibling products differ from lone ones (%d activation rows)", n_act);
        free(plain), free(one), free(two), free(seen);
    }
}

int main(void) {
    unsetenv("PLINTH_GEMM");
    check_siblings();
    check_encoder_block(false); /* at the CPU's own ISA, as the element kernels below pick theirs once */
    check_encoder_block(true);
    pl_isa top = pl_cpu_isa();
    /* from the top down: the element kernels (pl_vec_gelu_f32 ...) pick their ISA at first use, so the separate
     * passes run the top ISA's throughout; AVX2's GELU gives the bits of AVX-512's, so an AVX2 product's fused
     * write-back must still match them */
    for (int level = (int)top; level >= PL_ISA_SCALAR; level--) {
        pl_cpu_set_max_isa((pl_isa)level);
        check_level((pl_isa)level);
    }
    pl_cpu_set_max_isa(top);
    TEST_DONE();
}
