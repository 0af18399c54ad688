/* safetensors reader against the reference: tests/golden/io/ref_small.safetensors was written by
 * safetensors.torch (tools/make_io_fixtures.py) and ref_small.safetensors.json holds what safe_open reads:
 * metadata, and per tensor its dtype, shape and the sum of its values. */
#include "test.h"

#include "core/common.h"
#include "core/dtype.h"
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <string.h>

/* Sum of a tensor's values in double, reading the element type the file names (U8 is unsigned). */
static double value_sum(const pl_st_tensor *t) {
    double s = 0;
    const uint8_t *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        const char *d = t->dtype_name;
        if (!strcmp(d, "F32")) { float v; memcpy(&v, p + 4 * i, 4); s += v; }
        else if (!strcmp(d, "F16")) { uint16_t v; memcpy(&v, p + 2 * i, 2); s += pl_fp16_to_fp32(v); }
        else if (!strcmp(d, "BF16")) { uint16_t v; memcpy(&v, p + 2 * i, 2); s += pl_bf16_to_fp32(v); }
        else if (!strcmp(d, "I64")) { int64_t v; memcpy(&v, p + 8 * i, 8); s += (double)v; }
        else if (!strcmp(d, "U8") || !strcmp(d, "BOOL")) s += p[i];
        else s += NAN;
    }
    return s;
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/io/ref_small.safetensors.json", test_root());
    size_t len;
    char *text = pl_read_file(path, &len);
    cJSON *ref = text ? cJSON_Parse(text) : NULL;
    CHECKF(ref != NULL, "cannot read %s", path);
    if (!ref) TEST_DONE();
    snprintf(path, sizeof path, "%s/tests/golden/io/ref_small.safetensors", test_root());
    pl_st *st = pl_st_open(path);
    CHECKF(st != NULL, "%s", pl_last_error());
    if (!st) TEST_DONE();

    const cJSON *meta = cJSON_GetObjectItem(ref, "metadata");
    CHECK(pl_st_metadata_n(st) == cJSON_GetArraySize(meta));
    for (const cJSON *m = meta->child; m; m = m->next)
        CHECKF(pl_st_metadata_get(st, m->string) && !strcmp(pl_st_metadata_get(st, m->string), m->valuestring),
               "metadata %s", m->string);
    const cJSON *ts = cJSON_GetObjectItem(ref, "tensors");
    CHECK(pl_st_n_tensors(st) == cJSON_GetArraySize(ts));
    for (const cJSON *e = ts->child; e; e = e->next) {
        const char *name = cJSON_GetObjectItem(e, "name")->valuestring;
        const pl_st_tensor *t = pl_st_find(st, name);
        CHECKF(t != NULL, "tensor %s missing", name);
        if (!t) continue;
        CHECKF(!strcmp(t->dtype_name, cJSON_GetObjectItem(e, "dtype")->valuestring), "%s dtype %s", name, t->dtype_name);
        const cJSON *shape = cJSON_GetObjectItem(e, "shape");
        CHECKF(t->n_dims == cJSON_GetArraySize(shape), "%s dims", name);
        int d = 0;
        for (const cJSON *x = shape->child; x; x = x->next, d++) CHECKF(t->shape[d] == x->valueint, "%s shape", name);
        double want = cJSON_GetObjectItem(e, "sum")->valuedouble;
        CHECK_NEAR(value_sum(t), want, 1e-9 * (1 + fabs(want)));
        CHECKF(((uintptr_t)t->data) % (t->nbytes ? t->nbytes / (size_t)(t->numel ? t->numel : 1) : 1) == 0,
               "%s: data not aligned to its element size", name);
    }
    pl_st_close(st);
    cJSON_Delete(ref);
    free(text);
    TEST_DONE();
}
