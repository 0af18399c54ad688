/* The eval runner: log-likelihood scoring of choices (one forward pass over the tokens not already in the
 * KV cache, log-softmax in double) and generation-based scoring (greedy pl_generate, then evaltask's answer
 * extraction). The cache record (pl_gen_session) is shared by both paths, so a prefix common to successive
 * prompts (few-shot examples, an item's prompt across its choices) is evaluated once. */
#include "tasks/eval.h"

#include "core/common.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ------------------------------------------------------------------------- model ---- */

pl_eval_model *pl_eval_model_load(const char *path, const pl_eval_model_opts *o) {
    pl_eval_model *m = pl_calloc(1, sizeof *m);
    if (!m) return NULL;
    pl_bundle_params bp = {.n_ctx = o ? o->n_ctx : 0, .n_threads = o ? o->n_threads : 0, .chat = o ? o->chat : NULL,
                           .prompt_adapter = o ? o->prompt_adapter : NULL};
    if (o && o->lora) bp.lora[bp.n_lora++] = o->lora;
    m->model = pl_bundle_open(path, &bp);
    if (!m->model) { free(m); return NULL; }
    return m;
}

void pl_eval_model_free(pl_eval_model *m) {
    if (!m) return;
    pl_gen_session_free(&m->cache);
    pl_bundle_free(m->model);
    free(m);
}

/* ----------------------------------------------------------------- log-likelihood ---- */

/* text -> ids (caller frees), with the BOS token first when the tokenizer is configured to add one. The
 * other special tokens add_special may append (an EOS) are left out: they are not part of the text scored. */
static int tokenize_text(const pl_tokenizer *tok, const char *text, int32_t **out) {
    size_t len = strlen(text);
    int32_t bos = pl_tokenizer_bos(tok), probe[4];
    int np = pl_tokenize(tok, "a", 1, probe, 4, true);
    bool add_bos = bos >= 0 && np > 0 && probe[0] == bos;
    int cap = (int)(len < 1000000 ? len : 1000000) + 8, n;
    for (;;) {
        if (!(*out = pl_malloc((size_t)cap * sizeof **out))) return PL_ERR_NOMEM;
        n = pl_tokenize(tok, text, len, *out + add_bos, cap - 1, false);
        if (n < 0 || n <= cap - 1) break;
        free(*out);
        cap = n + 1;
    }
    if (n < 0) { free(*out); *out = NULL; return n; }
    if (add_bos) (*out)[0] = bos;
    return n + add_bos;
}

/* log softmax(row)[t] in double */
static double log_prob(const float *row, int V, int32_t t) {
    double mx = row[0];
    for (int j = 1; j < V; j++) if (row[j] > mx) mx = row[j];
    double s = 0;
    for (int j = 0; j < V; j++) s += exp((double)row[j] - mx);
    return (double)row[t] - mx - log(s);
}

static int cache_set(pl_gen_session *c, const int32_t *ids, int n) {
    if (n > c->cap) {
        int cap = n * 2 + 16;
        int32_t *p = pl_realloc(c->tokens, (size_t)cap * sizeof *p);
        if (!p) return PL_ERR_NOMEM;
        c->tokens = p; c->cap = cap;
    }
    memcpy(c->tokens, ids, (size_t)n * sizeof *ids);
    c->n = n;
    return PL_OK;
}

/* Sum of log p(ids[k] | ids[0..k)) for k in [s, n), 1 <= s < n. Positions already in the cache are not
 * evaluated again; the prefix up to s-1 runs without keeping logits, the scored span with all of them. */
static int score_span(pl_eval_model *m, const int32_t *ids, int n, int s, double *out) {
    pl_gen_session *c = &m->cache;
    int V = pl_llm_n_vocab(m->model->llm);
    if (n - 1 >= pl_llm_n_ctx(m->model->llm))
        return pl_error(PL_ERR_ARG, "a prompt with its choice has %d tokens; the context holds %d", n,
                        pl_llm_n_ctx(m->model->llm));
    int r = 0;
    while (r < c->n && r < s - 1 && c->tokens[r] == ids[r]) r++;
    float *logits = pl_malloc((size_t)(n - s) * (size_t)V * sizeof(float));
    if (!logits) return PL_ERR_NOMEM;
    int rc = PL_OK;
    c->n = r; /* what follows r is about to be overwritten */
    if (r < s - 1) rc = pl_llm_eval(m->model->llm, ids + r, s - 1 - r, r, logits, false);
    /* logits row j predicts ids[s + j] (from position s - 1 + j); the last token is never evaluated */
    if (!rc) rc = pl_llm_eval(m->model->llm, ids + s - 1, n - s, s - 1, logits, true);
    if (!rc) rc = cache_set(c, ids, n - 1);
    double sum = 0;
    for (int j = 0; !rc && j < n - s; j++) sum += log_prob(logits + (size_t)j * V, V, ids[s + j]);
    free(logits);
    if (rc) { c->n = 0; return rc; }
    *out = sum;
    return PL_OK;
}

int pl_eval_loglik(pl_eval_model *m, const char *prompt, const char *const *continuations, int n,
                   double *loglik, int *n_tok) {
    int32_t *p = NULL;
    int np = tokenize_text(m->model->tok, prompt, &p);
    if (np < 0) return np;
    int rc = PL_OK;
    for (int i = 0; i < n && !rc; i++) {
        size_t lp = strlen(prompt), lc = strlen(continuations[i]);
        char *full = pl_malloc(lp + lc + 1);
        int32_t *f = NULL;
        if (!full) { rc = PL_ERR_NOMEM; break; }
        memcpy(full, prompt, lp);
        memcpy(full + lp, continuations[i], lc + 1);
        int nf = tokenize_text(m->model->tok, full, &f);
        free(full);
        if (nf < 0) { rc = nf; break; }
        /* the continuation's tokens are those after the longest common prefix (a merge across the boundary
         * moves the boundary left, so a merged token is scored whole) */
        int s = 0;
        while (s < np && s < nf && p[s] == f[s]) s++;
        if (s == 0) rc = pl_error(PL_ERR_ARG, "the prompt gives no tokens to condition on");
        else if (s == nf) rc = pl_error(PL_ERR_ARG, "choice \"%s\" gives no tokens after the prompt", continuations[i]);
        else rc = score_span(m, f, nf, s, &loglik[i]);
        if (!rc && n_tok) n_tok[i] = nf - s;
        free(f);
    }
    free(p);
    return rc;
}

/* ------------------------------------------------------------------ generation ---- */

static bool word_at(const char *text, const char *p, size_t n) {
    return (p == text || !isalnum((unsigned char)p[-1])) && !isalnum((unsigned char)p[n]);
}

int pl_eval_named_choice(const pl_eval_item *item, const char *generated) {
    for (int i = 0; i < item->n_choices; i++) {
        pl_eval_item probe = *item;
        probe.answer_index = i;
        probe.answer = item->choices[i];
        if (pl_eval_check(&probe, generated)) return i;
    }
    /* fallback: the choice whose text appears last */
    int best = -1;
    const char *best_at = NULL;
    for (int i = 0; i < item->n_choices; i++) {
        size_t cl = strlen(item->choices[i]);
        if (!cl) continue;
        for (const char *p = generated; *p; p++)
            if (!strncasecmp(p, item->choices[i], cl) && word_at(generated, p, cl) && (!best_at || p >= best_at)) {
                if (p == best_at && best >= 0 && strlen(item->choices[best]) > cl) continue; /* longer wins */
                best_at = p;
                best = i;
            }
    }
    return best;
}

typedef struct { char *p; size_t n, cap; bool oom; } text_buf;
static void collect(const char *s, size_t n, void *ud) {
    text_buf *b = ud;
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* Greedy answer to `prompt` (wrapped as one user message when the model has a chat template). */
static int generate_answer(pl_eval_model *m, const char *prompt, const pl_eval_opts *o, char **out) {
    pl_gen_opts g = pl_gen_default_opts();
    g.n_predict = o->max_tokens > 0 ? o->max_tokens : o->mode == PL_EVAL_COT ? 192 : 48;
    g.sampling.temperature = 0;
    g.interrupt = o->interrupt;
    int n_stops;
    const char *const *stops = pl_eval_stop_strings(o->mode, &n_stops);
    const char *all_stops[8];
    for (int i = 0; i < n_stops && i < 7; i++) all_stops[i] = stops[i];
    char *text = NULL;
    if (m->model->chat) {
        pl_chat_message msg = {"user", prompt};
        if (!(text = pl_chat_render(m->model->chat, &msg, 1, true))) return PL_ERR_FORMAT;
        all_stops[n_stops < 7 ? n_stops++ : 6] = m->model->end_of_turn;
        g.add_special = false; /* the rendered template carries its own BOS text */
    }
    g.stops = all_stops;
    g.n_stops = n_stops;
    text_buf b = {0};
    int rc = pl_generate(m->model->llm, m->model->tok, text ? text : prompt, &g, collect, &b, &m->cache, NULL);
    free(text);
    if (!rc && b.oom) rc = PL_ERR_NOMEM;
    if (rc) { free(b.p); return rc; }
    *out = b.p ? b.p : pl_strdup("");
    return *out ? PL_OK : PL_ERR_NOMEM;
}

/* ---------------------------------------------------------------------- runner ---- */

static void item_result_free(pl_eval_item_result *r) {
    free(r->loglik);
    free(r->n_tokens);
    free(r->output);
    free(r->extracted);
    memset(r, 0, sizeof *r);
}

static int score_choices(pl_eval_model *m, const pl_eval_item *it, const char *prompt, pl_eval_item_result *r) {
    char **conts = pl_calloc((size_t)it->n_choices, sizeof *conts);
    r->loglik = pl_calloc((size_t)it->n_choices, sizeof *r->loglik);
    r->n_tokens = pl_calloc((size_t)it->n_choices, sizeof *r->n_tokens);
    int rc = conts && r->loglik && r->n_tokens ? PL_OK : PL_ERR_NOMEM;
    r->n_choices = it->n_choices;
    for (int i = 0; !rc && i < it->n_choices; i++)
        if (!(conts[i] = pl_eval_continuation(it, i))) rc = PL_ERR_NOMEM;
    if (!rc) rc = pl_eval_loglik(m, prompt, (const char *const *)conts, it->n_choices, r->loglik, r->n_tokens);
    if (!rc) {
        /* acc_norm: log-likelihood per byte of the continuation, as lm-evaluation-harness */
        double best = -INFINITY, best_norm = -INFINITY;
        for (int i = 0; i < it->n_choices; i++) {
            double nl = r->loglik[i] / (double)strlen(conts[i]);
            if (r->loglik[i] > best) { best = r->loglik[i]; r->pred = i; }
            if (nl > best_norm) { best_norm = nl; r->pred_norm = i; }
        }
        r->correct = r->pred == it->answer_index;
        r->correct_norm = r->pred_norm == it->answer_index;
    }
    for (int i = 0; conts && i < it->n_choices; i++) free(conts[i]);
    free(conts);
    return rc;
}

static int score_generated(pl_eval_model *m, const pl_eval_item *it, const char *prompt, const pl_eval_opts *o,
                           pl_eval_item_result *r) {
    int rc = generate_answer(m, prompt, o, &r->output);
    if (rc) return rc;
    if (it->n_choices > 0) {
        r->pred = pl_eval_named_choice(it, r->output);
        r->correct = r->pred == it->answer_index;
        r->extracted = pl_strdup(r->pred >= 0 ? it->choices[r->pred] : "");
    } else {
        r->correct = pl_eval_check(it, r->output);
        r->extracted = pl_eval_extract(r->output, pl_eval_is_numeric(it->answer));
    }
    r->pred_norm = r->pred;
    r->correct_norm = r->correct;
    return r->extracted ? PL_OK : PL_ERR_NOMEM;
}

int pl_eval_run(pl_eval_model *m, const pl_eval_task *t, const pl_eval_item *const *shots,
                const pl_eval_item *const *test, int n_test, const pl_eval_opts *o, pl_eval_result *out) {
    memset(out, 0, sizeof *out);
    out->mode = o->mode;
    out->n_shots = o->mode == PL_EVAL_ZERO_SHOT ? 0 : o->n_shots;
    out->loglik = t->kind == PL_EVAL_CHOICE && o->mode != PL_EVAL_COT;
    if (!(out->items = pl_calloc((size_t)(n_test > 0 ? n_test : 1), sizeof *out->items))) return PL_ERR_NOMEM;
    double t0 = pl_time_s();
    int rc = PL_OK;
    for (int i = 0; i < n_test && !rc; i++) {
        if (o->interrupt && *o->interrupt) { rc = PL_ERR_INTERRUPTED; break; }
        const pl_eval_item *it = test[i];
        pl_eval_item_result *r = &out->items[i];
        r->line = it->line;
        r->pred = r->pred_norm = -1;
        char *prompt = pl_eval_prompt(t, shots, out->n_shots, it, o->mode);
        if (!prompt) { rc = PL_ERR_NOMEM; break; }
        rc = out->loglik ? score_choices(m, it, prompt, r) : score_generated(m, it, prompt, o, r);
        free(prompt);
        if (rc) {
            item_result_free(r);
            if (rc != PL_ERR_INTERRUPTED && rc != PL_ERR_NOMEM) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", pl_last_error());
                pl_error(rc, "line %d: %s", it->line, msg);
            }
            break;
        }
        out->n++;
        out->correct += r->correct;
        out->correct_norm += r->correct_norm;
        if (o->progress) o->progress(i + 1, n_test, o->ud);
    }
    out->seconds = pl_time_s() - t0;
    return rc;
}

void pl_eval_result_free(pl_eval_result *r) {
    if (!r || !r->items) return;
    for (int i = 0; i < r->n; i++) item_result_free(&r->items[i]);
    free(r->items);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------------ suite ---- */

int pl_eval_suite_load(const pl_eval_suite *s, pl_eval_task_run *runs) {
    /* the shots pool is fixed by shots (and cot_shots), not by the modes run, so that the scored items are the
     * same whichever modes are asked for */
    int k = s->shots > s->cot_shots ? s->shots : s->cot_shots;
    for (int i = 0; i < s->n_tasks; i++) {
        pl_eval_task_run *r = &runs[i];
        if (!(r->task = pl_eval_task_load(s->tasks[i])) || pl_eval_task_split(r->task, k, &r->split)) return PL_ERR_FORMAT;
        r->n_test = s->limit > 0 && s->limit < r->split.n_test ? s->limit : r->split.n_test;
        if (!(r->res = pl_calloc((size_t)(s->n_models * s->n_modes), sizeof *r->res))) return PL_ERR_NOMEM;
    }
    for (int i = 0; i < s->n_models; i++) /* the loader says what else is wrong, when its turn comes */
        if (access(s->models[i], F_OK)) return pl_error(PL_ERR_IO, "model %s not found", s->models[i]);
    return PL_OK;
}

typedef struct { const pl_eval_suite *s; const pl_eval_model *m; int task; pl_eval_mode mode; } item_progress;
static void on_item(int done, int total, void *ud) {
    item_progress *p = ud;
    if (p->s->on_item) p->s->on_item(p->m, p->task, p->mode, done, total, p->s->ud);
}

/* every task and mode of one model */
static int suite_model(const pl_eval_suite *s, pl_eval_model *m, int mi, pl_eval_task_run *runs) {
    for (int ti = 0; ti < s->n_tasks; ti++)
        for (int k = 0; k < s->n_modes; k++) {
            pl_eval_mode mode = s->modes[k];
            item_progress ip = {s, m, ti, mode};
            pl_eval_opts eo = {.mode = mode, .n_shots = mode == PL_EVAL_COT ? s->cot_shots : s->shots,
                               .max_tokens = s->max_tokens, .progress = on_item, .ud = &ip, .interrupt = s->interrupt};
            pl_eval_task_run *t = &runs[ti];
            pl_eval_result *r = &t->res[mi * s->n_modes + k];
            int rc = pl_eval_run(m, t->task, t->split.shots, t->split.test, t->n_test, &eo, r);
            if (rc == PL_ERR_INTERRUPTED) return rc;
            if (rc) {
                char msg[512]; /* pl_last_error's buffer is the one pl_error writes */
                snprintf(msg, sizeof msg, "%s", pl_last_error());
                return pl_error(rc, "%s: %s", s->tasks[ti], msg);
            }
            if (s->on_result) s->on_result(m, ti, r, s->ud);
        }
    return PL_OK;
}

int pl_eval_suite_run(const pl_eval_suite *s, pl_eval_task_run *runs) {
    for (int mi = 0; mi < s->n_models; mi++) {
        pl_eval_model_opts mo = s->model;
        mo.lora = s->model_lora ? s->model_lora[mi] : NULL;
        mo.prompt_adapter = s->model_prompt ? s->model_prompt[mi] : NULL;
        pl_eval_model *m = pl_eval_model_load(s->models[mi], &mo);
        if (!m) return PL_ERR_FORMAT;
        if (s->on_model) s->on_model(m, s->ud);
        int rc = suite_model(s, m, mi, runs);
        pl_eval_model_free(m);
        if (rc) return rc;
    }
    return PL_OK;
}

void pl_eval_suite_free(const pl_eval_suite *s, pl_eval_task_run *runs) {
    for (int ti = 0; ti < s->n_tasks; ti++) {
        for (int i = 0; runs[ti].res && i < s->n_models * s->n_modes; i++) pl_eval_result_free(&runs[ti].res[i]);
        free(runs[ti].res);
        pl_eval_split_free(&runs[ti].split);
        pl_eval_task_free(runs[ti].task);
    }
}
