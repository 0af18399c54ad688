/* The HTTP side of plinth serve on libmicrohttpd: a thread per connection (a slow or stalled client holds only
 * its own thread, and is dropped after a timeout), request bodies up to a limit (413 beyond), the API key,
 * routing to the routes of openai.c and metrics.c, server-sent events through a content-reader callback, a
 * client's disconnect noticed while its reply is generated (its slot is freed), and a drain on shutdown. */
#include "serve/http.h"

#include "core/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    srv *s;
    int route;
    bool got_headers;
    char *body; size_t n, cap;
    bool too_big;
} conn_ctx;

typedef struct {
    srv *s;
    srv_stream *st;
    struct MHD_Connection *c;
} stream_cls;

/* the peer has not closed its side (a read would not return end of file) */
static bool conn_alive(void *ud) {
    struct MHD_Connection *c = ud;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    char b;
    ssize_t k = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (k == 0) return false;
    if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    return true;
}

static int route_of(const char *url) {
    for (int i = 0; i < SRV_ROUTE_OTHER; i++)
        if (!strcmp(url, srv_route_names[i])) return i;
    if (!strcmp(url, "/index.html")) return SRV_ROUTE_ROOT;
    if (!strcmp(url, "/chat/completions")) return SRV_ROUTE_CHAT;     /* clients whose base URL lacks /v1 */
    if (!strcmp(url, "/completions")) return SRV_ROUTE_COMPLETIONS;
    if (!strcmp(url, "/embeddings")) return SRV_ROUTE_EMBEDDINGS;
    if (!strcmp(url, "/models")) return SRV_ROUTE_MODELS;
    return SRV_ROUTE_OTHER;
}

static bool route_is_post(int route) {
    return route == SRV_ROUTE_CHAT || route == SRV_ROUTE_COMPLETIONS || route == SRV_ROUTE_EMBEDDINGS ||
           route == SRV_ROUTE_TOKENIZE || route == SRV_ROUTE_DETOKENIZE;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_cls *sc = cls;
    long k = srv_stream_read(sc->st, buf, max, conn_alive, sc->c);
    if (k == 0) return MHD_CONTENT_READER_END_OF_STREAM;
    if (k < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    return (ssize_t)k;
}

static void stream_free(void *cls) {
    stream_cls *sc = cls;
    srv_stream_free(sc->st); /* releases the requests: a client gone mid-stream frees its slot here */
    free(sc);
}

static enum MHD_Result send_reply(srv *s, struct MHD_Connection *c, int route, srv_reply *r) {
    struct MHD_Response *resp;
    if (r->stream) {
        stream_cls *sc = pl_calloc(1, sizeof *sc);
        if (!sc) { srv_stream_free(r->stream); return MHD_NO; }
        *sc = (stream_cls){s, r->stream, c};
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, sc, stream_free);
        if (!resp) { stream_free(sc); return MHD_NO; }
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    } else {
        resp = MHD_create_response_from_buffer(r->len, r->body ? r->body : (char *)"", r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        r->body = NULL;
        if (!resp) return MHD_NO;
    }
    if (r->ctype) MHD_add_response_header(resp, "Content-Type", r->ctype);
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    if (r->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    srv_count(s, route, r->status);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static bool authorized(srv *s, struct MHD_Connection *c) {
    if (!s->p.api_key || !s->p.api_key[0]) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7)) return false;
    const char *k = h + 7, *want = s->p.api_key;
    size_t a = strlen(k), b = strlen(want);
    unsigned diff = (unsigned)(a != b);
    for (size_t i = 0; i < a && i < b; i++) diff |= (unsigned char)(k[i] ^ want[i]); /* no early exit */
    return diff == 0;
}

/* checks that need only the headers: method, key, declared size, draining. true: r holds the answer */
static bool early_answer(srv *s, struct MHD_Connection *c, conn_ctx *cc, const char *url, const char *method, srv_reply *r) {
    bool is_post = !strcmp(method, "POST"), is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int rt = cc->route;
    if (rt == SRV_ROUTE_OTHER) {
        srv_reply_error(r, 404, "invalid_request_error", NULL, "not_found", "no route %s %s (docs/serve.md lists them)", method, url);
        return true;
    }
    if (route_is_post(rt) ? !is_post : !is_get) {
        srv_reply_error(r, 405, "invalid_request_error", NULL, "method_not_allowed", "%s takes %s", srv_route_names[rt], route_is_post(rt) ? "POST" : "GET");
        return true;
    }
    bool is_public = rt == SRV_ROUTE_ROOT || rt == SRV_ROUTE_HEALTH || rt == SRV_ROUTE_MODELS;
    if (!is_public && !authorized(s, c)) {
        srv_reply_error(r, 401, "authentication_error", NULL, "invalid_api_key", "a missing or wrong API key: send 'Authorization: Bearer KEY'");
        return true;
    }
    if (is_post) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->p.max_body) {
            srv_reply_error(r, 413, "invalid_request_error", NULL, "request_too_large", "the request body of %s bytes is over the limit of %zu (--max-body)", cl, s->p.max_body);
            return true;
        }
    }
    if (s->draining && (rt == SRV_ROUTE_CHAT || rt == SRV_ROUTE_COMPLETIONS || rt == SRV_ROUTE_EMBEDDINGS)) {
        srv_reply_error(r, 503, "server_error", NULL, "shutting_down", "the server is shutting down");
        r->retry_after = 5;
        return true;
    }
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    srv *s = cls;
    conn_ctx *cc = *con_cls;
    srv_reply r = {0};
    if (!cc) {
        if (!(cc = pl_calloc(1, sizeof *cc))) return MHD_NO;
        cc->s = s;
        cc->route = route_of(url);
        *con_cls = cc;
        if (early_answer(s, c, cc, url, method, &r)) return send_reply(s, c, cc->route, &r);
        if (route_is_post(cc->route)) return MHD_YES; /* the body comes next */
    }
    if (*upload_size) {
        if (!cc->too_big && cc->n + *upload_size > s->p.max_body) { cc->too_big = true; free(cc->body); cc->body = NULL; }
        if (!cc->too_big) {
            if (cc->n + *upload_size + 1 > cc->cap) {
                size_t cap = (cc->n + *upload_size + 1) * 2;
                if (cap > s->p.max_body + 1) cap = s->p.max_body + 1;
                char *p = pl_realloc(cc->body, cap);
                if (!p) return MHD_NO;
                cc->body = p; cc->cap = cap;
            }
            memcpy(cc->body + cc->n, upload, *upload_size);
            cc->n += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (cc->too_big) {
        srv_reply_error(&r, 413, "invalid_request_error", NULL, "request_too_large", "the request body is over the limit of %zu bytes (--max-body)", s->p.max_body);
        return send_reply(s, c, cc->route, &r);
    }
    switch (cc->route) {
    case SRV_ROUTE_ROOT:
        r.status = 200;
        r.body = pl_malloc(pl_web_index_html_len + 1);
        if (r.body) { memcpy(r.body, pl_web_index_html, pl_web_index_html_len); r.len = pl_web_index_html_len; }
        r.ctype = "text/html; charset=utf-8";
        break;
    case SRV_ROUTE_HEALTH: srv_route_health(s, &r); break;
    case SRV_ROUTE_MODELS: srv_route_models(s, &r); break;
    case SRV_ROUTE_METRICS: srv_route_metrics(s, &r); break;
    case SRV_ROUTE_CHAT: case SRV_ROUTE_COMPLETIONS:
        /* the request is whole: from here on the connection may stay quiet while the reply waits for a slot
         * or is generated (the idle limit is for clients that send slowly) */
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)0);
        srv_route_generate(s, cc->route == SRV_ROUTE_CHAT, cc->body, cc->n, conn_alive, c, &r);
        if (!r.status) return MHD_NO; /* the client left while its reply was generated */
        break;
    case SRV_ROUTE_EMBEDDINGS: /* may wait its turn on the encoder */
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)0);
        srv_route_embeddings(s, cc->body, cc->n, &r);
        break;
    case SRV_ROUTE_TOKENIZE: case SRV_ROUTE_DETOKENIZE:
        srv_route_tokenize(s, cc->route == SRV_ROUTE_DETOKENIZE, cc->body, cc->n, &r);
        break;
    }
    if (!r.status) srv_reply_error(&r, 500, "server_error", NULL, NULL, "no reply was made");
    return send_reply(s, c, cc->route, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls; (void)c; (void)toe;
    conn_ctx *cc = *con_cls;
    if (!cc) return;
    free(cc->body);
    free(cc);
    *con_cls = NULL;
}

/* --------------------------------------------------------------------------------------------- lifetime -- */

static char *base_name(const char *path, bool stem) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *b = path + n;
    while (b > path && b[-1] != '/') b--;
    size_t len = (size_t)(path + n - b);
    if (stem && len > 5 && !strncmp(b + len - 5, ".gguf", 5)) len -= 5;
    char *out = pl_malloc(len + 1);
    if (out) { memcpy(out, b, len); out[len] = 0; }
    return out;
}

static void models_free(srv *s) {
    for (int i = 0; i < s->n_models; i++) {
        pl_sched_free(s->models[i].sched);
        pl_bundle_free(s->models[i].b);
        free(s->models[i].name);
        free(s->models[i].stem);
    }
    s->n_models = 0;
    for (int i = 0; i < s->n_embedders; i++) {
        pl_embedder_free(s->embedders[i].e);
        free(s->embedders[i].name);
        pthread_mutex_destroy(&s->embedders[i].mu);
    }
    s->n_embedders = 0;
}

static int embedders_open(srv *s) {
    for (int i = 0; i < s->p.n_embed_models; i++) {
        srv_embedder *m = &s->embedders[s->n_embedders];
        m->e = pl_embedder_load(s->p.embed_models[i], &(pl_embedder_params){.n_threads = s->p.n_threads});
        if (!m->e) return pl_error(PL_ERR_ARG, "--embed-model %s: %s", s->p.embed_models[i], pl_last_error());
        pthread_mutex_init(&m->mu, NULL);
        s->n_embedders++;
        if (!(m->name = pl_strdup(pl_embedder_name(m->e)))) return PL_ERR_NOMEM;
        for (int k = 0; k < s->n_models; k++)
            if (!strcmp(s->models[k].name, m->name) || !strcmp(s->models[k].stem, m->name))
                return pl_error(PL_ERR_ARG, "two models are named %s", m->name);
        for (int k = 0; k < s->n_embedders - 1; k++)
            if (!strcmp(s->embedders[k].name, m->name)) return pl_error(PL_ERR_ARG, "two models are named %s", m->name);
    }
    return PL_OK;
}

static int models_open(srv *s) {
    for (int i = 0; i < s->p.n_models; i++) {
        srv_model *m = &s->models[s->n_models];
        int ctx = s->p.n_ctx > 0 ? s->p.n_ctx : 2048;
        pl_bundle_params bp = {.n_ctx = ctx * s->p.n_slots, .n_threads = s->p.n_threads, .chat = s->p.chat_template};
        m->b = pl_bundle_open(s->p.models[i], &bp);
        if (!m->b) return pl_error(PL_ERR_ARG, "%s: %s", s->p.models[i], pl_last_error());
        s->n_models++;
        int train_ctx = m->b->llm->hp.n_ctx_train;
        if (s->p.n_ctx <= 0 && train_ctx > 0 && train_ctx < ctx) ctx = train_ctx; /* the model's own limit */
        m->n_ctx = ctx;
        m->name = base_name(m->b->path, false);
        m->stem = base_name(m->b->path, true);
        if (!m->name || !m->stem) return PL_ERR_NOMEM;
        for (int k = 0; k < s->n_models - 1; k++)
            if (!strcmp(s->models[k].name, m->name)) return pl_error(PL_ERR_ARG, "two models are named %s", m->name);
        m->sched = pl_sched_new(m->b, &(pl_sched_params){.n_slots = s->p.n_slots, .n_ctx_slot = ctx, .max_queue = s->p.max_queue});
        if (!m->sched) return pl_error(PL_ERR_ARG, "%s: %s", m->name, pl_last_error());
    }
    return PL_OK;
}

static bool all_idle(srv *s) {
    for (int i = 0; i < s->n_models; i++) {
        pl_sched_stats st;
        pl_sched_get_stats(s->models[i].sched, &st);
        if (st.busy_slots || st.queued) return false;
    }
    return true;
}

int pl_serve_run(const pl_serve_params *params, volatile sig_atomic_t *stop, void (*on_ready)(const char *url, void *ud), void *ud) {
    srv *s = pl_calloc(1, sizeof *s);
    if (!s) return PL_ERR_NOMEM;
    s->p = *params;
    if (!s->p.host) s->p.host = "127.0.0.1";
    if (s->p.n_slots <= 0) s->p.n_slots = 4;
    if (!s->p.max_body) s->p.max_body = 1 << 20;
    if (s->p.max_queue <= 0) s->p.max_queue = 64;
    if (s->p.drain_seconds <= 0) s->p.drain_seconds = 60;
    if (s->p.idle_timeout <= 0) s->p.idle_timeout = 20;
    if (s->p.max_embed_inputs <= 0) s->p.max_embed_inputs = 2048;
    if (s->p.n_models <= 0 && s->p.n_embed_models <= 0) { free(s); return pl_error(PL_ERR_ARG, "no model given"); }
    pthread_mutex_init(&s->counters.mu, NULL);
    s->t_start = (double)time(NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->p.port)};
    const char *host = !strcmp(s->p.host, "localhost") ? "127.0.0.1" : s->p.host;
    int rc = inet_pton(AF_INET, host, &addr.sin_addr) == 1 ? PL_OK
           : pl_error(PL_ERR_ARG, "--host: '%s' is not an IPv4 address (127.0.0.1, 0.0.0.0, ...)", s->p.host);
    if (!rc) rc = models_open(s);
    if (!rc) rc = embedders_open(s);
    struct MHD_Daemon *d = NULL;
    if (!rc) {
        d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC,
                             0, NULL, NULL, on_request, s,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->p.idle_timeout,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                             MHD_OPTION_END);
        if (!d) rc = pl_error(PL_ERR_IO, "cannot listen on %s:%d (%s)", s->p.host, s->p.port, strerror(errno));
    }
    if (!rc) {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        char url[128];
        snprintf(url, sizeof url, "http://%s:%u/", s->p.host, di ? di->port : (unsigned)s->p.port);
        if (on_ready) on_ready(url, ud);
        while (!*stop) usleep(100 * 1000);
        /* drain: no new generation; what was admitted finishes (within drain_seconds) */
        s->draining = 1;
        for (int i = 0; i < s->n_models; i++) pl_sched_drain(s->models[i].sched);
        double t0 = pl_time_s();
        while (!all_idle(s) && pl_time_s() - t0 < s->p.drain_seconds) usleep(50 * 1000);
        for (int i = 0; i < s->n_models; i++) pl_sched_stop(s->models[i].sched); /* ends what is left */
        MHD_stop_daemon(d);
    }
    models_free(s);
    pthread_mutex_destroy(&s->counters.mu);
    free(s);
    return rc;
}
