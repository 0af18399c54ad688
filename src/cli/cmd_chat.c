/* plinth chat: an interactive conversation with a GGUF or HF chat model. Each turn renders the whole history
 * with the model's chat template (tasks/chat_template.h) and generates the reply (tasks/generate.h), whose
 * session reuses the KV cache of the unchanged prefix. Reads stdin line by line (a prompt is shown on a
 * terminal); /reset forgets the history, /exit (or end of input) quits. */
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/interrupt.h"
#include "tasks/bundle.h"
#include "tasks/generate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void print_piece(const char *s, size_t n, void *ud) {
    (void)ud;
    fwrite(s, 1, n, stdout);
    fflush(stdout);
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth chat -m MODEL [options] [--]\n\n"
        "  -m, --model PATH     a .gguf file or a Hugging Face model directory with a chat template\n"
        "  --system TEXT        system message\n"
        "  --system-file FILE   read the system message from FILE (one trailing newline dropped; not '-':\n"
        "                       standard input carries the conversation)\n"
        "  --chat-template NAME force a template family: chatml, llama3, llama2, mistral, gemma, zephyr\n"
        "  -n, --n-predict N    most tokens per reply (default 512)\n"
        "  --temp X, --top-k N, --top-p X, --min-p X, --repeat-penalty X, --seed N   sampling (plinth run --help)\n"
        "  -c, --ctx-size N     context length (default: the model's, at most 4096)\n"
        "  -t, --threads N      threads\n"
        "  --lora DIR[:SCALE]   apply a LoRA adapter (PEFT directory; repeatable; scale 1 by default)\n"
        "  --prompt-adapter DIR put a prompt-tuning adapter's virtual tokens before the text (PEFT directory)\n"
        "  --                   the end of the options\n\n"
        "Type a message and Enter. /reset forgets the conversation, /exit quits (so does end of input).\n");
}

typedef struct { pl_chat_message *v; int n, cap; } history;
static int history_add(history *h, const char *role, const char *content) {
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 16;
        pl_chat_message *p = pl_realloc(h->v, (size_t)cap * sizeof *p);
        if (!p) return PL_ERR_NOMEM;
        h->v = p; h->cap = cap;
    }
    char *c = pl_strdup(content), *r = pl_strdup(role);
    if (!c || !r) { free(c); free(r); return PL_ERR_NOMEM; }
    h->v[h->n++] = (pl_chat_message){r, c};
    return PL_OK;
}
static void history_clear(history *h, int keep) {
    for (int i = keep; i < h->n; i++) { free((char *)h->v[i].role); free((char *)h->v[i].content); }
    h->n = keep;
}

typedef struct { char *p; size_t n, cap; } reply_buf;
static void collect(const char *s, size_t n, void *ud) {
    reply_buf *b = ud;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) return;
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    print_piece(s, n, NULL);
}

/* one turn: render, generate, print, remember the reply. 0, 1 (error: message printed) or 130 */
static int chat_turn(const pl_bundle *b, history *h, const pl_gen_opts *o, pl_gen_session *sess) {
    char *text = pl_chat_render(b->chat, h->v, h->n, true);
    if (!text) { fprintf(stderr, "plinth chat: %s\n", pl_last_error()); history_clear(h, h->n - 1); return 1; }
    reply_buf r = {0};
    pl_gen_stats st;
    int rc = pl_generate(b->llm, b->tok, text, o, collect, &r, sess, &st);
    free(text);
    printf("\n");
    fflush(stdout);
    if (rc && rc != PL_ERR_INTERRUPTED) {
        fprintf(stderr, "plinth chat: %s\n", pl_last_error());
        history_clear(h, h->n - 1); /* forget the message that could not be answered */
        free(r.p);
        return 1;
    }
    history_add(h, "assistant", r.p ? r.p : "");
    free(r.p);
    return rc == PL_ERR_INTERRUPTED ? 130 : 0;
}

typedef struct { const char *model, *system, *system_file; pl_bundle_params bp; pl_gen_opts o; } chat_args;

/* 0, 2 (usage error: printed) or -1 (--help printed) */
static int parse_args(int argc, char **argv, chat_args *c) {
    arg_rest rest = {.max = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        int k;
        bool ok = true;
        if ((k = arg_positional(argv, i, &rest)) != 0) { if (k < 0) return 2; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return -1; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = arg_str(argc, argv, &i, &c->model);
        else if (!strcmp(a, "--system")) ok = arg_str(argc, argv, &i, &c->system);
        else if (!strcmp(a, "--system-file")) ok = arg_str(argc, argv, &i, &c->system_file);
        else if (!strcmp(a, "--chat-template")) ok = arg_str(argc, argv, &i, &c->bp.chat);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 24, &v))) c->o.n_predict = (int)v; }
        else if ((k = arg_lora(argc, argv, &i, c->bp.lora, &c->bp.n_lora, &c->bp.prompt_adapter)) != 0) ok = k > 0;
        else if ((k = arg_sampling(argc, argv, &i, &c->o.sampling)) != 0) ok = k > 0;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 20, &v))) c->bp.n_ctx = (int)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((ok = arg_int(argc, argv, &i, 1, 256, &v))) c->bp.n_threads = (int)v; }
        else return arg_unknown(argv, i);
        if (!ok) return 2;
    }
    if (!c->model) { fprintf(stderr, "plinth chat: no model given (-m PATH)\n"); return 2; }
    if (c->system_file && !strcmp(c->system_file, "-")) {
        fprintf(stderr, "plinth chat: --system-file cannot be '-': standard input carries the conversation\n");
        return 2;
    }
    return 0;
}

/* read messages until end of input or /exit; 0, 1 (some turn failed) or 130 */
static int chat_loop(const pl_bundle *b, const pl_gen_opts *o, history *h, int keep, volatile sig_atomic_t *stop) {
    bool tty = isatty(0);
    pl_gen_session sess = {0};
    int rc = 0;
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (tty) { fputs("> ", stdout); fflush(stdout); }
        errno = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) { if (errno == EINTR || *stop) { rc = 130; printf("\n"); } break; }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) { history_clear(h, keep); if (tty) printf("(conversation reset)\n"); continue; }
        if (!pl_utf8_valid(line, (size_t)n)) { fprintf(stderr, "plinth chat: the message is not valid UTF-8\n"); rc = 1; continue; }
        if (history_add(h, "user", line)) { rc = 1; break; }
        int r = chat_turn(b, h, o, &sess);
        if (r == 130) *stop = 0; /* Ctrl-C during a reply stops the reply, not the chat */
        else if (r) rc = 1;
    }
    free(line);
    pl_gen_session_free(&sess);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    chat_args c = {.bp = {.need_chat = true}};
    c.o.n_predict = 512;
    c.o.sampling = pl_sampler_default_params();
    int rc = parse_args(argc, argv, &c);
    if (rc) return rc < 0 ? 0 : rc;
    const char *system;
    char *owned;
    if (!arg_prompt("chat", c.system, c.system_file, &system, &owned)) return c.system && c.system_file ? 2 : 1;
    pl_bundle *b = pl_bundle_open(c.model, &c.bp);
    if (!b) { fprintf(stderr, "plinth chat: %s\n", pl_last_error()); free(owned); return 1; }
    pl_gen_opts o = pl_bundle_gen_opts(b, true);
    o.n_predict = c.o.n_predict;
    o.sampling = c.o.sampling;
    o.interrupt = cli_catch_interrupt(0); /* Ctrl-C at the prompt ends the chat */
    history h = {0};
    int keep = 0;
    if (system) { history_add(&h, "system", system); keep = 1; }
    rc = chat_loop(b, &o, &h, keep, o.interrupt);
    history_clear(&h, 0);
    free(h.v);
    free(owned);
    pl_bundle_free(b);
    return rc;
}
