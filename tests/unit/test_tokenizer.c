/* Tokenizer API tests beyond the golden corpus: invalid UTF-8 handling, the buffer protocol of
 * pl_tokenize / pl_detokenize, the streaming decoder, special-token lookups and bad-input errors.
 * Uses the small trained tokenizers committed in tests/golden/tokenizers/. */
#include "plinth.h"
#include "core/common.h"
#include "test.h"

#include <string.h>

static pl_tokenizer *load(const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/golden/tokenizers/%s", test_root(), name);
    pl_tokenizer *t = pl_tokenizer_load(p);
    CHECKF(t != NULL, "%s: %s", name, pl_last_error());
    return t;
}

static void check_invalid_utf8(const pl_tokenizer *t) {
    /* Raw invalid bytes encode exactly like the text with each maximal invalid part replaced by U+FFFD. */
    const char raw[] = "ab\xff\xfe c\xe2\x82 d\xf0\x9f\x98 e\xed\xa0\x80";
    const char rep[] = "ab\xEF\xBF\xBD\xEF\xBF\xBD c\xEF\xBF\xBD d\xEF\xBF\xBD e\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD";
    int32_t a[256], b[256];
    int na = pl_tokenize(t, raw, sizeof raw - 1, a, 256, false), nb = pl_tokenize(t, rep, sizeof rep - 1, b, 256, false);
    CHECK(na > 0 && na == nb && !memcmp(a, b, (size_t)na * sizeof *a));
    /* Every single byte value and some nasty sequences: no crash, ids in range, output valid UTF-8. */
    for (int c = 0; c < 256; c++) {
        char s[3] = {'x', (char)c, 'y'};
        int n = pl_tokenize(t, s, 3, a, 256, true);
        CHECK(n > 0 && n <= 256);
        for (int i = 0; i < n; i++) CHECK(a[i] >= 0 && a[i] < pl_tokenizer_n_vocab(t));
        char out[256];
        int m = pl_detokenize(t, a, n, out, sizeof out, false);
        CHECK(m >= 0 && pl_utf8_valid(out, (size_t)m));
    }
}

static void check_buffers(const pl_tokenizer *t) {
    const char *s = "Hello world, this is a longer sentence with several tokens in it.";
    int32_t ids[128];
    int n = pl_tokenize(t, s, strlen(s), NULL, 0, false);    /* size query */
    CHECK(n > 4);
    CHECK(pl_tokenize(t, s, strlen(s), ids, 2, false) == n);  /* too small: still the full count */
    CHECK(pl_tokenize(t, s, strlen(s), ids, 128, false) == n);
    char small[8];
    int need = pl_detokenize(t, ids, n, small, sizeof small, false);
    CHECK(need == (int)strlen(s));
    CHECK(strlen(small) == sizeof small - 1 && !memcmp(small, s, sizeof small - 1));
    CHECK(pl_tokenize(t, "", 0, ids, 128, false) == 0);
    CHECK(pl_tokenize(NULL, s, 1, ids, 128, false) == PL_ERR_ARG);
    int32_t bad[2] = {1, 1 << 30};
    CHECK(pl_detokenize(t, bad, 2, small, sizeof small, false) == PL_ERR_ARG);
    CHECK(strstr(pl_last_error(), "not in the vocabulary") != NULL);
}

/* The streaming decoder emits only complete UTF-8 and adds up to the one-shot decoding. */
static void check_stream(const pl_tokenizer *t, const char *text) {
    int32_t ids[512];
    int n = pl_tokenize(t, text, strlen(text), ids, 512, false);
    CHECK(n > 0 && n <= 512);
    char whole[4096];
    int wn = pl_detokenize(t, ids, n, whole, sizeof whole, false);
    pl_detok_stream *s = pl_detok_stream_new(t, false);
    char acc[4096]; size_t an = 0;
    for (int i = 0; i < n; i++) {
        size_t len; const char *p = pl_detok_stream_step(s, ids[i], &len);
        CHECK(p != NULL);
        if (!p) break;
        CHECK(pl_utf8_valid(p, len));
        if (an + len < sizeof acc) { memcpy(acc + an, p, len); an += len; }
    }
    size_t len; const char *p = pl_detok_stream_flush(s, &len);
    if (p && an + len < sizeof acc) { memcpy(acc + an, p, len); an += len; }
    CHECKF(wn >= 0 && (size_t)wn == an && !memcmp(acc, whole, an), "stream '%.*s' vs '%s'", (int)an, acc, whole);
    pl_detok_stream_free(s);
}

/* U+FFFD that no later token can change (here: text that was invalid UTF-8) is released as it comes, not held
 * to the end; skipped special tokens add nothing; the stream still adds up to the one-shot decoding. */
static void check_stream_releases(const pl_tokenizer *t) {
    char text[400]; size_t tn = 0;
    text[tn++] = 'a';
    for (int i = 0; i < 120; i++) text[tn++] = (char)0xff;
    text[tn++] = 'b';
    int32_t ids[1024];
    int n = pl_tokenize(t, text, tn, ids, 1024, false);
    CHECK(n > 2 && n <= 1024);
    if (n <= 2 || n > 1024) return;
    char whole[8192];
    int wn = pl_detokenize(t, ids, n, whole, sizeof whole, true);
    pl_detok_stream *s = pl_detok_stream_new(t, true);
    int32_t special = pl_tokenizer_bos(t) >= 0 ? pl_tokenizer_bos(t) : pl_tokenizer_eos(t);
    char acc[8192]; size_t an = 0, at_half = 0;
    for (int i = 0; i < n && s; i++) {
        size_t len; const char *p = pl_detok_stream_step(s, ids[i], &len);
        if (p && an + len < sizeof acc) { memcpy(acc + an, p, len); an += len; }
        if (special >= 0) { p = pl_detok_stream_step(s, special, &len); CHECK(p && len == 0); }
        if (i == n / 2) at_half = an;
    }
    size_t len; const char *p = pl_detok_stream_flush(s, &len);
    if (p && an + len < sizeof acc) { memcpy(acc + an, p, len); an += len; }
    CHECKF(wn > 0 && (size_t)wn == an && !memcmp(acc, whole, an), "stream of U+FFFD differs from the one-shot decoding");
    if (n > 100) CHECKF(at_half * 3 >= (size_t)wn, "only %zu of %d bytes released half-way through", at_half, wn);
    pl_detok_stream_free(s);
}

static void check_bad_files(void) {
    CHECK(pl_tokenizer_load("/nonexistent/tokenizer.json") == NULL);
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/golden/tokenizers/spm_bpe.json", test_root());
    size_t len; char *json = pl_read_file(p, &len);
    CHECK(json != NULL);
    if (!json) return;
    /* Truncated JSON at several points: always a clean error. */
    const char *tmp = "/tmp/plinth_test_tok_trunc.json";
    for (size_t cut = 1; cut < len; cut += len / 7) {
        pl_write_file_atomic(tmp, json, cut);
        pl_tokenizer *t = pl_tokenizer_load(tmp);
        CHECK(t == NULL && pl_last_error()[0]);
        pl_tokenizer_free(t);
    }
    const char *bad[] = {
        "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -4}, \"merges\": []}}",
        "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\"]]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}",
        "[1, 2, 3]",
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(bad); i++) {
        pl_write_file_atomic(tmp, bad[i], strlen(bad[i]));
        pl_tokenizer *t = pl_tokenizer_load(tmp);
        CHECKF(t == NULL && pl_last_error()[0], "bad json %zu loaded", i);
        pl_tokenizer_free(t);
    }
    remove(tmp);
    free(json);
}

int main(void) {
    const char *names[] = {"llama3_bpe.json", "spm_bpe.json", "unigram.json"};
    const char *texts[] = {"Hello 세계! 👨‍👩‍👧 🇰🇷 naïve 東京 12345", "ㄱㄴㄷ 한국어 text\twith\ttabs   and spaces"};
    for (size_t i = 0; i < PL_ARRAY_LEN(names); i++) {
        pl_tokenizer *t = load(names[i]);
        if (!t) continue;
        check_invalid_utf8(t);
        check_buffers(t);
        for (size_t k = 0; k < PL_ARRAY_LEN(texts); k++) check_stream(t, texts[k]);
        check_stream_releases(t);
        pl_tokenizer_free(t);
    }
    pl_tokenizer *t = load("llama3_bpe.json");
    if (t) {
        int32_t bos = pl_tokenizer_token_id(t, "<|begin_of_text|>");
        CHECK(bos >= 0 && pl_tokenizer_bos(t) == bos && pl_tokenizer_is_special(t, bos));
        int32_t ids[16];
        int n = pl_tokenize(t, "<|im_start|>hi", 14, ids, 16, true);
        CHECK(n >= 3 && ids[0] == bos && ids[1] == pl_tokenizer_token_id(t, "<|im_start|>"));
        char out[64];
        pl_detokenize(t, ids, n, out, sizeof out, true);
        CHECK(!strcmp(out, "hi"));
        pl_tokenizer_free(t);
    }
    check_bad_files();
    TEST_DONE();
}
