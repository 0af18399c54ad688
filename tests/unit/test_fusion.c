/* The graph's write-back fusions (graph.c decide_fusions; sgemm.c's epilogue): two MLP blocks with residual
 * connections, x + W2 gelu(W1 x + b1) + b2 (and one without biases), at sizes that take plinth's GEMM, give the
 * same bits with the fusions as without (PLINTH_FUSE=0): the loss, every gradient, on one thread and on two;
 * the fusions are really taken; a sum whose other addend is computed after the product is not fused into it
 * (it would read the addend before it exists: the second pass, on new inputs, would show it). */
#include "core/tensor.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

enum { C = 64, H = 256, R = 48, NP = 9 };
static uint32_t rng;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (float)((rng >> 8) & 0xFFFF) / 65536.0f - 0.5f; }

typedef struct { float loss[2]; float *grad[NP]; int fused_fwd, fused_bwd; } result;

static void run(bool fuse, int threads, result *r) {
    if (fuse) unsetenv("PLINTH_FUSE");
    else setenv("PLINTH_FUSE", "0", 1);
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = threads});
    int64_t shapes[NP][2] = {{C, R}, {C, H}, {H, 1}, {H, C}, {C, 1}, {C, H}, {H, C}, {C, C}, {C, 1}};
    pl_tensor *p[NP];
    rng = 99;
    for (int i = 0; i < NP; i++) {
        p[i] = shapes[i][1] == 1 ? pl_new_1d(ctx, PL_F32, shapes[i][0]) : pl_new_2d(ctx, PL_F32, shapes[i][0], shapes[i][1]);
        for (int64_t k = 0; k < pl_nelements(p[i]); k++) pl_f32(p[i])[k] = frand() * (i == 0 ? 4.0f : 0.5f);
        pl_param(ctx, p[i]);
    }
    pl_tensor *x = p[0];
    /* block 1: x + W2 gelu(W1 x + b1) + b2 */
    pl_tensor *y = pl_add(ctx, x, pl_matmul_bias(ctx, p[3], pl_gelu(ctx, pl_matmul_bias(ctx, p[1], x, p[2]), true), p[4]));
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
    for (int pass = 0; pass < 2; pass++) { /* the second on new inputs: stale buffers would show */
        if (pass) for (int64_t k = 0; k < pl_nelements(x); k++) pl_f32(x)[k] = frand() * 4.0f;
        pl_graph_forward(ctx, g);
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

int main(void) {
    result plain, fused, fused2;
    run(false, 1, &plain);
    run(true, 1, &fused);
    run(true, 2, &fused2);
    CHECKF(plain.fused_fwd == 0 && plain.fused_bwd == 0, "PLINTH_FUSE=0 still fused %d / %d", plain.fused_fwd, plain.fused_bwd);
    /* forward: both GELUs after a product, both residual sums; not the last sum; backward: both GELUs */
    CHECKF(fused.fused_fwd == 4 && fused.fused_bwd == 2, "fused %d forward, %d backward", fused.fused_fwd, fused.fused_bwd);
    for (int pass = 0; pass < 2; pass++)
        CHECKF(memcmp(&plain.loss[pass], &fused.loss[pass], 4) == 0 && memcmp(&plain.loss[pass], &fused2.loss[pass], 4) == 0,
               "pass %d: loss %.9g fused %.9g (2 threads %.9g)", pass, plain.loss[pass], fused.loss[pass], fused2.loss[pass]);
    CHECK(plain.loss[0] != plain.loss[1]);
    for (int i = 0; i < NP; i++) {
        int64_t n = i == 2 ? H : i == 4 || i == 8 ? C : i == 7 ? C * C : i == 0 ? C * R : C * H;
        int diff = 0, zero = 1;
        for (int64_t k = 0; k < n; k++) {
            diff += memcmp(&plain.grad[i][k], &fused.grad[i][k], 4) != 0 || memcmp(&plain.grad[i][k], &fused2.grad[i][k], 4) != 0;
            zero &= plain.grad[i][k] == 0.0f;
        }
        CHECKF(diff == 0 && !zero, "parameter %d: %d gradient elements differ (all zero: %d)", i, diff, zero);
        free(plain.grad[i]), free(fused.grad[i]), free(fused2.grad[i]);
    }
    TEST_DONE();
}
