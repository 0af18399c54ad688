/* pl_tokenizer_save_hf: every tokenizer the golden tests load (tokenizer.json fixtures, GGUF vocabularies,
 * SmolLM2's GGUF and MiniLM's directory when models/ is fetched) is saved as HF files, loaded back, and
 * must give the same ids and the same decoded text on every line and whole file of data/corpus; the saved
 * tokenizer_config.json must name the same BOS/EOS and chat template, and saving the reloaded tokenizer
 * must write the same bytes. Bad directories fail cleanly. Two modes serve tools/check_tokenizer_save.py:
 *   test_tokenizer_save --save MODEL DIR      write MODEL's tokenizer into DIR
 *   test_tokenizer_save --encode MODEL FILE [--whole]   per line of FILE (or the whole file as one text):
 *                                             plinth's ids, a tab, their decoding in hex */
#include "plinth.h"
#include "core/common.h"
#include "io/gguf.h"
#include "io/hfconfig.h"
#include "tokenizer/tokenizer.h"   /* model_max_length, which the public API does not expose */
#include "test.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct { char *data; size_t len; } text;
static text g_cases[4096];
static int g_ncases;

/* Every line of every data/corpus/ *.txt (raw bytes, invalid UTF-8 included) and each whole file. */
static void load_corpus(void) {
    char dir[1024], path[1400];
    snprintf(dir, sizeof dir, "%s/data/corpus", test_root());
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "no corpus at %s", dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".txt")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len; char *f = pl_read_file(path, &len);
        if (!f) continue;
        for (size_t i = 0; i < len && g_ncases < 4095;) {
            const char *nlp = memchr(f + i, '\n', len - i);
            size_t n = nlp ? (size_t)(nlp - (f + i)) : len - i;
            char *s = malloc(n + 1);
            memcpy(s, f + i, n); s[n] = 0;
            g_cases[g_ncases++] = (text){s, n};
            i += n + 1;
        }
        g_cases[g_ncases++] = (text){f, len};
    }
    closedir(d);
}

static bool exists(const char *path) { struct stat st; return stat(path, &st) == 0; }

static char *in_dir(const char *dir, const char *name) {
    static char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void rm_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    char p[1200];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0) rm_dir(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Same ids (special tokens added) and the same decoding of them (special tokens kept, then skipped) on every case. */
static void compare(const char *name, const pl_tokenizer *a, const pl_tokenizer *b) {
    int cap = 1 << 16, ok = 0, ok_dec = 0, shown = 0, total = 0, step = test_fast() ? 9 : 1;
    int32_t *ia = malloc((size_t)cap * sizeof *ia), *ib = malloc((size_t)cap * sizeof *ib);
    char *da = malloc(1 << 20), *db = malloc(1 << 20);
    for (int c = 0; c < g_ncases; c += step) {
        bool same, dsame = true;
        total++;
        int na = pl_tokenize(a, g_cases[c].data, g_cases[c].len, ia, cap, true);
        int nb = pl_tokenize(b, g_cases[c].data, g_cases[c].len, ib, cap, true);
        same = na >= 0 && na == nb && na <= cap && !memcmp(ia, ib, (size_t)na * sizeof *ia);
        for (int skip = 0; skip < 2 && na >= 0 && na <= cap; skip++) {
            int la = pl_detokenize(a, ia, na, da, 1 << 20, skip), lb = pl_detokenize(b, ia, na, db, 1 << 20, skip);
            dsame = dsame && la >= 0 && la == lb && !memcmp(da, db, (size_t)la);
        }
        ok += same; ok_dec += dsame;
        if ((!same || !dsame) && shown++ < 3)
            fprintf(stderr, "%s: case %d differs (%s): %.120s\n", name, c, same ? "decoding" : "ids", g_cases[c].data);
    }
    printf("%s: %d/%d cases same ids, %d/%d same decoding\n", name, ok, total, ok_dec, total);
    CHECKF(total > 0 && ok == total, "%s: %d cases differ in ids", name, total - ok);
    CHECKF(ok_dec == total, "%s: %d cases differ in decoding", name, total - ok_dec);
    free(ia); free(ib); free(da); free(db);
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* tokenizer_config.json names the original's BOS/EOS (when it has them) and carries `tmpl`. */
static void check_config(const char *name, const pl_tokenizer *orig, const char *dir, const char *tmpl) {
    size_t len; char *s = pl_read_file(in_dir(dir, "tokenizer_config.json"), &len);
    cJSON *root = s ? cJSON_ParseWithLength(s, len) : NULL;
    free(s);
    CHECKF(cJSON_IsObject(root), "%s: tokenizer_config.json unreadable", name);
    if (!root) return;
    const struct { const char *key; int32_t id; } roles[] = {{"bos_token", pl_tokenizer_bos(orig)}, {"eos_token", pl_tokenizer_eos(orig)}};
    for (int i = 0; i < 2; i++) {
        const char *want = pl_tokenizer_token_str(orig, roles[i].id, NULL), *got = jstr(root, roles[i].key);
        CHECKF(want ? got && !strcmp(got, want) : !got, "%s: %s is '%s', want '%s'", name, roles[i].key,
               got ? got : "(none)", want ? want : "(none)");
    }
    const char *t = jstr(root, "chat_template");
    CHECKF(tmpl ? t && !strcmp(t, tmpl) : !t, "%s: chat_template differs", name);
    CHECK(jstr(root, "tokenizer_class") && !strcmp(jstr(root, "tokenizer_class"), "PreTrainedTokenizerFast"));
    const cJSON *mml = cJSON_GetObjectItemCaseSensitive(root, "model_max_length");
    CHECKF(orig->model_max_length > 0 ? cJSON_IsNumber(mml) && mml->valuedouble == (double)orig->model_max_length : !mml,
           "%s: model_max_length", name);
    /* and plinth's own reader of the file sees it too */
    pl_hf_tokenizer_config tc;
    CHECK(pl_hf_tokenizer_config_load(dir, &tc) == PL_OK);
    CHECKF(tmpl ? tc.chat_template && !strcmp(tc.chat_template, tmpl) : !tc.chat_template, "%s: chat template via hfconfig", name);
    pl_hf_tokenizer_config_free(&tc);
    cJSON_Delete(root);
}

/* JSON equality with numbers compared exactly; object members in any order (found at the same position
 * first: cJSON_Compare's lookups make a 30,000-entry vocabulary quadratic). */
static bool json_same(const cJSON *a, const cJSON *b) {
    if (!a || !b || (a->type & 0xFF) != (b->type & 0xFF)) return false;
    if (cJSON_IsString(a)) return !strcmp(a->valuestring, b->valuestring);
    if (cJSON_IsNumber(a)) return a->valuedouble == b->valuedouble;
    if (!cJSON_IsArray(a) && !cJSON_IsObject(a)) return true;   /* true, false, null */
    if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return false;
    const cJSON *y = b->child;
    for (const cJSON *x = a->child; x; x = x->next, y = y ? y->next : NULL) {
        const cJSON *m = y;
        if (cJSON_IsObject(a) && !(y && !strcmp(x->string, y->string))) m = cJSON_GetObjectItemCaseSensitive(b, x->string);
        if (!json_same(x, m)) return false;
    }
    return true;
}

/* A tokenizer.json input comes back with the same `keys` (space-separated top-level parts), as JSON values. */
static void check_same_parts(const char *name, const char *orig_json, const char *dir, const char *keys) {
    size_t n1, n2;
    char *a = pl_read_file(orig_json, &n1), *b = pl_read_file(in_dir(dir, "tokenizer.json"), &n2);
    cJSON *ja = a ? cJSON_ParseWithLength(a, n1) : NULL, *jb = b ? cJSON_ParseWithLength(b, n2) : NULL;
    CHECKF(ja && jb, "%s: tokenizer.json unreadable", name);
    char key[64];
    for (const char *k = keys; ja && jb && *k;) {
        size_t l = strcspn(k, " ");
        snprintf(key, sizeof key, "%.*s", (int)l, k);
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(ja, key), *y = cJSON_GetObjectItemCaseSensitive(jb, key);
        CHECKF(json_same(x, y), "%s: saved '%s' differs from the original's", name, key);
        k += l + (k[l] == ' ');
    }
    cJSON_Delete(ja); cJSON_Delete(jb); free(a); free(b);
}

static void run(const char *name, const char *model, const char *tmpl) {
    char path[1024];
    if (model[0] == '/') snprintf(path, sizeof path, "%s", model);
    else snprintf(path, sizeof path, "%s/%s", test_root(), model);
    pl_tokenizer *orig = pl_tokenizer_load(path);
    CHECKF(orig != NULL, "%s: %s", name, pl_last_error());
    if (!orig) return;
    char dir[] = "/tmp/plinth_toksave_XXXXXX", dir2[] = "/tmp/plinth_toksave_XXXXXX";
    CHECK(mkdtemp(dir) && mkdtemp(dir2));
    int rc = pl_tokenizer_save_hf(orig, dir);
    CHECKF(rc == PL_OK, "%s: save: %s", name, pl_last_error());
    pl_tokenizer *back = rc ? NULL : pl_tokenizer_load(dir);
    CHECKF(rc || back, "%s: reload: %s", name, pl_last_error());
    if (back) {
        CHECK(pl_tokenizer_n_vocab(back) == pl_tokenizer_n_vocab(orig));
        CHECKF(pl_tokenizer_bos(back) == pl_tokenizer_bos(orig) && pl_tokenizer_eos(back) == pl_tokenizer_eos(orig),
               "%s: bos/eos %d/%d, want %d/%d", name, pl_tokenizer_bos(back), pl_tokenizer_eos(back),
               pl_tokenizer_bos(orig), pl_tokenizer_eos(orig));
        for (int32_t id = 0; id < pl_tokenizer_n_vocab(orig); id++)
            if (pl_tokenizer_is_special(orig, id) != pl_tokenizer_is_special(back, id)) {
                CHECKF(0, "%s: id %d special flag differs", name, id);
                break;
            }
        compare(name, orig, back);
        check_config(name, orig, dir, tmpl);
        /* tokenizer.json inputs (the fixtures: written by HF tokenizers) come back part for part, scores
         * bit for bit; MiniLM's BertNormalizer has strip_accents null, written explicitly (true) */
        size_t ml = strlen(model);
        if (ml > 5 && !strcmp(model + ml - 5, ".json"))
            check_same_parts(name, path, dir, "added_tokens normalizer pre_tokenizer decoder model");
        else if (!strstr(model, ".gguf")) {
            char orig_json[1100];
            snprintf(orig_json, sizeof orig_json, "%s/tokenizer.json", path);
            check_same_parts(name, orig_json, dir, "added_tokens pre_tokenizer post_processor decoder model");
        }
        /* a fixed point: the reloaded tokenizer writes the same files */
        CHECK(pl_tokenizer_save_hf(back, dir2) == PL_OK);
        const char *files[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"};
        for (int i = 0; i < 3; i++) {
            size_t n1 = 0, n2 = 0;
            char *a = pl_read_file(in_dir(dir, files[i]), &n1), *b = pl_read_file(in_dir(dir2, files[i]), &n2);
            CHECKF(a && b && n1 == n2 && !memcmp(a, b, n1), "%s: %s differs when saved again", name, files[i]);
            free(a); free(b);
        }
        pl_tokenizer_free(back);
    }
    rm_dir(dir); rm_dir(dir2);
    pl_tokenizer_free(orig);
}

static char *gguf_template(const char *model) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", test_root(), model);
    pl_gguf *g = pl_gguf_open(path);
    if (!g) return NULL;
    const char *t = pl_gguf_get_str(g, "tokenizer.chat_template", NULL);
    char *r = t ? strdup(t) : NULL;
    pl_gguf_close(g);
    return r;
}

/* A GGUF "gpt2" vocabulary with tokenizer.ggml.pre = "llama3" (Split regex + ByteLevel, ignore_merges),
 * made here from llama3_bpe.json as llama.cpp's converter lays it out, with a chat template and a context
 * length: the GGUF path that no committed fixture takes. It must first encode as llama3_bpe.json does. */
static bool make_llama3_gguf(const char *out, const char *tmpl) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/tokenizers/llama3_bpe.json", test_root());
    size_t len; char *s = pl_read_file(path, &len);
    cJSON *root = s ? cJSON_ParseWithLength(s, len) : NULL;
    free(s);
    const cJSON *model = cJSON_GetObjectItem(root, "model"), *vocab = cJSON_GetObjectItem(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItem(model, "merges");
    int n = cJSON_GetArraySize(vocab), nm = cJSON_GetArraySize(merges);
    const char **toks = calloc((size_t)n, sizeof *toks);
    char **mstr = calloc((size_t)nm, sizeof *mstr);
    int32_t *types = calloc((size_t)n, sizeof *types);
    for (const cJSON *e = vocab ? vocab->child : NULL; e; e = e->next)
        if (e->valueint >= 0 && e->valueint < n) toks[e->valueint] = e->string;
    for (int i = 0; i < n; i++) types[i] = 1;   /* normal; the added (special) tokens are control tokens */
    for (const cJSON *e = cJSON_GetObjectItem(root, "added_tokens")->child; e; e = e->next) {
        int id = cJSON_GetObjectItem(e, "id")->valueint;
        if (id >= 0 && id < n) types[id] = 3;
    }
    int k = 0;
    for (const cJSON *e = merges ? merges->child : NULL; e; e = e->next, k++) {
        const char *a = cJSON_GetArrayItem(e, 0)->valuestring, *b = cJSON_GetArrayItem(e, 1)->valuestring;
        mstr[k] = malloc(strlen(a) + strlen(b) + 2);
        sprintf(mstr[k], "%s %s", a, b);
    }
    pl_gguf_writer *w = pl_gguf_writer_new();
    int rc = !w || !n || !nm;
    for (int i = 0; i < n; i++) rc |= !toks[i];
    if (!rc) {
        rc |= pl_gguf_writer_set_str(w, "general.architecture", "llama");
        rc |= pl_gguf_writer_set_u32(w, "llama.context_length", 4096);
        rc |= pl_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
        rc |= pl_gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama3");
        rc |= pl_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, n);
        rc |= pl_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", PL_GGUF_I32, types, n);
        rc |= pl_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)mstr, NULL, nm);
        rc |= pl_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 0);   /* <|begin_of_text|> */
        rc |= pl_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 1);   /* <|end_of_text|> */
        rc |= pl_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
        rc |= pl_gguf_writer_set_str(w, "tokenizer.chat_template", tmpl);
        rc |= pl_gguf_writer_write_file(w, out);
    }
    pl_gguf_writer_free(w);
    for (int i = 0; i < nm; i++) free(mstr[i]);
    free(mstr); free(toks); free(types);
    cJSON_Delete(root);
    CHECKF(rc == 0, "could not write %s: %s", out, pl_last_error());
    return rc == 0;
}

/* An unusable directory: a clear error, and no file of this call (nor a temporary) left behind. */
static void bad_dirs(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/tokenizers/unigram.json", test_root());
    pl_tokenizer *tok = pl_tokenizer_load(path);
    CHECK(tok != NULL);
    if (!tok) return;
    CHECK(pl_tokenizer_save_hf(tok, "/nonexistent/plinth") == PL_ERR_IO && strstr(pl_last_error(), "/nonexistent/plinth"));
    CHECK(pl_tokenizer_save_hf(tok, path) == PL_ERR_IO && strstr(pl_last_error(), "not an existing directory"));
    CHECK(pl_tokenizer_save_hf(NULL, "/tmp") == PL_ERR_ARG && pl_tokenizer_save_hf(tok, NULL) == PL_ERR_ARG);
    if (exists("/proc/self")) {   /* a directory where not even root can create a file */
        CHECK(pl_tokenizer_save_hf(tok, "/proc") == PL_ERR_IO && strstr(pl_last_error(), "/proc/tokenizer.json"));
        printf("unwritable directory: %s\n", pl_last_error());
    }
    /* the second file cannot be written (a directory holds its name): the first is removed again */
    char dir[] = "/tmp/plinth_toksave_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char block[1200];
    snprintf(block, sizeof block, "%s/tokenizer_config.json", dir);
    CHECK(mkdir(block, 0755) == 0);
    CHECK(pl_tokenizer_save_hf(tok, dir) == PL_ERR_IO && strstr(pl_last_error(), "tokenizer_config.json"));
    printf("blocked save: %s\n", pl_last_error());
    int left = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) left += e->d_name[0] != '.';
    if (d) closedir(d);
    CHECKF(left == 1 && !exists(in_dir(dir, "tokenizer.json")), "%d entries left in %s", left, dir);
    rmdir(block);
    if (geteuid() != 0) {   /* root writes anywhere: permissions can only be tested as a user */
        CHECK(chmod(dir, 0555) == 0);
        CHECK(pl_tokenizer_save_hf(tok, dir) == PL_ERR_IO && strstr(pl_last_error(), "tokenizer.json"));
        chmod(dir, 0755);
    }
    rm_dir(dir);
    pl_tokenizer_free(tok);
}

static int mode_encode(const char *model, const char *file, bool whole) {
    pl_tokenizer *tok = pl_tokenizer_load(model);
    size_t len; char *f = tok ? pl_read_file(file, &len) : NULL;
    if (!f) { fprintf(stderr, "%s\n", pl_last_error()); pl_tokenizer_free(tok); return 1; }
    int cap = 1 << 16;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    char *dec = malloc(1 << 20);
    for (size_t i = 0; i < len;) {
        const char *nl = whole ? NULL : memchr(f + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (f + i)) : len - i;
        int k = pl_tokenize(tok, f + i, n, ids, cap, true);
        int dn = k >= 0 && k <= cap ? pl_detokenize(tok, ids, k, dec, 1 << 20, false) : -1;
        for (int j = 0; j < k && j < cap; j++) printf(j ? " %d" : "%d", ids[j]);
        putchar('\t');
        for (int j = 0; j < dn; j++) printf("%02x", (unsigned char)dec[j]);
        putchar('\n');
        i += n + 1;
    }
    free(ids); free(dec); free(f);
    pl_tokenizer_free(tok);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--save")) {
        pl_tokenizer *tok = pl_tokenizer_load(argv[2]);
        int rc = tok ? pl_tokenizer_save_hf(tok, argv[3]) : -1;
        if (rc) fprintf(stderr, "%s\n", pl_last_error());
        pl_tokenizer_free(tok);
        return rc ? 1 : 0;
    }
    if ((argc == 4 || (argc == 5 && !strcmp(argv[4], "--whole"))) && !strcmp(argv[1], "--encode"))
        return mode_encode(argv[2], argv[3], argc == 5);

    load_corpus();
    run("llama3_bpe", "tests/golden/tokenizers/llama3_bpe.json", NULL);
    run("spm_bpe", "tests/golden/tokenizers/spm_bpe.json", NULL);
    run("unigram", "tests/golden/tokenizers/unigram.json", NULL);
    run("gguf/spm_llama", "tests/golden/tokenizers/gguf/spm_llama.gguf", NULL);
    run("gguf/minilm_bert", "tests/golden/tokenizers/gguf/minilm_bert.gguf", NULL);
    const char *smol = "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", *minilm = "models/all-minilm-l6-v2";
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", test_root(), smol);
    if (exists(path)) {
        char *tmpl = gguf_template(smol);
        CHECK(tmpl != NULL);
        run("smollm2 (gguf)", smol, tmpl);
        free(tmpl);
    } else printf("note: %s not fetched (bash scripts/fetch-models.sh): skipped\n", smol);
    snprintf(path, sizeof path, "%s/%s/tokenizer.json", test_root(), minilm);
    if (exists(path)) run("minilm (dir)", minilm, NULL);
    else printf("note: %s not fetched (bash scripts/fetch-models.sh): skipped\n", minilm);
    char gdir[] = "/tmp/plinth_toksave_XXXXXX";
    CHECK(mkdtemp(gdir) != NULL);
    const char *tmpl = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}";
    char *gpath = strdup(in_dir(gdir, "llama3.gguf"));
    if (make_llama3_gguf(gpath, tmpl)) {
        snprintf(path, sizeof path, "%s/tests/golden/tokenizers/llama3_bpe.json", test_root());
        pl_tokenizer *a = pl_tokenizer_load(path), *b = pl_tokenizer_load(gpath);
        CHECKF(a && b, "%s", pl_last_error());
        if (a && b) compare("llama3 gguf vs llama3_bpe.json", a, b);
        pl_tokenizer_free(a); pl_tokenizer_free(b);
        b = pl_tokenizer_load(gpath);
        CHECK(b && b->model_max_length == 4096 && b->chat_template && !strcmp(b->chat_template, tmpl));
        pl_tokenizer_free(b);
        run("gguf/llama3 (written here)", gpath, tmpl);
    }
    free(gpath);
    rm_dir(gdir);
    bad_dirs();
    for (int i = 0; i < g_ncases; i++) free(g_cases[i].data);
    TEST_DONE();
}
