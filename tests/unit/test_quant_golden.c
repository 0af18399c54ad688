/* Quantized types against the gguf Python package (fixtures from tools/make_quant_fixtures.py):
 * (a) our dequantize of the reference's bytes equals the reference's floats exactly, for every type and
 *     every ISA variant (the byte layouts are GGUF's); k-quants on random well-formed blocks;
 * (b) our quantize -> dequantize RMS error is within 10% of the reference's (k-quants, which gguf cannot
 *     encode, are held to the reference _1 types of the same code width: see docs/quantization.md);
 * (c) round-to-nearest types give the reference's exact bytes. */
#include "test.h"

#include "core/common.h"
#include "core/cpu.h"
#include "quant/quant_kernels.h"

#include <string.h>

typedef void (*deq_fn)(const void *, float *, int64_t);

static void *load(const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/quant/%s", test_root(), name);
    void *p = pl_read_file(path, len);
    CHECKF(p != NULL, "%s", path);
    return p;
}

static double rms(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s / (double)n);
}

/* The dequantize variants this machine can run, scalar first. */
static int deq_variants(const char *type, deq_fn out[3]) {
    static const struct { const char *name; deq_fn v[3]; } tab[] = {
#define ROW(K) {#K, {pl_dequantize_##K##_scalar, pl_dequantize_##K##_avx2, pl_dequantize_##K##_avx512}},
        PL_QK_DEQUANTS(ROW)
#undef ROW
    };
    const int levels = pl_cpu_isa() + 1;
    for (size_t i = 0; i < PL_ARRAY_LEN(tab); i++)
        if (!strcmp(tab[i].name, type)) {
            for (int l = 0; l < levels; l++) out[l] = tab[i].v[l];
            return levels;
        }
    return 0;
}

/* Dequantize `bytes` with every variant and with the table entry; all must equal `want` exactly. */
static void check_dequant_exact(const char *what, const char *type, const void *bytes, const float *want, int64_t n) {
    deq_fn v[3];
    const int nv = deq_variants(type, v);
    CHECKF(nv > 0, "no variants for %s", type);
    float *got = malloc((size_t)n * sizeof(float));
    for (int l = 0; l <= nv; l++) {
        memset(got, 0xff, (size_t)n * sizeof(float));
        if (l < nv) v[l](bytes, got, n);
        else CHECK(pl_dequant_row((pl_dtype)pl_dtype_from_name(type), bytes, got, n) == 0);
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++) bad += memcmp(&got[i], &want[i], 4) != 0;
        CHECKF(bad == 0, "%s %s variant %d: %lld of %lld floats differ", what, type, l, (long long)bad, (long long)n);
    }
    free(got);
}

static double ref_rms_of(const char *manifest, const char *tensor, const char *type) {
    char key[256];
    snprintf(key, sizeof key, "rms %s %s ", tensor, type);
    const char *p = strstr(manifest, key);
    return p ? atof(p + strlen(key)) : -1;
}

static void check_tensor(const char *manifest, const char *name, int rows, int cols) {
    static const char *types[] = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0"};
    char fn[256];
    size_t len;
    snprintf(fn, sizeof fn, "%s.f32", name);
    float *x = load(fn, &len);
    const int64_t n = (int64_t)rows * cols;
    if (!x || len != (size_t)n * 4) { CHECK(0); free(x); return; }
    float *y = malloc((size_t)n * 4);
    uint8_t *q = malloc((size_t)n * 2);
    double ours[16] = {0};
    for (size_t k = 0; k < PL_ARRAY_LEN(types); k++) {
        const pl_dtype t = (pl_dtype)pl_dtype_from_name(types[k]);
        size_t blen, dlen;
        snprintf(fn, sizeof fn, "%s.%s.bin", name, types[k]);
        uint8_t *ref = load(fn, &blen);
        snprintf(fn, sizeof fn, "%s.%s.deq.f32", name, types[k]);
        float *ref_deq = load(fn, &dlen);
        const size_t qbytes = pl_row_size(t, cols) * (size_t)rows;
        CHECK(blen == qbytes && dlen == (size_t)n * 4);
        if (ref && ref_deq && blen == qbytes && dlen == (size_t)n * 4) {
            check_dequant_exact(name, types[k], ref, ref_deq, n);                                /* (a) */
            CHECK(pl_quantize_tensor(t, x, q, rows, cols, NULL) == (int64_t)qbytes);
            const pl_type_traits *tr = pl_dtype_traits(t);
            size_t bad = 0;
            for (size_t b = 0; b < qbytes / tr->type_size; b++)
                bad += memcmp(q + b * tr->type_size, ref + b * tr->type_size, tr->type_size) != 0;
            CHECKF(bad == 0, "%s %s: %zu of %zu blocks differ from the reference", name, types[k], bad,
                   qbytes / tr->type_size);                                                  /* (c) */
            CHECK(pl_dequant_row(t, q, y, n) == 0);
            const double r = rms(x, y, n), want = ref_rms_of(manifest, name, types[k]);
            ours[t] = want;
            CHECKF(want >= 0 && r <= 1.10 * want + 1e-12, "%s %s rms %.4g vs reference %.4g", name, types[k], r, want);
        }
        free(ref), free(ref_deq);
    }
    /* k-quants: no reference encoder; must beat the reference _1 type of the same code width */
    static const struct { pl_dtype t; pl_dtype peer; double factor; } kq[] = {
        {PL_Q4_K, PL_Q4_1, 1.0}, {PL_Q5_K, PL_Q5_1, 1.0}, {PL_Q6_K, PL_Q5_1, 0.6}};
    for (size_t k = 0; k < PL_ARRAY_LEN(kq); k++) {
        const int64_t bytes = pl_quantize_tensor(kq[k].t, x, q, rows, cols, NULL);
        CHECK(bytes == (int64_t)(pl_row_size(kq[k].t, cols) * (size_t)rows));
        CHECK(pl_dequant_row(kq[k].t, q, y, n) == 0);
        const double r = rms(x, y, n), bar = kq[k].factor * ours[kq[k].peer];
        printf("%-14s %-5s rms %.4e  (bar %.4e)\n", name, pl_dtype_name(kq[k].t), r, bar);
        CHECKF(r <= bar + 1e-12, "%s %s rms %.4g > %.4g", name, pl_dtype_name(kq[k].t), r, bar);
        /* every variant decodes our own bytes identically */
        deq_fn v[3];
        const int nv = deq_variants(pl_dtype_name(kq[k].t), v);
        for (int l = 1; l < nv; l++) {
            float *z = malloc((size_t)n * 4);
            v[l](q, z, n);
            CHECK(memcmp(z, y, (size_t)n * 4) == 0);
            free(z);
        }
    }
    free(x), free(y), free(q);
}

int main(void) {
    size_t mlen;
    char *manifest = load("manifest.txt", &mlen);
    if (!manifest) TEST_DONE();
    int ntensors = 0, nk = 0;
    for (char *line = manifest; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char name[128], type[16];
        int rows, cols, nblocks;
        if (sscanf(line, "tensor %127s %d %d", name, &rows, &cols) == 3) {
            check_tensor(manifest, name, rows, cols);
            ntensors++;
        } else if (sscanf(line, "kblocks %15s %d", type, &nblocks) == 2) {
            char fn[128];
            size_t blen, dlen;
            snprintf(fn, sizeof fn, "kblocks.%s.bin", type);
            void *b = load(fn, &blen);
            snprintf(fn, sizeof fn, "kblocks.%s.deq.f32", type);
            float *d = load(fn, &dlen);
            const pl_dtype t = (pl_dtype)pl_dtype_from_name(type);
            CHECK(blen == pl_row_size(t, 256) * (size_t)nblocks && dlen == (size_t)nblocks * 256 * 4);
            if (b && d) check_dequant_exact("kblocks", type, b, d, (int64_t)nblocks * 256);
            free(b), free(d);
            nk++;
        }
    }
    CHECK(ntensors == 3 && nk == 3);
    free(manifest);
    TEST_DONE();
}
