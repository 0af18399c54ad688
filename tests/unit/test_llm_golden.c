/* Decoder LMs against transformers: for the tiny llama, llama3rope, llamalinear, qwen2 and gpt2 fixtures in
 * tests/golden/lm (made by tools/make_lm_fixtures.py), loaded from both the HF directory and the GGUF, the
 * logits of every position (all at once, and one token at a time through the KV cache) and 32 greedy tokens;
 * again with an f16 KV cache (pl_llm_params.kv_f16: logits within 1e-2, the same greedy tokens).
 * Also: bad inputs (missing tensor / unsupported architecture / past the context) give clear errors. */
#include "io/gguf.h"
#include "models/llm.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <unistd.h>

#define TOL 1e-4
#define TOL_KV_F16 1e-2 /* K/V rounded to f16 (relative error 2^-11) */

static float *read_floats(const char *path, size_t *n) {
    size_t len;
    char *d = pl_read_file(path, &len);
    *n = d ? len / sizeof(float) : 0;
    return (float *)d;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

static double max_diff(const float *a, const float *b, int n) {
    double d = 0;
    for (int i = 0; i < n; i++) { double e = fabs((double)a[i] - b[i]); if (!(e <= d)) d = e; }
    return d;
}

static void check_model(const char *name, const char *file, bool kv_f16) {
    const double tol = kv_f16 ? TOL_KV_F16 : TOL;
    char dir[1024], path[1200], p2[1200];
    snprintf(dir, sizeof dir, "%s/tests/golden/lm/%s", test_root(), name);
    snprintf(path, sizeof path, "%s%s%s", dir, file ? "/" : "", file ? file : "");
    snprintf(p2, sizeof p2, "%s/expected.json", dir);
    char *js = pl_read_file(p2, NULL);
    cJSON *exp = js ? cJSON_Parse(js) : NULL;
    free(js);
    snprintf(p2, sizeof p2, "%s/logits.f32", dir);
    size_t n_ref;
    float *ref = read_floats(p2, &n_ref);
    CHECKF(exp && ref, "%s: fixtures unreadable", name);
    pl_llm *m = pl_llm_load_ex(path, &(pl_llm_params){.n_threads = 2, .kv_f16 = kv_f16});
    CHECKF(m != NULL, "%s: %s", path, pl_last_error());
    if (m) CHECK(m->cache->k[0]->type == (kv_f16 ? PL_F16 : PL_F32) && m->cache->v[0]->type == m->cache->k[0]->type);
    if (!m || !exp || !ref) { pl_llm_free(m); cJSON_Delete(exp); free(ref); return; }
    int V = pl_llm_n_vocab(m);
    CHECK(V == 256);
    cJSON *prompts = cJSON_GetObjectItem(exp, "prompts"), *offs = cJSON_GetObjectItem(exp, "logits");
    cJSON *greedy = cJSON_GetObjectItem(exp, "greedy");
    double worst_pre = 0, worst_dec = 0;
    int greedy_ok = 0, n_prompts = cJSON_GetArraySize(prompts);
    for (int p = 0; p < n_prompts; p++) {
        cJSON *pr = cJSON_GetArrayItem(prompts, p);
        int T = cJSON_GetArraySize(pr);
        int32_t ids[64];
        for (int t = 0; t < T; t++) ids[t] = cJSON_GetArrayItem(pr, t)->valueint;
        size_t off = (size_t)cJSON_GetObjectItem(cJSON_GetArrayItem(offs, p), "offset")->valuedouble;
        CHECK(off + (size_t)T * V <= n_ref);
        if (off + (size_t)T * V > n_ref) break;
        const float *want = ref + off;
        float *got = malloc((size_t)T * V * sizeof(float));
        /* prefill: every position at once */
        CHECK(pl_llm_eval(m, ids, T, 0, got, true) == PL_OK);
        double d = max_diff(got, want, T * V);
        CHECKF(d <= tol, "%s prompt %d prefill: max |diff| %.3g", path, p, d);
        if (d > worst_pre) worst_pre = d;
        /* decode: one token at a time through the cache */
        for (int t = 0; t < T; t++) {
            CHECK(pl_llm_eval(m, ids + t, 1, t, got + (size_t)t * V, false) == PL_OK);
        }
        d = max_diff(got, want, T * V);
        CHECKF(d <= tol, "%s prompt %d decode: max |diff| %.3g", path, p, d);
        if (d > worst_dec) worst_dec = d;
        /* greedy continuation: prefill (last logits only), then one token at a time */
        float *last = malloc((size_t)V * sizeof(float));
        CHECK(pl_llm_eval(m, ids, T, 0, last, false) == PL_OK);
        cJSON *g = cJSON_GetArrayItem(greedy, p);
        int n_new = cJSON_GetArraySize(g), same = 1;
        for (int i = 0; i < n_new; i++) {
            int32_t tok = argmax(last, V);
            if (tok != cJSON_GetArrayItem(g, i)->valueint) {
                fprintf(stderr, "%s prompt %d: greedy token %d is %d, expected %d\n", path, p, i, tok, cJSON_GetArrayItem(g, i)->valueint);
                same = 0;
                break;
            }
            if (pl_llm_eval(m, &tok, 1, T + i, last, false)) { same = 0; break; }
        }
        CHECKF(same && n_new == 32, "%s prompt %d: greedy continuation differs", path, p);
        greedy_ok += same;
        free(last);
        free(got);
    }
    printf("%-11s %-4s kv %s  prefill max|diff| %.2e  decode max|diff| %.2e  greedy %d/%d\n", name, file ? "gguf" : "hf",
           kv_f16 ? "f16" : "f32", worst_pre, worst_dec, greedy_ok, n_prompts);
    pl_llm_free(m);
    cJSON_Delete(exp);
    free(ref);
}

static void check_errors(void) {
    char path[1200];
    /* past the context: the fixture's context is 128 */
    snprintf(path, sizeof path, "%s/tests/golden/lm/llama/model.gguf", test_root());
    pl_llm *m = pl_llm_load_ex(path, &(pl_llm_params){.n_ctx = 8, .n_threads = 1});
    CHECK(m && pl_llm_n_ctx(m) == 8);
    if (m) {
        int32_t ids[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        float *lg = malloc(256 * sizeof(float));
        CHECK(pl_llm_eval(m, ids, 9, 0, lg, false) == PL_ERR_ARG);
        CHECK(strstr(pl_last_error(), "context") != NULL);
        CHECK(pl_llm_eval(m, ids, 8, 0, lg, false) == PL_OK);
        CHECK(pl_llm_eval(m, ids, 1, 8, lg, false) == PL_ERR_ARG);
        int32_t bad = 256;
        CHECK(pl_llm_eval(m, &bad, 1, 0, lg, false) == PL_ERR_ARG);
        free(lg);
        pl_llm_free(m);
    }
    /* the chat-template file is not a model: no such directory config -> error, no crash */
    snprintf(path, sizeof path, "%s/tests/golden/lm/nope.gguf", test_root());
    CHECK(pl_llm_load(path, 1) == NULL);
    CHECK(strstr(pl_last_error(), "nope.gguf") != NULL);
}

/* a copy of the llama fixture's GGUF with one key changed (or one tensor dropped), loaded: NULL + message */
static void check_broken(const char *key, const char *str, int64_t ival, const char *drop, const char *want) {
    char path[1200], out[256];
    snprintf(path, sizeof path, "%s/tests/golden/lm/llama/model.gguf", test_root());
    snprintf(out, sizeof out, "/tmp/plinth_llm_broken_%d.gguf", (int)getpid());
    pl_gguf *g = pl_gguf_open(path);
    CHECK(g != NULL);
    if (!g) return;
    pl_gguf_writer *w = pl_gguf_writer_new();
    for (int64_t i = 0; i < pl_gguf_n_kv(g); i++) pl_gguf_writer_copy_kv(w, g, i);
    if (key && str) pl_gguf_writer_set_str(w, key, str);
    if (key && !str) pl_gguf_writer_set_u32(w, key, (uint32_t)ival);
    for (int64_t i = 0; i < pl_gguf_n_tensors(g); i++) {
        const pl_gguf_tensor *t = pl_gguf_tensor_at(g, i);
        if (!drop || strcmp(t->name, drop)) pl_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, false);
    }
    CHECK(pl_gguf_writer_write_file(w, out) == PL_OK);
    pl_gguf_writer_free(w);
    pl_gguf_close(g);
    pl_llm *m = pl_llm_load(out, 1);
    CHECK(m == NULL);
    CHECKF(strstr(pl_last_error(), want) != NULL, "'%s' lacks '%s'", pl_last_error(), want);
    pl_llm_free(m);
    remove(out);
}

int main(void) {
    const char *models[] = {"llama", "llama3rope", "llamalinear", "qwen2", "gpt2"};
    for (int i = 0; i < 5; i++) {
        check_model(models[i], NULL, false);
        check_model(models[i], "model.gguf", false);
        check_model(models[i], i % 2 ? NULL : "model.gguf", true); /* f16 cache: one format each, both overall */
    }
    check_errors();
    check_broken("general.architecture", "mamba", 0, NULL, "'mamba' is not supported");
    check_broken("llama.feed_forward_length", NULL, 100, NULL, "expected [64, 100]");
    check_broken("llama.embedding_length", NULL, 32, NULL, "invalid for head size 8");
    check_broken(NULL, NULL, 0, "blk.1.ffn_up.weight", "'blk.1.ffn_up.weight' is missing");
    check_broken("llama.attention.head_count_kv", NULL, 3, NULL, "3 kv heads do not divide 4 heads");
    TEST_DONE();
}
