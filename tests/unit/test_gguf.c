/* GGUF reader/writer: a file with every kv type and several tensors (one quantized) written in memory and
 * read back; write-back gives identical bytes; every truncation is rejected; hand-made corrupt files
 * (absurd counts, dims, offsets, overlaps, bad UTF-8, bad types) give clear errors. */
#include "test.h"

#include "core/common.h"
#include "core/dtype.h"
#include "io/gguf.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* ---- a sample file made with the writer ------------------------------------------------------------ */

static float g_w[2 * 3] = {1, -2, 3.5f, 4, 5, -6.25f};
static uint16_t g_h[4];
static uint8_t g_q[2 * 40];          /* q4_1: ne = {64, 2}: 2 blocks of 20 bytes per row */
static int32_t g_i[5] = {7, -8, 9, 10, -2147483647 - 1};
static float g_4d[1 * 2 * 1 * 3];

static pl_gguf_writer *sample_writer(uint32_t alignment) {
    pl_gguf_writer *w = pl_gguf_writer_new();
    uint8_t u8 = 200; int8_t i8 = -100; uint16_t u16 = 60000; int16_t i16 = -30000;
    int64_t i64 = -5000000000LL; double f64 = 3.141592653589793;
    pl_gguf_writer_set_str(w, "general.architecture", "llama");
    pl_gguf_writer_set(w, "t.u8", PL_GGUF_U8, &u8);
    pl_gguf_writer_set(w, "t.i8", PL_GGUF_I8, &i8);
    pl_gguf_writer_set(w, "t.u16", PL_GGUF_U16, &u16);
    pl_gguf_writer_set(w, "t.i16", PL_GGUF_I16, &i16);
    pl_gguf_writer_set_u32(w, "t.u32", 4000000000u);
    pl_gguf_writer_set_i32(w, "t.i32", -123456);
    pl_gguf_writer_set_f32(w, "t.f32", 0.25f);
    pl_gguf_writer_set_bool(w, "t.bool", true);
    pl_gguf_writer_set_str(w, "t.str", "h\xc3\xa9llo \xe2\x82\xac");
    pl_gguf_writer_set_u64(w, "t.u64", 18000000000000000000ull);
    pl_gguf_writer_set(w, "t.i64", PL_GGUF_I64, &i64);
    pl_gguf_writer_set(w, "t.f64", PL_GGUF_F64, &f64);
    float fa[3] = {1.5f, -2.5f, 1e30f};
    pl_gguf_writer_set_arr(w, "t.arr_f32", PL_GGUF_F32, fa, 3);
    int32_t ia[4] = {1, -1, 65536, 0};
    pl_gguf_writer_set_arr(w, "t.arr_i32", PL_GGUF_I32, ia, 4);
    uint8_t ba[3] = {1, 0, 1};
    pl_gguf_writer_set_arr(w, "t.arr_bool", PL_GGUF_BOOL, ba, 3);
    uint64_t ua[2] = {0, UINT64_MAX};
    pl_gguf_writer_set_arr(w, "t.arr_u64", PL_GGUF_U64, ua, 2);
    double da[1] = {-0.5};
    pl_gguf_writer_set_arr(w, "t.arr_f64", PL_GGUF_F64, da, 1);
    pl_gguf_writer_set_arr(w, "t.arr_empty", PL_GGUF_U8, NULL, 0);
    const char *strs[4] = {"a", "", "\xe4\xb8\xad\xe6\x96\x87", "x y"};
    pl_gguf_writer_set_arr_str(w, "t.arr_str", strs, NULL, 4);
    if (alignment) pl_gguf_writer_set_u32(w, "general.alignment", alignment);
    for (int i = 0; i < 4; i++) g_h[i] = pl_fp32_to_fp16((float)i - 1.5f);
    for (size_t i = 0; i < sizeof g_q; i++) g_q[i] = (uint8_t)(i * 37 + 11);
    for (int i = 0; i < 6; i++) g_4d[i] = (float)i * 0.5f;
    pl_gguf_writer_add_tensor(w, "w.f32", PL_F32, 2, (int64_t[]){3, 2}, g_w, true);
    pl_gguf_writer_add_tensor(w, "w.f16", PL_F16, 1, (int64_t[]){4}, g_h, false);
    pl_gguf_writer_add_tensor(w, "w.q4_1", PL_Q4_1, 2, (int64_t[]){64, 2}, g_q, false);
    pl_gguf_writer_add_tensor(w, "w.i32", PL_I32, 1, (int64_t[]){5}, g_i, false);
    pl_gguf_writer_add_tensor(w, "w.4d", PL_F32, 4, (int64_t[]){1, 2, 1, 3}, g_4d, false);
    return w;
}

static void check_sample(const pl_gguf *g, uint32_t alignment) {
    CHECK(pl_gguf_version(g) == 3);
    CHECK(pl_gguf_alignment(g) == (alignment ? alignment : 32));
    CHECK(pl_gguf_n_kv(g) == 20 + (alignment ? 1 : 0));
    CHECK(!strcmp(pl_gguf_key(g, 0), "general.architecture"));
    CHECK(!strcmp(pl_gguf_get_str(g, "general.architecture", NULL), "llama"));
    CHECK(pl_gguf_get_int(g, "t.u8", 0) == 200);
    CHECK(pl_gguf_get_int(g, "t.i8", 0) == -100);
    CHECK(pl_gguf_get_int(g, "t.u16", 0) == 60000);
    CHECK(pl_gguf_get_int(g, "t.i16", 0) == -30000);
    CHECK(pl_gguf_get_int(g, "t.u32", 0) == 4000000000LL);
    CHECK(pl_gguf_get_int(g, "t.i32", 0) == -123456);
    CHECK(pl_gguf_get_float(g, "t.f32", 0) == 0.25);
    CHECK(pl_gguf_get_int(g, "t.bool", 0) == 1);
    CHECK(pl_gguf_get_int(g, "t.u64", -7) == -7);  /* too large for int64: default */
    CHECK(pl_gguf_kv_u64(g, pl_gguf_find_key(g, "t.u64"), 0) == 18000000000000000000ull);
    CHECK(pl_gguf_get_int(g, "t.i64", 0) == -5000000000LL);
    CHECK(pl_gguf_get_float(g, "t.f64", 0) == 3.141592653589793);
    CHECK(pl_gguf_get_float(g, "t.i32", 0) == -123456.0);
    CHECK(pl_gguf_get_int(g, "t.str", 42) == 42);       /* wrong type: default */
    CHECK(pl_gguf_get_int(g, "missing", 43) == 43);
    CHECK(pl_gguf_get_str(g, "t.u8", NULL) == NULL);
    size_t len = 0;
    const char *s = pl_gguf_get_str(g, "t.str", &len);
    CHECK(s && len == 10 && !strcmp(s, "h\xc3\xa9llo \xe2\x82\xac"));
    int64_t k = pl_gguf_find_key(g, "t.arr_f32");
    CHECK(pl_gguf_kv_type(g, k) == PL_GGUF_ARR && pl_gguf_arr_type(g, k) == PL_GGUF_F32 && pl_gguf_arr_n(g, k) == 3);
    const float *fa = pl_gguf_arr_data(g, k);
    CHECK(fa && fa[0] == 1.5f && fa[1] == -2.5f && fa[2] == 1e30f);
    k = pl_gguf_find_key(g, "t.arr_i32");
    const int32_t *ia = pl_gguf_arr_data(g, k);
    CHECK(pl_gguf_arr_n(g, k) == 4 && ia && ia[2] == 65536 && ia[1] == -1);
    k = pl_gguf_find_key(g, "t.arr_bool");
    const uint8_t *ba = pl_gguf_arr_data(g, k);
    CHECK(pl_gguf_arr_type(g, k) == PL_GGUF_BOOL && ba && ba[0] == 1 && ba[1] == 0);
    k = pl_gguf_find_key(g, "t.arr_u64");
    const uint64_t *ua = pl_gguf_arr_data(g, k);
    CHECK(ua && ua[1] == UINT64_MAX);
    k = pl_gguf_find_key(g, "t.arr_empty");
    CHECK(k >= 0 && pl_gguf_arr_n(g, k) == 0);
    k = pl_gguf_find_key(g, "t.arr_str");
    CHECK(pl_gguf_arr_type(g, k) == PL_GGUF_STR && pl_gguf_arr_n(g, k) == 4 && pl_gguf_arr_data(g, k) == NULL);
    CHECK(!strcmp(pl_gguf_arr_str(g, k, 2, &len), "\xe4\xb8\xad\xe6\x96\x87") && len == 6);
    CHECK(!strcmp(pl_gguf_arr_str(g, k, 1, &len), "") && len == 0);
    CHECK(pl_gguf_arr_str(g, k, 4, NULL) == NULL && pl_gguf_arr_str(g, k, -1, NULL) == NULL);
    CHECK(pl_gguf_find_key(g, "t.arr") == -1 && pl_gguf_key(g, 999) == NULL);

    CHECK(pl_gguf_n_tensors(g) == 5);
    const pl_gguf_tensor *t = pl_gguf_find_tensor(g, "w.f32");
    CHECK(t && t->type == PL_F32 && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 2 && t->ne[2] == 1);
    CHECK(t && t->nbytes == 24 && !memcmp(t->data, g_w, 24));
    t = pl_gguf_find_tensor(g, "w.q4_1");
    CHECK(t && t->type == PL_Q4_1 && t->nbytes == 80 && !memcmp(t->data, g_q, 80));
    t = pl_gguf_find_tensor(g, "w.f16");
    CHECK(t && t->nbytes == 8 && !memcmp(t->data, g_h, 8));
    t = pl_gguf_find_tensor(g, "w.4d");
    CHECK(t && t->n_dims == 4 && t->ne[1] == 2 && t->ne[3] == 3 && t->nbytes == 24);
    CHECK(pl_gguf_tensor_at(g, 3) == pl_gguf_find_tensor(g, "w.i32"));
    CHECK(pl_gguf_find_tensor(g, "w") == NULL && pl_gguf_tensor_at(g, 5) == NULL);
    uint32_t a = pl_gguf_alignment(g);
    for (int64_t i = 0; i < pl_gguf_n_tensors(g); i++) {
        const pl_gguf_tensor *ti = pl_gguf_tensor_at(g, i);
        CHECK(ti->offset % a == 0 && pl_gguf_data_offset(g) % a == 0);
    }
}

/* Where valid files end: the last byte of tensor data (padding after it may be cut). */
static size_t data_end(const pl_gguf *g) {
    size_t end = pl_gguf_data_offset(g);
    for (int64_t i = 0; i < pl_gguf_n_tensors(g); i++) {
        const pl_gguf_tensor *t = pl_gguf_tensor_at(g, i);
        end = PL_MAX(end, pl_gguf_data_offset(g) + t->offset + t->nbytes);
    }
    return end;
}

static void test_roundtrip(uint32_t alignment) {
    pl_gguf_writer *w = sample_writer(alignment);
    void *buf = NULL;
    size_t n = 0;
    CHECK(pl_gguf_writer_write_memory(w, &buf, &n) == PL_OK);
    pl_gguf_writer_free(w);
    pl_gguf *g = pl_gguf_open_memory(buf, n);
    CHECKF(g != NULL, "%s", pl_last_error());
    if (!g) { free(buf); return; }
    check_sample(g, alignment);
    CHECK(n % pl_gguf_alignment(g) == 0);

    /* read -> write gives the same bytes, in memory and through a file */
    pl_gguf_writer *w2 = pl_gguf_writer_from(g);
    void *buf2 = NULL;
    size_t n2 = 0;
    CHECK(w2 && pl_gguf_writer_write_memory(w2, &buf2, &n2) == PL_OK);
    CHECK(n2 == n && buf2 && !memcmp(buf, buf2, n));
    char path[256];
    snprintf(path, sizeof path, "/tmp/pl_test_gguf_%d.gguf", (int)getpid());
    CHECK(pl_gguf_writer_write_file(w2, path) == PL_OK);
    pl_gguf *gf = pl_gguf_open(path);
    CHECKF(gf != NULL, "%s", pl_last_error());
    if (gf) {
        check_sample(gf, alignment);
        CHECK(pl_gguf_file_size(gf) == n);
        size_t flen = 0;
        char *fb = pl_read_file(path, &flen);
        CHECK(fb && flen == n && !memcmp(fb, buf, n));
        /* released pages of the mapping read back unchanged (the whole file, then a range inside a page) */
        const char *map0 = (const char *)pl_gguf_tensor_at(gf, 0)->data - pl_gguf_tensor_at(gf, 0)->offset - pl_gguf_data_offset(gf);
        pl_gguf_release(gf, map0, n);
        pl_gguf_release(gf, map0 + 5, 3);
        pl_gguf_release(gf, map0, n + 1); /* outside the mapping: nothing */
        CHECK(fb && !memcmp(map0, fb, n));
        check_sample(gf, alignment);
        free(fb);
        pl_gguf_close(gf);
    }
    unlink(path);
    pl_gguf_writer_free(w2);
    free(buf2);

    /* every truncation before the end of the tensor data is rejected; each cut is a fresh exact-size
     * allocation so ASan sees any read past it */
    size_t end = data_end(g);
    int bad = 0, ok = 0;
    size_t step = test_fast() ? 3 : 1;
    for (size_t cut = 0; cut < n; cut += (cut < end - 8 && cut > 200 ? step : 1)) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, buf, cut);
        pl_gguf *gt = pl_gguf_open_memory(p, cut);
        if (cut < end) {
            if (gt || !*pl_last_error()) { bad++; fprintf(stderr, "truncation at %zu accepted\n", cut); }
        } else {
            if (!gt) { bad++; fprintf(stderr, "cut at %zu (in final padding) rejected: %s\n", cut, pl_last_error()); }
            else ok++;
        }
        pl_gguf_close(gt);
        free(p);
    }
    CHECK(bad == 0);
    CHECK(ok == (int)(n - end));
    pl_gguf_close(g);
    free(buf);
}

/* ---- hand-made files ------------------------------------------------------------------------------- */

typedef struct { uint8_t b[4096]; size_t n; } raw;
static void r_put(raw *r, const void *p, size_t n) { memcpy(r->b + r->n, p, n); r->n += n; }
static void r_u32(raw *r, uint32_t v) { r_put(r, &v, 4); }
static void r_u64(raw *r, uint64_t v) { r_put(r, &v, 8); }
static void r_str(raw *r, const char *s) { r_u64(r, strlen(s)); r_put(r, s, strlen(s)); }
static void r_hdr(raw *r, uint32_t version, uint64_t n_t, uint64_t n_kv) {
    r->n = 0;
    r_put(r, "GGUF", 4); r_u32(r, version); r_u64(r, n_t); r_u64(r, n_kv);
}
static void r_tensor(raw *r, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off) {
    r_str(r, name); r_u32(r, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) r_u64(r, ne[d]);
    r_u32(r, type); r_u64(r, off);
}
static void r_pad(raw *r, size_t a) { while (r->n % a) r->b[r->n++] = 0; }
static void r_zeros(raw *r, size_t n) { memset(r->b + r->n, 0, n); r->n += n; }

static void expect_error(raw *r, const char *what, const char *needle) {
    uint8_t *p = malloc(r->n ? r->n : 1);
    memcpy(p, r->b, r->n);
    pl_gguf *g = pl_gguf_open_memory(p, r->n);
    CHECKF(g == NULL, "%s: accepted", what);
    CHECKF(g || strstr(pl_last_error(), needle), "%s: error '%s' lacks '%s'", what, pl_last_error(), needle);
    pl_gguf_close(g);
    free(p);
}

static void test_corrupt(void) {
    raw r;
    r_hdr(&r, 3, 0, 0); memcpy(r.b, "GGUG", 4);
    expect_error(&r, "bad magic", "not a GGUF file");
    r_hdr(&r, 1, 0, 0);
    expect_error(&r, "v1", "version 1");
    r_hdr(&r, 7, 0, 0);
    expect_error(&r, "v7", "version 7");
    r_hdr(&r, 3u << 24, 0, 0);
    expect_error(&r, "big-endian", "big-endian");
    r_hdr(&r, 3, 0, UINT64_MAX);
    expect_error(&r, "absurd kv count", "more than the file");
    r_hdr(&r, 3, 1ull << 60, 1);
    expect_error(&r, "absurd tensor count", "more than the file");
    r_hdr(&r, 3, 0, 1); r_str(&r, "k"); r_u32(&r, PL_GGUF_STR); r_u64(&r, UINT64_MAX - 3);
    r_zeros(&r, 16);
    expect_error(&r, "huge string length", "string length");
    r_hdr(&r, 3, 0, 1); r_u64(&r, 1ull << 62); r_zeros(&r, 16);
    expect_error(&r, "huge key length", "string length");
    r_hdr(&r, 3, 0, 1); r_str(&r, "k"); r_u32(&r, PL_GGUF_ARR); r_u32(&r, PL_GGUF_U32); r_u64(&r, 1ull << 62);
    r_zeros(&r, 16);
    expect_error(&r, "huge array", "exceeds");
    r_hdr(&r, 3, 0, 1); r_str(&r, "k"); r_u32(&r, PL_GGUF_ARR); r_u32(&r, PL_GGUF_STR); r_u64(&r, 1000000);
    r_zeros(&r, 64);
    expect_error(&r, "huge string array", "exceeds");
    r_hdr(&r, 3, 0, 1); r_str(&r, "k"); r_u32(&r, PL_GGUF_ARR); r_u32(&r, PL_GGUF_ARR); r_u64(&r, 1);
    r_u32(&r, PL_GGUF_U8); r_u64(&r, 1); r_zeros(&r, 8);
    expect_error(&r, "nested array", "nested arrays");
    r_hdr(&r, 3, 0, 1); r_str(&r, "k"); r_u32(&r, 13); r_zeros(&r, 16);
    expect_error(&r, "unknown type", "unknown value type 13");
    r_hdr(&r, 3, 0, 1); r_str(&r, "k"); r_u32(&r, PL_GGUF_ARR); r_u32(&r, 77); r_u64(&r, 1); r_zeros(&r, 8);
    expect_error(&r, "unknown array type", "unknown array element type 77");
    r_hdr(&r, 3, 0, 1); r_str(&r, "k\xff"); r_u32(&r, PL_GGUF_U8); r_zeros(&r, 1);
    expect_error(&r, "non-UTF-8 key", "not valid UTF-8");
    r_hdr(&r, 3, 0, 1); r_str(&r, "k"); r_u32(&r, PL_GGUF_STR); r_str(&r, "\xc0\xaf");
    expect_error(&r, "overlong UTF-8 value", "not valid UTF-8");
    r_hdr(&r, 3, 0, 1); r_str(&r, "k"); r_u32(&r, PL_GGUF_ARR); r_u32(&r, PL_GGUF_STR); r_u64(&r, 2);
    r_str(&r, "ok"); r_str(&r, "\xed\xa0\x80");
    expect_error(&r, "surrogate in string array", "not valid UTF-8");
    r_hdr(&r, 3, 0, 1); r_str(&r, "k"); r_u32(&r, PL_GGUF_BOOL); r_put(&r, "\x02", 1);
    expect_error(&r, "bool 2", "not 0 or 1");
    r_hdr(&r, 3, 0, 2); r_str(&r, "k"); r_u32(&r, PL_GGUF_U8); r_put(&r, "\x01", 1);
    r_str(&r, "k"); r_u32(&r, PL_GGUF_U8); r_put(&r, "\x01", 1);
    expect_error(&r, "duplicate key", "appears twice");
    r_hdr(&r, 3, 0, 1); r_str(&r, "general.alignment"); r_u32(&r, PL_GGUF_U32); r_u32(&r, 48);
    expect_error(&r, "alignment 48", "power of two");
    r_hdr(&r, 3, 0, 1); r_str(&r, "general.alignment"); r_u32(&r, PL_GGUF_U64); r_u64(&r, 64);
    expect_error(&r, "alignment u64", "expected u32");

    uint64_t ne4[4] = {4, 1, 1, 1};
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 0, ne4, PL_F32, 0); r_pad(&r, 32); r_zeros(&r, 32);
    expect_error(&r, "0 dims", "dimensions");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 5, (uint64_t[]){1, 1, 1, 1, 1}, PL_F32, 0); r_pad(&r, 32); r_zeros(&r, 32);
    expect_error(&r, "5 dims", "dimensions");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 2, (uint64_t[]){1ull << 40, 1ull << 40}, PL_F32, 0); r_pad(&r, 32);
    r_zeros(&r, 32);
    expect_error(&r, "numel overflow", "overflow");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 4, (uint64_t[]){0, 1ull << 40, 1ull << 40, 1ull << 40}, PL_F32, 0);
    r_pad(&r, 32); r_zeros(&r, 32);
    expect_error(&r, "overflow hidden behind a zero dim", "overflow");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 2, (uint64_t[]){1ull << 30, 1ull << 30}, PL_F32, 0); r_pad(&r, 32);
    r_zeros(&r, 32);
    expect_error(&r, "huge tensor", "outside the file");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 1, (uint64_t[]){UINT64_MAX}, PL_F32, 0); r_pad(&r, 32); r_zeros(&r, 32);
    expect_error(&r, "dim > INT64_MAX", "overflow");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 1, ne4, 99, 0); r_pad(&r, 32); r_zeros(&r, 32);
    expect_error(&r, "type 99", "type id 99");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 1, ne4, 4, 0); r_pad(&r, 32); r_zeros(&r, 32);
    expect_error(&r, "removed type 4", "type id 4");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 1, (uint64_t[]){33}, PL_Q4_1, 0); r_pad(&r, 32); r_zeros(&r, 64);
    expect_error(&r, "q4_1 ne0 33", "block size");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 1, ne4, PL_F32, 4); r_pad(&r, 32); r_zeros(&r, 64);
    expect_error(&r, "unaligned offset", "alignment");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 1, ne4, PL_F32, 1ull << 62); r_pad(&r, 32); r_zeros(&r, 64);
    expect_error(&r, "offset beyond file", "outside the file");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 1, ne4, PL_F32, UINT64_MAX - 31); r_pad(&r, 32); r_zeros(&r, 64);
    expect_error(&r, "offset near 2^64", "outside the file");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "t", 1, ne4, PL_F32, 32); r_pad(&r, 32); r_zeros(&r, 40);
    expect_error(&r, "data past end", "outside the file");
    r_hdr(&r, 3, 2, 0); r_tensor(&r, "a", 1, (uint64_t[]){16}, PL_F32, 0);
    r_tensor(&r, "b", 1, ne4, PL_F32, 32); r_pad(&r, 32); r_zeros(&r, 128);
    expect_error(&r, "overlap", "overlap");
    r_hdr(&r, 3, 2, 0); r_tensor(&r, "a", 1, ne4, PL_F32, 0);
    r_tensor(&r, "a", 1, ne4, PL_F32, 32); r_pad(&r, 32); r_zeros(&r, 64);
    expect_error(&r, "duplicate tensor", "appears twice");
    r_hdr(&r, 3, 1, 0); r_tensor(&r, "\xff", 1, ne4, PL_F32, 0); r_pad(&r, 32); r_zeros(&r, 64);
    expect_error(&r, "non-UTF-8 tensor name", "not valid UTF-8");

    /* the same layouts, fixed, are accepted (so the errors above come from the faults, not the builder) */
    r_hdr(&r, 3, 2, 0); r_tensor(&r, "a", 1, (uint64_t[]){8}, PL_F32, 0);
    r_tensor(&r, "b", 1, ne4, PL_F32, 32); r_pad(&r, 32); r_zeros(&r, 48);
    pl_gguf *g = pl_gguf_open_memory(r.b, r.n);
    CHECKF(g && pl_gguf_n_tensors(g) == 2 && pl_gguf_version(g) == 3, "%s", pl_last_error());
    pl_gguf_close(g);
    r_hdr(&r, 2, 0, 1); r_str(&r, "general.alignment"); r_u32(&r, PL_GGUF_U32); r_u32(&r, 64);
    g = pl_gguf_open_memory(r.b, r.n);
    CHECKF(g && pl_gguf_version(g) == 2 && pl_gguf_alignment(g) == 64, "%s", pl_last_error());
    pl_gguf_close(g);
}

static void test_files(void) {
    CHECK(pl_gguf_open("/nonexistent/x.gguf") == NULL && strstr(pl_last_error(), "cannot open"));
    CHECK(pl_gguf_open("/tmp") == NULL && strstr(pl_last_error(), "not a regular file"));
    char path[256];
    snprintf(path, sizeof path, "/tmp/pl_test_gguf_empty_%d.gguf", (int)getpid());
    pl_write_file_atomic(path, "", 0);
    CHECK(pl_gguf_open(path) == NULL && strstr(pl_last_error(), "empty"));
    pl_write_file_atomic(path, "GGUF\x03\0\0\0", 8);
    CHECK(pl_gguf_open(path) == NULL && strstr(pl_last_error(), path) && strstr(pl_last_error(), "truncated"));
    unlink(path);
}

static void test_writer_errors(void) {
    pl_gguf_writer *w = pl_gguf_writer_new();
    CHECK(pl_gguf_writer_set_str(w, "", "x") < 0);
    CHECK(pl_gguf_writer_set_str(w, "k", "\xff") < 0);
    CHECK(pl_gguf_writer_set(w, "k", PL_GGUF_STR, "x") < 0);
    CHECK(pl_gguf_writer_add_tensor(w, "q", PL_Q4_0, 1, (int64_t[]){31}, g_q, false) < 0);
    CHECK(pl_gguf_writer_add_tensor(w, "q", (pl_dtype)5, 1, (int64_t[]){32}, g_q, false) < 0);
    CHECK(pl_gguf_writer_add_tensor(w, "q", PL_F32, 5, (int64_t[]){1, 1, 1, 1, 1}, g_q, false) < 0);
    CHECK(pl_gguf_writer_add_tensor(w, "q", PL_F32, 1, (int64_t[]){4}, g_q, false) == PL_OK);
    CHECK(pl_gguf_writer_add_tensor(w, "q", PL_F32, 1, (int64_t[]){4}, g_q, false) < 0);
    /* setting a key twice keeps its first position */
    pl_gguf_writer_set_u32(w, "a", 1);
    pl_gguf_writer_set_u32(w, "b", 2);
    pl_gguf_writer_set_str(w, "a", "again");
    pl_gguf_writer_set_u32(w, "general.alignment", 24);
    void *buf = NULL;
    size_t n = 0;
    CHECK(pl_gguf_writer_write_memory(w, &buf, &n) < 0 && strstr(pl_last_error(), "power of two"));
    pl_gguf_writer_set_u32(w, "general.alignment", 16);
    CHECK(pl_gguf_writer_write_memory(w, &buf, &n) == PL_OK);
    pl_gguf *g = pl_gguf_open_memory(buf, n);
    CHECKF(g != NULL, "%s", pl_last_error());
    if (g) {
        CHECK(pl_gguf_n_kv(g) == 3 && !strcmp(pl_gguf_key(g, 0), "a") && pl_gguf_kv_type(g, 0) == PL_GGUF_STR);
        CHECK(pl_gguf_alignment(g) == 16 && n == pl_gguf_data_offset(g) + 16);
    }
    pl_gguf_close(g);
    free(buf);
    pl_gguf_writer_free(w);
    w = pl_gguf_writer_new();
    CHECK(pl_gguf_writer_write_file(w, "/nonexistent/dir/x.gguf") < 0 && strstr(pl_last_error(), "cannot write"));
    pl_gguf_writer_free(w);
}

/* tests/e2e/test_gguf_interop.py runs this binary with PLINTH_GGUF_OUT set to get a plinth-written file
 * (the sample above) and reads it with the gguf Python package. */
static int write_sample_for_e2e(const char *path) {
    pl_gguf_writer *w = sample_writer(0);
    int rc = pl_gguf_writer_write_file(w, path);
    pl_gguf_writer_free(w);
    if (rc != PL_OK) fprintf(stderr, "%s\n", pl_last_error());
    return rc == PL_OK ? 0 : 1;
}

int main(void) {
    if (getenv("PLINTH_GGUF_OUT")) return write_sample_for_e2e(getenv("PLINTH_GGUF_OUT"));
    test_roundtrip(0);
    test_roundtrip(64);
    test_corrupt();
    test_files();
    test_writer_errors();
    TEST_DONE();
}
