/* Golden test: plinth's tokenizers against Hugging Face. For each fixture in tests/golden/tokenizers/
 * (made by tools/make_tokenizer_fixtures.py; gguf/ by tools/make_gguf_tokenizer_fixtures.py) encode every
 * corpus line (data/corpus/ *.txt, raw bytes, invalid UTF-8 included) and a few whole files, and require
 * HF's ids exactly and HF's decoded text exactly. */
#include "plinth.h"
#include "core/common.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <string.h>

typedef struct { char name[64]; char *data; size_t len; } corpus_file;
static corpus_file g_files[32];
static int g_nfiles;

static const corpus_file *corpus(const char *name) {
    for (int i = 0; i < g_nfiles; i++) if (!strcmp(g_files[i].name, name)) return &g_files[i];
    if (g_nfiles == 32) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/data/corpus/%s", test_root(), name);
    corpus_file *f = &g_files[g_nfiles];
    f->data = pl_read_file(path, &f->len);
    if (!f->data) return NULL;
    snprintf(f->name, sizeof f->name, "%s", name);
    g_nfiles++;
    return f;
}

/* Line `line` of the file (without its newline), or the whole file for line -1. */
static bool case_text(const corpus_file *f, int line, const char **s, size_t *n) {
    if (line < 0) { *s = f->data; *n = f->len; return true; }
    const char *p = f->data, *end = f->data + f->len;
    for (int i = 0; i < line; i++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (!p) return false;
        p++;
    }
    const char *e = memchr(p, '\n', (size_t)(end - p));
    *s = p; *n = (size_t)((e ? e : end) - p);
    return true;
}

/* Python's bytes.decode("utf-8", "replace"), for cases whose decoded text equals the input. */
static char *lossy(const char *s, size_t n, size_t *out_n) {
    char *o = malloc(n * 3 + 1); size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t l = 1;
        unsigned char c = (unsigned char)s[i];
        int need = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        if (need == 1) { o[k++] = s[i++]; continue; }
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
        while (need && l < (size_t)need && i + l < n && (unsigned char)s[i + l] >= lo && (unsigned char)s[i + l] <= hi) { l++; lo = 0x80; hi = 0xBF; }
        if (need && l == (size_t)need) { memcpy(o + k, s + i, l); k += l; }
        else { memcpy(o + k, "\xEF\xBF\xBD", 3); k += 3; }
        i += l;
    }
    o[k] = 0; *out_n = k;
    return o;
}

/* Runs fixture `name`; `model_override`, when set, replaces the fixture's model path (same expected ids, another file). */
static void run_fixture(const char *name, const char *model_override) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/tokenizers/%s.fixture.json", test_root(), name);
    size_t len; char *json = pl_read_file(path, &len);
    CHECKF(json != NULL, "%s: %s", name, pl_last_error());
    if (!json) return;
    cJSON *root = cJSON_ParseWithLength(json, len);
    free(json);
    CHECK(root != NULL);
    if (!root) return;
    const char *model = model_override ? model_override : cJSON_GetObjectItem(root, "model")->valuestring;
    snprintf(path, sizeof path, "%s/%s", test_root(), model);
    pl_tokenizer *tok = pl_tokenizer_load(path);
    CHECKF(tok != NULL, "%s: %s", name, pl_last_error());
    if (!tok) { cJSON_Delete(root); return; }
    int total = 0, ok_ids = 0, ok_dec = 0, shown = 0, step = test_fast() ? 9 : 1, k = 0;
    int cap = 1 << 16;
    int32_t *ids = malloc((size_t)cap * sizeof *ids), *want = malloc((size_t)cap * sizeof *want);
    char *dec = malloc(1 << 20);
    for (const cJSON *c = cJSON_GetObjectItem(root, "cases")->child; c; c = c->next, k++) {
        if (k % step) continue;
        const char *file = cJSON_GetArrayItem(c, 0)->valuestring;
        int line = cJSON_GetArrayItem(c, 1)->valueint;
        const char *idstr = cJSON_GetArrayItem(c, 2)->valuestring;
        const cJSON *jdec = cJSON_GetArrayItem(c, 3);
        const corpus_file *f = corpus(file);
        const char *s; size_t n;
        if (!f || !case_text(f, line, &s, &n)) { CHECKF(0, "%s: corpus %s line %d missing", name, file, line); continue; }
        int nw = 0;
        for (char *p = (char *)idstr, *e; *p && nw < cap; p = e) { want[nw++] = (int32_t)strtol(p, &e, 10); if (e == p) break; }
        total++;
        int got = pl_tokenize(tok, s, n, ids, cap, true);
        bool same = got == nw && !memcmp(ids, want, (size_t)nw * sizeof *ids);
        ok_ids += same;
        if (!same && shown++ < 5) {
            fprintf(stderr, "%s: %s:%d ids differ (got %d, want %d)\n  got: ", name, file, line, got, nw);
            for (int i = 0; i < got && i < 40; i++) fprintf(stderr, "%d ", ids[i]);
            fprintf(stderr, "\n  want: %.300s\n", idstr);
        }
        /* Decode HF's ids: the decoder is checked even where encoding differs. */
        int dn = pl_detokenize(tok, want, nw, dec, 1 << 20, false);
        size_t wn; char *w;
        if (cJSON_IsString(jdec)) { w = strdup(jdec->valuestring); wn = strlen(w); }
        else w = lossy(s, n, &wn);
        bool dsame = dn >= 0 && (size_t)dn == wn && !memcmp(dec, w, wn);
        ok_dec += dsame;
        if (!dsame && shown++ < 5) fprintf(stderr, "%s: %s:%d decode differs\n  got:  %.200s\n  want: %.200s\n", name, file, line, dn >= 0 ? dec : "(error)", w);
        free(w);
    }
    printf("%s%s%s: %d/%d lines match (ids), %d/%d decode match\n", name, model_override ? " via " : "",
           model_override ? model_override : "", ok_ids, total, ok_dec, total);
    CHECKF(total > 0 && ok_ids == total, "%s: %d of %d cases differ in ids", name, total - ok_ids, total);
    CHECKF(ok_dec == total, "%s: %d of %d cases differ in decoded text", name, total - ok_dec, total);
    free(ids); free(want); free(dec);
    pl_tokenizer_free(tok);
    cJSON_Delete(root);
}

int main(void) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "bash '%s/scripts/fetch-models.sh' >/dev/null", test_root());
    CHECKF(system(cmd) == 0, "scripts/fetch-models.sh failed");
    /* gguf/: vocabulary-only GGUF files from tools/make_gguf_tokenizer_fixtures.py. spm_llama ("llama":
     * scores, no merges) has its own expected ids (transformers reading that GGUF); minilm_bert ("bert",
     * llama.cpp's phantom-space spelling) must tokenize exactly as MiniLM's tokenizer.json does. */
    const struct { const char *fixture, *model; } runs[] = {
        {"minilm", NULL}, {"smollm2", NULL}, {"llama3_bpe", NULL}, {"spm_bpe", NULL}, {"unigram", NULL},
        {"gguf/spm_llama", NULL}, {"minilm", "tests/golden/tokenizers/gguf/minilm_bert.gguf"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) run_fixture(runs[i].fixture, runs[i].model);
    for (int i = 0; i < g_nfiles; i++) free(g_files[i].data);
    TEST_DONE();
}
