/* plinth serve: parse the options and run the OpenAI-compatible server (src/serve/server.h) until Ctrl-C or
 * SIGTERM, which drain it: requests in flight finish, new ones get 503. docs/serve.md. */
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/interrupt.h"
#include "serve/server.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth serve -m MODEL [-m MODEL2 ...] [--embed-model DIR ...] [options]\n\n"
        "  -m, --model PATH     a .gguf file or a Hugging Face model directory (repeat to serve several; the\n"
        "                       request's \"model\" picks one, the first is the default)\n"
        "  --embed-model DIR    an encoder (sentence-transformers directory, e.g. all-MiniLM-L6-v2) for\n"
        "                       /v1/embeddings (repeat for several; the first is the default; -m may be left\n"
        "                       out to serve embeddings alone)\n"
        "  --max-embed-inputs N texts in one /v1/embeddings request (default 2048; more: 413)\n"
        "  --host ADDR          IPv4 address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)\n"
        "  --port N             port (default 8080; 0: any free port, printed)\n"
        "  --parallel N, --slots N  requests generating at once per model (default 4)\n"
        "  -c, --ctx N          tokens per request, prompt and reply (default: the model's, at most 2048)\n"
        "  -t, --threads N      threads (default: the physical cores)\n"
        "  --api-key KEY        require 'Authorization: Bearer KEY' (/, /health and /v1/models stay public)\n"
        "  --max-body BYTES     largest request body (default 1048576; larger: 413)\n"
        "  --max-queue N        requests waiting for a slot per model (default 64; more: 503 + Retry-After)\n"
        "  --chat-template NAME force a template family: chatml, llama3, llama2, mistral, gemma, zephyr\n"
        "  --idle-timeout S     drop a client silent for S seconds while sending its request (default 20)\n\n"
        "Routes: GET / (a chat page), /health, /v1/models, /metrics; POST /v1/chat/completions,\n"
        "/v1/completions, /v1/embeddings, /tokenize, /detokenize. Ctrl-C or SIGTERM drains and exits.\n");
}

static void ready(const char *url, void *ud) {
    (void)ud;
    printf("plinth serve: listening on %s (open it in a browser to chat; Ctrl-C stops)\n", url);
    fflush(stdout);
}

int cmd_serve(int argc, char **argv) {
    pl_serve_params p = {.port = 8080};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        bool ok = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (p.n_models == PL_SERVE_MAX_MODELS) { fprintf(stderr, "plinth serve: at most %d models\n", PL_SERVE_MAX_MODELS); return 2; }
            ok = arg_str(argc, argv, &i, &p.models[p.n_models]);
            if (ok) p.n_models++;
        }
        else if (!strcmp(a, "--embed-model")) {
            if (p.n_embed_models == PL_SERVE_MAX_MODELS) { fprintf(stderr, "plinth serve: at most %d embedding models\n", PL_SERVE_MAX_MODELS); return 2; }
            ok = arg_str(argc, argv, &i, &p.embed_models[p.n_embed_models]);
            if (ok) p.n_embed_models++;
        }
        else if (!strcmp(a, "--max-embed-inputs")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 20, &v))) p.max_embed_inputs = (int)v; }
        else if (!strcmp(a, "--host")) ok = arg_str(argc, argv, &i, &p.host);
        else if (!strcmp(a, "--port")) { if ((ok = arg_int(argc, argv, &i, 0, 65535, &v))) p.port = (int)v; }
        else if (!strcmp(a, "--parallel") || !strcmp(a, "--slots") || !strcmp(a, "-np")) { if ((ok = arg_int(argc, argv, &i, 1, 62, &v))) p.n_slots = (int)v; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx") || !strcmp(a, "--ctx-size")) { if ((ok = arg_int(argc, argv, &i, 16, 1 << 20, &v))) p.n_ctx = (int)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((ok = arg_int(argc, argv, &i, 1, 256, &v))) p.n_threads = (int)v; }
        else if (!strcmp(a, "--api-key")) ok = arg_str(argc, argv, &i, &p.api_key);
        else if (!strcmp(a, "--max-body")) { if ((ok = arg_int(argc, argv, &i, 64, 1ll << 32, &v))) p.max_body = (size_t)v; }
        else if (!strcmp(a, "--max-queue")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 20, &v))) p.max_queue = (int)v; }
        else if (!strcmp(a, "--chat-template")) ok = arg_str(argc, argv, &i, &p.chat_template);
        else if (!strcmp(a, "--idle-timeout")) { if ((ok = arg_int(argc, argv, &i, 1, 3600, &v))) p.idle_timeout = (int)v; }
        else return arg_unknown(argv, i);
        if (!ok) return 2;
    }
    if (!p.n_models && !p.n_embed_models) { fprintf(stderr, "plinth serve: no model given (-m PATH or --embed-model DIR)\n"); usage(stderr); return 2; }
    signal(SIGPIPE, SIG_IGN);
    volatile sig_atomic_t *stop = cli_catch_interrupt(1);
    int rc = pl_serve_run(&p, stop, ready, NULL);
    if (rc) { fprintf(stderr, "plinth serve: %s\n", pl_last_error()); return 1; }
    fprintf(stderr, "plinth serve: stopped\n");
    return 0;
}
