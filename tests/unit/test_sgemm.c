/* plinth's own f32 GEMM (backend/cpu/sgemm.c) against a double-precision loop, with the kernels of every ISA
 * this CPU has (AVX2's 6 x 16 tiles; AVX-512's 12 x 32), each picked by capping the ISA: every layout the
 * packing code reads (plain, transposed, other strides), edges of every kind around the tiles, K and N past one
 * block (KC = 384, NC), alpha / beta (beta = 0 must not read C: it holds NaN there), and the promise that a
 * split of C's rows changes no bit; a bias added in the write-back; row sums gathered while packing; the
 * epilogue (residual, GELU, GELU's derivative). Below AVX2 pl_sgemm declines (the caller then uses BLAS). */
#include "backend/cpu/sgemm.h"
#include "backend/cpu/vec.h"
#include "core/cpu.h"
#include "core/tensor.h"
#include "test.h"

#include <stdint.h>
#include <string.h>

static uint32_t rng = 12345;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xFFFF) / 65536.0f - 0.5f;
}

/* a matrix of rows x cols in a buffer, in one of the layouts: 0 row-major, 1 column-major (transposed view),
 * 2 row-major with padded rows, 3 both strides > 1 (a generic view) */
static pl_mat make(float *buf, int64_t rows, int64_t cols, int layout) {
    pl_mat m = {buf, rows, cols, 0, 0};
    switch (layout) {
    case 0: m.rs = cols, m.cs = 1; break;
    case 1: m.rs = 1, m.cs = rows; break;
    case 2: m.rs = cols + 5, m.cs = 1; break;
    default: m.rs = 2 * cols + 1, m.cs = 2; break;
    }
    int64_t span = (rows - 1) * m.rs + (cols - 1) * m.cs + 1;
    for (int64_t i = 0; i < span; i++) buf[i] = frand();
    return m;
}

static pl_ctx *pool; /* 3 threads: the shared-panel product must give the same bits as one thread */
static pl_isa level; /* the ISA whose kernels are under test (pl_cpu_set_max_isa) */

static int check_one(int64_t M, int64_t N, int64_t K, int la, int lb, float alpha, float beta) {
    float *abuf = malloc(sizeof(float) * (size_t)((M + 1) * (2 * K + 6) + 16));
    float *bbuf = malloc(sizeof(float) * (size_t)((K + 1) * (2 * N + 6) + 16));
    int64_t ldc = N + 3;
    float *c = malloc(sizeof(float) * (size_t)(M * ldc)), *c0 = malloc(sizeof(float) * (size_t)(M * ldc));
    pl_mat a = make(abuf, M, K, la), b = make(bbuf, K, N, lb);
    for (int64_t i = 0; i < M * ldc; i++) c0[i] = beta == 0.0f ? NAN : frand();
    memcpy(c, c0, sizeof(float) * (size_t)(M * ldc));
    int ok = pl_sgemm(c, ldc, a, b, alpha, beta);
    double worst = 0;
    int untouched = 1;
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double s = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)a.p[i * a.rs + k * a.cs] * b.p[k * b.rs + j * b.cs];
                s += p;
                mag += fabs(p);
            }
            double old = beta == 0.0f ? 0.0 : beta * (double)c0[i * ldc + j]; /* C's NaN must not leak in */
            double err = fabs(c[i * ldc + j] - (alpha * s + old)) / (fabs(alpha) * mag + fabs(old) + 1e-30);
            if (isnan(err)) worst = INFINITY;
            else if (err > worst) worst = err;
        }
        for (int64_t j = N; j < ldc; j++) untouched &= memcmp(&c[i * ldc + j], &c0[i * ldc + j], sizeof(float)) == 0;
    }
    CHECKF(ok && worst < 1e-6, "isa %d M %lld N %lld K %lld layouts %d/%d alpha %g beta %g: relative error %.3g",
           level, (long long)M, (long long)N, (long long)K, la, lb, alpha, beta, worst);
    CHECKF(untouched, "M %lld N %lld K %lld: wrote past N in C's padding", (long long)M, (long long)N, (long long)K);

    /* the same product in row pieces that cut tiles: bit-identical to the whole */
    if (M > 9 && beta != 0.0f) { /* (cuts 5 < M / 2 + 1 < M) */
        float *c2 = malloc(sizeof(float) * (size_t)(M * ldc));
        memcpy(c2, c0, sizeof(float) * (size_t)(M * ldc));
        int64_t cuts[] = {0, 5, M / 2 + 1, M};
        for (int p = 0; p < 3; p++) {
            pl_mat ap = a;
            ap.p += cuts[p] * a.rs;
            ap.rows = cuts[p + 1] - cuts[p];
            pl_sgemm(c2 + cuts[p] * ldc, ldc, ap, b, alpha, beta);
        }
        CHECKF(memcmp(c, c2, sizeof(float) * (size_t)(M * ldc)) == 0, "M %lld N %lld K %lld: row split changed bits",
               (long long)M, (long long)N, (long long)K);
        memcpy(c2, c0, sizeof(float) * (size_t)(M * ldc));
        CHECK(pl_sgemm_par(pool, c2, ldc, a, b, alpha, beta));
        CHECKF(memcmp(c, c2, sizeof(float) * (size_t)(M * ldc)) == 0, "M %lld N %lld K %lld: the pool's product differs",
               (long long)M, (long long)N, (long long)K);
        free(c2);
    }
    /* a bias in the write-back: the same bits as copying the bias into C and adding the product (beta = 1), on
     * this thread and on the pool; C's NaN must not leak in, padding past N stays as it was */
    if (alpha == 1.0f) {
        float *bias = malloc(sizeof(float) * (size_t)N), *c2 = malloc(sizeof(float) * (size_t)(M * ldc)),
              *c3 = malloc(sizeof(float) * (size_t)(M * ldc));
        for (int64_t j = 0; j < N; j++) bias[j] = frand();
        for (int64_t i = 0; i < M * ldc; i++) c3[i] = c2[i] = NAN;
        for (int64_t i = 0; i < M; i++) memcpy(c + i * ldc, bias, sizeof(float) * (size_t)N);
        pl_sgemm(c, ldc, a, b, 1.0f, 1.0f);
        CHECK(pl_sgemm_bias_par(NULL, c2, ldc, a, b, bias) && pl_sgemm_bias_par(pool, c3, ldc, a, b, bias));
        int same = 1, pad = 1;
        for (int64_t i = 0; i < M; i++) {
            same &= memcmp(c + i * ldc, c2 + i * ldc, sizeof(float) * (size_t)N) == 0 &&
                    memcmp(c + i * ldc, c3 + i * ldc, sizeof(float) * (size_t)N) == 0;
            for (int64_t j = N; j < ldc; j++) pad &= isnan(c2[i * ldc + j]) && isnan(c3[i * ldc + j]);
        }
        CHECKF(same && pad, "M %lld N %lld K %lld layouts %d/%d: the bias in the write-back differs (%d) or wrote past N (%d)",
               (long long)M, (long long)N, (long long)K, la, lb, same, pad);
        free(bias), free(c2), free(c3);
    }
    /* A's row sums gathered while a transposed A is packed (a bias gradient): += onto what is there, in column
     * order (the bits of a plain f32 loop), with the product unchanged; refused for other layouts */
    if (K > 0) {
        float *rs = malloc(sizeof(float) * (size_t)M), *want = malloc(sizeof(float) * (size_t)M);
        float *c2 = malloc(sizeof(float) * (size_t)(M * ldc)), *c3 = malloc(sizeof(float) * (size_t)(M * ldc));
        for (int64_t i = 0; i < M; i++) {
            rs[i] = want[i] = frand();
            for (int64_t k = 0; k < K; k++) want[i] += a.p[i * a.rs + k * a.cs];
        }
        memcpy(c2, c0, sizeof(float) * (size_t)(M * ldc));
        memcpy(c3, c0, sizeof(float) * (size_t)(M * ldc));
        pl_sgemm(c2, ldc, a, b, 1.0f, beta);
        bool took = pl_sgemm_rowsum_par(pool, c3, ldc, a, b, beta, rs);
        CHECKF(took == (a.rs == 1), "M %lld K %lld layout %d: rowsum product %s", (long long)M, (long long)K, la,
               took ? "taken for a layout it cannot serve" : "refused");
        if (took)
            CHECKF(memcmp(rs, want, sizeof(float) * (size_t)M) == 0 &&
                       memcmp(c2, c3, sizeof(float) * (size_t)(M * ldc)) == 0,
                   "M %lld N %lld K %lld: row sums or the product with them differ", (long long)M, (long long)N, (long long)K);
        free(rs), free(want), free(c2), free(c3);
    }
    /* the epilogue (pl_sgemm_epi_par): a residual added after the bias; gelu(C) to a second matrix; C * gelu'(x).
     * Against the separate passes of the same ISA over the plain product: the same bits where a row is whole
     * vectors (N a multiple of 16 or 8; the passes' scalar tails may differ in the last bit), on one thread and
     * on the pool. */
    if (alpha == 1.0f && K > 0) {
        size_t sz = sizeof(float) * (size_t)(M * ldc);
        float *bias = malloc(sizeof(float) * (size_t)N), *x = malloc(sz), *p = malloc(sz), *want = malloc(sz);
        float *g1 = malloc(sz), *g2 = malloc(sz), *c1 = malloc(sz), *c2 = malloc(sz), *ref = malloc(sz);
        for (int64_t j = 0; j < N; j++) bias[j] = frand();
        for (int64_t i = 0; i < M * ldc; i++) x[i] = 6 * frand(); /* the GELU's input: tails and middle */
        bool avx512 = level >= PL_ISA_AVX512, exact = N % (avx512 ? 16 : 8) == 0;
        void (*gelu)(int64_t, const float *, float *) = avx512 ? pl_vec_gelu_f32_avx512 : pl_vec_gelu_f32_avx2;
        void (*gelu_grad)(int64_t, const float *, const float *, float *, bool) =
            avx512 ? pl_vec_gelu_grad_f32_avx512 : pl_vec_gelu_grad_f32_avx2;
        int bad = 0, pad = 1;
#define SAME(u, v) (exact ? memcmp(&(u), &(v), sizeof(float)) == 0 : fabsf((u) - (v)) <= 1e-6f * (1 + fabsf(v)))
        /* + bias + residual; and gelu of it to g (C keeps the sum) */
        for (int64_t i = 0; i < M * ldc; i++) p[i] = c1[i] = c2[i] = g1[i] = g2[i] = NAN;
        pl_sgemm_bias_par(NULL, p, ldc, a, b, bias);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) want[i * ldc + j] = p[i * ldc + j] + x[i * ldc + j];
        for (int64_t i = 0; i < M; i++) gelu(N, want + i * ldc, ref + i * ldc);
        pl_sgemm_epi e = {.bias = bias, .add = x, .ld_add = ldc, .gelu = g1, .ld_gelu = ldc};
        CHECK(pl_sgemm_epi_par(NULL, c1, ldc, a, b, 0.0f, &e));
        e.gelu = g2;
        CHECK(pl_sgemm_epi_par(pool, c2, ldc, a, b, 0.0f, &e));
        for (int64_t i = 0; i < M; i++) {
            for (int64_t j = 0; j < N; j++) {
                int64_t q = i * ldc + j;
                bad += !SAME(c1[q], want[q]) || !SAME(g1[q], ref[q]) || memcmp(&c1[q], &c2[q], 4) || memcmp(&g1[q], &g2[q], 4);
            }
            for (int64_t j = N; j < ldc; j++) pad &= isnan(c1[i * ldc + j]) && isnan(g1[i * ldc + j]) && isnan(g2[i * ldc + j]);
        }
        /* C = (A B + beta C) * gelu'(x): GELU's backward in the product */
        memcpy(p, c0, sz);
        pl_sgemm(p, ldc, a, b, 1.0f, beta);
        for (int64_t i = 0; i < M; i++) gelu_grad(N, x + i * ldc, p + i * ldc, want + i * ldc, false);
        memcpy(c1, c0, sz);
        memcpy(c2, c0, sz);
        e = (pl_sgemm_epi){.gelu_x = x, .ld_gelu_x = ldc};
        CHECK(pl_sgemm_epi_par(NULL, c1, ldc, a, b, beta, &e) && pl_sgemm_epi_par(pool, c2, ldc, a, b, beta, &e));
        for (int64_t i = 0; i < M; i++) {
            for (int64_t j = 0; j < N; j++) {
                int64_t q = i * ldc + j;
                bad += !SAME(c1[q], want[q]) || memcmp(&c1[q], &c2[q], 4);
            }
            for (int64_t j = N; j < ldc; j++) pad &= memcmp(&c1[i * ldc + j], &c0[i * ldc + j], 4) == 0;
        }
#undef SAME
        CHECKF(bad == 0 && pad, "M %lld N %lld K %lld layouts %d/%d beta %g: the epilogue differs at %d elements%s",
               (long long)M, (long long)N, (long long)K, la, lb, beta, bad, pad ? "" : ", or wrote past N");
        free(bias), free(x), free(p), free(want), free(g1), free(g2), free(c1), free(c2), free(ref);
    }
    free(abuf), free(bbuf), free(c), free(c0);
    return 0;
}

int main(void) {
    unsetenv("PLINTH_GEMM"); /* (PLINTH_GEMM=blas would leave nothing to test) */
    pl_isa top = pl_cpu_isa();
    pl_mat none = {NULL, 0, 0, 0, 0};
    float one = 0.0f;
    pl_mat a1 = {&one, 1, 1, 1, 1};
    pl_cpu_set_max_isa(PL_ISA_SCALAR);
    CHECK(!pl_sgemm(&one, 1, a1, a1, 1.0f, 0.0f)); /* below AVX2: declined, for BLAS */
    pool = pl_ctx_new(&(pl_ctx_params){.n_threads = 3});
    for (level = PL_ISA_AVX2; level <= top; level++) {
        pl_cpu_set_max_isa(level);
        printf("the kernels of ISA level %d\n", level);
        CHECK(pl_sgemm(NULL, 1, none, none, 1.0f, 0.0f)); /* empty: nothing to do */

        const int64_t ms[] = {1, 6, 11, 12, 13, 25, 40};
        const int64_t ns[] = {1, 8, 16, 31, 32, 33, 70};
        const int64_t ks[] = {1, 7, 16, 17, 64};
        for (int la = 0; la < 4; la++)
            for (int lb = 0; lb < 4; lb++)
                for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
                    for (size_t j = 0; j < sizeof ns / sizeof *ns; j++)
                        for (size_t k = 0; k < sizeof ks / sizeof *ks; k += (test_fast() ? 2 : 1))
                            check_one(ms[i], ns[j], ks[k], la, lb, (i + j) % 3 ? 1.0f : -0.5f, (j + k) % 2 ? 0.0f : 0.75f);
        /* past one K block (384) and one N block, with the layouts of the training step's products */
        check_one(30, 1100, 400, 0, 1, 1.0f, 0.0f);  /* x . W^T (forward) */
        check_one(26, 70, 800, 0, 0, 1.0f, 1.0f);    /* dY . W (input gradient) */
        check_one(37, 45, 1000, 1, 0, 1.0f, 1.0f);   /* dY^T . X (weight gradient, accumulated) */
        check_one(13, 600, 385, 3, 3, 2.0f, -1.0f);
        /* K = 0: C = beta C */
        check_one(5, 7, 0, 0, 0, 1.0f, 0.5f);
    }
    pl_cpu_set_max_isa(top);
    if (top < PL_ISA_AVX2) printf("no AVX2 on this CPU: pl_sgemm defers to BLAS, no kernels to test\n");
    pl_ctx_free(pool);
    TEST_DONE();
}
