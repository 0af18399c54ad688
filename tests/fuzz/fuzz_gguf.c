/* libFuzzer target for the GGUF reader: any bytes go to pl_gguf_open_memory; when they parse, every
 * accessor is exercised and every tensor's bytes are read, so an out-of-bounds pointer shows up under ASan.
 * Parsed files are also written back and re-read, which must succeed. Seeds: tests/fuzz/seeds/fuzz_gguf/. */
#include "io/gguf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint8_t g_sink;

static void touch(const pl_gguf *g) {
    for (int64_t i = 0; i < pl_gguf_n_kv(g); i++) {
        size_t len = 0;
        const char *s = pl_gguf_kv_str(g, i, &len);
        if (s) g_sink ^= (uint8_t)s[len];                 /* the terminating NUL */
        pl_gguf_find_key(g, pl_gguf_key(g, i));
        g_sink ^= (uint8_t)pl_gguf_kv_int(g, i, 0) ^ (uint8_t)pl_gguf_kv_float(g, i, 0);
        int64_t n = pl_gguf_arr_n(g, i);
        const uint8_t *d = pl_gguf_arr_data(g, i);
        size_t el = pl_gguf_type_size(pl_gguf_arr_type(g, i));
        if (d && n > 0) g_sink ^= d[(size_t)n * el - 1];
        for (int64_t j = 0; j < n && pl_gguf_arr_type(g, i) == PL_GGUF_STR; j++) {
            s = pl_gguf_arr_str(g, i, j, &len);
            g_sink ^= (uint8_t)s[len];
        }
    }
    for (int64_t i = 0; i < pl_gguf_n_tensors(g); i++) {
        const pl_gguf_tensor *t = pl_gguf_tensor_at(g, i);
        if (pl_gguf_find_tensor(g, t->name) != t) abort();
        if (t->nbytes) g_sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pl_gguf *g = pl_gguf_open_memory(data, size);
    if (!g) return 0;
    touch(g);
    pl_gguf_writer *w = pl_gguf_writer_from(g);
    if (!w) abort();
    void *buf = NULL;
    size_t n = 0;
    if (pl_gguf_writer_write_memory(w, &buf, &n) != PL_OK) abort();
    pl_gguf *g2 = pl_gguf_open_memory(buf, n);   /* what plinth writes, plinth must read */
    if (!g2 || pl_gguf_n_tensors(g2) != pl_gguf_n_tensors(g) || pl_gguf_n_kv(g2) != pl_gguf_n_kv(g)) abort();
    pl_gguf_close(g2);
    free(buf);
    pl_gguf_writer_free(w);
    pl_gguf_close(g);
    return 0;
}
