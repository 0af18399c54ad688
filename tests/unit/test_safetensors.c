/* safetensors reader/writer: a file written in memory and read back (dtypes, shapes, metadata, ggml-order
 * ne, data), write-back identity, every truncation rejected, hand-made corrupt headers rejected with clear
 * errors, and sharded sets (directory, index.json) resolved with tensors found across shards. */
#include "test.h"

#include "core/common.h"
#include "core/dtype.h"
#include "io/safetensors.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static float g_a[6] = {1, 2, 3, 4, 5, 6};
static uint16_t g_h[4] = {0x3c00, 0xc000, 0x0000, 0x7bff};
static uint16_t g_b[6] = {0x3f80, 0x4000, 0xbf80, 0, 1, 2};
static int64_t g_l[2] = {-1, 1LL << 40};
static float g_s = 42.0f;

static pl_st_writer *sample_writer(void) {
    pl_st_writer *w = pl_st_writer_new();
    pl_st_writer_set_metadata(w, "format", "pt");
    pl_st_writer_set_metadata(w, "note", "h\xc3\xa9 \"quoted\"");
    pl_st_writer_add(w, "a.weight", PL_F32, 2, (int64_t[]){2, 3}, g_a, true);
    pl_st_writer_add(w, "h", PL_F16, 1, (int64_t[]){4}, g_h, false);
    pl_st_writer_add(w, "empty", PL_F32, 2, (int64_t[]){0, 3}, NULL, false);
    pl_st_writer_add(w, "b", PL_BF16, 3, (int64_t[]){3, 1, 2}, g_b, false);
    pl_st_writer_add(w, "scalar", PL_F32, 0, NULL, &g_s, false);
    pl_st_writer_add(w, "l", PL_I64, 1, (int64_t[]){2}, g_l, false);
    return w;
}

static void check_sample(const pl_st *st) {
    CHECK(pl_st_n_tensors(st) == 6);
    CHECK(pl_st_metadata_n(st) == 2 && !strcmp(pl_st_metadata_key(st, 0), "format"));
    CHECK(pl_st_metadata_get(st, "format") && !strcmp(pl_st_metadata_get(st, "format"), "pt"));
    CHECK(pl_st_metadata_get(st, "note") && !strcmp(pl_st_metadata_get(st, "note"), "h\xc3\xa9 \"quoted\""));
    CHECK(pl_st_metadata_get(st, "nope") == NULL);
    CHECK((8 + pl_st_header_size(st)) % 8 == 0);
    const pl_st_tensor *t = pl_st_find(st, "a.weight");
    CHECK(t && t->type == PL_F32 && !strcmp(t->dtype_name, "F32") && t->n_dims == 2 && t->shape[0] == 2 &&
          t->shape[1] == 3 && t->numel == 6 && t->nbytes == 24 && !memcmp(t->data, g_a, 24));
    int64_t ne[4];
    CHECK(t && pl_st_tensor_ne(t, ne) == 2 && ne[0] == 3 && ne[1] == 2 && ne[2] == 1);
    t = pl_st_find(st, "b");
    CHECK(t && t->type == PL_BF16 && t->n_dims == 3 && pl_st_tensor_ne(t, ne) == 3 && ne[0] == 2 && ne[1] == 1 &&
          ne[2] == 3 && !memcmp(t->data, g_b, 12));
    CHECK(t && pl_bf16_to_fp32(((const uint16_t *)t->data)[2]) == -1.0f);
    t = pl_st_find(st, "h");
    CHECK(t && t->type == PL_F16 && t->nbytes == 8 && pl_fp16_to_fp32(((const uint16_t *)t->data)[1]) == -2.0f);
    t = pl_st_find(st, "empty");
    CHECK(t && t->numel == 0 && t->nbytes == 0);
    t = pl_st_find(st, "scalar");
    CHECK(t && t->n_dims == 0 && t->numel == 1 && *(const float *)t->data == 42.0f && pl_st_tensor_ne(t, ne) == 1);
    t = pl_st_find(st, "l");
    CHECK(t && t->type == PL_I64 && ((const int64_t *)t->data)[1] == (1LL << 40));
    CHECK(pl_st_tensor_at(st, 0) == pl_st_find(st, "a.weight") && pl_st_tensor_at(st, 6) == NULL);
    CHECK(pl_st_find(st, "__metadata__") == NULL && pl_st_find(st, "a") == NULL);
}

static void test_roundtrip(void) {
    pl_st_writer *w = sample_writer();
    void *buf = NULL;
    size_t n = 0;
    CHECK(pl_st_writer_write_memory(w, &buf, &n) == PL_OK);
    pl_st *st = pl_st_open_memory(buf, n);
    CHECKF(st != NULL, "%s", pl_last_error());
    if (!st) { pl_st_writer_free(w); free(buf); return; }
    check_sample(st);

    /* reading and writing back in the same order gives the same bytes */
    pl_st_writer *w2 = pl_st_writer_new();
    for (int64_t i = 0; i < pl_st_metadata_n(st); i++)
        pl_st_writer_set_metadata(w2, pl_st_metadata_key(st, i), pl_st_metadata_get(st, pl_st_metadata_key(st, i)));
    for (int64_t i = 0; i < pl_st_n_tensors(st); i++) {
        const pl_st_tensor *t = pl_st_tensor_at(st, i);
        pl_st_writer_add(w2, t->name, t->type, t->n_dims, t->shape, t->data, false);
    }
    char path[256];
    snprintf(path, sizeof path, "/tmp/pl_test_st_%d.safetensors", (int)getpid());
    CHECK(pl_st_writer_write_file(w2, path) == PL_OK);
    size_t flen = 0;
    char *fb = pl_read_file(path, &flen);
    CHECK(fb && flen == n && !memcmp(fb, buf, n));
    free(fb);
    pl_st *sf = pl_st_open(path);
    CHECKF(sf != NULL, "%s", pl_last_error());
    if (sf) check_sample(sf);
    pl_st_close(sf);
    unlink(path);
    pl_st_writer_free(w2);

    /* every truncation is rejected (the last tensor ends the file) */
    int bad = 0;
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, buf, cut);
        pl_st *t = pl_st_open_memory(p, cut);
        if (t || !*pl_last_error()) { bad++; fprintf(stderr, "truncation at %zu accepted\n", cut); }
        pl_st_close(t);
        free(p);
    }
    CHECK(bad == 0);
    pl_st_close(st);
    pl_st_writer_free(w);
    free(buf);
}

/* A file from a header string and `data_len` bytes of data (0x11 each). */
static uint8_t *make_file(const char *json, size_t data_len, size_t *n) {
    size_t h = strlen(json);
    uint8_t *p = malloc(8 + h + data_len);
    uint64_t len = h;
    memcpy(p, &len, 8);
    memcpy(p + 8, json, h);
    memset(p + 8 + h, 0x11, data_len);
    *n = 8 + h + data_len;
    return p;
}

static void expect_error(const char *json, size_t data_len, const char *needle) {
    size_t n;
    uint8_t *p = make_file(json, data_len, &n);
    pl_st *st = pl_st_open_memory(p, n);
    CHECKF(st == NULL, "accepted: %s", json);
    CHECKF(st || strstr(pl_last_error(), needle), "%s: error '%s' lacks '%s'", json, pl_last_error(), needle);
    pl_st_close(st);
    free(p);
}

static void test_corrupt(void) {
    uint8_t raw[16] = {0};
    uint64_t big = 200u << 20;
    memcpy(raw, &big, 8);
    pl_st *st = pl_st_open_memory(raw, 16);
    CHECK(!st && strstr(pl_last_error(), "limit"));
    big = 9;
    memcpy(raw, &big, 8);
    CHECK(!pl_st_open_memory(raw, 16) && strstr(pl_last_error(), "truncated"));
    CHECK(!pl_st_open_memory(raw, 7) && strstr(pl_last_error(), "truncated"));

    expect_error("{\"a\":", 0, "not valid JSON");
    expect_error("[1,2]   ", 0, "not a JSON object");
    expect_error("{}  xx", 0, "unexpected bytes");
    expect_error("{\"\xff\":1}", 0, "UTF-8");
    expect_error("{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\"");
    expect_error("{\"t\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unsupported dtype");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0]");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 8, "shape[0]");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "shape[0]");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "dims");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[9007199254740992,9007199254740992],\"data_offsets\":[0,4]}}", 4,
                 "overflows");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4, "shape[0]");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "outside");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "outside");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "needs 4");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8, "data_offsets");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "data_offsets");
    expect_error("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551615,4]}}", 8,
                 "data_offsets");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlap");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "appears twice");
    expect_error("{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    expect_error("{\"__metadata__\":[]}", 0, "not an object");
    expect_error("{\"t\":7}", 0, "\"dtype\"");

    /* valid odd files: U8/BOOL/I32 dtypes, no metadata, holes between tensors, trailing spaces */
    size_t n;
    uint8_t *p = make_file("{\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                           "\"q\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[3,4]},"
                           "\"i\":{\"dtype\":\"I32\",\"shape\":[1,1],\"data_offsets\":[8,12]}}   ", 12, &n);
    st = pl_st_open_memory(p, n);
    CHECKF(st != NULL, "%s", pl_last_error());
    if (st) {
        CHECK(pl_st_n_tensors(st) == 3 && pl_st_metadata_n(st) == 0);
        CHECK(pl_st_find(st, "u")->type == PL_I8 && !strcmp(pl_st_find(st, "u")->dtype_name, "U8"));
        CHECK(!strcmp(pl_st_find(st, "q")->dtype_name, "BOOL") && pl_st_find(st, "i")->type == PL_I32);
        int32_t v;  /* this header is not padded to 8, so the data may be unaligned: memcpy */
        memcpy(&v, pl_st_find(st, "i")->data, 4);
        CHECK(v == 0x11111111);
    }
    pl_st_close(st);
    free(p);
}

static int write_small(const char *path, const char *name, float v) {
    pl_st_writer *w = pl_st_writer_new();
    pl_st_writer_add(w, name, PL_F32, 1, (int64_t[]){1}, &v, true);
    int rc = pl_st_writer_write_file(w, path);
    pl_st_writer_free(w);
    return rc;
}

static void test_model_sets(void) {
    char dir[256], p[512];
    snprintf(dir, sizeof dir, "/tmp/pl_test_st_dir_%d", (int)getpid());
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    CHECK(write_small(p, "x.weight", 1.0f) == PL_OK);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    CHECK(write_small(p, "y.weight", 2.0f) == PL_OK);

    /* a directory of shards without an index */
    pl_st_model *m = pl_st_model_open(dir);
    CHECKF(m != NULL, "%s", pl_last_error());
    if (m) {
        CHECK(pl_st_model_n_shards(m) == 2 && pl_st_model_n_tensors(m) == 2);
        const pl_st_tensor *t = pl_st_model_find(m, "y.weight");
        CHECK(t && t->shard == 1 && *(const float *)t->data == 2.0f);
        CHECK(pl_st_model_find(m, "x.weight") == pl_st_model_tensor_at(m, 0));
        CHECK(pl_st_model_find(m, "z") == NULL);
    }
    pl_st_model_close(m);

    /* with an index, opened by directory and by the index path */
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    const char *index = "{\"metadata\":{\"total_size\":8},\"weight_map\":{\"x.weight\":\"model-00001-of-00002.safetensors\","
                        "\"y.weight\":\"model-00002-of-00002.safetensors\"}}";
    pl_write_file_atomic(p, index, strlen(index));
    for (int k = 0; k < 2; k++) {
        m = pl_st_model_open(k ? p : dir);
        CHECKF(m != NULL, "%s", pl_last_error());
        if (m) CHECK(pl_st_model_n_shards(m) == 2 && *(const float *)pl_st_model_find(m, "x.weight")->data == 1.0f);
        pl_st_model_close(m);
    }
    const char *wrong = "{\"weight_map\":{\"x.weight\":\"model-00002-of-00002.safetensors\"}}";
    pl_write_file_atomic(p, wrong, strlen(wrong));
    CHECK(pl_st_model_open(dir) == NULL && strstr(pl_last_error(), "is not in shard"));
    const char *missing = "{\"weight_map\":{\"x.weight\":\"model-00003-of-00003.safetensors\"}}";
    pl_write_file_atomic(p, missing, strlen(missing));
    CHECK(pl_st_model_open(dir) == NULL && strstr(pl_last_error(), "cannot open"));
    const char *escape = "{\"weight_map\":{\"x.weight\":\"../etc/passwd\"}}";
    pl_write_file_atomic(p, escape, strlen(escape));
    CHECK(pl_st_model_open(dir) == NULL && strstr(pl_last_error(), "plain shard file name"));
    pl_write_file_atomic(p, "{", 1);
    CHECK(pl_st_model_open(p) == NULL && strstr(pl_last_error(), "weight_map"));
    unlink(p);

    /* the same tensor in two shards */
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    write_small(p, "x.weight", 3.0f);
    CHECK(pl_st_model_open(dir) == NULL && strstr(pl_last_error(), "two shards"));
    /* a single file; a missing path; a directory with nothing */
    m = pl_st_model_open(p);
    CHECK(m && pl_st_model_n_shards(m) == 1 && pl_st_model_n_tensors(m) == 1);
    pl_st_model_close(m);
    CHECK(pl_st_model_open("/nonexistent/m") == NULL && strstr(pl_last_error(), "no such"));
    unlink(p);
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    unlink(p);
    CHECK(pl_st_model_open(dir) == NULL && strstr(pl_last_error(), "no .safetensors"));
    rmdir(dir);
    CHECK(pl_st_open("/nonexistent.safetensors") == NULL && strstr(pl_last_error(), "cannot open"));
}

static void test_writer_errors(void) {
    pl_st_writer *w = pl_st_writer_new();
    CHECK(pl_st_writer_add(w, "q", PL_Q4_0, 1, (int64_t[]){32}, g_a, false) < 0);
    CHECK(pl_st_writer_add(w, "__metadata__", PL_F32, 1, (int64_t[]){1}, g_a, false) < 0);
    CHECK(pl_st_writer_add(w, "x", PL_F32, 1, (int64_t[]){-1}, g_a, false) < 0);
    CHECK(pl_st_writer_add(w, "x", PL_F32, 1, (int64_t[]){1}, g_a, false) == PL_OK);
    CHECK(pl_st_writer_add(w, "x", PL_F32, 1, (int64_t[]){1}, g_a, false) < 0);
    CHECK(pl_st_writer_set_metadata(w, "k", "\xff") < 0);
    CHECK(pl_st_writer_write_file(w, "/nonexistent/dir/x.safetensors") < 0);
    pl_st_writer_free(w);
}

/* tests/e2e/test_info.py runs this binary with PLINTH_ST_OUT set to get a plinth-written file. */
static int write_sample_for_e2e(const char *path) {
    pl_st_writer *w = sample_writer();
    int rc = pl_st_writer_write_file(w, path);
    pl_st_writer_free(w);
    if (rc != PL_OK) fprintf(stderr, "%s\n", pl_last_error());
    return rc == PL_OK ? 0 : 1;
}

int main(void) {
    if (getenv("PLINTH_ST_OUT")) return write_sample_for_e2e(getenv("PLINTH_ST_OUT"));
    test_roundtrip();
    test_corrupt();
    test_model_sets();
    test_writer_errors();
    TEST_DONE();
}
