/* The quant kernels on random data: each dot kernel against the float dot of the dequantized rows, every
 * SIMD variant this machine has against the scalar reference (dequantize bit-exact, dots within 1e-5 of
 * the sum of |terms|), the table rows, the row / tensor conveniences and their errors, and imatrix use. */
#include "test.h"

#include "core/common.h"
#include "core/cpu.h"
#include "quant/quant_kernels.h"

#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) / 8388608.0 - 1.0);
}
static float grand(void) { float s = 0; for (int i = 0; i < 4; i++) s += frand(); return s; }

typedef struct { pl_dtype t; pl_vec_dot_fn v[3]; pl_to_float_fn dq[3]; } kernel_set;
#define KS(T, D, Q) {T, {pl_vec_dot_##D##_scalar, pl_vec_dot_##D##_avx2, pl_vec_dot_##D##_avx512}, \
                     {pl_dequantize_##Q##_scalar, pl_dequantize_##Q##_avx2, pl_dequantize_##Q##_avx512}}
static const kernel_set kernels[] = {
    KS(PL_Q4_0, q4_0_q8_0, q4_0), KS(PL_Q4_1, q4_1_q8_1, q4_1), KS(PL_Q5_0, q5_0_q8_0, q5_0),
    KS(PL_Q5_1, q5_1_q8_1, q5_1), KS(PL_Q8_0, q8_0_q8_0, q8_0), KS(PL_Q4_K, q4_K_q8_K, q4_K),
    KS(PL_Q5_K, q5_K_q8_K, q5_K), KS(PL_Q6_K, q6_K_q8_K, q6_K),
};

/* Levels to test: scalar, AVX2 if present, AVX-512 (integer dots: with VNNI) if present. */
static int levels(bool needs_vnni) {
    const pl_isa isa = pl_cpu_isa();
    if (isa >= PL_ISA_AVX512 && needs_vnni && !pl_cpu()->avx512vnni) return 2;
    return (int)isa + 1;
}

static void test_kernel(const kernel_set *k, int64_t n) {
    const pl_type_traits *tr = pl_dtype_traits(k->t), *at = pl_dtype_traits(tr->vec_dot_type);
    float *w = malloc((size_t)n * 4), *a = malloc((size_t)n * 4), *wd = malloc((size_t)n * 4), *ad = malloc((size_t)n * 4);
    float *wd2 = malloc((size_t)n * 4);
    void *wq = malloc(pl_row_size(k->t, n)), *aq = malloc(pl_row_size(tr->vec_dot_type, n));
    for (int64_t i = 0; i < n; i++) w[i] = 0.02f * grand() + (i % 97 == 0 ? 0.3f : 0.0f), a[i] = grand();
    CHECK(pl_quant_row(k->t, w, wq, n) == 0);
    CHECK(pl_quant_row(tr->vec_dot_type, a, aq, n) == 0);
    k->dq[0](wq, wd, n);
    at->to_float(aq, ad, n);
    double want = 0, l1 = 0, err = 0, amax = 0;
    for (int64_t i = 0; i < n; i++) {
        want += (double)wd[i] * ad[i], l1 += fabs((double)wd[i] * ad[i]);
        err = fmax(err, fabs(wd[i] - w[i])), amax = fmax(amax, fabs(w[i]));
    }
    CHECKF(err <= 0.25 * amax, "%s n=%lld: max error %g of max %g", tr->name, (long long)n, err, amax);
    double tol = 1e-5 * l1;
    if (tr->vec_dot_type == PL_Q8_1) /* d*sum(q) is kept as fp16 */
        for (int64_t b = 0; b < n / 32; b++) {
            double mx = 0;
            for (int j = 0; j < 32; j++) mx = fmax(mx, fabs(wd[32 * b + j]));
            tol += mx * fabs(pl_fp16_to_fp32(((const pl_block_q8_1 *)aq)[b].s)) / 2048.0;
        }
    float ref;
    k->v[0](n, &ref, wq, aq);
    CHECKF(fabs(ref - want) <= tol, "%s n=%lld scalar dot %.7g vs %.7g", tr->name, (long long)n, ref, want);
    for (int l = 1; l < levels(true); l++) {
        float got;
        k->v[l](n, &got, wq, aq);
        CHECKF(fabs(got - ref) <= 1e-5 * l1 + 1e-30, "%s n=%lld level %d dot %.9g vs scalar %.9g", tr->name,
               (long long)n, l, got, ref);
    }
    for (int l = 1; l < levels(false); l++) {
        memset(wd2, 0xff, (size_t)n * 4);
        k->dq[l](wq, wd2, n);
        CHECKF(!memcmp(wd, wd2, (size_t)n * 4), "%s n=%lld level %d dequantize differs", tr->name, (long long)n, l);
    }
    /* random bytes (any code pattern; scales kept finite) must decode identically too */
    uint8_t *rb = wq;
    for (size_t i = 0; i < pl_row_size(k->t, n); i++) rb[i] = (uint8_t)(frand() * 128 + 128);
    for (size_t b = 0; b < pl_row_size(k->t, n) / tr->type_size; b++) { /* clear fp16 exponents' top bit */
        uint8_t *blk = rb + b * tr->type_size;
        if (k->t == PL_Q6_K) blk[209] &= 0x3f;
        else { blk[1] &= 0x3f; if (k->t == PL_Q4_1 || k->t == PL_Q5_1 || k->t == PL_Q4_K || k->t == PL_Q5_K) blk[3] &= 0x3f; }
    }
    k->dq[0](wq, wd, n);
    float r0;
    k->v[0](n, &r0, wq, aq);
    l1 = 0;
    for (int64_t i = 0; i < n; i++) l1 += fabs((double)wd[i] * ad[i]);
    for (int l = 1; l < levels(false); l++) {
        k->dq[l](wq, wd2, n);
        CHECKF(!memcmp(wd, wd2, (size_t)n * 4), "%s n=%lld level %d dequantize of random bytes differs", tr->name,
               (long long)n, l);
    }
    for (int l = 1; l < levels(true); l++) {
        float got;
        k->v[l](n, &got, wq, aq);
        /* random bytes break the min/sum relation; compare with the l1 of the scalar's own terms */
        CHECKF(fabs(got - r0) <= 1e-5 * (l1 + fabs(r0)) + 1e-6, "%s n=%lld level %d random-bytes dot %.9g vs %.9g",
               tr->name, (long long)n, l, got, r0);
    }
    free(w), free(a), free(wd), free(ad), free(wd2), free(wq), free(aq);
}

static void test_float_dots(void) {
    static const int64_t lens[] = {1, 7, 8, 31, 33, 100, 576, 1000};
    const pl_vec_dot_fn f16[3] = {pl_vec_dot_f16_f32_scalar, pl_vec_dot_f16_f32_avx2, pl_vec_dot_f16_f32_avx512};
    const pl_vec_dot_fn bf16[3] = {pl_vec_dot_bf16_f32_scalar, pl_vec_dot_bf16_f32_avx2, pl_vec_dot_bf16_f32_avx512};
    for (size_t li = 0; li < PL_ARRAY_LEN(lens); li++) {
        const int64_t n = lens[li];
        uint16_t *h = malloc((size_t)n * 2), *b = malloc((size_t)n * 2);
        float *y = malloc((size_t)n * 4);
        double want_h = 0, want_b = 0, l1_h = 0, l1_b = 0;
        for (int64_t i = 0; i < n; i++) {
            const float x = grand();
            y[i] = grand();
            h[i] = pl_fp32_to_fp16(x), b[i] = pl_fp32_to_bf16(x);
            want_h += (double)pl_fp16_to_fp32(h[i]) * y[i], l1_h += fabs((double)pl_fp16_to_fp32(h[i]) * y[i]);
            want_b += (double)pl_bf16_to_fp32(b[i]) * y[i], l1_b += fabs((double)pl_bf16_to_fp32(b[i]) * y[i]);
        }
        for (int l = 0; l < levels(false); l++) {
            float sh, sb;
            f16[l](n, &sh, h, y);
            bf16[l](n, &sb, b, y);
            CHECKF(fabs(sh - want_h) <= 1e-5 * l1_h + 1e-7, "f16 n=%lld level %d: %.9g vs %.9g", (long long)n, l, sh, want_h);
            CHECKF(fabs(sb - want_b) <= 1e-5 * l1_b + 1e-7, "bf16 n=%lld level %d: %.9g vs %.9g", (long long)n, l, sb, want_b);
        }
        free(h), free(b), free(y);
    }
}

static void test_table_and_api(void) {
    static const struct { pl_dtype t; const char *name; int64_t blck; size_t size, sz; } rows[] = {
        {PL_Q4_0, "q4_0", 32, 18, sizeof(pl_block_q4_0)}, {PL_Q4_1, "q4_1", 32, 20, sizeof(pl_block_q4_1)},
        {PL_Q5_0, "q5_0", 32, 22, sizeof(pl_block_q5_0)}, {PL_Q5_1, "q5_1", 32, 24, sizeof(pl_block_q5_1)},
        {PL_Q8_0, "q8_0", 32, 34, sizeof(pl_block_q8_0)}, {PL_Q8_1, "q8_1", 32, 36, sizeof(pl_block_q8_1)},
        {PL_Q4_K, "q4_K", 256, 144, sizeof(pl_block_q4_K)}, {PL_Q5_K, "q5_K", 256, 176, sizeof(pl_block_q5_K)},
        {PL_Q6_K, "q6_K", 256, 210, sizeof(pl_block_q6_K)}, {PL_Q8_K, "q8_K", 256, 292, sizeof(pl_block_q8_K)},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(rows); i++) {
        const pl_type_traits *tr = pl_dtype_traits(rows[i].t);
        CHECK(tr && !strcmp(tr->name, rows[i].name) && tr->blck_size == rows[i].blck && tr->type_size == rows[i].size);
        CHECKF(rows[i].sz == rows[i].size, "%s struct is %zu bytes", rows[i].name, rows[i].sz);
        CHECK(tr && tr->is_quantized && tr->to_float && tr->from_float);
        CHECK(tr && (rows[i].t == PL_Q8_1 || rows[i].t == PL_Q8_K || tr->vec_dot));
    }
    float x[512] = {0}, y[512];
    uint8_t q[600];
    CHECK(pl_quant_row(PL_Q4_1, x, q, 33) == PL_ERR_ARG && strstr(pl_last_error(), "block size"));
    CHECK(pl_dequant_row(PL_Q4_K, q, y, 32) == PL_ERR_ARG);
    CHECK(pl_quant_row((pl_dtype)99, x, q, 32) == PL_ERR_ARG);
    CHECK(pl_quantize_tensor(PL_Q4_K, x, q, 1, 288, NULL) == PL_ERR_ARG);
    CHECK(pl_quantize_tensor(PL_Q4_0, x, q, 2, 64, NULL) == 2 * 2 * 18);
    CHECK(pl_quantize_tensor(PL_Q6_K, x, q, 2, 256, NULL) == 2 * 210);
    CHECK(pl_dequant_row(PL_Q6_K, q, y, 256) == 0);
    int nz = 0;
    for (int i = 0; i < 256; i++) nz += y[i] != 0;
    CHECK(nz == 0); /* zeros stay zeros */
    /* Q8_1's s is d * sum(q) */
    for (int i = 0; i < 64; i++) x[i] = grand();
    CHECK(pl_quant_row(PL_Q8_1, x, q, 64) == 0);
    for (int b = 0; b < 2; b++) {
        const pl_block_q8_1 *blk = (const pl_block_q8_1 *)q + b;
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += blk->qs[j];
        CHECK_NEAR(pl_fp16_to_fp32(blk->s), pl_fp16_to_fp32(blk->d) * sum, fabs(pl_fp16_to_fp32(blk->d) * sum) / 1024);
    }
    /* Q8_K's bsums are the per-16 sums */
    pl_block_q8_K k8;
    for (int i = 0; i < 256; i++) x[i] = grand();
    CHECK(pl_quant_row(PL_Q8_K, x, &k8, 256) == 0);
    int bad = 0;
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int j = 0; j < 16; j++) s += k8.qs[16 * g + j];
        bad += s != k8.bsums[g];
    }
    CHECK(bad == 0);
}

/* With an importance matrix the k-quant search minimizes the weighted error: it must beat the unweighted
 * quantization on that weighted error. */
static void test_imatrix(void) {
    const int64_t rows = 4, cols = 512;
    float *x = malloc(rows * cols * 4), *y = malloc(cols * 4), *im = malloc(cols * 4);
    uint8_t *q = malloc(rows * pl_row_size(PL_Q6_K, cols));
    for (int64_t i = 0; i < rows * cols; i++) x[i] = grand();
    for (int64_t j = 0; j < cols; j++) im[j] = (j % 16 < 2) ? 100.0f : 0.01f;
    const pl_dtype types[] = {PL_Q4_K, PL_Q5_K, PL_Q6_K};
    for (size_t k = 0; k < 3; k++) {
        double e[2] = {0, 0};
        for (int pass = 0; pass < 2; pass++) {
            const int64_t bytes = pl_quantize_tensor(types[k], x, q, rows, cols, pass ? im : NULL);
            CHECK(bytes == rows * (int64_t)pl_row_size(types[k], cols));
            for (int64_t r = 0; r < rows; r++) {
                pl_dequant_row(types[k], q + r * pl_row_size(types[k], cols), y, cols);
                for (int64_t j = 0; j < cols; j++) e[pass] += im[j] * (y[j] - x[r * cols + j]) * (y[j] - x[r * cols + j]);
            }
        }
        CHECKF(e[1] < e[0], "%s: weighted error with imatrix %g >= without %g", pl_dtype_name(types[k]), e[1], e[0]);
    }
    free(x), free(y), free(im), free(q);
}

int main(void) {
    printf("cpu isa level %d, vnni %d\n", (int)pl_cpu_isa(), (int)pl_cpu()->avx512vnni);
    static const int64_t lens_small[] = {32, 64, 96, 256, 512, 1280, 4096};
    static const int64_t lens_k[] = {256, 512, 1280, 4096};
    for (size_t k = 0; k < PL_ARRAY_LEN(kernels); k++) {
        const bool is_k = pl_dtype_traits(kernels[k].t)->blck_size == 256;
        const int64_t *lens = is_k ? lens_k : lens_small;
        const size_t nl = is_k ? PL_ARRAY_LEN(lens_k) : PL_ARRAY_LEN(lens_small);
        for (size_t i = 0; i < nl; i++)
            for (int rep = 0; rep < (test_fast() ? 1 : 3); rep++) test_kernel(&kernels[k], lens[i]);
    }
    test_float_dots();
    test_table_and_api();
    test_imatrix();
    TEST_DONE();
}
