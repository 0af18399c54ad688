/* plinth embed -m MODEL [TEXT...] [-f FILE]: sentence embeddings of each TEXT, or of each line of FILE / standard
 * input, as JSON lines or raw float32. The work is tasks/embed.h (pl_embed_texts_ex); this file parses arguments,
 * splits the input into lines and prints. */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "tasks/embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: plinth embed -m MODEL [TEXT...] [-f FILE] [--batch N] [--format jsonl|f32] [-t N]\n"
            "  MODEL          an encoder: a sentence-transformers / Hugging Face directory (e.g. all-MiniLM-L6-v2)\n"
            "  TEXT           texts to embed; without any, each line of FILE (or of standard input) is one text\n"
            "  -f FILE        read texts from FILE, one a line ('-': standard input)\n"
            "  --batch N      texts per forward pass (default 32)\n"
            "  --format F     jsonl (default): {\"index\": i, \"embedding\": [...]} a line; f32: n x dim little-endian\n"
            "                 float32, nothing else (not to a terminal)\n"
            "  -t N           threads (default: the physical cores)\n"
            "  -q             no progress bar and no summary\n");
}

typedef struct { const char *model, *file, *format; int batch, threads; bool quiet; const char *texts[64]; int n_texts; } embed_args;

static int parse(int argc, char **argv, embed_args *a) {
    *a = (embed_args){.format = "jsonl"};
    bool end = false;
    for (int i = 1; i < argc; i++) {
        long long v;
        if (end || argv[i][0] != '-' || !strcmp(argv[i], "-")) {
            if (a->n_texts == (int)PL_ARRAY_LEN(a->texts)) { fprintf(stderr, "embed: more than 64 texts: use -f FILE\n"); return 2; }
            a->texts[a->n_texts++] = argv[i];
        } else if (!strcmp(argv[i], "--")) end = true;
        else if (!strcmp(argv[i], "-m")) { if (!arg_str(argc, argv, &i, &a->model)) return 2; }
        else if (!strcmp(argv[i], "-f")) { if (!arg_str(argc, argv, &i, &a->file)) return 2; }
        else if (!strcmp(argv[i], "--format")) { if (!arg_str(argc, argv, &i, &a->format)) return 2; }
        else if (!strcmp(argv[i], "--batch")) { if (!arg_int(argc, argv, &i, 1, 4096, &v)) return 2; a->batch = (int)v; }
        else if (!strcmp(argv[i], "-t")) { if (!arg_int(argc, argv, &i, 1, 256, &v)) return 2; a->threads = (int)v; }
        else if (!strcmp(argv[i], "-q")) a->quiet = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return -1; }
        else return arg_unknown(argv, i);
    }
    if (!a->model) { usage(stderr); return 2; }
    if (strcmp(a->format, "jsonl") && strcmp(a->format, "f32")) {
        fprintf(stderr, "embed: --format must be jsonl or f32, not '%s'\n", a->format);
        return 2;
    }
    if (a->n_texts && a->file) { fprintf(stderr, "embed: give TEXT arguments or -f FILE, not both\n"); return 2; }
    if (!strcmp(a->format, "f32") && isatty(1)) { fprintf(stderr, "embed: --format f32 writes binary: redirect it to a file\n"); return 2; }
    return 0;
}

/* The lines of text (a final newline ends the last one, "\r\n" counts as one): pointers into text, NULs written */
static int split_lines(char *text, size_t len, const char ***out) {
    int n = 0, cap = 0;
    const char **v = NULL;
    for (size_t s = 0; s < len;) {
        char *nl = memchr(text + s, '\n', len - s);
        size_t e = nl ? (size_t)(nl - text) : len;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            const char **nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) { free(v); return PL_ERR_NOMEM; }
            v = nv;
        }
        text[e] = 0;
        if (e > s && text[e - 1] == '\r') text[e - 1] = 0;
        v[n++] = text + s;
        s = e + 1;
    }
    *out = v;
    return n;
}

static void on_progress(int done, int total, void *ud) {
    (void)ud;
    int w = 30, k = (int)((long long)done * w / total);
    fprintf(stderr, "\r[%.*s%*s] %d/%d texts", k, "##############################", w - k, "", done, total);
    if (done == total) fputc('\n', stderr);
}

static void print_jsonl(const float *v, int n, int dim) {
    for (int i = 0; i < n; i++) {
        printf("{\"index\": %d, \"embedding\": [", i);
        for (int c = 0; c < dim; c++) printf(c ? ", %.7g" : "%.7g", v[(size_t)i * dim + c]);
        puts("]}");
    }
}

int cmd_embed(int argc, char **argv) {
    embed_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    char *text = NULL;
    const char **lines = NULL;
    int n = a.n_texts;
    if (!n) {
        size_t len;
        text = arg_read_text(a.file ? a.file : "-", &len);
        if (!text) return 1;
        n = split_lines(text, len, &lines);
        if (n <= 0) { fprintf(stderr, "embed: %s\n", n ? pl_last_error() : "no text to embed"); free(text); return 1; }
    }
    pl_embedder *e = pl_embedder_load(a.model, &(pl_embedder_params){.n_threads = a.threads});
    if (!e) { fprintf(stderr, "embed: %s\n", pl_last_error()); free(text); free(lines); return 1; }
    int dim = pl_embedder_dim(e);
    float *out = malloc((size_t)n * dim * sizeof(float));
    pl_embed_opts o = {.batch = a.batch, .progress = !a.quiet && n >= 256 && isatty(2) ? on_progress : NULL};
    pl_embed_stats st;
    double t0 = pl_time_s();
    rc = out ? pl_embed_texts_ex(e, lines ? lines : a.texts, NULL, n, out, &o, &st) : PL_ERR_NOMEM;
    double dt = pl_time_s() - t0;
    if (rc) fprintf(stderr, "embed: %s\n", pl_last_error());
    else if (!strcmp(a.format, "f32")) fwrite(out, sizeof(float), (size_t)n * dim, stdout);
    else print_jsonl(out, n, dim);
    if (!rc && !a.quiet) {
        fprintf(stderr, "%s: %d texts, %lld tokens, dim %d, %.2f s (%.1f texts/s)\n", pl_embedder_name(e), n,
                (long long)st.n_tokens, dim, dt, n / (dt > 0 ? dt : 1e-9));
        if (st.n_truncated)
            fprintf(stderr, "note: %d text(s) were longer than the model's %d tokens and were cut to them\n", st.n_truncated,
                    pl_embedder_max_tokens(e));
    }
    free(out); free(text); free(lines);
    pl_embedder_free(e);
    return rc ? 1 : 0;
}
