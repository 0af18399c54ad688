/* Sentence embeddings of all-MiniLM-L6-v2 (models/encoder.c, bert.c, tasks/embed.c) against sentence-transformers'
 * (tests/golden/embed, tools/make_embed_fixtures.py): English, Korean, code, emoji, empty-ish and over-long texts,
 * which sentence-transformers ran in padded batches. Each vector within cosine 0.99999 and 1e-4 of the reference;
 * a text's vector the same whatever it is batched with; over-long texts cut and counted. */
#include "tasks/embed.h"
#include "test.h"

#include "core/common.h"
#include <cjson/cJSON.h>
#include <string.h>

static char **load_texts(int *n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/embed/minilm_sentences.json", test_root());
    size_t len;
    char *text = pl_read_file(path, &len);
    cJSON *j = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    *n = cJSON_GetArraySize(j);
    char **s = calloc((size_t)*n, sizeof *s);
    for (int i = 0; i < *n; i++) s[i] = strdup(cJSON_GetStringValue(cJSON_GetArrayItem(j, i)));
    cJSON_Delete(j);
    return s;
}

static float *load_ref(int n, int dim) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/embed/minilm_embeddings.f32", test_root());
    size_t len;
    char *data = pl_read_file(path, &len);
    CHECKF(data && len == (size_t)n * dim * sizeof(float), "%zu bytes for %d x %d floats", data ? len : 0, n, dim);
    return (float *)data;
}

static void compare(const float *got, const float *want, int n, int dim, int stride) {
    double worst_cos = 1, worst_abs = 0;
    for (int i = 0; i < n; i += stride) {
        const float *a = got + (size_t)i * dim, *b = want + (size_t)i * dim;
        double dot = 0, na = 0, nb = 0, mx = 0;
        for (int c = 0; c < dim; c++) {
            dot += (double)a[c] * b[c]; na += (double)a[c] * a[c]; nb += (double)b[c] * b[c];
            mx = fmax(mx, fabs((double)a[c] - b[c]));
        }
        double cos = dot / sqrt(na * nb);
        CHECKF(cos >= 0.99999 && mx <= 1e-4, "sentence %d: cosine %.7f, max abs %.2g", i, cos, mx);
        worst_cos = fmin(worst_cos, cos); worst_abs = fmax(worst_abs, mx);
        CHECK_NEAR(na, 1.0, 1e-5); /* normalized, as the model's Normalize module says */
    }
    printf("worst cosine %.8f, worst max abs %.3g\n", worst_cos, worst_abs);
}

int main(void) {
    char model[1024];
    snprintf(model, sizeof model, "%s/models/all-minilm-l6-v2", test_root());
    pl_embedder *e = pl_embedder_load(model, &(pl_embedder_params){.n_threads = 2});
    CHECKF(e != NULL, "%s", pl_last_error());
    if (!e) TEST_DONE();
    int n, dim = pl_embedder_dim(e), stride = test_fast() ? 6 : 1; /* under the sanitizers: every 6th, alone too */
    CHECK(dim == 384 && pl_embedder_max_tokens(e) == 256);
    char **texts = load_texts(&n);
    CHECK(n >= 200);
    float *ref = load_ref(n, dim), *got = calloc((size_t)n * dim, sizeof(float)), *alone = calloc((size_t)dim, sizeof(float));

    /* every text in batches of 16 */
    const char **sel = calloc((size_t)n, sizeof *sel);
    int m = 0;
    for (int i = 0; i < n; i += stride) sel[m++] = texts[i];
    pl_embed_stats st;
    float *packed = calloc((size_t)m * dim, sizeof(float));
    CHECK(pl_embed_texts_ex(e, sel, NULL, m, packed, &(pl_embed_opts){.batch = 16}, &st) == PL_OK);
    for (int i = 0; i < m; i++) memcpy(got + (size_t)i * stride * dim, packed + (size_t)i * dim, (size_t)dim * sizeof(float));
    if (ref) compare(got, ref, n, dim, stride);
    if (stride == 1) CHECKF(st.n_truncated == 4, "%d texts cut to 256 tokens", st.n_truncated);

    /* batch composition: each text alone gives the bits it got among 15 others */
    double worst = 0;
    for (int i = 0; i < m; i += 5) {
        CHECK(pl_embed_texts(e, &sel[i], 1, alone) == PL_OK);
        for (int c = 0; c < dim; c++) worst = fmax(worst, fabs((double)alone[c] - packed[(size_t)i * dim + c]));
    }
    CHECKF(worst == 0, "a text alone differs from itself in a batch by %.3g", worst);

    /* bad input: NULL text, negative count */
    const char *bad[] = {"ok", NULL};
    CHECK(pl_embed_texts(e, bad, 2, alone) == PL_ERR_ARG);
    CHECK(pl_embed_texts(e, bad, -1, alone) == PL_ERR_ARG);

    for (int i = 0; i < n; i++) free(texts[i]);
    free(texts); free(ref); free(got); free(alone); free(sel); free(packed);
    pl_embedder_free(e);
    TEST_DONE();
}
