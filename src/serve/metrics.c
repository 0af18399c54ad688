/* GET /metrics (Prometheus text format 0.0.4) and GET /health: requests by route and status, and per model the
 * scheduler's figures (busy slots, queue depth, KV cells in use, prompt / generated tokens, tokens per second of
 * decoding, histograms of time to first token, inter-token latency and request latency). */
#include "serve/http.h"

#include "core/common.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void srv_count(srv *s, int route, int status) {
    if (route < 0 || route >= SRV_ROUTE_COUNT || status < 100 || status >= 600) return;
    pthread_mutex_lock(&s->counters.mu);
    s->counters.codes[route][status]++;
    pthread_mutex_unlock(&s->counters.mu);
}

typedef struct { char *p; size_t n, cap; } sbuf;
static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->p && (size_t)k < room) { b->n += (size_t)k; return; }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *q = realloc(b->p, cap);
        if (!q) return;
        b->p = q; b->cap = cap;
    }
}

static void hist(sbuf *b, const char *name, const char *model, const pl_sched_hist *h) {
    for (int i = 0; i < PL_SCHED_HIST_N; i++)
        put(b, "%s_bucket{model=\"%s\",le=\"%g\"} %llu\n", name, model, pl_sched_hist_bounds[i], (unsigned long long)h->count[i]);
    put(b, "%s_bucket{model=\"%s\",le=\"+Inf\"} %llu\n", name, model, (unsigned long long)h->count[PL_SCHED_HIST_N]);
    put(b, "%s_sum{model=\"%s\"} %.6f\n", name, model, h->sum);
    put(b, "%s_count{model=\"%s\"} %llu\n", name, model, (unsigned long long)h->n);
}

void srv_route_metrics(srv *s, srv_reply *r) {
    sbuf b = {0};
    put(&b, "# HELP plinth_requests_total HTTP requests by route and status code.\n# TYPE plinth_requests_total counter\n");
    pthread_mutex_lock(&s->counters.mu);
    for (int rt = 0; rt < SRV_ROUTE_COUNT; rt++)
        for (int c = 100; c < 600; c++)
            if (s->counters.codes[rt][c])
                put(&b, "plinth_requests_total{route=\"%s\",status=\"%d\"} %llu\n", srv_route_names[rt], c,
                    (unsigned long long)s->counters.codes[rt][c]);
    pthread_mutex_unlock(&s->counters.mu);
    pl_sched_stats st[PL_SERVE_MAX_MODELS];
    for (int i = 0; i < s->n_models; i++) pl_sched_get_stats(s->models[i].sched, &st[i]);
#define EACH(NM, TYPE, HELP, FMT, EXPR) \
    put(&b, "# HELP " NM " " HELP "\n# TYPE " NM " " TYPE "\n"); \
    for (int i = 0; i < s->n_models; i++) put(&b, NM "{model=\"%s\"} " FMT "\n", s->models[i].name, EXPR);
    EACH("plinth_slots", "gauge", "Slots (requests that can generate at once).", "%d", st[i].n_slots)
    EACH("plinth_slots_busy", "gauge", "Slots holding a request.", "%d", st[i].busy_slots)
    EACH("plinth_queue_depth", "gauge", "Requests waiting for a slot.", "%d", st[i].queued)
    EACH("plinth_kv_cells_used", "gauge", "KV-cache cells in use (tokens held, requests' and cached prefixes').", "%d", st[i].kv_cells_used)
    EACH("plinth_kv_cells", "gauge", "KV-cache cells in all.", "%d", st[i].kv_cells)
    EACH("plinth_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", "%llu", (unsigned long long)st[i].prompt_tokens)
    EACH("plinth_prompt_tokens_cached_total", "counter", "Prompt tokens found in the cache (not evaluated again).", "%llu", (unsigned long long)st[i].prompt_tokens_reused)
    EACH("plinth_generated_tokens_total", "counter", "Tokens generated.", "%llu", (unsigned long long)st[i].generated_tokens)
    EACH("plinth_requests_finished_total", "counter", "Generation requests ended (any way).", "%llu", (unsigned long long)st[i].requests_done)
    EACH("plinth_decode_steps_total", "counter", "Batched forward passes.", "%llu", (unsigned long long)st[i].steps)
    EACH("plinth_decode_seconds_total", "counter", "Seconds spent in batched forward passes and sampling.", "%.3f", st[i].decode_seconds)
    EACH("plinth_generation_tokens_per_second", "gauge", "Generated tokens per second of decoding, since start.", "%.2f",
         st[i].decode_seconds > 0 ? (double)st[i].generated_tokens / st[i].decode_seconds : 0.0)
#undef EACH
    static const struct { const char *name, *help; size_t off; } hs[] = {
        {"plinth_time_to_first_token_seconds", "From the request's arrival to its first token.", offsetof(pl_sched_stats, ttft)},
        {"plinth_inter_token_latency_seconds", "Between consecutive tokens of a request.", offsetof(pl_sched_stats, itl)},
        {"plinth_request_duration_seconds", "From arrival to the last token of requests that completed.", offsetof(pl_sched_stats, latency)},
    };
    for (size_t k = 0; k < sizeof hs / sizeof hs[0]; k++) {
        put(&b, "# HELP %s %s\n# TYPE %s histogram\n", hs[k].name, hs[k].help, hs[k].name);
        for (int i = 0; i < s->n_models; i++)
            hist(&b, hs[k].name, s->models[i].name, (const pl_sched_hist *)((const char *)&st[i] + hs[k].off));
    }
    r->status = 200;
    r->body = b.p;
    r->len = b.n;
    r->ctype = "text/plain; version=0.0.4; charset=utf-8";
}

void srv_route_health(srv *s, srv_reply *r) {
    char buf[256];
    int busy = 0, queued = 0;
    for (int i = 0; i < s->n_models; i++) {
        pl_sched_stats st;
        pl_sched_get_stats(s->models[i].sched, &st);
        busy += st.busy_slots;
        queued += st.queued;
    }
    snprintf(buf, sizeof buf, "{\"status\":\"%s\",\"models\":%d,\"slots_busy\":%d,\"queue_depth\":%d}",
             s->draining ? "draining" : "ok", s->n_models, busy, queued);
    r->status = s->draining ? 503 : 200;
    r->body = pl_strdup(buf);
    r->len = strlen(buf);
    r->ctype = "application/json";
}
