/* GGUF on a real file: SmolLM2-135M-Instruct (Q4_1, from scripts/fetch-models.sh). Opening it must
 * succeed, every tensor must be sized and placed consistently, and writing it back through the writer
 * (same kv order, tensor order, alignment and padding) must give the file's exact bytes.
 * The tensor list itself is compared with the gguf Python package in tests/e2e/test_info.py. */
#include "test.h"

#include "core/common.h"
#include "core/dtype.h"
#include "io/gguf.h"

#include <string.h>

int main(void) {
    char cmd[1024], path[1024];
    snprintf(cmd, sizeof cmd, "bash '%s/scripts/fetch-models.sh' smollm2 >&2", test_root());
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", test_root());
    pl_gguf *g = pl_gguf_open(path);
    CHECKF(g != NULL, "%s", pl_last_error());
    if (!g) TEST_DONE();

    CHECK(pl_gguf_version(g) == 3);
    const char *arch = pl_gguf_get_str(g, "general.architecture", NULL);
    CHECK(arch && !strcmp(arch, "llama"));
    int64_t tok = pl_gguf_find_key(g, "tokenizer.ggml.tokens");
    CHECK(pl_gguf_arr_type(g, tok) == PL_GGUF_STR && pl_gguf_arr_n(g, tok) > 1000);
    CHECK(pl_gguf_get_int(g, "llama.block_count", 0) > 0);
    /* tensor data tiles the data section: sorted by offset, each starts at the previous end rounded up */
    size_t total = 0;
    int bad = 0;
    for (int64_t i = 0; i < pl_gguf_n_tensors(g); i++) {
        const pl_gguf_tensor *t = pl_gguf_tensor_at(g, i);
        const pl_type_traits *tr = pl_dtype_traits(t->type);
        size_t want = (size_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] / tr->blck_size) * tr->type_size;
        if (t->nbytes != want) bad++;
        if ((const char *)t->data != (const char *)pl_gguf_tensor_at(g, 0)->data - pl_gguf_tensor_at(g, 0)->offset +
                                        t->offset) bad++;
        total += t->nbytes;
    }
    CHECK(bad == 0);
    CHECK(total <= pl_gguf_file_size(g) - pl_gguf_data_offset(g));

    pl_gguf_writer *w = pl_gguf_writer_from(g);
    CHECKF(w != NULL, "%s", pl_last_error());
    void *buf = NULL;
    size_t n = 0;
    CHECK(w && pl_gguf_writer_write_memory(w, &buf, &n) == PL_OK);
    size_t flen = 0;
    char *file = pl_read_file(path, &flen);
    CHECKF(n == flen, "rewritten %zu bytes, file %zu", n, flen);
    size_t first_diff = 0;
    while (buf && file && first_diff < PL_MIN(n, flen) && ((char *)buf)[first_diff] == file[first_diff]) first_diff++;
    CHECKF(n == flen && first_diff == n, "first difference at byte %zu", first_diff);
    free(file);
    free(buf);
    pl_gguf_writer_free(w);
    pl_gguf_close(g);
    TEST_DONE();
}
