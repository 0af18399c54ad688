/* HF config.json lookups (types, defaults, dotted paths, arrays) and tokenizer_config.json reading
 * (special tokens as strings or AddedToken objects, chat templates as a string, a named list, or a
 * chat_template.jinja file), plus malformed input. */
#include "test.h"

#include "core/common.h"
#include "io/hfconfig.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_config(void) {
    const char *json = "{\"model_type\":\"llama\",\"hidden_size\":576,\"rms_norm_eps\":1e-05,\"tie\":true,"
                       "\"architectures\":[\"LlamaForCausalLM\"],\"big\":1e30,\"half\":2.5,\"neg\":-3,"
                       "\"text_config\":{\"hidden_size\":512,\"inner\":{\"x\":7}},\"a.b\":9,\"nums\":[1,2.5,\"s\"]}";
    pl_hfconfig *c = pl_hfconfig_parse(json, strlen(json));
    CHECKF(c != NULL, "%s", pl_last_error());
    if (!c) return;
    CHECK(!strcmp(pl_hfconfig_get_str(c, "model_type"), "llama"));
    CHECK(pl_hfconfig_get_int(c, "hidden_size", 0) == 576);
    CHECK(pl_hfconfig_get_int(c, "neg", 0) == -3);
    CHECK(pl_hfconfig_get_int(c, "half", -1) == -1);      /* not integral */
    CHECK(pl_hfconfig_get_int(c, "big", -1) == -1);       /* too large */
    CHECK(pl_hfconfig_get_int(c, "model_type", -1) == -1);
    CHECK_NEAR(pl_hfconfig_get_float(c, "rms_norm_eps", 0), 1e-5, 1e-12);
    CHECK(pl_hfconfig_get_float(c, "hidden_size", 0) == 576.0);
    CHECK(pl_hfconfig_get_bool(c, "tie", false) == true && pl_hfconfig_get_bool(c, "hidden_size", false) == false);
    CHECK(pl_hfconfig_get_str(c, "hidden_size") == NULL && pl_hfconfig_get_str(c, "missing") == NULL);
    CHECK(pl_hfconfig_get_int(c, "text_config.hidden_size", 0) == 512);
    CHECK(pl_hfconfig_get_int(c, "text_config.inner.x", 0) == 7);
    CHECK(pl_hfconfig_get_int(c, "text_config.nope", -2) == -2 && pl_hfconfig_get_int(c, "hidden_size.x", -2) == -2);
    CHECK(pl_hfconfig_get_int(c, "a.b", 0) == 9);          /* an exact key wins over a path */
    CHECK(pl_hfconfig_has(c, "tie") && !pl_hfconfig_has(c, "tied"));
    CHECK(pl_hfconfig_arr_n(c, "architectures") == 1 && pl_hfconfig_arr_n(c, "model_type") == -1);
    CHECK(!strcmp(pl_hfconfig_arr_str(c, "architectures", 0), "LlamaForCausalLM"));
    CHECK(pl_hfconfig_arr_str(c, "architectures", 1) == NULL && pl_hfconfig_arr_str(c, "architectures", -1) == NULL);
    CHECK(pl_hfconfig_arr_float(c, "nums", 1, 0) == 2.5 && pl_hfconfig_arr_float(c, "nums", 2, -1) == -1);
    CHECK(pl_hfconfig_json(c) != NULL);
    pl_hfconfig_free(c);

    CHECK(pl_hfconfig_parse("[1]", 3) == NULL && strstr(pl_last_error(), "not a JSON object"));
    CHECK(pl_hfconfig_parse("{\"a\":", 5) == NULL);
    CHECK(pl_hfconfig_parse("{\"\xff\":1}", 8) == NULL && strstr(pl_last_error(), "UTF-8"));
    CHECK(pl_hfconfig_load("/nonexistent/dir") == NULL && *pl_last_error());
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    pl_write_file_atomic(p, text, strlen(text));
}

static void test_tokenizer_config(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/pl_test_hfcfg_%d", (int)getpid());
    mkdir(dir, 0755);
    pl_hf_tokenizer_config tc;

    /* no tokenizer_config.json: an empty config */
    CHECK(pl_hf_tokenizer_config_load(dir, &tc) == PL_OK);
    CHECK(!tc.chat_template && !tc.bos_token && tc.add_bos_token == -1 && tc.model_max_length == -1);
    pl_hf_tokenizer_config_free(&tc);

    write_text(dir, "tokenizer_config.json",
               "{\"bos_token\":{\"content\":\"<s>\",\"lstrip\":false},\"eos_token\":\"</s>\",\"add_bos_token\":true,"
               "\"add_eos_token\":false,\"model_max_length\":1000000000000000019884624838656,"
               "\"tokenizer_class\":\"LlamaTokenizer\",\"chat_template\":[{\"name\":\"tool_use\",\"template\":\"T\"},"
               "{\"name\":\"default\",\"template\":\"{{ messages }}\"}],\"unk_token\":null}");
    CHECK(pl_hf_tokenizer_config_load(dir, &tc) == PL_OK);
    CHECK(tc.bos_token && !strcmp(tc.bos_token, "<s>") && tc.eos_token && !strcmp(tc.eos_token, "</s>"));
    CHECK(tc.unk_token == NULL && tc.add_bos_token == 1 && tc.add_eos_token == 0 && tc.do_lower_case == -1);
    CHECK(tc.model_max_length == -1);
    CHECK(tc.chat_template && !strcmp(tc.chat_template, "{{ messages }}"));
    CHECK(tc.tokenizer_class && !strcmp(tc.tokenizer_class, "LlamaTokenizer"));
    pl_hf_tokenizer_config_free(&tc);

    /* template from chat_template.jinja when tokenizer_config.json has none */
    write_text(dir, "tokenizer_config.json", "{\"model_max_length\":512,\"do_lower_case\":true}");
    write_text(dir, "chat_template.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}");
    char file[512];
    snprintf(file, sizeof file, "%s/tokenizer_config.json", dir);
    CHECK(pl_hf_tokenizer_config_load(dir, &tc) == PL_OK);
    CHECK(tc.model_max_length == 512 && tc.do_lower_case == 1);
    CHECK(tc.chat_template && strstr(tc.chat_template, "m.content"));
    pl_hf_tokenizer_config_free(&tc);
    CHECK(pl_hf_tokenizer_config_load(file, &tc) == PL_OK && tc.chat_template == NULL);  /* a file: no jinja */
    pl_hf_tokenizer_config_free(&tc);

    write_text(dir, "tokenizer_config.json", "{\"bos_token\": ");
    CHECK(pl_hf_tokenizer_config_load(dir, &tc) == PL_ERR_FORMAT && strstr(pl_last_error(), "not a JSON object"));
    CHECK(pl_hf_tokenizer_config_load("/nonexistent/tokenizer_config.json", &tc) < 0);

    write_text(dir, "config.json", "{\"model_type\":\"bert\",\"num_hidden_layers\":6}");
    pl_hfconfig *c = pl_hfconfig_load(dir);
    CHECKF(c && pl_hfconfig_get_int(c, "num_hidden_layers", 0) == 6, "%s", pl_last_error());
    pl_hfconfig_free(c);
    write_text(dir, "config.json", "{\"model_type\":");
    CHECK(pl_hfconfig_load(dir) == NULL && strstr(pl_last_error(), "config.json"));

    const char *names[] = {"tokenizer_config.json", "chat_template.jinja", "config.json"};
    for (int i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(void) {
    test_config();
    test_tokenizer_config();
    TEST_DONE();
}
