/* GGUF reader against the reference: tests/golden/io/ref_small.gguf was written by the gguf Python
 * package (tools/make_io_fixtures.py) and ref_small.gguf.json holds what gguf.GGUFReader reads from it.
 * Every kv (order, type, value) and tensor (ne, type, size, offset, bytes) must match, and writing the
 * file back through pl_gguf_writer must reproduce the reference writer's bytes exactly. */
#include "test.h"

#include "core/common.h"
#include "io/gguf.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <string.h>

static int type_of(const char *name) {
    for (int t = 0; t < PL_GGUF_TYPE_COUNT; t++)
        if (!strcmp(pl_gguf_type_name((pl_gguf_type)t), name)) return t;
    return -1;
}

static void check_scalar(const pl_gguf *g, int64_t i, pl_gguf_type t, const cJSON *v, const char *key) {
    char s[32];
    switch (t) {
    case PL_GGUF_STR: CHECKF(!strcmp(pl_gguf_kv_str(g, i, NULL), v->valuestring), "%s", key); break;
    case PL_GGUF_BOOL: CHECKF(pl_gguf_kv_int(g, i, -1) == cJSON_IsTrue(v), "%s", key); break;
    case PL_GGUF_F32: case PL_GGUF_F64: CHECKF(pl_gguf_kv_float(g, i, -1) == v->valuedouble, "%s", key); break;
    case PL_GGUF_U64: case PL_GGUF_U32: case PL_GGUF_U16: case PL_GGUF_U8:
        snprintf(s, sizeof s, "%" PRIu64, pl_gguf_kv_u64(g, i, 0));
        CHECKF(!strcmp(s, v->valuestring), "%s: %s vs %s", key, s, v->valuestring);
        break;
    default:
        snprintf(s, sizeof s, "%" PRId64, pl_gguf_kv_int(g, i, 0));
        CHECKF(!strcmp(s, v->valuestring), "%s: %s vs %s", key, s, v->valuestring);
    }
}

static void check_array(const pl_gguf *g, int64_t i, const cJSON *v, const char *key) {
    CHECKF(pl_gguf_arr_n(g, i) == cJSON_GetArraySize(v), "%s", key);
    int j = 0;
    const void *data = pl_gguf_arr_data(g, i);
    for (const cJSON *e = v->child; e && j < pl_gguf_arr_n(g, i); e = e->next, j++) {
        switch (pl_gguf_arr_type(g, i)) {
        case PL_GGUF_STR: CHECKF(!strcmp(pl_gguf_arr_str(g, i, j, NULL), e->valuestring), "%s[%d]", key, j); break;
        case PL_GGUF_I32: CHECKF(((const int32_t *)data)[j] == e->valueint, "%s[%d]", key, j); break;
        case PL_GGUF_F32: CHECKF(((const float *)data)[j] == (float)e->valuedouble, "%s[%d]", key, j); break;
        default: CHECKF(0, "%s: unexpected array type in fixture", key);
        }
    }
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/io/ref_small.gguf.json", test_root());
    size_t len;
    char *text = pl_read_file(path, &len);
    cJSON *ref = text ? cJSON_Parse(text) : NULL;
    CHECKF(ref != NULL, "cannot read %s", path);
    if (!ref) TEST_DONE();
    snprintf(path, sizeof path, "%s/tests/golden/io/ref_small.gguf", test_root());
    pl_gguf *g = pl_gguf_open(path);
    CHECKF(g != NULL, "%s", pl_last_error());
    if (!g) TEST_DONE();

    CHECK(pl_gguf_version(g) == (uint32_t)cJSON_GetObjectItem(ref, "version")->valueint);
    CHECK(pl_gguf_alignment(g) == (uint32_t)cJSON_GetObjectItem(ref, "alignment")->valueint);
    CHECK(pl_gguf_data_offset(g) == (size_t)cJSON_GetObjectItem(ref, "data_offset")->valueint);
    const cJSON *kv = cJSON_GetObjectItem(ref, "kv");
    CHECK(pl_gguf_n_kv(g) == cJSON_GetArraySize(kv));
    int64_t i = 0;
    for (const cJSON *e = kv->child; e && i < pl_gguf_n_kv(g); e = e->next, i++) {
        const char *key = cJSON_GetObjectItem(e, "key")->valuestring;
        CHECKF(!strcmp(pl_gguf_key(g, i), key), "kv %lld: %s vs %s", (long long)i, pl_gguf_key(g, i), key);
        int t = type_of(cJSON_GetObjectItem(e, "type")->valuestring);
        CHECKF(pl_gguf_kv_type(g, i) == t, "%s type", key);
        const cJSON *v = cJSON_GetObjectItem(e, "value");
        if (t == PL_GGUF_ARR) {
            CHECKF(pl_gguf_arr_type(g, i) == type_of(cJSON_GetObjectItem(e, "elem")->valuestring), "%s elem", key);
            check_array(g, i, v, key);
        } else {
            check_scalar(g, i, (pl_gguf_type)t, v, key);
        }
    }
    const cJSON *ts = cJSON_GetObjectItem(ref, "tensors");
    CHECK(pl_gguf_n_tensors(g) == cJSON_GetArraySize(ts));
    i = 0;
    for (const cJSON *e = ts->child; e && i < pl_gguf_n_tensors(g); e = e->next, i++) {
        const pl_gguf_tensor *t = pl_gguf_tensor_at(g, i);
        const char *name = cJSON_GetObjectItem(e, "name")->valuestring;
        CHECKF(!strcmp(t->name, name) && pl_gguf_find_tensor(g, name) == t, "tensor %s", name);
        const cJSON *ne = cJSON_GetObjectItem(e, "ne");
        CHECKF(t->n_dims == cJSON_GetArraySize(ne), "%s dims", name);
        int d = 0;
        for (const cJSON *x = ne->child; x && d < 4; x = x->next, d++) CHECKF(t->ne[d] == x->valueint, "%s ne", name);
        CHECKF((int)t->type == cJSON_GetObjectItem(e, "type")->valueint, "%s type", name);
        CHECKF(t->nbytes == (size_t)cJSON_GetObjectItem(e, "bytes")->valueint, "%s bytes", name);
        CHECKF(pl_gguf_data_offset(g) + t->offset == (size_t)cJSON_GetObjectItem(e, "offset")->valueint, "%s off", name);
        long sum = 0;
        for (size_t b = 0; b < t->nbytes; b++) sum += ((const uint8_t *)t->data)[b];
        CHECKF(sum == (long)cJSON_GetObjectItem(e, "byte_sum")->valuedouble, "%s byte sum", name);
    }

    pl_gguf_writer *w = pl_gguf_writer_from(g);
    void *buf = NULL;
    size_t n = 0;
    CHECK(w && pl_gguf_writer_write_memory(w, &buf, &n) == PL_OK);
    char *file = pl_read_file(path, &len);
    CHECKF(file && n == len && !memcmp(buf, file, n), "rewrite differs from the gguf package's file (%zu vs %zu bytes)",
           n, len);
    free(file);
    free(buf);
    pl_gguf_writer_free(w);
    pl_gguf_close(g);
    cJSON_Delete(ref);
    free(text);
    TEST_DONE();
}
