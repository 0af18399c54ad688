/* plinth serve: an OpenAI-compatible HTTP server over one or more models (libmicrohttpd + cJSON), with a
 * continuous-batching scheduler per model (tasks/scheduler.h), Prometheus metrics and a web page at /.
 * The interface layer: src/cli/cmd_serve.c parses the command line and calls pl_serve_run; everything it does
 * to a model goes through task functions. Routes and behaviour: docs/serve.md. */
#ifndef PL_SERVE_SERVER_H
#define PL_SERVE_SERVER_H

#include <signal.h>
#include <stddef.h>

#define PL_SERVE_MAX_MODELS 8

typedef struct {
    const char *models[PL_SERVE_MAX_MODELS]; /* paths (the first is the default) */
    int n_models;
    const char *embed_models[PL_SERVE_MAX_MODELS]; /* encoder directories for /v1/embeddings (the first: default) */
    int n_embed_models;
    int max_embed_inputs;    /* texts in one /v1/embeddings request (default 2048; more: 413) */
    const char *host;        /* default 127.0.0.1 */
    int port;                /* default 8080; 0: any free port (printed) */
    int n_slots;             /* requests generating at once per model (default 4) */
    int n_ctx;               /* tokens per request, prompt + reply (default: the model's, at most 2048) */
    int n_threads;           /* 0: the physical cores */
    const char *api_key;     /* NULL: none */
    size_t max_body;         /* bytes of a request body (default 1 MiB) */
    int max_queue;           /* requests waiting for a slot per model (default 64) */
    const char *chat_template; /* NULL: each model's own */
    double drain_seconds;    /* on a stop signal, how long in-flight requests may take (default 60) */
    int idle_timeout;        /* seconds a client may stay silent while sending its request (default 20) */
} pl_serve_params;

/* Load the models, listen, serve until *stop becomes nonzero, then drain (new requests get 503; in-flight ones
 * finish) and return. on_ready (may be NULL) gets the URL once listening. PL_OK or a negative status + message. */
int pl_serve_run(const pl_serve_params *p, volatile sig_atomic_t *stop, void (*on_ready)(const char *url, void *ud),
                 void *ud);

#endif
