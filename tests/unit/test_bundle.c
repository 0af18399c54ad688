/* The model bundle (tasks/bundle.c): which paths it takes (a GGUF file, the one GGUF in a directory, an HF
 * directory with config.json; not a plinth-train checkpoint directory; an error for a missing path), the chat
 * template of a model (none, a recognized one with its end of turn and the generation options that follow, an
 * unrecognized one as a failure), and clean refusals (a model without a tokenizer). */
#include "tasks/bundle.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_tmp[256];

static void write_file(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) { fputs(text, f); fclose(f); }
}

static char *subdir(const char *name) {
    static char p[4][512];
    static int k;
    char *d = p[k++ % 4];
    snprintf(d, 512, "%s/%s", g_tmp, name);
    mkdir(d, 0700);
    return d;
}

static void check_resolve(const char *gguf) {
    char *mp = NULL;
    CHECK(pl_bundle_resolve(gguf, &mp) == 1 && mp && !strcmp(mp, gguf));
    free(mp);
    char hf[512];
    snprintf(hf, sizeof hf, "%s/tests/golden/lm/llama", test_root());
    CHECK(pl_bundle_resolve(hf, &mp) == 1 && mp && !strcmp(mp, hf)); /* config.json + safetensors */
    free(mp);
    char *one = subdir("one_gguf"), link[600];
    snprintf(link, sizeof link, "%s/m.gguf", one);
    CHECK(symlink(gguf, link) == 0);
    CHECK(pl_bundle_resolve(one, &mp) == 1 && mp && !strcmp(mp, link));
    free(mp);
    char *ck = subdir("train_run"); /* what plinth train writes: no config.json */
    write_file(ck, "state.json", "{\"checkpoint\": \"checkpoint-1.safetensors\"}");
    write_file(ck, "checkpoint-1.safetensors", "x");
    CHECK(pl_bundle_resolve(ck, &mp) == 0 && !mp);
    CHECK(pl_bundle_resolve("/nonexistent/model.gguf", &mp) < 0 && !mp && strstr(pl_last_error(), "nonexistent"));
}

static void check_templates(const char *gguf) {
    bool failed = true;
    CHECK(pl_chat_template_for_model(gguf, &failed) == NULL && !failed); /* the fixture has none */
    char *d = subdir("chatml");
    write_file(d, "config.json", "{}");
    write_file(d, "tokenizer_config.json",
               "{\"chat_template\": \"{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\\\n' }}{% endfor %}\"}");
    pl_chat_template *t = pl_chat_template_for_model(d, &failed);
    CHECK(t && !failed && pl_chat_template_family(t) == PL_CHAT_CHATML);
    pl_chat_template_free(t);
    char *bad = subdir("unknown");
    write_file(bad, "config.json", "{}");
    write_file(bad, "tokenizer_config.json", "{\"chat_template\": \"{{ 'USER: ' + m }}\"}");
    CHECK(pl_chat_template_for_model(bad, &failed) == NULL && failed);
}

static void check_open(const char *gguf) {
    CHECK(pl_bundle_open(gguf, NULL) == NULL && pl_last_error()[0]); /* the fixture GGUF has no tokenizer */
    pl_bundle *b = pl_bundle_open(gguf, &(pl_bundle_params){.no_tokenizer = true, .n_threads = 1});
    CHECK(b && b->llm && !b->tok && !b->chat && !strcmp(b->name, "model.gguf"));
    if (b) {
        pl_gen_opts o = pl_bundle_gen_opts(b, true); /* no template: the plain defaults */
        CHECK(o.add_special && o.n_stops == 0);
    }
    pl_bundle_free(b);
    CHECK(pl_bundle_open("/nonexistent/model.gguf", NULL) == NULL && strstr(pl_last_error(), "nonexistent"));
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/test_bundle_%d", (int)getpid());
    mkdir(g_tmp, 0700);
    char gguf[512];
    snprintf(gguf, sizeof gguf, "%s/tests/golden/lm/llama/model.gguf", test_root());
    check_resolve(gguf);
    check_templates(gguf);
    check_open(gguf);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    CHECK(system(cmd) == 0);
    TEST_DONE();
}
