/* The importance matrix container and file: sums of squares per column added over several calls (strided rows),
 * E[x^2] = sum / count, a save/load round trip through llama.cpp's GGUF layout, and the errors: a width clash,
 * a model file instead of an imatrix, an unknown name or width at lookup. The collection through a model run
 * is tested end to end in tests/e2e/test_imatrix.py. */
#include "tasks/imatrix.h"
#include "core/common.h"
#include "test.h"

#include <string.h>
#include <unistd.h>

int main(void) {
    pl_imatrix *im = pl_imatrix_new();
    CHECK(im != NULL);
    /* 5 rows of 3 columns with a row stride of 4 (the 4th float is padding that must not count) */
    const float x[20] = {1, 2, 3, 99, -1, 0, 2, 99, 0.5f, -2, 1, 99, 3, 1, -1, 99, 0, 0, 4, 99};
    CHECK(pl_imatrix_add(im, "blk.0.attn_v.weight", x, 3, 2, 4) == PL_OK);
    CHECK(pl_imatrix_add(im, "blk.0.attn_v.weight", x + 8, 3, 3, 4) == PL_OK);
    CHECK(pl_imatrix_add(im, "output.weight", x, 2, 1, 4) == PL_OK);
    double want[3] = {0}, n = 5;
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 3; c++) want[c] += (double)x[4 * r + c] * x[4 * r + c];
    const float *m = pl_imatrix_get(im, "blk.0.attn_v.weight", 3);
    CHECK(m != NULL);
    for (int c = 0; m && c < 3; c++) CHECK_NEAR(m[c], want[c] / n, 1e-6);
    /* a width clash is an error, and lookups need the exact name and width */
    CHECK(pl_imatrix_add(im, "blk.0.attn_v.weight", x, 4, 1, 4) < 0);
    CHECK(strstr(pl_last_error(), "3 columns") != NULL);
    CHECK(pl_imatrix_get(im, "blk.0.attn_v.weight", 4) == NULL);
    CHECK(pl_imatrix_get(im, "blk.1.attn_v.weight", 3) == NULL);
    CHECK(pl_imatrix_n_entries(im) == 2);

    char path[256];
    snprintf(path, sizeof path, "/tmp/plinth_imatrix_test_%d.gguf", (int)getpid());
    const char *ds[1] = {"calib.txt"};
    CHECK(pl_imatrix_save(im, path, ds, 1) == PL_OK);
    pl_imatrix *back = pl_imatrix_load(path);
    CHECK(back != NULL);
    if (back) {
        CHECK(pl_imatrix_n_entries(back) == 2);
        int64_t nc = 0;
        double cnt = 0;
        const char *name0 = pl_imatrix_entry(back, 0, &nc, &cnt); /* sorted by name */
        CHECK(name0 && !strcmp(name0, "blk.0.attn_v.weight") && nc == 3 && cnt == 5);
        const float *mb = pl_imatrix_get(back, "blk.0.attn_v.weight", 3);
        for (int c = 0; mb && c < 3; c++) CHECK_NEAR(mb[c], want[c] / n, 1e-6);
        const float *o = pl_imatrix_get(back, "output.weight", 2);
        CHECK(o && o[0] == 1.0f && o[1] == 4.0f);
        CHECK(pl_imatrix_entry(back, 2, NULL, NULL) == NULL);
        pl_imatrix_free(back);
    }
    unlink(path);
    pl_imatrix_free(im);

    /* a model file is not an importance matrix */
    char model[512];
    snprintf(model, sizeof model, "%s/tests/golden/lm/llama/model.gguf", test_root());
    CHECK(pl_imatrix_load(model) == NULL);
    CHECK(strstr(pl_last_error(), "not an importance matrix") != NULL);
    CHECK(pl_imatrix_load("/nonexistent/im.gguf") == NULL);
    /* nothing collected: nothing to save */
    pl_imatrix *empty = pl_imatrix_new();
    CHECK(pl_imatrix_save(empty, path, NULL, 0) < 0);
    CHECK(access(path, F_OK) != 0);
    pl_imatrix_free(empty);
    TEST_DONE();
}
