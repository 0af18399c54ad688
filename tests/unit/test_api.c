/* The public API of include/plinth.h (src/tasks/api.c) on the tiny llama fixture saved as a plinth training
 * directory with a byte-level tokenizer: bad input from the caller (NULL handles, unknown sequences, token ids
 * outside the vocabulary, missing files, a trainer step of the wrong size) is a negative status or NULL with a
 * message and changes nothing; pl_decode gives pl_llm_decode's logits; forks and truncation continue as the
 * sequence would; pl_generate_text is the greedy loop of pl_decode + the sampler; training steps lower the loss
 * and the saved directory reloads with the trained model's logits. */
#include "plinth.h"

#include "models/llm.h"
#include "tasks/checkpoint.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <string.h>

#define PROMPT "Hello, plinth"

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double md = 0;
    for (int64_t i = 0; i < n; i++) md = fmax(md, fabs((double)a[i] - b[i]));
    return md;
}
static bool has_error(void) { return pl_last_error()[0] != 0; }

/* a training directory holding the fixture (its checkpoint: config.json, model.safetensors, byte tokenizer.json) */
static bool make_model_dir(const char *dir) {
    char src[4096];
    snprintf(src, sizeof src, "%s/tests/golden/lm/llama", test_root());
    pl_llm *m = pl_llm_load_ex(src, &(pl_llm_params){.n_threads = 1, .train = true});
    cJSON *state = cJSON_CreateObject();
    int rc = m ? pl_mkdir_p(dir) : PL_ERR_FORMAT;
    if (!rc) rc = pl_ckpt_save(dir, 1, m, NULL, state);
    CHECKF(rc == PL_OK, "%s", pl_last_error());
    cJSON_Delete(state);
    pl_llm_free(m);
    return rc == PL_OK;
}

static void check_null_and_missing(const char *model_dir) {
    pl_clear_error();
    CHECK(pl_model_n_vocab(NULL) < 0 && has_error());
    CHECK(pl_model_n_ctx(NULL) < 0);
    CHECK(pl_model_tokenizer(NULL) == NULL);
    CHECK(pl_seq_new(NULL) < 0 && pl_seq_len(NULL, 0) < 0 && pl_seq_remove(NULL, 0) < 0);
    CHECK(pl_seq_fork(NULL, 0) < 0 && pl_seq_truncate(NULL, 0, 0) < 0);
    int32_t tok = 1, seq = 1;
    float out[256];
    CHECK(pl_decode(NULL, &(pl_batch){1, &tok, &seq, NULL}, out) < 0);
    CHECK(pl_generate_text(NULL, "hi", NULL, NULL, NULL) < 0);
    CHECK(pl_model_save(NULL, "/tmp") < 0);
    CHECK(pl_trainer_new(NULL, NULL) == NULL);
    CHECK(pl_trainer_step(NULL, &tok, &tok, 1, 1e-3f, NULL) < 0);
    pl_model_free(NULL);
    pl_trainer_free(NULL);

    CHECK(pl_model_load(NULL, NULL) == NULL && has_error());
    CHECK(pl_model_load("", NULL) == NULL);
    pl_clear_error();
    CHECK(pl_model_load("/no/such/model.gguf", NULL) == NULL);
    CHECKF(strstr(pl_last_error(), "/no/such/model.gguf") != NULL, "message: %s", pl_last_error());
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/unit", test_root()); /* a directory, no model in it */
    pl_clear_error();
    CHECK(pl_model_load(path, NULL) == NULL && has_error());
    snprintf(path, sizeof path, "%s/tests/golden/lm/llama", test_root()); /* weights, but no tokenizer */
    pl_clear_error();
    CHECK(pl_model_load(path, NULL) == NULL && has_error());
    CHECK(pl_model_load(model_dir, &(pl_model_params){.n_ctx = -1}) == NULL && has_error());
}

/* the logits of pl_decode against pl_llm_decode of the same checkpoint; bad batches and sequences refused */
static void check_decode(pl_model *m, const char *ckpt) {
    pl_llm *ref = pl_llm_load_ex(ckpt, &(pl_llm_params){.n_threads = 2, .n_ctx = 256});
    CHECKF(ref != NULL, "%s", pl_last_error());
    if (!ref) return;
    int V = pl_model_n_vocab(m);
    CHECK(V == 256 && pl_model_n_ctx(m) == 256 && pl_model_tokenizer(m) != NULL);
    int a = pl_seq_new(m), b = pl_seq_new(m), ra = pl_llm_seq_new(ref), rb = pl_llm_seq_new(ref);
    CHECK(a >= 0 && b >= 0 && a != b && pl_seq_len(m, a) == 0);
    /* two sequences in one batch: a's 7 tokens and b's 5, logits of each last token */
    int32_t toks[12] = {72, 101, 108, 108, 111, 44, 32, 112, 108, 105, 110, 116};
    int32_t seq[12], rseq[12];
    bool want[12] = {0};
    for (int i = 0; i < 12; i++) { seq[i] = i < 7 ? a : b; rseq[i] = i < 7 ? ra : rb; }
    want[6] = want[11] = true;
    float *out = malloc(4 * (size_t)V * sizeof(float)), *rout = malloc(4 * (size_t)V * sizeof(float));
    CHECK(pl_decode(m, &(pl_batch){12, toks, seq, want}, out) == PL_OK);
    CHECK(pl_llm_decode(ref, &(pl_llm_batch){12, toks, rseq, want}, rout) == PL_OK);
    double d = max_abs_diff(out, rout, 2 * (int64_t)V);
    CHECKF(d <= 1e-6, "pl_decode differs from pl_llm_decode by %.3g", d);
    CHECK(pl_seq_len(m, a) == 7 && pl_seq_len(m, b) == 5);

    /* bad input: an error, a message, nothing changed */
    int32_t bad_tok[2] = {256, -1}, one = 65, unknown = 4000, neg = -2;
    for (int i = 0; i < 2; i++) {
        pl_clear_error();
        CHECK(pl_decode(m, &(pl_batch){1, &bad_tok[i], &a, NULL}, out) < 0 && has_error());
    }
    pl_clear_error();
    CHECK(pl_decode(m, &(pl_batch){1, &one, &unknown, NULL}, out) < 0 && has_error());
    CHECK(pl_decode(m, &(pl_batch){1, &one, &neg, NULL}, out) < 0);
    CHECK(pl_decode(m, NULL, out) < 0);
    CHECK(pl_decode(m, &(pl_batch){0, &one, &a, NULL}, out) < 0);
    CHECK(pl_decode(m, &(pl_batch){1, NULL, &a, NULL}, out) < 0);
    CHECK(pl_decode(m, &(pl_batch){1, &one, NULL, NULL}, out) < 0);
    CHECK(pl_decode(m, &(pl_batch){1, &one, &a, NULL}, NULL) < 0); /* logits wanted, nowhere to put them */
    CHECK(pl_seq_len(m, a) == 7 && pl_seq_len(m, b) == 5);
    CHECK(pl_seq_len(m, unknown) < 0 && pl_seq_remove(m, unknown) < 0 && pl_seq_fork(m, unknown) < 0);
    CHECK(pl_seq_truncate(m, a, -1) < 0 && pl_seq_len(m, a) == 7);
    /* the model's own sequence (generation's) is not the caller's; ids start after it */
    int hidden = ref->seq0;
    CHECK(pl_seq_len(m, hidden) < 0 && pl_seq_remove(m, hidden) < 0);
    CHECK(pl_decode(m, &(pl_batch){1, &one, &hidden, NULL}, out) < 0);

    /* a fork continues as its parent; a truncated sequence redone gives the logits it had */
    int c = pl_seq_fork(m, a);
    CHECK(c >= 0 && pl_seq_len(m, c) == 7);
    int32_t two[2] = {one, one}, sq[2] = {a, c};
    CHECK(pl_decode(m, &(pl_batch){2, two, sq, NULL}, out) == PL_OK);
    CHECK(max_abs_diff(out, out + V, V) <= 1e-6);
    CHECK(pl_seq_truncate(m, c, 7) == PL_OK && pl_seq_len(m, c) == 7);
    CHECK(pl_decode(m, &(pl_batch){1, &one, &c, NULL}, out + 2 * V) == PL_OK);
    CHECK(max_abs_diff(out, out + 2 * V, V) <= 1e-6);
    CHECK(pl_seq_remove(m, c) == PL_OK && pl_seq_len(m, c) < 0);
    CHECK(pl_seq_remove(m, a) == PL_OK && pl_seq_remove(m, b) == PL_OK);
    free(out);
    free(rout);
    pl_llm_free(ref);
}

static void collect(const char *text, size_t len, void *ud) { strncat(ud, text, len); }

/* generate = prefill + greedy sampling through the public pieces; the caller's sequences are left alone */
static void check_generate(pl_model *m) {
    const pl_tokenizer *tok = pl_model_tokenizer(m);
    int V = pl_model_n_vocab(m), s = pl_seq_new(m);
    int32_t ids[64];
    int n = pl_tokenize(tok, PROMPT, strlen(PROMPT), ids, 64, true);
    CHECK(n == (int)strlen(PROMPT)); /* bytes */
    int32_t *seq = malloc(64 * sizeof *seq);
    for (int i = 0; i < 64; i++) seq[i] = s;
    bool want[64] = {0};
    want[n - 1] = true;
    float *logits = malloc((size_t)V * sizeof(float));
    pl_sampler_params sp = pl_sampler_default_params();
    sp.temperature = 0;
    pl_sampler *smp = pl_sampler_new(&sp, V);
    CHECK(smp != NULL);
    CHECK(pl_decode(m, &(pl_batch){n, ids, seq, want}, logits) == PL_OK);
    int n0 = n;
    for (int i = 0; i < 12; i++) {
        ids[n] = pl_sampler_sample(smp, logits, ids, n);
        n++;
        if (i < 11) CHECK(pl_decode(m, &(pl_batch){1, &ids[n - 1], &s, NULL}, logits) == PL_OK);
    }
    char want_text[256] = "", got[256] = "", again[256] = "";
    CHECK(pl_detokenize(tok, ids + n0, n - n0, want_text, sizeof want_text, true) >= 0);
    pl_generate_params gp = pl_generate_default_params();
    gp.n_predict = 12;
    gp.sampling.temperature = 0;
    CHECKF(pl_generate_text(m, PROMPT, &gp, collect, got) == PL_OK, "%s", pl_last_error());
    CHECKF(!strcmp(got, want_text), "generated '%s', the greedy loop '%s'", got, want_text);
    CHECK(pl_generate_text(m, PROMPT, &gp, collect, again) == PL_OK && !strcmp(again, got));
    CHECK(pl_seq_len(m, s) == n - 1); /* generation ran on its own sequence */
    CHECK(pl_generate_text(m, PROMPT, NULL, NULL, NULL) == PL_OK); /* the defaults, no callback */

    pl_clear_error();
    CHECK(pl_generate_text(m, NULL, &gp, NULL, NULL) < 0 && has_error());
    CHECK(pl_generate_text(m, "", &gp, NULL, NULL) < 0);
    CHECK(pl_generate_text(m, "\xff\xfe", &gp, NULL, NULL) < 0); /* not UTF-8 */
    gp.n_stops = 1;
    CHECK(pl_generate_text(m, PROMPT, &gp, NULL, NULL) < 0); /* one stop string, no array */
    const char *stops[1] = {NULL};
    gp.stops = stops;
    CHECK(pl_generate_text(m, PROMPT, &gp, NULL, NULL) < 0);
    CHECK(pl_sampler_new(&sp, 0) == NULL);
    sp.top_p = 2;
    CHECK(pl_sampler_new(&sp, V) == NULL && has_error());
    CHECK(pl_seq_remove(m, s) == PL_OK);
    pl_sampler_free(smp);
    free(logits);
    free(seq);
}

/* last-token logits of PROMPT on a fresh sequence (removed after) */
static void prompt_logits(pl_model *m, float *out) {
    int s = pl_seq_new(m), n = (int)strlen(PROMPT);
    int32_t ids[32], seq[32];
    bool want[32] = {0};
    for (int i = 0; i < n; i++) { ids[i] = (unsigned char)PROMPT[i]; seq[i] = s; }
    want[n - 1] = true;
    CHECK(pl_decode(m, &(pl_batch){n, ids, seq, want}, out) == PL_OK);
    pl_seq_remove(m, s);
}

static void check_train(const char *model_dir, const char *save_dir) {
    pl_model *frozen = pl_model_load(model_dir, &(pl_model_params){.n_threads = 2});
    pl_clear_error();
    CHECK(frozen && pl_trainer_new(frozen, NULL) == NULL && has_error()); /* not loaded with .train */
    CHECK(frozen && pl_model_save(frozen, save_dir) < 0);
    pl_model_free(frozen);

    pl_model *m = pl_model_load(model_dir, &(pl_model_params){.n_threads = 2, .n_ctx = 64, .train = true});
    CHECKF(m != NULL, "%s", pl_last_error());
    if (!m) return;
    int V = pl_model_n_vocab(m);
    pl_trainer_params tp = pl_trainer_default_params();
    tp.batch = 2;
    tp.seq_len = 1000; /* past the model's context (128) */
    CHECK(pl_trainer_new(m, &tp) == NULL && has_error());
    tp.seq_len = 0;
    CHECK(pl_trainer_new(m, &tp) == NULL);
    tp.seq_len = 16;
    tp.beta1 = 1.5f;
    CHECK(pl_trainer_new(m, &tp) == NULL);
    tp.beta1 = 0.9f;
    pl_trainer *t = pl_trainer_new(m, &tp);
    CHECKF(t != NULL, "%s", pl_last_error());
    if (!t) { pl_model_free(m); return; }
    const char *text = "the quick brown fox jumps over the lazy dog, then the dog sleeps";
    int32_t ids[32], targets[32];
    for (int i = 0; i < 32; i++) { ids[i] = (unsigned char)text[i]; targets[i] = (unsigned char)text[i + 1]; }
    float *before = malloc((size_t)V * sizeof(float)), *after = malloc((size_t)V * sizeof(float));
    prompt_logits(m, before);

    /* refused, weights unchanged: wrong size, ids / targets outside the vocabulary, no targets, bad lr */
    float loss = -1;
    pl_clear_error();
    CHECK(pl_trainer_step(t, ids, targets, 31, 1e-2f, &loss) < 0 && has_error() && loss == -1);
    CHECK(pl_trainer_step(t, ids, targets, 48, 1e-2f, &loss) < 0);
    CHECK(pl_trainer_step(t, NULL, targets, 32, 1e-2f, &loss) < 0);
    CHECK(pl_trainer_step(t, ids, NULL, 32, 1e-2f, &loss) < 0);
    ids[5] = 256;
    CHECK(pl_trainer_step(t, ids, targets, 32, 1e-2f, &loss) < 0);
    ids[5] = -1;
    CHECK(pl_trainer_step(t, ids, targets, 32, 1e-2f, &loss) < 0);
    ids[5] = (unsigned char)text[5];
    targets[7] = -2;
    CHECK(pl_trainer_step(t, ids, targets, 32, 1e-2f, &loss) < 0);
    targets[7] = V;
    CHECK(pl_trainer_step(t, ids, targets, 32, 1e-2f, &loss) < 0);
    targets[7] = (unsigned char)text[8];
    int32_t none[32];
    for (int i = 0; i < 32; i++) none[i] = -1;
    CHECK(pl_trainer_step(t, ids, none, 32, 1e-2f, &loss) < 0);
    CHECK(pl_trainer_step(t, ids, targets, 32, NAN, &loss) < 0);
    CHECK(pl_trainer_step(t, ids, targets, 32, -1e-3f, &loss) < 0);
    prompt_logits(m, after);
    CHECK(max_abs_diff(before, after, V) == 0);

    /* five steps on the batch: the loss falls */
    float first = 0;
    for (int s = 0; s < 5; s++) {
        CHECKF(pl_trainer_step(t, ids, targets, 32, 1e-2f, &loss) == PL_OK, "%s", pl_last_error());
        if (!s) first = loss;
    }
    CHECKF(isfinite(first) && loss < first - 0.5f, "loss %.4f -> %.4f", first, loss);
    printf("5 trainer steps: loss %.4f -> %.4f\n", first, loss);
    pl_trainer_free(t);
    prompt_logits(m, after);
    CHECK(max_abs_diff(before, after, V) > 1e-3); /* the model changed */

    /* saved and reloaded: the trained model's logits */
    CHECK(pl_model_save(m, NULL) < 0);
    pl_clear_error();
    CHECK(pl_model_save(m, "/proc/plinth-api-test") < 0 && has_error()); /* nothing can be written there */
    CHECKF(pl_model_save(m, save_dir) == PL_OK, "%s", pl_last_error());
    pl_model *r = pl_model_load(save_dir, &(pl_model_params){.n_threads = 2});
    CHECKF(r != NULL, "%s", pl_last_error());
    if (r) {
        prompt_logits(r, before);
        double d = max_abs_diff(before, after, V);
        CHECKF(d <= 1e-5, "the reloaded model's logits differ by %.3g", d);
        CHECK(pl_tokenizer_n_vocab(pl_model_tokenizer(r)) == 256);
    }
    pl_model_free(r);
    free(before);
    free(after);
    pl_model_free(m);
}

int main(void) {
    char tmp[] = "/tmp/plinth-test-api-XXXXXX", dir[4200], ckpt[4300], save[4200], cmd[4300];
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    snprintf(dir, sizeof dir, "%s/run", tmp);
    snprintf(save, sizeof save, "%s/saved/model", tmp);
    check_null_and_missing(dir);
    if (make_model_dir(dir) && pl_train_resolve_checkpoint(dir, ckpt, sizeof ckpt) == PL_OK) {
        pl_model *m = pl_model_load(dir, &(pl_model_params){.n_threads = 2, .n_ctx = 256}); /* a training directory */
        CHECKF(m != NULL, "%s", pl_last_error());
        if (m) {
            check_decode(m, ckpt);
            check_generate(m);
        }
        pl_model_free(m);
        check_train(dir, save);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
    TEST_DONE();
}
