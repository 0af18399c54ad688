/* plinth tokenize: encode text with a model's tokenizer (a .gguf, a tokenizer.json or a HF model directory)
 * and print the tokens (default), the ids (--ids), a token-density table (--stats) or encode throughput
 * (--bench). The work is in src/tokenizer (encoding) and tasks/tokenize.h (the statistics); this file parses
 * arguments and prints. */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "tasks/tokenize.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: plinth tokenize -m MODEL [--ids] [--no-special] [--stats] [--bench] [-f FILE ...] [--] [TEXT]\n"
            "  MODEL          a .gguf, a tokenizer.json, or a directory holding tokenizer.json\n"
            "  --ids          print token ids instead of token strings\n"
            "  --no-special   do not add the model's BOS/EOS/CLS/SEP tokens\n"
            "  --stats        token density per file: characters, bytes, tokens, tokens per 100 chars, ratio to\n"
            "                 English (en.txt, else the first file); with no files: data/multilingual/*.txt\n"
            "  --bench        encode the files line by line (single thread) and report MB/s\n"
            "  -f FILE        read text from FILE (repeatable); '-' reads stdin\n"
            "  --             the end of the options: TEXT may then start with '-'\n");
}

static void print_json_str(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static int print_tokens(const pl_tokenizer *tok, const char *s, size_t n, bool ids_only, bool special) {
    int32_t *ids = NULL; int cap = 0;
    int k = pl_tokenize_all(tok, s, n, special, &ids, &cap);
    if (k < 0) { free(ids); return k; }
    if (!ids_only) putchar('[');
    for (int i = 0; i < k; i++) {
        if (ids_only) { printf(i ? " %d" : "%d", ids[i]); continue; }
        size_t len; const char *p = pl_tokenizer_token_str(tok, ids[i], &len);
        if (i) fputs(", ", stdout);
        print_json_str(p ? p : "?", p ? len : 1);
    }
    puts(ids_only ? "" : "]");
    free(ids);
    return PL_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The .txt files of data/multilingual under $PLINTH_ROOT or the current directory. */
static int bundled_files(char ***out) {
    const char *root = getenv("PLINTH_ROOT");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/data/multilingual", root ? root : ".");
    DIR *d = opendir(dir);
    if (!d) return pl_error(PL_ERR_IO, "no files given and %s not found", dir);
    int n = 0; char **v = NULL; struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt")) continue;
        char **nv = realloc(v, (size_t)(n + 1) * sizeof *v);
        if (!nv) break;
        v = nv;
        size_t m = strlen(dir) + l + 2;
        v[n] = malloc(m);
        if (v[n]) snprintf(v[n++], m, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

static void print_density(char **files, int nf, const pl_token_density *d) {
    printf("| %-16s | %7s | %7s | %7s | %14s | %8s |\n", "file", "chars", "bytes", "tokens", "tokens/100 ch", "vs en");
    printf("|------------------|---------|---------|---------|----------------|----------|\n");
    for (int i = 0; i < nf; i++) {
        const char *b = strrchr(files[i], '/') ? strrchr(files[i], '/') + 1 : files[i];
        printf("| %-16s | %7zu | %7zu | %7d | %14.1f | %7.2fx |\n", b, d[i].chars, d[i].bytes, d[i].tokens,
               d[i].per100, d[i].vs_en);
    }
}

/* --stats over the files given, or the bundled ones */
static int run_stats(const pl_tokenizer *tok, char **files, int nf) {
    char **owned = NULL;
    int rc = PL_OK;
    if (!nf && (nf = bundled_files(&owned)) < 0) return nf;
    pl_token_density *d = pl_calloc((size_t)nf + 1, sizeof *d);
    if (!d) rc = PL_ERR_NOMEM;
    if (!rc && !(rc = pl_token_density_run(tok, owned ? owned : files, nf, d))) print_density(owned ? owned : files, nf, d);
    free(d);
    for (int i = 0; owned && i < nf; i++) free(owned[i]);
    free(owned);
    return rc;
}

static int run_bench(const pl_tokenizer *tok, char **files, int nf) {
    pl_tokenize_speed sp;
    int rc = pl_tokenize_speed_run(tok, files, nf, &sp);
    double dt = sp.seconds;
    if (!rc) printf("bytes %zu  tokens %ld  seconds %.3f  MB/s %.2f\n", sp.bytes, sp.tokens, dt, sp.bytes / 1e6 / (dt > 0 ? dt : 1e-9));
    return rc;
}

/* the tokens of TEXT, then of each file */
static int run_print(const pl_tokenizer *tok, const char *text, char **files, int nf, bool ids_only, bool special) {
    int st = text ? print_tokens(tok, text, strlen(text), ids_only, special) : PL_OK;
    for (int i = 0; i < nf && !st; i++) {
        size_t n;
        char *s = arg_read_text(files[i], &n);
        if (!s) return PL_ERR_IO;
        st = print_tokens(tok, s, n, ids_only, special);
        free(s);
    }
    return st;
}

typedef struct { const char *model; bool ids_only, stats, bench, special; char **files; int nf; arg_rest text; } tok_args;

/* 0, 2 (usage error: printed) or -1 (--help printed) */
static int parse_args(int argc, char **argv, tok_args *t) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int k;
        bool ok = true;
        if ((k = arg_positional(argv, i, &t->text)) != 0) { if (k < 0) return 2; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return -1; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = arg_str(argc, argv, &i, &t->model);
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) ok = arg_str(argc, argv, &i, (const char **)&t->files[t->nf++]);
        else if (!strcmp(a, "--ids")) t->ids_only = true;
        else if (!strcmp(a, "--stats")) t->stats = true;
        else if (!strcmp(a, "--bench")) t->bench = true;
        else if (!strcmp(a, "--no-special")) t->special = false;
        else { arg_unknown(argv, i); usage(stderr); return 2; }
        if (!ok) return 2;
    }
    if (!t->model || (!t->text.n && !t->nf && !t->stats) || (t->bench && !t->nf)) { usage(stderr); return 2; }
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    tok_args t = {.special = true, .files = calloc((size_t)argc + 1, sizeof(char *)), .text = {.max = 1}};
    if (!t.files) return 1;
    int rc = parse_args(argc, argv, &t);
    if (rc) { free(t.files); return rc < 0 ? 0 : rc; }
    pl_tokenizer *tok = pl_tokenizer_load(t.model);
    if (!tok) { fprintf(stderr, "plinth tokenize: %s\n", pl_last_error()); free(t.files); return 1; }
    int st = t.stats ? run_stats(tok, t.files, t.nf)
             : t.bench ? run_bench(tok, t.files, t.nf)
                       : run_print(tok, t.text.n ? t.text.v[0] : NULL, t.files, t.nf, t.ids_only, t.special);
    if (st < 0) { fprintf(stderr, "plinth tokenize: %s\n", pl_last_error()); rc = 1; }
    pl_tokenizer_free(tok);
    free(t.files);
    return rc;
}
