/* Saving trainable models as Hugging Face directories (models/llm_save.c): every architecture's fixture, loaded
 * as parameters, saved and loaded back gives the same logits; a llama GGUF saved as HF gives the tensors of the
 * HF fixture the GGUF was made from (Q/K rows put back in HF's order) and its logits; a new model saves and loads;
 * an unwritable directory is an error. */
#include "io/safetensors.h"
#include "models/llm.h"
#include "test.h"

#include <sys/stat.h>
#include <unistd.h>

static double logits_diff(pl_llm *a, pl_llm *b) {
    int32_t ids[7] = {1, 5, 9, 2, 7, 3, 11};
    int V = pl_llm_n_vocab(a);
    float *la = malloc(7 * (size_t)V * sizeof(float)), *lb = malloc(7 * (size_t)V * sizeof(float));
    int ra = pl_llm_eval(a, ids, 7, 0, la, true), rb = pl_llm_eval(b, ids, 7, 0, lb, true);
    double d = ra || rb ? 1e9 : 0;
    for (int64_t i = 0; !ra && !rb && i < 7 * (int64_t)V; i++) d = fmax(d, fabs((double)la[i] - lb[i]));
    free(la); free(lb);
    return d;
}

static void round_trip(const char *rel, const char *tmp) {
    char src[4096];
    snprintf(src, sizeof src, "%s/%s", test_root(), rel);
    pl_llm *m = pl_llm_load_ex(src, &(pl_llm_params){.n_threads = 1, .train = true});
    CHECKF(m != NULL, "%s: %s", rel, pl_last_error());
    if (!m) return;
    CHECKF(pl_llm_save_hf(m, tmp, 1, 2) == PL_OK, "%s: %s", rel, pl_last_error());
    pl_llm *back = pl_llm_load_ex(tmp, &(pl_llm_params){.n_threads = 1});
    CHECKF(back != NULL, "%s saved: %s", rel, pl_last_error());
    if (back) {
        double d = logits_diff(m, back);
        CHECKF(d <= 1e-5, "%s: logits after the round trip differ by %.3g", rel, d);
        printf("%-32s saved and loaded back: logits max diff %.2g\n", rel, d);
    }
    pl_llm_free(back);
    pl_llm_free(m);
}

int main(void) {
    char tmp[] = "/tmp/plinth-save-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    const char *fixtures[] = {"tests/golden/train/llama", "tests/golden/train/qwen2", "tests/golden/train/gemma3",
                              "tests/golden/train/gpt2", "tests/golden/lm/gpt2", "tests/golden/lm/llama/model.gguf",
                              "tests/golden/lm/qwen2/model.gguf"};
    for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++) round_trip(fixtures[i], tmp);

    /* the llama GGUF (llama.cpp's permuted Q/K) saved as HF holds the very tensors of the HF fixture */
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/golden/lm/llama/model.gguf", test_root());
    pl_llm *g = pl_llm_load_ex(path, &(pl_llm_params){.n_threads = 1, .train = true});
    CHECK(g && pl_llm_save_hf(g, tmp, -1, -1) == PL_OK);
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    pl_st *mine = pl_st_open(path);
    snprintf(path, sizeof path, "%s/tests/golden/lm/llama/model.safetensors", test_root());
    pl_st *ref = pl_st_open(path);
    CHECK(mine && ref);
    int compared = 0;
    for (int64_t i = 0; mine && ref && i < pl_st_n_tensors(ref); i++) {
        const pl_st_tensor *r = pl_st_tensor_at(ref, i), *t = pl_st_find(mine, r->name);
        CHECKF(t && t->numel == r->numel, "%s missing or of another size", r->name);
        if (!t || t->numel != r->numel || r->type != PL_F32) continue;
        double d = 0;
        for (int64_t j = 0; j < r->numel; j++) d = fmax(d, fabs((double)((const float *)t->data)[j] - ((const float *)r->data)[j]));
        CHECKF(d == 0, "%s differs by %.3g", r->name, d);
        compared++;
    }
    CHECK(compared >= 10);
    pl_st_close(mine); pl_st_close(ref);
    pl_llm_free(g);

    /* a new model: saved, loaded back, same logits */
    pl_llm_hparams hp = {.arch = PL_LLM_LLAMA, .n_vocab = 64, .n_ctx_train = 32, .n_embd = 16, .n_layer = 2, .n_head = 4,
                         .n_head_kv = 2, .head_dim = 4, .n_ff = 32, .n_rot = 4, .norm_eps = 1e-5f, .rope_theta = 10000,
                         .rope_freq_scale = 1, .rope_mode = PL_ROPE_NEOX, .tied_output = true};
    pl_llm *n = pl_llm_new(&hp, &(pl_llm_params){.n_threads = 1});
    CHECKF(n != NULL, "%s", pl_last_error());
    if (n) {
        pl_llm_init_weights(n, 7);
        CHECK(pl_llm_save_hf(n, tmp, -1, -1) == PL_OK);
        pl_llm *b = pl_llm_load_ex(tmp, &(pl_llm_params){.n_threads = 1});
        CHECKF(b && logits_diff(n, b) <= 1e-6, "new model round trip: %s", pl_last_error());
        pl_llm_free(b);
        CHECK(pl_llm_save_hf(n, "/nonexistent-dir/x", -1, -1) != PL_OK && pl_last_error()[0]);
    }
    pl_llm_free(n);
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors"};
    for (int i = 0; i < 3; i++) { snprintf(path, sizeof path, "%s/%s", tmp, files[i]); unlink(path); }
    rmdir(tmp);
    TEST_DONE();
}
