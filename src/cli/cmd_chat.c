/* plinth chat: an interactive conversation with a GGUF or HF chat model. Each turn renders the whole history
 * with the model's chat template (tasks/chat_template.h) and generates the reply (tasks/generate.h), whose
 * session reuses the KV cache of the unchanged prefix. Reads stdin line by line (a prompt is shown on a
 * terminal); /reset forgets the history, /exit (or end of input) quits. */
#include "cli/args.h"
#include "cli/cli.h"
#include "io/gguf.h"
#include "io/hfconfig.h"
#include "tasks/chat_template.h"
#include "tasks/generate.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) { (void)sig; g_stop = 1; }

static void print_piece(const char *s, size_t n, void *ud) {
    (void)ud;
    fwrite(s, 1, n, stdout);
    fflush(stdout);
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth chat -m MODEL [options]\n\n"
        "  -m, --model PATH     a .gguf file or a Hugging Face model directory with a chat template\n"
        "  --system TEXT        system message\n"
        "  --chat-template NAME force a template family: chatml, llama3, llama2, mistral, gemma, zephyr\n"
        "  -n, --n-predict N    most tokens per reply (default 512)\n"
        "  --temp X, --top-k N, --top-p X, --min-p X, --repeat-penalty X, --seed N   sampling (plinth run --help)\n"
        "  -c, --ctx-size N     context length (default: the model's, at most 4096)\n"
        "  -t, --threads N      threads\n\n"
        "Type a message and Enter. /reset forgets the conversation, /exit quits (so does end of input).\n");
}

/* the model's Jinja chat template: GGUF tokenizer.chat_template, or tokenizer_config.json / chat_template.jinja */
static pl_chat_template *load_template(const char *path, const char *force) {
    if (force) return pl_chat_template_by_name(force);
    size_t n = strlen(path);
    if (n > 5 && !strcmp(path + n - 5, ".gguf")) {
        pl_gguf *g = pl_gguf_open(path);
        if (!g) return NULL;
        const char *j = pl_gguf_get_str(g, "tokenizer.chat_template", NULL);
        pl_chat_template *t = j ? pl_chat_template_detect(j)
                                : pl_error_null(PL_ERR_FORMAT, "%s has no chat template (use --chat-template)", path);
        pl_gguf_close(g);
        return t;
    }
    pl_hf_tokenizer_config tc;
    if (pl_hf_tokenizer_config_load(path, &tc)) return NULL;
    pl_chat_template *t = tc.chat_template ? pl_chat_template_detect(tc.chat_template)
                                           : pl_error_null(PL_ERR_FORMAT, "%s has no chat template (use --chat-template)", path);
    if (t && (tc.bos_token || tc.eos_token)) pl_chat_template_set_tokens(t, tc.bos_token, tc.eos_token);
    pl_hf_tokenizer_config_free(&tc);
    return t;
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
static int chat_turn(pl_llm *m, pl_tokenizer *tok, pl_chat_template *t, history *h, const pl_gen_opts *o,
                     pl_gen_session *sess) {
    char *text = pl_chat_render(t, h->v, h->n, true);
    if (!text) { fprintf(stderr, "plinth chat: %s\n", pl_last_error()); history_clear(h, h->n - 1); return 1; }
    reply_buf r = {0};
    pl_gen_stats st;
    int rc = pl_generate(m, tok, text, o, collect, &r, sess, &st);
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

int cmd_chat(int argc, char **argv) {
    pl_gen_opts o = pl_gen_default_opts();
    o.n_predict = 512;
    o.add_special = false; /* the rendered template carries its own BOS text */
    const char *model = NULL, *system = NULL, *force = NULL;
    int n_ctx = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        int r;
        bool ok = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = arg_str(argc, argv, &i, &model);
        else if (!strcmp(a, "--system")) ok = arg_str(argc, argv, &i, &system);
        else if (!strcmp(a, "--chat-template")) ok = arg_str(argc, argv, &i, &force);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 24, &v))) o.n_predict = (int)v; }
        else if ((r = arg_sampling(argc, argv, &i, &o.sampling)) != 0) ok = r > 0;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 20, &v))) n_ctx = (int)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((ok = arg_int(argc, argv, &i, 1, 256, &v))) threads = (int)v; }
        else { fprintf(stderr, "plinth chat: unknown option '%s' (see plinth chat --help)\n", a); return 2; }
        if (!ok) return 2;
    }
    if (!model) { fprintf(stderr, "plinth chat: no model given (-m PATH)\n"); return 2; }
    pl_llm *m = pl_llm_load_ex(model, &(pl_llm_params){.n_ctx = n_ctx, .n_threads = threads});
    pl_tokenizer *tok = m ? pl_tokenizer_load(model) : NULL;
    pl_chat_template *t = tok ? load_template(model, force) : NULL;
    if (!t) {
        fprintf(stderr, "plinth chat: %s\n", pl_last_error());
        pl_tokenizer_free(tok); pl_llm_free(m);
        return 1;
    }
    const char *eot = pl_chat_template_end_of_turn(t);
    o.stops = &eot;
    o.n_stops = eot ? 1 : 0;
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint; /* no SA_RESTART: Ctrl-C at the prompt ends the chat */
    sigaction(SIGINT, &sa, NULL);
    o.interrupt = &g_stop;
    bool tty = isatty(0);
    history h = {0};
    pl_gen_session sess = {0};
    int keep = 0, rc = 0;
    if (system) { history_add(&h, "system", system); keep = 1; }
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (tty) { fputs("> ", stdout); fflush(stdout); }
        errno = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) { if (errno == EINTR || g_stop) { rc = 130; printf("\n"); } break; }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) { history_clear(&h, keep); if (tty) printf("(conversation reset)\n"); continue; }
        if (!pl_utf8_valid(line, (size_t)n)) { fprintf(stderr, "plinth chat: the message is not valid UTF-8\n"); rc = 1; continue; }
        if (history_add(&h, "user", line)) { rc = 1; break; }
        int r = chat_turn(m, tok, t, &h, &o, &sess);
        if (r == 130) g_stop = 0; /* Ctrl-C during a reply stops the reply, not the chat */
        else if (r) rc = 1;
    }
    free(line);
    history_clear(&h, 0);
    free(h.v);
    pl_gen_session_free(&sess);
    pl_chat_template_free(t);
    pl_tokenizer_free(tok);
    pl_llm_free(m);
    return rc;
}
