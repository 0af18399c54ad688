/* The continuous-batching loop (see scheduler.h): a queue of requests, slots that each hold one request and
 * one KV sequence, and a thread that steps them all through pl_llm_decode together. Per token it does what
 * pl_generate does for one sequence (sampler, streaming detokenizer, stop strings held back, token budget,
 * context limit), so a reply is the same token for token whether it ran alone, beside others, or from
 * `plinth run`. One mutex guards the queue and every request's output; decoding runs outside it. */
#include "tasks/scheduler.h"

#include "core/common.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const double pl_sched_hist_bounds[PL_SCHED_HIST_N] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

struct pl_sched_req {
    pl_sched *s;
    /* the job (copied) */
    int32_t *prompt; int n_prompt;
    int n_predict, top_logprobs;
    pl_sampler_params sp;
    pl_logit_bias *bias;
    char **stops; int n_stops;
    pl_json_schema *json;
    /* output, under s->mu */
    char *text; size_t n_text, cap_text, polled_text;
    char *tok_text; size_t n_tok_text, cap_tok_text;
    pl_sched_token *toks; int n_toks, cap_toks, polled_toks;
    bool started, done, cancelled, released, in_sched, queued;
    pl_gen_stop stop;
    int status;
    char error[256];
    int n_generated, n_reused;
    double t_submit, t_last;
    pthread_cond_t cv;
    struct pl_sched_req *next; /* queue */
};

typedef struct { char *p; size_t n, cap; } textbuf;

typedef struct {
    int seq;                        /* its KV sequence, kept between requests; -1: none yet */
    int32_t *cached; int n_cached, cap_cached; /* the tokens whose K/V the sequence holds, in order */
    pl_sched_req *req;              /* NULL: free */
    int n_fed;                      /* prompt tokens in the cache */
    int n_clean;                    /* the cached prompt positions that were read in whole chunks (reusable) */
    uint64_t admitted;              /* admission order (the earliest reads its prompt first) */
    bool decoding;                  /* the prompt is in; next_tok goes in next */
    int32_t next_tok;
    int n_gen;
    pl_sampler *smp;
    pl_detok_stream *ds;
    textbuf pending;                /* text held while it may begin a stop string */
    pl_json_state js;
} slot;

struct pl_sched {
    pl_bundle *b;
    pl_sched_params p;
    int n_vocab;
    int32_t eos;
    pl_json_vocab *jvocab;          /* made on the first JSON request */
    slot *slots;
    pl_sched_req *q_head, *q_tail; int n_queued;
    pthread_mutex_t mu;
    pthread_cond_t work;
    pthread_t thread;
    bool stop, draining, joined;
    pl_sched_stats st;
    uint64_t n_admitted;
    /* one step's batch */
    int32_t *b_tok, *b_seq; bool *b_want; int *b_slot;
    float *logits;
    float *work_logits;
};

/* ------------------------------------------------------------------------------------------------ helpers -- */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return PL_OK;
    size_t cap2 = need * 2 + 16;
    void *q = pl_realloc(*p, cap2 * elem);
    if (!q) return PL_ERR_NOMEM;
    *p = q; *cap = cap2;
    return PL_OK;
}

static int text_add(char **p, size_t *n, size_t *cap, const char *s, size_t len) {
    if (grow((void **)p, cap, *n + len + 1, 1)) return PL_ERR_NOMEM;
    memcpy(*p + *n, s, len);
    *n += len;
    (*p)[*n] = 0;
    return PL_OK;
}

static void hist_add(pl_sched_hist *h, double v) {
    int k = 0;
    while (k < PL_SCHED_HIST_N && v > pl_sched_hist_bounds[k]) k++;
    for (int i = k; i <= PL_SCHED_HIST_N; i++) h->count[i]++; /* cumulative */
    h->sum += v;
    h->n++;
}

static void abs_deadline(struct timespec *ts, double seconds) {
    clock_gettime(CLOCK_REALTIME, ts);
    double whole = floor(seconds);
    ts->tv_sec += (time_t)whole;
    ts->tv_nsec += (long)((seconds - whole) * 1e9);
    if (ts->tv_nsec >= 1000000000L) { ts->tv_sec++; ts->tv_nsec -= 1000000000L; }
}

static void req_free(pl_sched_req *r) {
    for (int i = 0; i < r->n_stops; i++) free(r->stops[i]);
    free(r->stops); free(r->prompt); free(r->bias);
    pl_json_schema_free(r->json);
    free(r->text); free(r->tok_text); free(r->toks);
    pthread_cond_destroy(&r->cv);
    free(r);
}

/* ------------------------------------------------------------------------------------------------ lifetime -- */

static void *sched_main(void *arg);

pl_sched *pl_sched_new(pl_bundle *b, const pl_sched_params *params) {
    pl_sched_params p = params ? *params : (pl_sched_params){0};
    if (p.n_slots <= 0) p.n_slots = 4;
    if (p.n_ctx_slot <= 0) p.n_ctx_slot = 2048;
    if (p.max_queue <= 0) p.max_queue = 64;
    if (p.prefill_chunk <= 0) p.prefill_chunk = 16; /* the grain of prefix reuse too: a chat template's system part */
    if (!b || !b->llm || !b->tok) return pl_error_null(PL_ERR_ARG, "scheduler: a model with its tokenizer is needed");
    if (p.n_slots > PL_KV_MAX_SEQ - 2)
        return pl_error_null(PL_ERR_ARG, "scheduler: at most %d slots (got %d)", PL_KV_MAX_SEQ - 2, p.n_slots);
    int cells = pl_llm_n_ctx(b->llm);
    if ((int64_t)p.n_slots * p.n_ctx_slot > cells)
        return pl_error_null(PL_ERR_ARG, "scheduler: %d slots of %d tokens need %lld KV cells; the model has %d",
                             p.n_slots, p.n_ctx_slot, (long long)p.n_slots * p.n_ctx_slot, cells);
    pl_sched *s = pl_calloc(1, sizeof *s);
    if (!s) return NULL;
    pl_llm_touch_cache(b->llm); /* the whole cache resident from the start: memory flat under load */
    s->b = b;
    s->p = p;
    s->n_vocab = pl_llm_n_vocab(b->llm);
    s->eos = pl_tokenizer_eos(b->tok);
    int nb = p.n_slots + 16 * p.prefill_chunk + p.prefill_chunk; /* a step's tokens (sched_step) */
    s->slots = pl_calloc((size_t)p.n_slots, sizeof *s->slots);
    s->b_tok = pl_malloc((size_t)nb * sizeof *s->b_tok);
    s->b_seq = pl_malloc((size_t)nb * sizeof *s->b_seq);
    s->b_want = pl_malloc((size_t)nb * sizeof *s->b_want);
    s->b_slot = pl_malloc((size_t)nb * sizeof *s->b_slot);
    s->logits = pl_malloc((size_t)p.n_slots * s->n_vocab * sizeof(float));
    s->work_logits = pl_malloc((size_t)s->n_vocab * sizeof(float));
    if (!s->slots || !s->b_tok || !s->b_seq || !s->b_want || !s->b_slot || !s->logits || !s->work_logits) {
        pl_sched_free(s);
        return NULL;
    }
    for (int i = 0; i < p.n_slots; i++) s->slots[i].seq = -1;
    s->st.n_slots = p.n_slots;
    s->st.kv_cells = cells;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    if (pthread_create(&s->thread, NULL, sched_main, s)) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->work);
        s->thread = 0;
        free(s->slots); s->slots = NULL;
        pl_sched_free(s);
        return pl_error_null(PL_ERR_NOMEM, "scheduler: cannot start its thread");
    }
    return s;
}

static void slot_finish(pl_sched *s, slot *sl, pl_gen_stop stop, int status, const char *error);

void pl_sched_stop(pl_sched *s) {
    if (!s || !s->slots || s->joined) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->joined = true;
}

void pl_sched_free(pl_sched *s) {
    if (!s) return;
    if (s->slots) {
        pl_sched_stop(s);
        for (int i = 0; i < s->p.n_slots; i++) { free(s->slots[i].cached); free(s->slots[i].pending.p); }
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->work);
    }
    pl_json_vocab_free(s->jvocab);
    free(s->slots); free(s->b_tok); free(s->b_seq); free(s->b_want); free(s->b_slot); free(s->logits);
    free(s->work_logits);
    free(s);
}

void pl_sched_drain(pl_sched *s) {
    pthread_mutex_lock(&s->mu);
    s->draining = true;
    pthread_mutex_unlock(&s->mu);
}

void pl_sched_get_stats(pl_sched *s, pl_sched_stats *st) {
    pthread_mutex_lock(&s->mu);
    *st = s->st;
    st->queued = s->n_queued;
    st->draining = s->draining;
    st->kv_cells_used = s->b->llm->cache ? s->b->llm->cache->n_used : 0;
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------------------------------------ requests -- */

static int tokenize_prompt(const pl_tokenizer *tok, const char *prompt, bool add_special, int32_t **out) {
    size_t len = prompt ? strlen(prompt) : 0;
    if (!len) return pl_error(PL_ERR_ARG, "the prompt is empty");
    if (!pl_utf8_valid(prompt, len)) return pl_error(PL_ERR_ARG, "the prompt is not valid UTF-8");
    int cap = (int)(len < 1000000 ? len : 1000000) + 16, n;
    for (;;) {
        *out = pl_malloc((size_t)cap * sizeof **out);
        if (!*out) return PL_ERR_NOMEM;
        n = pl_tokenize(tok, prompt, len, *out, cap, add_special);
        if (n <= cap) break;
        free(*out);
        cap = n;
    }
    if (n <= 0) { free(*out); *out = NULL; return n < 0 ? n : pl_error(PL_ERR_ARG, "the prompt gives no tokens"); }
    return n;
}

pl_sched_req *pl_sched_submit(pl_sched *s, const pl_sched_job *job, int *status) {
    int dummy;
    if (!status) status = &dummy;
    pl_sched_req *r = pl_calloc(1, sizeof *r);
    if (!r) { *status = PL_ERR_NOMEM; pl_json_schema_free(job->json); return NULL; }
    pthread_cond_init(&r->cv, NULL);
    r->s = s;
    r->json = job->json;
    int n = tokenize_prompt(s->b->tok, job->prompt, job->add_special, &r->prompt);
    if (n < 0) { *status = n; req_free(r); return NULL; }
    r->n_prompt = n;
    if (n >= s->p.n_ctx_slot) {
        *status = pl_error(PL_ERR_ARG, "the prompt has %d tokens; the context holds %d (prompt and reply together)",
                           n, s->p.n_ctx_slot);
        req_free(r);
        return NULL;
    }
    r->n_predict = job->n_predict;
    r->top_logprobs = job->top_logprobs > PL_SCHED_MAX_TOP ? PL_SCHED_MAX_TOP : job->top_logprobs;
    r->sp = job->sampling;
    if (job->sampling.n_logit_bias > 0) {
        r->bias = pl_malloc((size_t)job->sampling.n_logit_bias * sizeof *r->bias);
        if (!r->bias) { *status = PL_ERR_NOMEM; req_free(r); return NULL; }
        memcpy(r->bias, job->sampling.logit_bias, (size_t)job->sampling.n_logit_bias * sizeof *r->bias);
        r->sp.logit_bias = r->bias;
    }
    if (job->n_stops > 0) {
        r->stops = pl_calloc((size_t)job->n_stops, sizeof *r->stops);
        if (!r->stops) { *status = PL_ERR_NOMEM; req_free(r); return NULL; }
        for (int i = 0; i < job->n_stops; i++) {
            r->stops[i] = pl_strdup(job->stops[i] ? job->stops[i] : "");
            r->n_stops++;
            if (!r->stops[i]) { *status = PL_ERR_NOMEM; req_free(r); return NULL; }
        }
    }
    /* the sampler's parameters are checked now, so a bad value is the client's error, not a failed request */
    pl_sampler *probe = pl_sampler_new(&r->sp, s->n_vocab);
    if (!probe) { *status = PL_ERR_ARG; req_free(r); return NULL; }
    pl_sampler_free(probe);
    r->t_submit = pl_time_s();
    pthread_mutex_lock(&s->mu);
    if (s->draining || s->stop || s->n_queued >= s->p.max_queue) {
        bool draining = s->draining || s->stop;
        pthread_mutex_unlock(&s->mu);
        req_free(r);
        *status = pl_error(PL_SCHED_ERR_BUSY, draining ? "the server is shutting down" :
                           "the server is busy: %d requests are waiting (at most %d); try again shortly", s->n_queued, s->p.max_queue);
        return NULL;
    }
    r->in_sched = r->queued = true;
    if (s->q_tail) s->q_tail->next = r; else s->q_head = r;
    s->q_tail = r;
    s->n_queued++;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    *status = PL_OK;
    return r;
}

/* tokens whose text has been emitted (all of them once done) */
static int toks_final(const pl_sched_req *r) {
    if (r->done) return r->n_toks;
    int k = r->polled_toks;
    while (k < r->n_toks && r->toks[k].text_off + r->toks[k].text_len <= r->n_text) k++;
    return k;
}

int pl_sched_poll(pl_sched_req *r, pl_sched_update *u, double timeout_s) {
    pl_sched *s = r->s;
    memset(u, 0, sizeof *u);
    pthread_mutex_lock(&s->mu);
    struct timespec ts;
    abs_deadline(&ts, timeout_s);
    while (!r->done && r->n_text == r->polled_text && toks_final(r) == r->polled_toks)
        if (pthread_cond_timedwait(&r->cv, &s->mu, &ts)) break;
    int nt = toks_final(r);
    int got = r->done || r->n_text > r->polled_text || nt > r->polled_toks;
    if (r->n_text > r->polled_text) {
        u->n_text = r->n_text - r->polled_text;
        u->text = pl_malloc(u->n_text + 1);
        if (u->text) { memcpy(u->text, r->text + r->polled_text, u->n_text); u->text[u->n_text] = 0; }
        else u->n_text = 0;
        r->polled_text = r->n_text;
    }
    if (nt > r->polled_toks) {
        u->n_toks = nt - r->polled_toks;
        u->toks = pl_malloc((size_t)u->n_toks * sizeof *u->toks);
        u->tok_text = pl_malloc(r->n_tok_text + 1);
        if (u->toks && u->tok_text) {
            memcpy(u->toks, r->toks + r->polled_toks, (size_t)u->n_toks * sizeof *u->toks);
            memcpy(u->tok_text, r->tok_text ? r->tok_text : "", r->n_tok_text);
            u->tok_text[r->n_tok_text] = 0;
        } else {
            free(u->toks); free(u->tok_text); u->toks = NULL; u->tok_text = NULL; u->n_toks = 0;
        }
        r->polled_toks = nt;
    }
    u->started = r->started;
    u->done = r->done;
    u->stop = r->stop;
    u->status = r->status;
    memcpy(u->error, r->error, sizeof u->error);
    u->n_prompt = r->n_prompt;
    u->n_generated = r->n_generated;
    u->n_reused = r->n_reused;
    pthread_mutex_unlock(&s->mu);
    return got;
}

void pl_sched_update_free(pl_sched_update *u) {
    free(u->text); free(u->toks); free(u->tok_text);
    memset(u, 0, sizeof *u);
}

static void req_end(pl_sched *s, pl_sched_req *r, pl_gen_stop stop, int status, const char *error);

/* under s->mu: take a request that waits in the queue out of it (false: it is not there) */
static bool queue_unlink(pl_sched *s, pl_sched_req *r) {
    pl_sched_req *prev = NULL;
    for (pl_sched_req *q = s->q_head; q; prev = q, q = q->next) {
        if (q != r) continue;
        if (prev) prev->next = q->next; else s->q_head = q->next;
        if (s->q_tail == q) s->q_tail = prev;
        s->n_queued--;
        r->queued = false;
        return true;
    }
    return false;
}

void pl_sched_cancel(pl_sched_req *r) {
    pl_sched *s = r->s;
    pthread_mutex_lock(&s->mu);
    r->cancelled = true;
    if (r->queued && queue_unlink(s, r)) req_end(s, r, PL_GEN_STOP_LENGTH, PL_ERR_INTERRUPTED, "cancelled");
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}

void pl_sched_release(pl_sched_req *r) {
    if (!r) return;
    pl_sched *s = r->s;
    pthread_mutex_lock(&s->mu);
    r->cancelled = r->released = true;
    if (r->queued && queue_unlink(s, r)) { /* never admitted: it ends (and is freed) here */
        req_end(s, r, PL_GEN_STOP_LENGTH, PL_ERR_INTERRUPTED, "cancelled");
        pthread_mutex_unlock(&s->mu);
        return;
    }
    bool free_now = !r->in_sched;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    if (free_now) req_free(r);
}

/* --------------------------------------------------------------------------------------------------- slots -- */

/* under s->mu: the request is over; its slot (if any) is free again, its sequence kept for prefix reuse */
static void req_end(pl_sched *s, pl_sched_req *r, pl_gen_stop stop, int status, const char *error) {
    r->done = true;
    r->stop = stop;
    r->status = status;
    if (error) snprintf(r->error, sizeof r->error, "%s", error);
    r->in_sched = false;
    s->st.requests_done++;
    if (status == PL_OK) hist_add(&s->st.latency, pl_time_s() - r->t_submit);
    pthread_cond_broadcast(&r->cv);
    if (r->released) req_free(r);
}

static void slot_finish(pl_sched *s, slot *sl, pl_gen_stop stop, int status, const char *error) {
    pl_sched_req *r = sl->req;
    /* what the stop-string hold kept back is the reply's end unless a stop string cut it */
    if (r && status == PL_OK && stop != PL_GEN_STOP_STRING && sl->ds) {
        size_t len;
        const char *rest = pl_detok_stream_flush(sl->ds, &len);
        if (rest && len) {
            size_t off = r->n_tok_text;
            pthread_mutex_lock(&s->mu);
            text_add(&r->tok_text, &r->n_tok_text, &r->cap_tok_text, rest, len);
            if (r->n_toks) r->toks[r->n_toks - 1].text_len += r->n_tok_text - off;
            pthread_mutex_unlock(&s->mu);
            text_add(&sl->pending.p, &sl->pending.n, &sl->pending.cap, rest, len);
        }
        if (sl->pending.n) {
            size_t safe;
            int hit = r->n_stops ? pl_stop_find(sl->pending.p, sl->pending.n, (const char *const *)r->stops, r->n_stops, &safe) : -1;
            if (hit < 0) safe = sl->pending.n; else stop = PL_GEN_STOP_STRING;
            pthread_mutex_lock(&s->mu);
            text_add(&r->text, &r->n_text, &r->cap_text, sl->pending.p, safe);
            pthread_mutex_unlock(&s->mu);
        }
    }
    pthread_mutex_lock(&s->mu);
    if (r) {
        /* the tokens end where the text ends (a stop string cut the last ones) */
        int k = 0;
        while (k < r->n_toks && r->toks[k].text_off < r->n_text) k++;
        if (k && r->toks[k - 1].text_off + r->toks[k - 1].text_len > r->n_text)
            r->toks[k - 1].text_len = r->n_text - r->toks[k - 1].text_off;
        if (stop == PL_GEN_STOP_STRING || status != PL_OK) r->n_toks = k < r->polled_toks ? r->polled_toks : k;
        req_end(s, r, stop, status, error);
        s->st.busy_slots--;
    }
    pthread_mutex_unlock(&s->mu);
    sl->req = NULL;
    pl_sampler_free(sl->smp); sl->smp = NULL;
    pl_detok_stream_free(sl->ds); sl->ds = NULL;
    sl->pending.n = 0;
}

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb) {
    int k = 0;
    while (k < na && k < nb && a[k] == b[k]) k++;
    return k;
}

/* under s->mu: move queued requests into free slots, each to the one whose cache shares most of its prompt */
static void admit(pl_sched *s) {
    while (s->q_head) {
        pl_sched_req *r = s->q_head;
        if (r->cancelled) {
            queue_unlink(s, r);
            req_end(s, r, PL_GEN_STOP_LENGTH, PL_ERR_INTERRUPTED, "cancelled");
            continue;
        }
        int best = -1, best_len = -1, empty = -1;
        for (int i = 0; i < s->p.n_slots; i++) {
            slot *sl = &s->slots[i];
            if (sl->req) continue;
            if (empty < 0 && sl->n_clean == 0) empty = i;
            /* reuse whole prompt chunks only, so the reused K/V are what reading this prompt would compute */
            int k = common_prefix(sl->cached, sl->n_clean, r->prompt, r->n_prompt - 1);
            k = k / s->p.prefill_chunk * s->p.prefill_chunk;
            if (k > best_len) { best = i; best_len = k; }
        }
        if (best < 0) return;
        /* a slot that would lose more of its cache than this prompt reuses (another conversation, the same system
         * prompt) is kept for its own next turn while an unused slot is free */
        if (empty >= 0 && best != empty && best_len <= s->slots[best].n_clean - best_len) best = empty, best_len = 0;
        queue_unlink(s, r);
        slot *sl = &s->slots[best];
        pl_llm *m = s->b->llm;
        int rc = PL_OK;
        if (sl->seq < 0) { sl->seq = pl_llm_seq_new(m); if (sl->seq < 0) rc = sl->seq; }
        if (!rc) rc = pl_llm_seq_truncate(m, sl->seq, best_len);
        sl->n_cached = best_len;
        sl->smp = rc ? NULL : pl_sampler_new(&r->sp, s->n_vocab);
        sl->ds = rc ? NULL : pl_detok_stream_new(s->b->tok, true);
        if (r->json && !s->jvocab) s->jvocab = pl_json_vocab_new(s->b->tok, s->n_vocab);
        if (rc || !sl->smp || !sl->ds || (r->json && !s->jvocab)) {
            pl_sampler_free(sl->smp); sl->smp = NULL;
            pl_detok_stream_free(sl->ds); sl->ds = NULL;
            req_end(s, r, PL_GEN_STOP_LENGTH, rc ? rc : PL_ERR_NOMEM, pl_last_error());
            continue;
        }
        if (r->json) pl_json_state_init(&sl->js, r->json);
        sl->req = r;
        sl->admitted = s->n_admitted++;
        sl->n_fed = best_len;
        sl->n_clean = best_len;
        sl->decoding = false;
        sl->n_gen = 0;
        sl->pending.n = 0;
        r->n_reused = best_len;
        s->st.busy_slots++;
        s->st.prompt_tokens += (uint64_t)r->n_prompt;
        s->st.prompt_tokens_reused += (uint64_t)best_len;
    }
}

static int cached_push(slot *sl, int32_t t) {
    size_t cap = (size_t)sl->cap_cached;
    if (grow((void **)&sl->cached, &cap, (size_t)sl->n_cached + 1, sizeof *sl->cached)) return PL_ERR_NOMEM;
    sl->cap_cached = (int)cap;
    sl->cached[sl->n_cached++] = t;
    return PL_OK;
}

/* log-softmax normalizer and the best n of a row of raw logits */
static float top_logprobs(const float *l, int V, int n, int32_t *ids, float *lps) {
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) if (l[i] > mx) mx = l[i];
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)l[i] - mx);
    float lse = mx + (float)log(sum);
    int k = 0;
    for (int i = 0; i < V && n > 0; i++) {
        if (k < n || l[i] > l[ids[k - 1]]) {
            int j = k < n ? k++ : n - 1;
            while (j > 0 && l[ids[j - 1]] < l[i]) { ids[j] = ids[j - 1]; j--; }
            ids[j] = i;
        }
    }
    for (int i = 0; i < k; i++) lps[i] = l[ids[i]] - lse;
    return lse;
}

/* one row of logits for slot sl: sample, stream, decide whether it goes on */
static void slot_token(pl_sched *s, slot *sl, const float *row) {
    pl_sched_req *r = sl->req;
    float *l = s->work_logits;
    memcpy(l, row, (size_t)s->n_vocab * sizeof *l);
    pl_sched_token tk = {0};
    float lse = 0;
    if (r->top_logprobs >= 0)
        lse = top_logprobs(l, s->n_vocab, r->top_logprobs, tk.top_id, tk.top_logprob), tk.n_top = r->top_logprobs;
    if (r->json) pl_json_mask(s->jvocab, &sl->js, l, s->eos);
    int32_t t = pl_sampler_sample(sl->smp, l, sl->cached, sl->n_cached);
    double now = pl_time_s();
    if (t < 0) { slot_finish(s, sl, PL_GEN_STOP_LENGTH, t, pl_last_error()); return; }
    if (t == s->eos) { slot_finish(s, sl, PL_GEN_STOP_EOS, PL_OK, NULL); return; }
    size_t len;
    const char *piece = pl_detok_stream_step(sl->ds, t, &len);
    if (!piece) { slot_finish(s, sl, PL_GEN_STOP_LENGTH, PL_ERR_FORMAT, pl_last_error()); return; }
    tk.id = t;
    tk.logprob = r->top_logprobs >= 0 ? row[t] - lse : 0;
    sl->n_gen++;
    text_add(&sl->pending.p, &sl->pending.n, &sl->pending.cap, piece, len);
    size_t safe = sl->pending.n;
    int hit = r->n_stops ? pl_stop_find(sl->pending.p, sl->pending.n, (const char *const *)r->stops, r->n_stops, &safe) : -1;
    pthread_mutex_lock(&s->mu);
    tk.text_off = r->n_tok_text;
    tk.text_len = len;
    text_add(&r->tok_text, &r->n_tok_text, &r->cap_tok_text, piece, len);
    if (r->n_toks == r->cap_toks) {
        int cap = r->cap_toks ? 2 * r->cap_toks : 64;
        pl_sched_token *p = pl_realloc(r->toks, (size_t)cap * sizeof *p);
        if (p) { r->toks = p; r->cap_toks = cap; }
    }
    if (r->n_toks < r->cap_toks) r->toks[r->n_toks++] = tk;
    text_add(&r->text, &r->n_text, &r->cap_text, sl->pending.p, safe);
    r->n_generated = sl->n_gen;
    if (!r->started) { r->started = true; hist_add(&s->st.ttft, now - r->t_submit); }
    else hist_add(&s->st.itl, now - r->t_last);
    r->t_last = now;
    s->st.generated_tokens++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&s->mu);
    memmove(sl->pending.p, sl->pending.p + safe, sl->pending.n - safe);
    sl->pending.n -= safe;
    if (hit >= 0) { sl->pending.n = 0; slot_finish(s, sl, PL_GEN_STOP_STRING, PL_OK, NULL); return; }
    if (r->json) {
        size_t jl;
        const char *jt = pl_json_vocab_text(s->jvocab, t, &jl);
        pl_json_feed(&sl->js, jt, jl);
        if (sl->js.depth == 0) { slot_finish(s, sl, PL_GEN_STOP_EOS, PL_OK, NULL); return; } /* nothing can follow */
    }
    if (sl->n_cached >= s->p.n_ctx_slot) { slot_finish(s, sl, PL_GEN_STOP_CONTEXT, PL_OK, NULL); return; }
    if (r->n_predict > 0 && sl->n_gen >= r->n_predict) { slot_finish(s, sl, PL_GEN_STOP_LENGTH, PL_OK, NULL); return; }
    sl->next_tok = t;
    sl->decoding = true;
}

/* ---------------------------------------------------------------------------------------------------- step -- */

/* Run one batch; the cache then holds its tokens and each wanted row of logits goes to its slot. */
static void run_batch(pl_sched *s, int n) {
    int rc = pl_llm_decode(s->b->llm, &(pl_llm_batch){.n = n, .tokens = s->b_tok, .seq = s->b_seq, .logits = s->b_want,
                                                      .rows_apart = true, .chunk = s->p.prefill_chunk},
                           s->logits);
    if (rc) {
        char msg[256];
        snprintf(msg, sizeof msg, "decoding failed: %s", pl_last_error());
        for (int j = 0; j < n; j++) {
            slot *sl = &s->slots[s->b_slot[j]];
            if (sl->req) slot_finish(s, sl, PL_GEN_STOP_LENGTH, rc, msg);
        }
        return;
    }
    for (int j = 0; j < n; j++) {
        slot *sl = &s->slots[s->b_slot[j]];
        cached_push(sl, s->b_tok[j]);
        if (!sl->decoding && ++sl->n_fed % s->p.prefill_chunk == 0) sl->n_clean = sl->n_fed;
    }
    int row = 0;
    for (int j = 0; j < n; j++) {
        if (!s->b_want[j]) continue;
        slot *sl = &s->slots[s->b_slot[j]];
        if (sl->req) slot_token(s, sl, s->logits + (size_t)row * s->n_vocab);
        row++;
    }
}

/* Slot i's prompt from position `from` up to the next multiple of prefill_chunk (absolute positions, so a prompt
 * is cut at the same places whatever else runs and whatever prefix was reused), appended to the batch at n.
 * Returns the new batch size. */
static int add_chunk(pl_sched *s, int i, int from, int n) {
    pl_sched_req *r = s->slots[i].req;
    int C = s->p.prefill_chunk, end = (from / C + 1) * C;
    if (end > r->n_prompt) end = r->n_prompt;
    for (int p = from; p < end; p++, n++) {
        s->b_tok[n] = r->prompt[p]; s->b_seq[n] = s->slots[i].seq; s->b_want[n] = p == r->n_prompt - 1; s->b_slot[n] = i;
    }
    return n;
}

/* the slot admitted first among those still reading their prompt and admitted after `after` (-1: none) */
static int next_reader(pl_sched *s, int64_t after) {
    int best = -1;
    for (int i = 0; i < s->p.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->req && !sl->decoding && (int64_t)sl->admitted > after && (best < 0 || sl->admitted < s->slots[best].admitted)) best = i;
    }
    return best;
}

/* One step is one forward pass: prompt chunks of the slots still reading their prompt, the earliest admitted
 * first (up to four chunks' worth of tokens while others generate, sixteen while nobody does), and one token
 * from every generating slot, so a burst of new requests costs one pass, not one per chunk. A prompt's last
 * chunk yields its first token in the same pass. Each token's numbers do not depend on its neighbours: the
 * batch asks the engine for per-row kernels at any size (rows_apart) and for attention runs cut at chunk
 * boundaries (chunk), so a prompt read several chunks a pass is attended as it is a chunk a pass, and a reply
 * is the same alone or beside others. With a prompt adapter a new sequence's first chunk carries the virtual
 * tokens and must go alone: such a model reads each chunk in a pass of its own. false when there was nothing
 * to do. */
static bool sched_step(pl_sched *s) {
    double t0 = pl_time_s();
    bool decoding = false, any = false;
    for (int i = 0; i < s->p.n_slots; i++) decoding |= s->slots[i].req && s->slots[i].decoding;
    const bool apart = s->b->llm->prompt != NULL;
    int n = 0, fed = 0, budget = (decoding ? 4 : 16) * s->p.prefill_chunk;
    for (int64_t after = -1; fed < budget;) {
        int i = next_reader(s, after);
        if (i < 0) break;
        after = (int64_t)s->slots[i].admitted;
        for (int from = s->slots[i].n_fed; fed < budget && s->slots[i].req && from < s->slots[i].req->n_prompt;) {
            int k = add_chunk(s, i, from, n);
            fed += k - n;
            from += k - n;
            if (apart) run_batch(s, k), any = true, from = s->slots[i].n_fed; /* n stays 0 */
            else n = k;
        }
    }
    for (int i = 0; i < s->p.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->req || !sl->decoding) continue;
        s->b_tok[n] = sl->next_tok; s->b_seq[n] = sl->seq; s->b_want[n] = true; s->b_slot[n] = i; n++;
    }
    if (n) run_batch(s, n), any = true;
    if (!any) return false;
    pthread_mutex_lock(&s->mu);
    s->st.steps++;
    s->st.decode_seconds += pl_time_s() - t0;
    pthread_mutex_unlock(&s->mu);
    return true;
}

static void *sched_main(void *arg) {
    pl_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        /* requests whose client went away leave before the step */
        for (int i = 0; i < s->p.n_slots; i++) {
            slot *sl = &s->slots[i];
            if (sl->req && sl->req->cancelled) {
                pthread_mutex_unlock(&s->mu);
                slot_finish(s, sl, PL_GEN_STOP_LENGTH, PL_ERR_INTERRUPTED, "cancelled");
                pthread_mutex_lock(&s->mu);
            }
        }
        admit(s);
        bool busy = s->st.busy_slots > 0;
        if (!busy) { pthread_cond_wait(&s->work, &s->mu); continue; }
        pthread_mutex_unlock(&s->mu);
        sched_step(s);
        pthread_mutex_lock(&s->mu);
    }
    /* stopping: everything still here ends */
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->p.n_slots; i++)
        if (s->slots[i].req) slot_finish(s, &s->slots[i], PL_GEN_STOP_LENGTH, PL_ERR_INTERRUPTED, "the server stopped");
    pthread_mutex_lock(&s->mu);
    while (s->q_head) {
        pl_sched_req *r = s->q_head;
        queue_unlink(s, r);
        req_end(s, r, PL_GEN_STOP_LENGTH, PL_ERR_INTERRUPTED, "the server stopped");
    }
    s->q_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}
