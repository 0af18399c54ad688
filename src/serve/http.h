/* What the HTTP glue (http.c) and the routes (openai.c, metrics.c) share: the server's models, a reply a route
 * builds (a JSON body or a server-sent-event stream), OpenAI-shaped errors and the request counters. */
#ifndef PL_SERVE_HTTP_H
#define PL_SERVE_HTTP_H

#include "serve/server.h"
#include "tasks/bundle.h"
#include "tasks/embed.h"
#include "tasks/scheduler.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char *name;                 /* the file's name, what /v1/models lists and `model` selects */
    char *stem;                 /* the name without .gguf, accepted too */
    pl_bundle *b;
    pl_sched *sched;
    int n_ctx;                  /* tokens per request */
} srv_model;

/* an encoder for /v1/embeddings: requests take turns on it (its own threads, apart from the chat slots') */
typedef struct {
    char *name;                 /* the directory's name, what /v1/models lists and `model` selects */
    pl_embedder *e;
    pthread_mutex_t mu;
} srv_embedder;

enum { SRV_ROUTE_ROOT, SRV_ROUTE_HEALTH, SRV_ROUTE_MODELS, SRV_ROUTE_CHAT, SRV_ROUTE_COMPLETIONS,
       SRV_ROUTE_EMBEDDINGS, SRV_ROUTE_TOKENIZE, SRV_ROUTE_DETOKENIZE, SRV_ROUTE_METRICS, SRV_ROUTE_OTHER,
       SRV_ROUTE_COUNT };
extern const char *const srv_route_names[SRV_ROUTE_COUNT];

typedef struct {
    pthread_mutex_t mu;
    uint64_t by_status[SRV_ROUTE_COUNT][6]; /* 1xx..5xx by first digit; [0] unused */
    uint64_t codes[SRV_ROUTE_COUNT][600];
} srv_counters;

typedef struct srv {
    pl_serve_params p;
    srv_model models[PL_SERVE_MAX_MODELS];
    int n_models;
    srv_embedder embedders[PL_SERVE_MAX_MODELS];
    int n_embedders;
    srv_counters counters;
    double t_start;
    volatile int draining;
} srv;

/* a client connection's liveness, asked while a reply is being generated */
typedef bool (*srv_alive_fn)(void *ud);

typedef struct srv_stream srv_stream;

typedef struct {
    int status;
    char *body; size_t len;     /* malloc'd */
    const char *ctype;
    int retry_after;            /* seconds, 0: no header */
    srv_stream *stream;         /* not NULL: stream this instead of body */
} srv_reply;

void srv_reply_json(srv_reply *r, int status, char *json_text);  /* takes json_text */
void srv_reply_error(srv_reply *r, int status, const char *type, const char *param, const char *code,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* routes (openai.c) */
void srv_route_models(srv *s, srv_reply *r);
void srv_route_generate(srv *s, bool chat, const char *body, size_t len, srv_alive_fn alive, void *ud, srv_reply *r);
void srv_route_embeddings(srv *s, const char *body, size_t len, srv_reply *r);
void srv_route_tokenize(srv *s, bool detokenize, const char *body, size_t len, srv_reply *r);
/* a stream: the next bytes of server-sent events (blocks until some are ready); 0 at the end, -1 when the
 * client is gone */
long srv_stream_read(srv_stream *st, char *buf, size_t max, srv_alive_fn alive, void *ud);
void srv_stream_free(srv_stream *st);

/* metrics.c */
void srv_count(srv *s, int route, int status);
void srv_route_metrics(srv *s, srv_reply *r);
void srv_route_health(srv *s, srv_reply *r);

/* the page at / (generated from web/index.html at build time) */
extern const unsigned char pl_web_index_html[];
extern const size_t pl_web_index_html_len;

#endif
