/* Gemma 3 against transformers: the tiny random-weight model in tests/golden/gemma3 (tools/make_gemma3_fixture.py:
 * 3 layers local/local/global, sliding window 4, prompts of 20 and 9 tokens) loaded from its GGUF; the logits of
 * every position all at once, one token at a time through the KV cache, and in uneven chunks, within 1e-4. */
#include "models/llm.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <string.h>

#define TOL 1e-4

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) { double e = fabs((double)a[i] - b[i]); if (!(e <= d)) d = e; }
    return d;
}

/* prompt ids through the model in chunks of `step` tokens (0: all at once), every position's logits into got */
static int run_chunks(pl_llm *m, const int32_t *ids, int T, int step, float *got) {
    int V = pl_llm_n_vocab(m);
    for (int t = 0; t < T;) {
        int n = step > 0 && step < T - t ? step : T - t;
        int rc = pl_llm_eval(m, ids + t, n, t, got + (size_t)t * V, true);
        if (rc) return rc;
        t += n;
    }
    return PL_OK;
}

int main(void) {
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/tests/golden/gemma3", test_root());
    snprintf(path, sizeof path, "%s/expected.json", dir);
    char *js = pl_read_file(path, NULL);
    cJSON *exp = js ? cJSON_Parse(js) : NULL;
    free(js);
    snprintf(path, sizeof path, "%s/logits.f32", dir);
    size_t len = 0;
    float *ref = (float *)pl_read_file(path, &len);
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    pl_llm *m = pl_llm_load_ex(path, &(pl_llm_params){.n_threads = 2});
    CHECKF(m != NULL, "%s: %s", path, pl_last_error());
    CHECK(exp && ref);
    if (!m || !exp || !ref) { pl_llm_free(m); cJSON_Delete(exp); free(ref); TEST_DONE(); }

    /* hyper-parameters from the GGUF: window 4, layers 0 and 1 local (rope base 1e4), layer 2 global */
    CHECK(m->hp.arch == PL_LLM_GEMMA3 && m->hp.n_swa == 4 && m->hp.rope_mode == PL_ROPE_NEOX);
    CHECK(m->hp.n_layer == 3 && m->layers[0].swa && m->layers[1].swa && !m->layers[2].swa);
    CHECK(m->hp.rope_theta == 1e6f && m->hp.rope_theta_swa == 1e4f && m->hp.tied_output && m->output == m->tok_embd);
    int V = pl_llm_n_vocab(m);
    CHECK(V == 300);

    cJSON *prompts = cJSON_GetObjectItem(exp, "prompts"), *offs = cJSON_GetObjectItem(exp, "logits");
    const int steps[] = {0, 1, 3, 7};
    for (int p = 0; p < cJSON_GetArraySize(prompts); p++) {
        cJSON *pr = cJSON_GetArrayItem(prompts, p);
        int T = cJSON_GetArraySize(pr);
        int32_t ids[64];
        for (int t = 0; t < T && t < 64; t++) ids[t] = cJSON_GetArrayItem(pr, t)->valueint;
        size_t off = (size_t)cJSON_GetObjectItem(cJSON_GetArrayItem(offs, p), "offset")->valuedouble;
        CHECK(T <= 64 && (off + (size_t)T * V) * sizeof(float) <= len);
        if (T > 64 || (off + (size_t)T * V) * sizeof(float) > len) break;
        float *got = malloc((size_t)T * V * sizeof(float));
        for (size_t s = 0; s < PL_ARRAY_LEN(steps); s++) {
            memset(got, 0, (size_t)T * V * sizeof(float));
            CHECK(run_chunks(m, ids, T, steps[s], got) == PL_OK);
            double d = max_diff(got, ref + off, (size_t)T * V);
            CHECKF(d <= TOL, "prompt %d in chunks of %d: max |diff| %.3g", p, steps[s], d);
            printf("gemma3 prompt %d (%d tokens) chunks of %d: max |diff| %.3g\n", p, T, steps[s] ? steps[s] : T, d);
        }
        /* the last position only (all=false) */
        float *last = malloc((size_t)V * sizeof(float));
        CHECK(pl_llm_eval(m, ids, T, 0, last, false) == PL_OK);
        CHECK(max_diff(last, ref + off + (size_t)(T - 1) * V, (size_t)V) <= TOL);
        free(last);
        free(got);
    }
    pl_llm_free(m);
    cJSON_Delete(exp);
    free(ref);
    TEST_DONE();
}
