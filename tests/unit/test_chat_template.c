/* Tests for src/tasks/chat_template.c: every family's rendering must be byte-identical to transformers'
 * apply_chat_template on the real Jinja templates (tests/golden/lm/chat_templates.json, made by
 * tools/make_lm_fixtures.py chat), detection must map each real template to its family, and bad names,
 * unknown templates and conversations a family cannot express must fail with a clear message. */
#include "test.h"

#include "core/common.h"
#include "tasks/chat_template.h"

#include <cjson/cJSON.h>

static const char *family_name(pl_chat_family f) {
    static const char *n[] = { "chatml", "llama3", "llama2", "mistral", "gemma", "zephyr" };
    return f >= 0 && f < PL_CHAT_COUNT ? n[f] : "?";
}

static void check_case(const char *tname, pl_chat_template *t, const cJSON *c) {
    const char *cname = cJSON_GetObjectItem(c, "name")->valuestring;
    const cJSON *msgs = cJSON_GetObjectItem(c, "messages");
    bool gen = cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt"));
    int n = cJSON_GetArraySize(msgs);
    pl_chat_message m[8];
    for (int i = 0; i < n && i < 8; i++) {
        const cJSON *mi = cJSON_GetArrayItem(msgs, i);
        m[i].role = cJSON_GetObjectItem(mi, "role")->valuestring;
        m[i].content = cJSON_GetObjectItem(mi, "content")->valuestring;
    }
    char *out = pl_chat_render(t, m, n, gen);
    const cJSON *exp = cJSON_GetObjectItem(c, "expected");
    if (exp) {
        CHECKF(out && strcmp(out, exp->valuestring) == 0, "%s/%s:\n got [%s]\nwant [%s]", tname, cname,
               out ? out : pl_last_error(), exp->valuestring);
    } else if (pl_chat_template_family(t) == PL_CHAT_MISTRAL && m[0].role && strcmp(m[0].role, "system") == 0) {
        /* transformers raises (no system role); plinth folds the system text into the first user turn */
        CHECKF(out && strncmp(out, "<s>[INST] ", 10) == 0 && strstr(out, m[0].content) == out + 10 &&
                   strstr(out, "\n\n") != NULL,
               "%s/%s: %s", tname, cname, out ? out : pl_last_error());
    } else {
        CHECKF(out == NULL, "%s/%s: transformers refused this conversation, plinth rendered [%s]", tname, cname,
               out);
    }
    free(out);
}

static void test_fixture(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/lm/chat_templates.json", test_root());
    size_t len;
    char *text = pl_read_file(path, &len);
    CHECKF(text != NULL, "%s", pl_last_error());
    if (!text) return;
    cJSON *root = cJSON_Parse(text);
    free(text);
    CHECK(root != NULL);
    const cJSON *tmpls = cJSON_GetObjectItem(root, "templates");
    int n_templates = 0, n_cases = 0;
    const cJSON *tj;
    cJSON_ArrayForEach(tj, tmpls) {
        const char *name = cJSON_GetObjectItem(tj, "name")->valuestring;
        const char *family = cJSON_GetObjectItem(tj, "family")->valuestring;
        pl_chat_template *t = pl_chat_template_detect(cJSON_GetObjectItem(tj, "template")->valuestring);
        CHECKF(t != NULL, "%s: %s", name, pl_last_error());
        if (!t) continue;
        CHECKF(strcmp(family_name(pl_chat_template_family(t)), family) == 0, "%s detected as %s, want %s", name,
               pl_chat_template_name(t), family);
        /* only the SmolLM2 and Qwen2 templates carry a built-in system message */
        bool want_default = strcmp(name, "smollm2") == 0 || strcmp(name, "qwen2") == 0;
        CHECKF((pl_chat_template_default_system(t) != NULL) == want_default, "%s default system: %s", name,
               pl_chat_template_default_system(t) ? pl_chat_template_default_system(t) : "(none)");
        /* rendering with the family's default tokens must already match; set them anyway as a loader would */
        CHECK(pl_chat_template_set_tokens(t, cJSON_GetObjectItem(tj, "bos_token")->valuestring,
                                          cJSON_GetObjectItem(tj, "eos_token")->valuestring) == 0);
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(tj, "cases")) {
            check_case(name, t, c);
            n_cases++;
        }
        pl_chat_template_free(t);
        n_templates++;
    }
    CHECK(n_templates == 8);
    CHECK(n_cases >= 40);
    cJSON_Delete(root);
}

static void test_by_name(void) {
    const char *names[] = { "chatml", "llama3", "llama2", "mistral", "gemma", "zephyr" };
    for (int i = 0; i < 6; i++) {
        pl_chat_template *t = pl_chat_template_by_name(names[i]);
        CHECK(t && pl_chat_template_family(t) == (pl_chat_family)i && strcmp(pl_chat_template_name(t), names[i]) == 0);
        CHECK(t && pl_chat_template_default_system(t) == NULL);
        pl_chat_template_free(t);
    }
    pl_chat_template *t = pl_chat_template_by_name("llama-3");
    CHECK(t && pl_chat_template_family(t) == PL_CHAT_LLAMA3);
    pl_chat_template_free(t);
    CHECK(pl_chat_template_by_name("vicuna") == NULL);
    CHECK(strstr(pl_last_error(), "vicuna") && strstr(pl_last_error(), "chatml") && strstr(pl_last_error(), "zephyr"));
    CHECK(pl_chat_template_by_name(NULL) == NULL);
}

static void test_detect_errors(void) {
    CHECK(pl_chat_template_detect("{% for m in messages %}{{ m['content'] }}{% endfor %}") == NULL);
    CHECK(strstr(pl_last_error(), "--chat-template") && strstr(pl_last_error(), "gemma"));
    CHECK(pl_chat_template_detect("") == NULL);
    CHECK(pl_chat_template_detect(NULL) == NULL);
    /* Phi-3 uses <|user|> but ends turns with <|end|>: not Zephyr */
    CHECK(pl_chat_template_detect("{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{{'<|assistant|>\n'}}") == NULL);
    /* a ChatML template whose system text is the message's own is not a default */
    pl_chat_template *t = pl_chat_template_detect("{{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>' }}");
    CHECK(t && pl_chat_template_default_system(t) == NULL);
    pl_chat_template_free(t);
    t = pl_chat_template_detect("{{ '<|im_start|>system\\nBe brief.<|im_end|>\\n' }}{{ '<|im_start|>' }}");
    CHECK(t && pl_chat_template_default_system(t) && strcmp(pl_chat_template_default_system(t), "Be brief.") == 0);
    pl_chat_template_free(t);
}

static void test_render_rules(void) {
    pl_chat_message bad[] = { { "user", "a" }, { "user", "b" } };
    const char *strict[] = { "llama2", "mistral", "gemma" };
    for (int i = 0; i < 3; i++) {
        pl_chat_template *t = pl_chat_template_by_name(strict[i]);
        CHECK(pl_chat_render(t, bad, 2, true) == NULL);
        CHECK(strstr(pl_last_error(), "alternate") != NULL);
        pl_chat_template_free(t);
    }
    pl_chat_template *t = pl_chat_template_by_name("chatml");
    char *s = pl_chat_render(t, bad, 2, false);
    CHECK(s && strcmp(s, "<|im_start|>user\na<|im_end|>\n<|im_start|>user\nb<|im_end|>\n") == 0);
    free(s);
    s = pl_chat_render(t, NULL, 0, true);
    CHECK(s && strcmp(s, "<|im_start|>assistant\n") == 0);
    free(s);
    CHECK(strcmp(pl_chat_template_end_of_turn(t), "<|im_end|>") == 0);
    pl_chat_template_free(t);

    t = pl_chat_template_by_name("llama3");
    CHECK(strcmp(pl_chat_template_end_of_turn(t), "<|eot_id|>") == 0);
    CHECK(pl_chat_template_set_tokens(t, "", NULL) == 0); /* a tokenizer that adds BOS itself */
    pl_chat_message one[] = { { "user", "hi" } };
    s = pl_chat_render(t, one, 1, false);
    CHECK(s && strcmp(s, "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>") == 0);
    free(s);
    pl_chat_template_free(t);

    t = pl_chat_template_by_name("gemma");
    CHECK(strcmp(pl_chat_template_end_of_turn(t), "<end_of_turn>") == 0);
    pl_chat_template_free(t);
}

int main(void) {
    test_fixture();
    test_by_name();
    test_detect_errors();
    test_render_rules();
    TEST_DONE();
}
