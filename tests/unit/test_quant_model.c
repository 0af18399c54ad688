/* Dequantize the real SmolLM2-135M GGUF (Q4_1 weights, a Q8_0 embedding; scripts/fetch-models.sh) and
 * compare with the gguf Python package's dequantization (tests/golden/quant/smollm2.*, made by
 * tools/make_quant_fixtures.py): three rows of each tensor exactly, and whole-tensor sums. Then the dot
 * kernels on a real row: vec_dot(w, q8(a)) must equal the float dot of the two dequantized rows. */
#include "test.h"

#include "core/common.h"
#include "core/cpu.h"
#include "io/gguf.h"
#include "quant/quant_kernels.h"

#include <string.h>

static void check_dots(const pl_gguf_tensor *t, const void *row, const float *rowf) {
    const pl_type_traits *tr = pl_dtype_traits(t->type), *at = pl_dtype_traits(tr->vec_dot_type);
    const int64_t n = t->ne[0];
    float *act = malloc((size_t)n * 4), *actd = malloc((size_t)n * 4);
    void *aq = malloc(pl_row_size(tr->vec_dot_type, n));
    uint32_t s = 12345;
    for (int64_t i = 0; i < n; i++) { s = s * 1664525u + 1013904223u; act[i] = (float)((int)(s >> 8) % 2001 - 1000) / 500.0f; }
    at->from_float(act, aq, n);
    at->to_float(aq, actd, n);
    double want = 0, l1 = 0;
    for (int64_t i = 0; i < n; i++) want += (double)rowf[i] * actd[i], l1 += fabs((double)rowf[i] * actd[i]);
    double tol = 1e-5 * l1;
    if (tr->vec_dot_type == PL_Q8_1) /* Q8_1 keeps d*sum(q) as fp16: allow its rounding times the block's |min| */
        for (int64_t b = 0; b < n / 32; b++) {
            double mx = 0;
            for (int j = 0; j < 32; j++) mx = fmax(mx, fabs(rowf[32 * b + j]));
            tol += mx * fabs(pl_fp16_to_fp32(((const pl_block_q8_1 *)aq)[b].s)) / 2048.0;
        }
    const float got = pl_vec_dot(t->type, n, row, aq);
    CHECKF(fabs(got - want) <= tol, "%s dot %.7g vs %.7g", t->name, got, want);
    free(act), free(actd), free(aq);
}

int main(void) {
    char cmd[1024], path[1024];
    snprintf(cmd, sizeof cmd, "bash '%s/scripts/fetch-models.sh' smollm2 >&2", test_root());
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", test_root());
    pl_gguf *g = pl_gguf_open(path);
    CHECKF(g != NULL, "%s", pl_last_error());
    snprintf(path, sizeof path, "%s/tests/golden/quant/smollm2.txt", test_root());
    char *spec = pl_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/tests/golden/quant/smollm2.rows.f32", test_root());
    size_t rows_len;
    float *ref_rows = (float *)pl_read_file(path, &rows_len);
    CHECK(spec && ref_rows);
    if (!g || !spec || !ref_rows) TEST_DONE();

    size_t ref_off = 0;
    int ntensors = 0;
    for (char *line = spec; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char name[128], type[16];
        long long ncols, nrows, picks[3];
        double want_sum, want_sq;
        if (sscanf(line, "tensor %127s %15s %lld %lld %lld %lld %lld %lf %lf", name, type, &ncols, &nrows, &picks[0],
                   &picks[1], &picks[2], &want_sum, &want_sq) != 9) continue;
        const pl_gguf_tensor *t = pl_gguf_find_tensor(g, name);
        CHECKF(t != NULL, "%s", name);
        if (!t) continue;
        CHECK(t->type == (pl_dtype)pl_dtype_from_name(type) && t->ne[0] == ncols && t->ne[1] == nrows);
        const size_t row_bytes = pl_row_size(t->type, ncols);
        float *y = malloc((size_t)ncols * 4);
        double sum = 0, sq = 0;
        int64_t bad = 0, failed = 0;
        for (long long r = 0; r < nrows; r++) {
            failed += pl_dequant_row(t->type, (const uint8_t *)t->data + r * row_bytes, y, ncols) != 0;
            for (long long i = 0; i < ncols; i++) sum += y[i], sq += (double)y[i] * y[i];
            for (int p = 0; p < 3; p++)
                if (r == picks[p] && ref_off + (size_t)ncols * 4 <= rows_len) {
                    bad += memcmp(y, ref_rows + ref_off / 4, (size_t)ncols * 4) != 0;
                    if (p == 1) check_dots(t, (const uint8_t *)t->data + r * row_bytes, y);
                    ref_off += (size_t)ncols * 4;
                }
        }
        CHECKF(bad == 0 && failed == 0, "%s: %lld reference rows differ", name, (long long)bad);
        CHECK_NEAR(sum, want_sum, 1e-9 * want_sq + 1e-6);
        CHECK_NEAR(sq, want_sq, 1e-9 * want_sq);
        free(y);
        ntensors++;
    }
    CHECK(ntensors == 4 && ref_off == rows_len);
    free(spec), free(ref_rows);
    pl_gguf_close(g);
    TEST_DONE();
}
