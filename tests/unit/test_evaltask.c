/* Tests for src/tasks/evaltask.c: parsing JSONL task files and their error messages (with line numbers),
 * few-shot splits, zero-shot / few-shot / chain-of-thought prompts, answer extraction and grading, and the
 * shipped tasks in data/tasks/. */
#include "test.h"

#include "core/common.h"
#include "tasks/evaltask.h"

static pl_eval_task *parse(const char *s) { return pl_eval_task_parse(s, strlen(s), "t.jsonl"); }

static void expect_error(const char *text, const char *needle1, const char *needle2) {
    pl_eval_task *t = parse(text);
    CHECKF(t == NULL, "parsed: %s", text);
    CHECKF(strstr(pl_last_error(), needle1) != NULL, "error '%s' lacks '%s'", pl_last_error(), needle1);
    if (needle2) CHECKF(strstr(pl_last_error(), needle2) != NULL, "error '%s' lacks '%s'", pl_last_error(), needle2);
    pl_eval_task_free(t);
}

static void test_parse(void) {
    pl_eval_task *t = parse("{\"question\": \"Is fire hot?\", \"choices\": [\"no\", \"yes\"], \"answer\": 1}\n"
                            "\n"
                            "{\"question\": \"Is ice hot?\", \"choices\": [\"no\", \"yes\"], \"answer\": 0, \"split\": \"train\"}\n"
                            "  \n"
                            "{\"question\": \"Sky?\", \"choices\": [\"red\", \"blue\", \"green\"], \"answer\": 1}");
    CHECKF(t != NULL, "%s", pl_last_error());
    if (!t) return;
    CHECK(t->kind == PL_EVAL_CHOICE && t->n_items == 3 && t->has_train);
    CHECK(t->items[0].answer_index == 1 && strcmp(t->items[0].answer, "yes") == 0 && !t->items[0].train);
    CHECK(t->items[1].train && t->items[1].line == 3);
    CHECK(t->items[2].n_choices == 3 && t->items[2].line == 5 && strcmp(t->items[2].choices[2], "green") == 0);
    pl_eval_task_free(t);

    t = parse("{\"question\": \"2+2?\", \"answer\": \"4\"}\n{\"question\": \"3*3?\", \"answer\": 9}\n");
    CHECK(t && t->kind == PL_EVAL_FREE && t->n_items == 2 && !t->has_train);
    CHECK(t && strcmp(t->items[1].answer, "9") == 0);
    pl_eval_task_free(t);
}

static void test_parse_errors(void) {
    expect_error("", "empty task file", NULL);
    expect_error("\n  \n", "empty task file", NULL);
    expect_error("{\"question\": \"a\", \"answer\": \"b\"}\n{\"question\": \"a\", \"answer\": ", "t.jsonl:2:",
                 "not valid JSON");
    expect_error("{\"answer\": \"b\"}", "t.jsonl:1:", "\"question\"");
    expect_error("{\"question\": \"q\"}", ":1:", "\"answer\"");
    expect_error("{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 2}", "out of range", "2 choices");
    expect_error("{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": -1}", "out of range", NULL);
    expect_error("{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 0.5}", "index", NULL);
    expect_error("{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": \"a\"}", "index", NULL);
    expect_error("{\"question\": \"q\", \"choices\": [\"a\"], \"answer\": 0}", "at least 2", NULL);
    expect_error("{\"question\": \"q\", \"choices\": [\"a\", 3], \"answer\": 0}", "choice 1", NULL);
    expect_error("{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 0}\n\n"
                 "{\"question\": \"q\", \"answer\": \"x\"}", "t.jsonl:3:", "multiple-choice");
    expect_error("{\"question\": \"q\", \"answer\": \"x\", \"split\": \"dev\"}", "split", NULL);
    expect_error("[1, 2]", "object", NULL);
    expect_error("{\"question\": \"q\", \"answer\": [1]}", "\"answer\"", NULL);
    expect_error("{\"question\": \"\xff\", \"answer\": \"x\"}", "UTF-8", NULL);
    CHECK(pl_eval_task_load("/nonexistent/task.jsonl") == NULL);
}

static void test_split(void) {
    pl_eval_task *t = parse("{\"question\": \"a\", \"answer\": \"1\"}\n{\"question\": \"b\", \"answer\": \"2\", \"split\": \"train\"}\n"
                            "{\"question\": \"c\", \"answer\": \"3\"}\n{\"question\": \"d\", \"answer\": \"4\", \"split\": \"train\"}\n");
    pl_eval_split s;
    CHECK(pl_eval_task_split(t, 2, &s) == 0);
    CHECK(s.n_shots == 2 && strcmp(s.shots[0]->question, "b") == 0 && strcmp(s.shots[1]->question, "d") == 0);
    CHECK(s.n_test == 2 && strcmp(s.test[0]->question, "a") == 0 && strcmp(s.test[1]->question, "c") == 0);
    pl_eval_split_free(&s);
    CHECK(pl_eval_task_split(t, 0, &s) == 0 && s.n_shots == 0 && s.n_test == 2); /* train lines never scored */
    pl_eval_split_free(&s);
    CHECK(pl_eval_task_split(t, 3, &s) < 0 && strstr(pl_last_error(), "2 training"));
    CHECK(pl_eval_task_split(t, -1, &s) < 0);
    pl_eval_task_free(t);

    t = parse("{\"question\": \"a\", \"answer\": \"1\"}\n{\"question\": \"b\", \"answer\": \"2\"}\n{\"question\": \"c\", \"answer\": \"3\"}\n");
    CHECK(pl_eval_task_split(t, 2, &s) == 0);
    CHECK(s.n_shots == 2 && s.n_test == 1 && strcmp(s.test[0]->question, "c") == 0);
    pl_eval_split_free(&s);
    CHECK(pl_eval_task_split(t, 3, &s) < 0); /* nothing left to score */
    pl_eval_task_free(t);
}

static void test_prompts(void) {
    pl_eval_task *t = parse("{\"question\": \"Is ice cold?\", \"choices\": [\"no\", \"yes\"], \"answer\": 1, \"split\": \"train\"}\n"
                            "{\"question\": \"Is fire cold?\", \"choices\": [\"no\", \"yes\"], \"answer\": 0}\n");
    pl_eval_split s;
    CHECK(pl_eval_task_split(t, 1, &s) == 0);
    char *p = pl_eval_prompt(t, s.shots, s.n_shots, s.test[0], PL_EVAL_ZERO_SHOT);
    CHECK(p && strcmp(p, "Question: Is fire cold?\nAnswer:") == 0);
    free(p);
    p = pl_eval_prompt(t, s.shots, s.n_shots, s.test[0], PL_EVAL_FEW_SHOT);
    CHECK(p && strcmp(p, "Question: Is ice cold?\nAnswer: yes\n\nQuestion: Is fire cold?\nAnswer:") == 0);
    free(p);
    p = pl_eval_prompt(t, s.shots, s.n_shots, s.test[0], PL_EVAL_COT);
    CHECK(p && strstr(p, "step by step") && strstr(p, "\"The answer is X.\""));
    CHECK(p && strstr(p, "Answer: The answer is yes.\n\n"));
    CHECK(p && strstr(p, "Choices: (A) no (B) yes\n"));
    size_t n = p ? strlen(p) : 0, cue = strlen("Answer: Let's think step by step.");
    CHECK(n > cue && strcmp(p + n - cue, "Answer: Let's think step by step.") == 0);
    free(p);
    char *c = pl_eval_continuation(s.test[0], 1);
    CHECK(c && strcmp(c, " yes") == 0);
    free(c);
    CHECK(pl_eval_continuation(s.test[0], 2) == NULL);
    int ns;
    const char *const *stops = pl_eval_stop_strings(PL_EVAL_FEW_SHOT, &ns);
    CHECK(ns == 2 && strcmp(stops[0], "\n\n") == 0);
    pl_eval_split_free(&s);
    pl_eval_task_free(t);

    CHECK(pl_eval_mode_parse("cot") == PL_EVAL_COT && pl_eval_mode_parse("few-shot") == PL_EVAL_FEW_SHOT);
    CHECK(pl_eval_mode_parse("zero") == PL_EVAL_ZERO_SHOT);
    CHECK(pl_eval_mode_parse("tree") < 0 && strstr(pl_last_error(), "zero-shot, few-shot, cot"));
}

static void check_extract(const char *gen, bool numeric, const char *want) {
    char *x = pl_eval_extract(gen, numeric);
    CHECKF(x && strcmp(x, want) == 0, "extract(%s) = [%s], want [%s]", gen, x ? x : "(null)", want);
    free(x);
}

static void test_extract(void) {
    char *n = pl_eval_normalize("  The Answer, 1,234.  ");
    CHECK(n && strcmp(n, "the answer, 1234") == 0);
    free(n);
    check_extract("First 3 + 4 = 7. Then 7 * 2 = 14. The answer is 14.", true, "14");
    check_extract("Total: 1,200 - 350 = 850. So the answer is 850 sheets.", true, "850");
    check_extract("the answer is 1,234.", true, "1234");
    check_extract("The answer is: -3 degrees.", true, "-3");
    check_extract("The answer is 2.5.", true, "2.5");
    check_extract("We add 12 and 15 to get 27", true, "27");            /* no cue: last number */
    check_extract("The answer is 4. Wait, the answer is 5.", true, "5"); /* last cue wins */
    check_extract("The answer is Paris. It is in France.", false, "paris");
    check_extract("  Positive\nbecause it is nice", false, "positive");   /* no cue: first line */
    check_extract("no digits here", true, "no digits here");

    CHECK(pl_eval_is_numeric("42") && pl_eval_is_numeric("-3") && pl_eval_is_numeric("1,200"));
    CHECK(pl_eval_is_numeric("2.5") && !pl_eval_is_numeric("4 apples") && !pl_eval_is_numeric("") &&
          !pl_eval_is_numeric("-"));

    pl_eval_task *t = parse("{\"question\": \"q\", \"answer\": \"1200\"}\n{\"question\": \"q\", \"answer\": \"Paris\"}\n"
                            "{\"question\": \"q\", \"answer\": \"7\"}\n");
    CHECK(pl_eval_check(&t->items[0], "So the answer is 1,200."));
    CHECK(pl_eval_check(&t->items[0], "1200.0 in total. The answer is 1200.0"));
    CHECK(!pl_eval_check(&t->items[0], "The answer is 120."));
    CHECK(pl_eval_check(&t->items[1], " paris."));
    CHECK(!pl_eval_check(&t->items[1], "London"));
    CHECK(!pl_eval_check(&t->items[2], "The answer is 17."));
    pl_eval_task_free(t);

    t = parse("{\"question\": \"q\", \"choices\": [\"negative\", \"positive\"], \"answer\": 1}");
    CHECK(pl_eval_check(&t->items[0], "The review praises it. The answer is positive."));
    CHECK(pl_eval_check(&t->items[0], "The answer is (B)."));
    CHECK(pl_eval_check(&t->items[0], "The answer is B"));
    CHECK(pl_eval_check(&t->items[0], "The answer is clearly positive because of the praise"));
    CHECK(!pl_eval_check(&t->items[0], "The answer is negative."));
    CHECK(!pl_eval_check(&t->items[0], "The answer is (A)"));
    CHECK(!pl_eval_check(&t->items[0], "The answer is either negative or positive."));
    pl_eval_task_free(t);
}

static void test_shipped_tasks(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/data/tasks/sentiment.jsonl", test_root());
    pl_eval_task *t = pl_eval_task_load(path);
    CHECKF(t != NULL, "%s", pl_last_error());
    if (t) {
        int train = 0, pos = 0;
        for (int i = 0; i < t->n_items; i++) {
            train += t->items[i].train;
            pos += t->items[i].answer_index;
            CHECK(t->items[i].n_choices == 2 && strcmp(t->items[i].choices[0], "negative") == 0);
        }
        CHECK(t->kind == PL_EVAL_CHOICE && t->n_items >= 36 && train >= 6 && train <= 10);
        CHECK(pos > t->n_items / 3 && pos < 2 * t->n_items / 3); /* balanced labels */
        pl_eval_split s;
        CHECK(pl_eval_task_split(t, 5, &s) == 0 && s.n_test == t->n_items - train);
        pl_eval_split_free(&s);
        pl_eval_task_free(t);
    }
    snprintf(path, sizeof path, "%s/data/tasks/arithmetic.jsonl", test_root());
    t = pl_eval_task_load(path);
    CHECKF(t != NULL, "%s", pl_last_error());
    if (t) {
        int train = 0, numeric = 0;
        for (int i = 0; i < t->n_items; i++) {
            train += t->items[i].train;
            numeric += pl_eval_is_numeric(t->items[i].answer);
        }
        CHECK(t->kind == PL_EVAL_FREE && t->n_items >= 36 && train >= 6 && train <= 10);
        CHECK(numeric == t->n_items);
        pl_eval_task_free(t);
    }
}

int main(void) {
    test_parse();
    test_parse_errors();
    test_split();
    test_prompts();
    test_extract();
    test_shipped_tasks();
    TEST_DONE();
}
