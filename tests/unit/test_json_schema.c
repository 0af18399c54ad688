/* Constrained JSON decoding (tasks/json_schema.c): the automaton accepts exactly the compact JSON a schema
 * allows (property order, types, enums, string and array bounds, number syntax), says when the value may end,
 * refuses the keywords it does not support by name; and the vocabulary mask, driven by random logits from a
 * real byte-level BPE tokenizer, only ever lets through text that ends as JSON of the schema. */
#include "tasks/json_schema.h"
#include "core/common.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static const char *PERSON =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8},\"age\":{\"type\":\"integer\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"bb\"]},\"maxItems\":3},\"ok\":{\"type\":\"boolean\"},"
    "\"score\":{\"type\":\"number\"},\"none\":{\"type\":\"null\"}},\"required\":[\"name\",\"age\"]}";

/* 1: all of text accepted, 2: accepted and may end there, 0: refused */
static int run(const pl_json_schema *s, const char *text) {
    pl_json_state st;
    pl_json_state_init(&st, s);
    if (!pl_json_feed(&st, text, strlen(text))) return 0;
    return pl_json_can_end(&st) ? 2 : 1;
}

static void test_automaton(void) {
    pl_json_schema *s = pl_json_schema_new(PERSON);
    CHECKF(s != NULL, "%s", pl_last_error());
    if (!s) return;
    const char *good = "{\"name\":\"Bo\",\"age\":-42,\"tags\":[\"a\",\"bb\"],\"ok\":true,\"score\":1.5e-3,\"none\":null}";
    CHECK(run(s, good) == 2);
    for (size_t n = 1; n < strlen(good); n++) { /* every proper prefix continues, none may end */
        char buf[256];
        memcpy(buf, good, n); buf[n] = 0;
        CHECKF(run(s, buf) == 1, "prefix %s", buf);
    }
    CHECK(run(s, "{\"age\":") == 0);                    /* properties in the schema's order */
    CHECK(run(s, "{\"name\":1") == 0);                  /* a string */
    CHECK(run(s, "{\"name\":\"123456789") == 0);        /* maxLength 8 */
    CHECK(run(s, "{\"name\":\"12345678\"") == 1);
    CHECK(run(s, "{\"name\":\"a\\u00e9\\n\"") == 1);   /* escapes */
    CHECK(run(s, "{\"name\":\"a\\x") == 0);
    CHECK(run(s, "{\"name\":\"a\n") == 0);              /* raw control character */
    CHECK(run(s, "{\"name\":\"\xc3\xa9\xe2\x82\xac\"") == 1); /* UTF-8, counted in code points */
    CHECK(run(s, "{\"name\":\"\xc3\"") == 0 && run(s, "{\"name\":\"\x80") == 0); /* broken UTF-8 */
    CHECK(run(s, "{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"") == 1);
    CHECK(run(s, "{\"name\":\"\",\"age\":4.5") == 0);   /* integer */
    CHECK(run(s, "{\"name\":\"\",\"age\":01") == 0);    /* no leading zeros */
    CHECK(run(s, "{\"name\":\"\",\"age\":1,\"tags\":[\"c") == 0);                 /* enum */
    CHECK(run(s, "{\"name\":\"\",\"age\":1,\"tags\":[\"a\",\"a\",\"a\",") == 0);    /* maxItems 3 */
    CHECK(run(s, "{\"name\":\"\",\"age\":1,\"tags\":[],\"ok\":tru") == 1);
    CHECK(run(s, "{\"name\":\"\",\"age\":1,\"tags\":[],\"ok\":trux") == 0);
    CHECK(run(s, "{\"name\": \"\"") == 0);              /* compact: no whitespace */
    CHECK(run(s, good) == 2 && run(s, "{\"name\":\"Bo\",\"age\":1,\"tags\":[],\"ok\":false,\"score\":2,\"none\":null}x") == 0);
    pl_json_schema_free(s);

    s = pl_json_schema_new("{\"type\":\"number\"}");
    CHECK(s && run(s, "12") == 2 && run(s, "-") == 1 && run(s, "1.") == 1 && run(s, "1.5E+3") == 2 && run(s, "0") == 2);
    CHECK(s && run(s, "1e") == 1 && run(s, "--1") == 0 && run(s, "1234567890123456") == 0); /* at most 15 digits */
    pl_json_schema_free(s);
    s = pl_json_schema_new("{\"enum\":[1,10,\"x\"]}");
    CHECK(s && run(s, "1") == 2 && run(s, "10") == 2 && run(s, "\"x\"") == 2 && run(s, "2") == 0 && run(s, "100") == 0);
    pl_json_schema_free(s);
    s = pl_json_schema_new("{\"type\":\"array\",\"minItems\":2,\"items\":{\"type\":\"integer\"}}");
    CHECK(s && run(s, "[1]") == 0 && run(s, "[1,2]") == 2 && run(s, "[]") == 0);
    pl_json_schema_free(s);
    s = pl_json_schema_new(NULL); /* json_object: any object */
    CHECK(s && run(s, "{\"a\":[1,{\"b\":null},true,\"x\\\"\"],\"c\":{}}") == 2 && run(s, "{}") == 2);
    CHECK(s && run(s, "[1]") == 0 && run(s, "\"x\"") == 0 && run(s, "{\"a\":tru") == 1 && run(s, "{\"a\":1,}") == 0);
    pl_json_schema_free(s);

    /* what is not supported is refused by name */
    const char *bad[][2] = {{"{\"anyOf\":[{\"type\":\"string\"}]}", "anyOf"}, {"{\"type\":[\"string\",\"null\"]}", "list of types"},
                            {"{\"type\":\"string\",\"pattern\":\"a+\"}", "pattern"}, {"{\"$ref\":\"#/$defs/x\"}", "$ref"},
                            {"{\"type\":\"integer\",\"minimum\":3}", "minimum"}, {"{\"type\":\"banana\"}", "banana"}, {"[1", "JSON"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pl_json_schema *b = pl_json_schema_new(bad[i][0]);
        CHECKF(!b && strstr(pl_last_error(), bad[i][1]), "%s -> %s", bad[i][0], b ? "accepted" : pl_last_error());
        pl_json_schema_free(b);
    }
}

static size_t code_points(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static uint64_t rng = 42;
static float frand(void) { rng = rng * 6364136223846793005ull + 1442695040888963407ull; return (float)((rng >> 40) & 0xffffff) / 16777216.0f; }

/* random logits, masked, argmax, feed: the text must end as valid JSON of the schema */
static void test_mask(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/tokenizers/llama3_bpe.json", test_root());
    pl_tokenizer *tok = pl_tokenizer_load(path);
    CHECKF(tok != NULL, "%s", pl_last_error());
    if (!tok) return;
    int V = pl_tokenizer_n_vocab(tok);
    int32_t eos = V; /* an id past the texts stands for EOS */
    pl_json_vocab *v = pl_json_vocab_new(tok, V + 1);
    pl_json_schema *s = pl_json_schema_new(PERSON);
    CHECK(v && s);
    float *logits = malloc((size_t)(V + 1) * sizeof *logits);
    int ended = 0;
    for (int trial = 0; trial < 20 && v && s; trial++) {
        pl_json_state st;
        pl_json_state_init(&st, s);
        char out[4096];
        size_t n = 0;
        bool done = false;
        for (int step = 0; step < 400 && !done; step++) {
            for (int i = 0; i <= V; i++) logits[i] = frand() * 4;
            pl_json_mask(v, &st, logits, eos);
            int best = 0;
            for (int i = 1; i <= V; i++) if (logits[i] > logits[best]) best = i;
            CHECK(isfinite(logits[best]));
            if (best == eos) { done = true; break; }
            size_t len;
            const char *t = pl_json_vocab_text(v, best, &len);
            CHECKF(len > 0 && pl_json_feed(&st, t, len), "token %d '%.*s' after '%.*s'", best, (int)len, t, (int)n, out);
            if (n + len < sizeof out) { memcpy(out + n, t, len); n += len; }
            if (st.depth == 0) done = true;
        }
        out[n] = 0;
        CHECKF(done, "trial %d did not end: %s", trial, out);
        cJSON *j = cJSON_Parse(out);
        CHECKF(j && cJSON_IsString(cJSON_GetObjectItem(j, "name")) && code_points(cJSON_GetObjectItem(j, "name")->valuestring) <= 8 &&
               pl_utf8_valid(out, n) &&
               cJSON_IsNumber(cJSON_GetObjectItem(j, "age")) && cJSON_IsArray(cJSON_GetObjectItem(j, "tags")) &&
               cJSON_GetArraySize(cJSON_GetObjectItem(j, "tags")) <= 3 && cJSON_IsBool(cJSON_GetObjectItem(j, "ok")) &&
               cJSON_IsNull(cJSON_GetObjectItem(j, "none")), "trial %d: %s", trial, out);
        ended += j != NULL;
        cJSON_Delete(j);
    }
    CHECK(ended == 20);
    free(logits);
    pl_json_schema_free(s);
    pl_json_vocab_free(v);
    pl_tokenizer_free(tok);
}

int main(void) {
    test_automaton();
    test_mask();
    TEST_DONE();
}
