/* Tests for src/tasks/eval.c's model-free parts: which choice a chain-of-thought answer names
 * (pl_eval_named_choice), and clean errors from pl_eval_model_load. Log-likelihoods and generation are
 * checked end to end against a NumPy forward pass in tests/e2e/test_eval.py. */
#include "test.h"

#include "core/common.h"
#include "tasks/eval.h"

#include <string.h>

static int named(const char *choices_json, const char *generated) {
    char line[512];
    snprintf(line, sizeof line, "{\"question\": \"q\", \"choices\": %s, \"answer\": 0}\n", choices_json);
    pl_eval_task *t = pl_eval_task_parse(line, strlen(line), "t.jsonl");
    CHECKF(t != NULL, "%s", pl_last_error());
    if (!t) return -2;
    int r = pl_eval_named_choice(&t->items[0], generated);
    pl_eval_task_free(t);
    return r;
}

static void test_named_choice(void) {
    const char *np = "[\"negative\", \"positive\"]";
    CHECK(named(np, "The answer is (B) positive.") == 1);
    CHECK(named(np, "The answer is negative.\nStep 1: positive words appear") == 0); /* "answer is" wins */
    CHECK(named(np, "Let's see. The answer is B.") == 1);                             /* a letter */
    CHECK(named(np, "It sounds NEGATIVE at first, but overall Positive!") == 1);      /* last one named */
    CHECK(named(np, "positive... no, negative") == 0);
    CHECK(named(np, "I cannot tell.") == -1);
    CHECK(named(np, "") == -1);
    CHECK(named(np, "unpositive hypernegatives") == -1);                             /* whole words only */
    /* a choice inside a longer one at the same place: the longer wins */
    CHECK(named("[\"new\", \"new york\"]", "I would say New York") == 1);
    CHECK(named("[\"no\", \"not sure\"]", "well, I am not sure") == 1);
}

static void test_model_load_errors(void) {
    pl_eval_model *m = pl_eval_model_load("/nonexistent/model.gguf", NULL);
    CHECK(m == NULL && strlen(pl_last_error()) > 0);
    char path[1024];
    /* the tiny llama fixture has weights but no tokenizer.json: an error, not a crash */
    snprintf(path, sizeof path, "%s/tests/golden/lm/llama", test_root());
    m = pl_eval_model_load(path, &(pl_eval_model_opts){.chat = "none"});
    CHECK(m == NULL && strlen(pl_last_error()) > 0);
    pl_eval_model_free(m);
}

int main(void) {
    test_named_choice();
    test_model_load_errors();
    TEST_DONE();
}
