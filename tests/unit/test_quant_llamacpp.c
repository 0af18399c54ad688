/* plinth's quantize -> dequantize error against llama.cpp's reference quantizers, tensor by tensor.
 * tests/golden/quant/llamacpp_kquant.gguf holds seeded f32 weight matrices; llamacpp_kquant.json holds the RMS
 * error llama.cpp's `llama-quantize --pure` left in each of them per block type (decoded by the gguf package;
 * made by tools/make_llamacpp_quant_fixtures.py). plinth must do at least as well, within 10%. */
#include "test.h"

#include "core/common.h"
#include "core/dtype.h"
#include "io/gguf.h"
#include "quant/quant.h"

#include <cjson/cJSON.h>
#include <string.h>

#define TOLERANCE 1.10

static double rms_diff(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return sqrt(s / (double)n);
}

/* Quantize one fixture tensor with plinth, decode it, return the RMS error (negative on failure). */
static double plinth_error(pl_dtype t, const pl_gguf_tensor *g, int64_t rows, int64_t cols) {
    const float *src = g->data;
    size_t qbytes = pl_row_size(t, cols) * (size_t)rows;
    void *q = malloc(qbytes);
    float *back = malloc(sizeof(float) * (size_t)(rows * cols));
    double err = -1;
    if (q && back && pl_quantize_tensor(t, src, q, rows, cols, NULL) == (int64_t)qbytes) {
        pl_dtype_traits(t)->to_float(q, back, rows * cols);
        err = rms_diff(src, back, rows * cols);
    }
    free(q);
    free(back);
    return err;
}

/* Every tensor listed for one type: plinth's error <= TOLERANCE x llama.cpp's. Returns tensors checked. */
static int check_type(const pl_gguf *g, const char *tname, const cJSON *list) {
    int t = pl_dtype_from_name(tname);
    CHECKF(t >= 0 && pl_dtype_traits(t) && pl_dtype_traits(t)->to_float, "type %s", tname);
    if (t < 0 || !pl_dtype_traits(t) || !pl_dtype_traits(t)->to_float) return 0;
    int n = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, list) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(row, "name"));
        int64_t rows = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(row, "rows"));
        int64_t cols = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(row, "cols"));
        double ref = cJSON_GetNumberValue(cJSON_GetObjectItem(row, "rms_ref"));
        double want = cJSON_GetNumberValue(cJSON_GetObjectItem(row, "rms_err"));
        const pl_gguf_tensor *gt = name ? pl_gguf_find_tensor(g, name) : NULL;
        CHECKF(gt != NULL, "%s: tensor %s", tname, name ? name : "(no name)");
        if (!gt) continue;
        CHECKF(gt->type == PL_F32 && gt->ne[0] == cols && gt->ne[1] == rows, "%s: %s shape/type", tname, name);
        if (gt->type != PL_F32 || gt->ne[0] != cols || gt->ne[1] != rows) continue;
        /* the reference figure must mean something: a real error, well below the signal itself */
        CHECKF(want > 0 && want < 0.5 * ref, "%s %s: llama.cpp rms %.3g vs signal %.3g", tname, name, want, ref);
        double err = plinth_error((pl_dtype)t, gt, rows, cols);
        CHECKF(err > 0 && err <= TOLERANCE * want, "%s %s: plinth rms %.4g, llama.cpp %.4g (ratio %.3f)", tname,
               name, err, want, err / want);
        printf("%-5s %-26s plinth %.4e  llama.cpp %.4e  ratio %.3f\n", tname, name, err, want, err / want);
        n++;
    }
    return n;
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/quant/llamacpp_kquant.json", test_root());
    size_t len = 0;
    char *txt = pl_read_file(path, &len);
    CHECKF(txt != NULL, "%s", path);
    if (!txt) TEST_DONE();
    cJSON *doc = cJSON_ParseWithLength(txt, len);
    CHECK(doc != NULL);
    snprintf(path, sizeof path, "%s/tests/golden/quant/llamacpp_kquant.gguf", test_root());
    pl_gguf *g = pl_gguf_open(path);
    CHECKF(g != NULL, "%s: %s", path, pl_last_error());
    const cJSON *types = cJSON_GetObjectItem(doc, "types");
    /* the k-quants are the point (the gguf package cannot encode them); q4_0 / q8_0 come along */
    const char *need[] = {"q4_K", "q5_K", "q6_K", "q4_0", "q8_0"};
    for (size_t i = 0; g && doc && i < PL_ARRAY_LEN(need); i++) {
        const cJSON *list = cJSON_GetObjectItem(types, need[i]);
        CHECKF(cJSON_IsArray(list), "type %s missing from the fixture", need[i]);
        int n = list ? check_type(g, need[i], list) : 0;
        CHECKF(n >= 5, "%s: only %d tensors checked", need[i], n);
    }
    pl_gguf_close(g);
    cJSON_Delete(doc);
    free(txt);
    TEST_DONE();
}
