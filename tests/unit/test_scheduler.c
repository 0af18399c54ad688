/* The continuous-batching scheduler (tasks/scheduler.c) on SmolLM2-135M-Instruct: greedy replies equal
 * pl_generate's (what `plinth run` prints) while several requests decode together; a seeded sampled reply is the
 * same alone and beside others; stop strings cut the text and its tokens alike; a cancelled request frees its
 * slot; a full queue and a prompt over the context are refused with their numbers; a JSON-schema job ends as JSON;
 * log-probabilities are <= 0 and the tokens' pieces concatenate to the text. */
#include "tasks/scheduler.h"
#include "core/common.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char *p; size_t n; } sbuf;
static void collect(const char *s, size_t n, void *ud) {
    sbuf *b = ud;
    b->p = realloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* everything a request produces, until done */
typedef struct { char text[4096]; size_t n; pl_sched_update last; int n_toks; bool toks_ok; char toks_text[4096]; size_t nt; } result;
static void drain(pl_sched_req *r, result *out) {
    memset(out, 0, sizeof *out);
    out->toks_ok = true;
    for (int guard = 0; guard < 100000; guard++) {
        pl_sched_update u;
        pl_sched_poll(r, &u, 0.5);
        if (u.n_text && out->n + u.n_text < sizeof out->text) { memcpy(out->text + out->n, u.text, u.n_text); out->n += u.n_text; }
        for (int i = 0; i < u.n_toks; i++) {
            const pl_sched_token *t = &u.toks[i];
            if (!(t->logprob <= 0)) out->toks_ok = false;
            if (out->nt + t->text_len < sizeof out->toks_text) { memcpy(out->toks_text + out->nt, u.tok_text + t->text_off, t->text_len); out->nt += t->text_len; }
        }
        out->n_toks += u.n_toks;
        bool done = u.done;
        out->last = u;
        out->last.text = NULL; out->last.toks = NULL; out->last.tok_text = NULL;
        pl_sched_update_free(&u);
        if (done) break;
    }
    out->text[out->n] = 0;
    out->toks_text[out->nt] = 0;
}

static const char *PROMPTS[] = {"The capital of France is", "Water boils at", "My favourite book is", "Once upon a time"};
#define NP 4
#define NPRED 8

int main(void) {
    char cmd[1024], path[1024];
    snprintf(cmd, sizeof cmd, "bash '%s/scripts/fetch-models.sh' smollm2 >&2", test_root());
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", test_root());
    pl_bundle *b = pl_bundle_open(path, &(pl_bundle_params){.n_ctx = 4 * 256 + 64, .n_threads = 2});
    CHECKF(b != NULL, "%s", pl_last_error());
    if (!b) TEST_DONE();

    /* references: pl_generate, greedy, one prompt at a time */
    int np = test_fast() ? 2 : NP; /* the sanitizer build runs fewer */
    sbuf ref[NP] = {0};
    pl_gen_opts o = pl_bundle_gen_opts(b, false);
    o.n_predict = NPRED;
    o.sampling.temperature = 0;
    for (int i = 0; i < np; i++) CHECK(pl_generate(b->llm, b->tok, PROMPTS[i], &o, collect, &ref[i], NULL, NULL) == PL_OK);

    pl_sched *s = pl_sched_new(b, &(pl_sched_params){.n_slots = 4, .n_ctx_slot = 256, .max_queue = 8});
    CHECKF(s != NULL, "%s", pl_last_error());
    if (!s) { pl_bundle_free(b); TEST_DONE(); }

    /* greedy, all four at once, with log-probabilities: the same text as pl_generate */
    pl_sched_req *r[NP];
    for (int i = 0; i < np; i++) {
        pl_sched_job j = {.prompt = PROMPTS[i], .add_special = true, .n_predict = NPRED, .sampling = o.sampling, .top_logprobs = 2};
        int st;
        r[i] = pl_sched_submit(s, &j, &st);
        CHECKF(r[i] && st == PL_OK, "%s", pl_last_error());
    }
    for (int i = 0; i < np; i++) {
        if (!r[i]) continue;
        result res;
        drain(r[i], &res);
        CHECKF(!strcmp(res.text, ref[i].p ? ref[i].p : ""), "prompt %d: scheduler '%s' vs pl_generate '%s'", i, res.text, ref[i].p);
        CHECK(res.last.status == PL_OK && res.last.n_generated == NPRED && res.last.stop == PL_GEN_STOP_LENGTH);
        CHECK(res.toks_ok && res.n_toks == NPRED && !strcmp(res.toks_text, res.text));
        pl_sched_release(r[i]);
    }

    /* seeded sampling: alone, then beside three others */
    pl_sampler_params sp = pl_sampler_default_params();
    sp.seed = 1234;
    pl_sched_job sj = {.prompt = "Tell me about cats.", .add_special = true, .n_predict = NPRED, .sampling = sp, .top_logprobs = -1};
    result alone, together;
    pl_sched_req *a = pl_sched_submit(s, &sj, NULL);
    CHECK(a != NULL);
    if (a) { drain(a, &alone); pl_sched_release(a); }
    pl_sched_req *others[3];
    for (int i = 0; i < 3; i++) {
        pl_sched_job oj = sj;
        oj.prompt = PROMPTS[i];
        oj.sampling.seed = 99 + i;
        others[i] = pl_sched_submit(s, &oj, NULL);
    }
    a = pl_sched_submit(s, &sj, NULL);
    CHECK(a != NULL);
    if (a) { drain(a, &together); pl_sched_release(a); }
    for (int i = 0; i < 3; i++) pl_sched_release(others[i]);
    CHECKF(!strcmp(alone.text, together.text), "'%s' alone, '%s' beside others", alone.text, together.text);

    /* a stop string from the reference's own text: the reply ends before it */
    const char *ref0 = ref[0].p ? ref[0].p : "";
    if (strlen(ref0) > 6) {
        char stop[4] = {ref0[3], ref0[4], ref0[5], 0};
        const char *stops[] = {stop};
        pl_sched_job j = {.prompt = PROMPTS[0], .add_special = true, .n_predict = NPRED, .sampling = o.sampling,
                          .stops = stops, .n_stops = 1, .top_logprobs = 0};
        pl_sched_req *q = pl_sched_submit(s, &j, NULL);
        result res;
        if (q) { drain(q, &res); pl_sched_release(q); }
        const char *at = strstr(ref0, stop);
        CHECK(q && res.last.stop == PL_GEN_STOP_STRING && at && res.n == (size_t)(at - ref0) && !strncmp(res.text, ref0, res.n));
        CHECKF(q && !strcmp(res.toks_text, res.text), "tokens '%s' vs text '%s'", res.toks_text, res.text);
    }

    /* cancel: the slot frees */
    {
        pl_sched_job j = {.prompt = "Write a long essay.", .add_special = true, .n_predict = 100, .sampling = sp, .top_logprobs = -1};
        pl_sched_req *q = pl_sched_submit(s, &j, NULL);
        pl_sched_update u = {0};
        while (q && pl_sched_poll(q, &u, 5) == 1 && !u.n_text && !u.done) pl_sched_update_free(&u);
        pl_sched_update_free(&u);
        if (q) pl_sched_cancel(q);
        result res;
        if (q) { drain(q, &res); pl_sched_release(q); }
        CHECK(q && res.last.status == PL_ERR_INTERRUPTED && res.last.n_generated < 100);
        pl_sched_stats st;
        pl_sched_get_stats(s, &st);
        CHECK(st.busy_slots == 0 && st.queued == 0);
    }

    /* a prompt over the context: refused with both numbers */
    {
        char *longp = malloc(300 * 6 + 1);
        longp[0] = 0;
        for (int i = 0; i < 300; i++) strcat(longp, "hello ");
        pl_sched_job j = {.prompt = longp, .add_special = true, .n_predict = 4, .sampling = sp, .top_logprobs = -1};
        int st;
        pl_sched_req *q = pl_sched_submit(s, &j, &st);
        CHECKF(!q && st == PL_ERR_ARG && strstr(pl_last_error(), "the prompt has ") && strstr(pl_last_error(), "holds 256"), "%s", pl_last_error());
        free(longp);
    }

    /* JSON schema: the reply parses and has the fields */
    {
        pl_json_schema *js = pl_json_schema_new("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":16},"
                                               "\"rank\":{\"type\":\"integer\"}}}");
        CHECK(js != NULL);
        pl_sched_job j = {.prompt = "A city as JSON:", .add_special = true, .n_predict = 40, .sampling = sp, .top_logprobs = -1, .json = js};
        pl_sched_req *q = pl_sched_submit(s, &j, NULL);
        result res;
        if (q) { drain(q, &res); pl_sched_release(q); }
        cJSON *p = q ? cJSON_Parse(res.text) : NULL;
        CHECKF(p && cJSON_IsString(cJSON_GetObjectItem(p, "city")) && cJSON_IsNumber(cJSON_GetObjectItem(p, "rank")), "'%s'", q ? res.text : "");
        CHECK(q && res.last.stop == PL_GEN_STOP_EOS);
        cJSON_Delete(p);
    }

    pl_sched_free(s);

    /* a full queue: one slot busy, one waiting, the next refused */
    s = pl_sched_new(b, &(pl_sched_params){.n_slots = 1, .n_ctx_slot = 256, .max_queue = 1});
    CHECK(s != NULL);
    if (s) {
        pl_sched_job j = {.prompt = "Write a long essay.", .add_special = true, .n_predict = 100, .sampling = sp, .top_logprobs = -1};
        pl_sched_req *q1 = pl_sched_submit(s, &j, NULL), *q2 = NULL, *q3;
        pl_sched_stats st;
        do { pl_sched_get_stats(s, &st); } while (st.busy_slots == 0); /* q1 holds the slot */
        q2 = pl_sched_submit(s, &j, NULL);
        int code;
        q3 = pl_sched_submit(s, &j, &code);
        CHECK(q1 && q2 && !q3 && code == PL_SCHED_ERR_BUSY);
        pl_sched_release(q2); /* leaves the queue at once */
        pl_sched_get_stats(s, &st);
        CHECK(st.queued == 0);
        pl_sched_release(q1);
        pl_sched_free(s); /* with q1 perhaps still running: it ends */
    }
    for (int i = 0; i < NP; i++) free(ref[i].p);
    pl_bundle_free(b);
    TEST_DONE();
}
