/* libFuzzer target for the safetensors reader: any bytes go to pl_st_open_memory; when they parse, every
 * tensor's first and last byte and the metadata are read (ASan catches a bad pointer), and the file is
 * written back with the writer and re-read. Seeds: tests/fuzz/seeds/fuzz_safetensors/. */
#include "io/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint8_t g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pl_st *st = pl_st_open_memory(data, size);
    if (!st) return 0;
    pl_st_writer *w = pl_st_writer_new();
    for (int64_t i = 0; i < pl_st_metadata_n(st); i++) {
        const char *k = pl_st_metadata_key(st, i);
        g_sink ^= (uint8_t)pl_st_metadata_get(st, k)[0];
        pl_st_writer_set_metadata(w, k, pl_st_metadata_get(st, k));
    }
    for (int64_t i = 0; i < pl_st_n_tensors(st); i++) {
        const pl_st_tensor *t = pl_st_tensor_at(st, i);
        if (pl_st_find(st, t->name) != t) abort();
        if (t->nbytes) g_sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
        int64_t ne[4];
        pl_st_tensor_ne(t, ne);
        pl_st_writer_add(w, t->name, t->type, t->n_dims, t->shape, t->data, false);
    }
    void *buf = NULL;
    size_t n = 0;
    if (pl_st_writer_write_memory(w, &buf, &n) == PL_OK) {
        pl_st *st2 = pl_st_open_memory(buf, n);   /* what plinth writes, plinth must read */
        if (!st2) abort();
        pl_st_close(st2);
        free(buf);
    }
    pl_st_writer_free(w);
    pl_st_close(st);
    return 0;
}
