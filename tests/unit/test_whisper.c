/* Whisper against transformers (tests/golden/whisper, made by tools/make_whisper_fixtures.py): a tiny random
 * WhisperForConditionalGeneration, from its safetensors and from CTranslate2's model.bin of it: the encoder output on
 * real log-mel frames, the decoder's logits for a prompt (all at
 * once, and one token at a time through the KV cache) and 12 greedy tokens; the real tiny.en in CTranslate2's
 * layout when models/whisper-tiny-en is fetched (its shapes). Bad models: missing, not Whisper, a truncated
 * model.bin, a tensor of the wrong shape -> clear errors. */
#include "io/ct2.h"
#include "models/whisper.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <unistd.h>

#define TOL 1e-4

static float *read_floats(const char *path, size_t *n) {
    size_t len;
    char *d = pl_read_file(path, &len);
    *n = d ? len / sizeof(float) : 0;
    return (float *)d;
}
static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) { double e = fabs((double)a[i] - b[i]); if (!(e <= d)) d = e; }
    return d;
}
static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

/* sub: "tiny" (HF safetensors) or "tiny_ct2" (the same weights in CTranslate2's model.bin, by its converter) */
static void test_golden(const char *sub) {
    char p[1200], dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/golden/whisper", test_root());
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    printf("%s:\n", sub);
    CHECK(pl_whisper_path_ok(p));
    pl_whisper *w = pl_whisper_load(p, 2, 1);
    CHECKF(w != NULL, "%s", pl_last_error());
    if (!w) return;
    CHECK(w->from_ct2 == (strstr(sub, "ct2") != NULL));
    const pl_whisper_hparams *h = &w->hp;
    CHECK(h->n_mels == 80 && h->n_audio_ctx == 64 && h->n_audio_state == 32 && h->n_audio_head == 2 &&
          h->n_audio_layer == 2 && h->n_text_layer == 2 && h->n_vocab == 256 && h->n_text_ctx == 32);
    size_t n_in, n_enc, n_lg;
    snprintf(p, sizeof p, "%s/tiny_input.f32", dir);
    float *in = read_floats(p, &n_in);
    snprintf(p, sizeof p, "%s/tiny_encoder.f32", dir);
    float *enc_ref = read_floats(p, &n_enc);
    snprintf(p, sizeof p, "%s/tiny_logits.f32", dir);
    float *lg_ref = read_floats(p, &n_lg);
    snprintf(p, sizeof p, "%s/expected.json", dir);
    char *js = pl_read_file(p, NULL);
    cJSON *exp = js ? cJSON_Parse(js) : NULL;
    free(js);
    CHECK(in && n_in == 80 * 128 && enc_ref && n_enc == 32 * 64 && exp && lg_ref);
    if (!(in && n_in == 80 * 128 && enc_ref && n_enc == 32 * 64 && exp && lg_ref)) goto done;
    float enc[32 * 64];
    CHECK(pl_whisper_decode(w, 1, (int32_t[]){1}, (int32_t[]){0}, NULL, NULL) != PL_OK); /* no audio yet */
    CHECKF(pl_whisper_encode(w, in, enc) == PL_OK, "%s", pl_last_error());
    double de = max_diff(enc, enc_ref, n_enc);
    printf("encoder output: max |diff| %.3g\n", de);
    CHECK(de < TOL);
    cJSON *pr = cJSON_GetObjectItem(exp, "prompt"), *gr = cJSON_GetObjectItem(exp, "greedy");
    int np = cJSON_GetArraySize(pr), ng = cJSON_GetArraySize(gr), V = h->n_vocab;
    CHECK((int)n_lg == np * V);
    int32_t toks[64];
    for (int i = 0; i < np; i++) toks[i] = cJSON_GetArrayItem(pr, i)->valueint;
    float *lg = malloc(sizeof(float) * (size_t)np * V);
    CHECKF(pl_whisper_eval(w, toks, np, 0, lg, true) == PL_OK, "%s", pl_last_error());
    double dl = max_diff(lg, lg_ref, (size_t)np * V);
    printf("decoder logits (prompt at once): max |diff| %.3g\n", dl);
    CHECK(dl < TOL);
    double ds = 0; /* one token at a time through the cache */
    for (int i = 0; i < np; i++) {
        CHECK(pl_whisper_eval(w, toks + i, 1, i, lg, false) == PL_OK);
        ds = fmax(ds, max_diff(lg, lg_ref + (size_t)i * V, V));
    }
    printf("decoder logits (token by token): max |diff| %.3g\n", ds);
    CHECK(ds < TOL);
    int n = np, same = 0;
    for (int i = 0; i < ng; i++) {
        int t = argmax(lg, V);
        same += t == cJSON_GetArrayItem(gr, i)->valueint;
        toks[n] = t;
        CHECK(pl_whisper_eval(w, toks + n, 1, n, lg, false) == PL_OK);
        n++;
    }
    CHECKF(same == ng, "greedy: %d of %d tokens as transformers'", same, ng);
    /* a second window: encoding again clears the text (a fresh sequence) and gives the same logits */
    CHECK(pl_whisper_encode(w, in, NULL) == PL_OK);
    CHECK(pl_whisper_eval(w, toks, np, 0, lg, true) == PL_OK);
    CHECK(max_diff(lg, lg_ref, (size_t)np * V) < TOL);
    /* past the decoder's 32 positions: an error, not a write past the cache */
    int32_t many[40] = {0};
    CHECK(pl_whisper_eval(w, many, 40, 0, NULL, false) != PL_OK);
    CHECK(strstr(pl_last_error(), "positions") != NULL);
    CHECK(pl_whisper_eval(w, (int32_t[]){256}, 1, 0, lg, false) != PL_OK); /* outside the vocabulary */
    free(lg);
done:
    free(in); free(enc_ref); free(lg_ref); cJSON_Delete(exp);
    pl_whisper_free(w);
}

static void test_bad(void) {
    CHECK(pl_whisper_load("/nonexistent/model", 1, 1) == NULL);
    char p[2048], d[300];
    snprintf(d, sizeof d, "/tmp/pl_whisper_%d", (int)getpid());
    snprintf(p, sizeof p, "mkdir -p %s", d);
    if (system(p)) return;
    snprintf(p, sizeof p, "%s/model.bin", d); /* a truncated model.bin */
    FILE *f = fopen(p, "wb");
    static const char hdr[] = "\x06\x00\x00\x00\x0c\x00" "WhisperSpec\x00\x03\x00\x00\x00\x05\x00\x00\x00\x04\x00" "ab";
    fwrite(hdr, 1, sizeof hdr - 1, f); /* version 6, the spec's name, revision 3, 5 variables, then a cut name */
    fclose(f);
    CHECK(pl_whisper_load(d, 1, 1) == NULL);
    CHECKF(strstr(pl_last_error(), "model.bin") != NULL, "%s", pl_last_error());
    CHECK(!pl_whisper_path_ok(d));
    /* the tiny HF model with one tensor's shape changed in config.json is caught by the shape check */
    snprintf(p, sizeof p, "%s/model.bin", d);
    unlink(p);
    snprintf(p, sizeof p, "cp %s/tests/golden/whisper/tiny/model.safetensors %s/ && sed 's/\"encoder_ffn_dim\": 64/"
             "\"encoder_ffn_dim\": 65/' %s/tests/golden/whisper/tiny/config.json > %s/config.json", test_root(), d,
             test_root(), d);
    if (system(p)) return;
    CHECK(pl_whisper_load(d, 1, 1) == NULL);
    CHECKF(strstr(pl_last_error(), "fc1.weight") != NULL && strstr(pl_last_error(), "expected") != NULL, "%s", pl_last_error());
    snprintf(p, sizeof p, "sed 's/\"model_type\": \"whisper\"/\"model_type\": \"llama\"/' %s/tests/golden/whisper/tiny/config.json > %s/config.json",
             test_root(), d);
    if (system(p)) return;
    CHECK(pl_whisper_load(d, 1, 1) == NULL);
    CHECKF(strstr(pl_last_error(), "not whisper") != NULL, "%s", pl_last_error());
    /* model.bin cut short anywhere inside its variables: refused, never read past the end (ASan watches) */
    snprintf(p, sizeof p, "%s/tests/golden/whisper/tiny_ct2/model.bin", test_root());
    size_t len;
    char *bin = pl_read_file(p, &len);
    CHECK(bin != NULL);
    int refused = 0, cuts = 0;
    for (size_t cut = 0; bin && cut < len * 9 / 10; cut += 1 + cut / 7) {
        snprintf(p, sizeof p, "%s/cut.bin", d);
        f = fopen(p, "wb");
        fwrite(bin, 1, cut, f);
        fclose(f);
        pl_ct2 *m = pl_ct2_open(p);
        refused += m == NULL;
        cuts++;
        pl_ct2_close(m);
    }
    CHECKF(refused == cuts, "%d of %d truncated model.bin files refused", refused, cuts);
    free(bin);
    snprintf(p, sizeof p, "rm -rf %s", d);
    if (system(p)) return;
}

/* The real tiny.en (CTranslate2, f16) when fetched: hyper-parameters read from the file */
static void test_tiny_en(void) {
    char p[1024];
    snprintf(p, sizeof p, "%s/models/whisper-tiny-en", test_root());
    if (access(p, F_OK) != 0) { printf("models/whisper-tiny-en absent (scripts/fetch-models.sh whisper-tiny-en): skipped\n"); return; }
    pl_whisper *w = pl_whisper_load(p, 2, 1);
    CHECKF(w != NULL, "%s", pl_last_error());
    if (!w) return;
    const pl_whisper_hparams *h = &w->hp;
    CHECK(w->from_ct2 && h->n_mels == 80 && h->n_audio_ctx == 1500 && h->n_audio_state == 384 && h->n_audio_head == 6 &&
          h->n_audio_layer == 4 && h->n_text_layer == 4 && h->n_text_head == 6 && h->n_vocab == 51864 && h->n_text_ctx == 448);
    pl_whisper_free(w);
}

int main(void) {
    test_golden("tiny");
    test_golden("tiny_ct2");
    test_bad();
    test_tiny_en();
    TEST_DONE();
}
