/* plinth tokenize: encode text with a model's tokenizer (a .gguf, a tokenizer.json or a HF model directory)
 * and print the tokens (default), the ids (--ids), a token-density table (--stats) or encode throughput
 * (--bench). All the work is in src/tokenizer via the public API; this file parses arguments and prints. */
#include "cli/cli.h"
#include "core/common.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: plinth tokenize -m MODEL [--ids] [--no-special] [--stats] [--bench] [TEXT | -f FILE ...]\n"
            "  MODEL          a .gguf, a tokenizer.json, or a directory holding tokenizer.json\n"
            "  --ids          print token ids instead of token strings\n"
            "  --no-special   do not add the model's BOS/EOS/CLS/SEP tokens\n"
            "  --stats        token density per file: characters, bytes, tokens, tokens per 100 chars, ratio to\n"
            "                 English (en.txt, else the first file); with no files: data/multilingual/*.txt\n"
            "  --bench        encode the files line by line (single thread) and report MB/s\n"
            "  -f FILE        read text from FILE (repeatable); '-' reads stdin\n");
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

/* Encode into a growing buffer; returns the count or a negative status. */
static int encode(const pl_tokenizer *tok, const char *s, size_t n, bool special, int32_t **ids, int *cap) {
    int k = pl_tokenize(tok, s, n, *ids, *cap, special);
    if (k > *cap) {
        int32_t *p = realloc(*ids, (size_t)k * sizeof *p);
        if (!p) return PL_ERR_NOMEM;
        *ids = p; *cap = k;
        k = pl_tokenize(tok, s, n, *ids, *cap, special);
    }
    return k;
}

static int print_tokens(const pl_tokenizer *tok, const char *s, size_t n, bool ids_only, bool special) {
    int32_t *ids = NULL; int cap = 0;
    int k = encode(tok, s, n, special, &ids, &cap);
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

static size_t count_chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static const char *base_name(const char *p) { const char *s = strrchr(p, '/'); return s ? s + 1 : p; }

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

static int run_stats(const pl_tokenizer *tok, char **files, int nf) {
    double *per100 = calloc((size_t)nf + 1, sizeof *per100);
    size_t *chars = calloc((size_t)nf + 1, sizeof *chars), *bytes = calloc((size_t)nf + 1, sizeof *bytes);
    int *toks = calloc((size_t)nf + 1, sizeof *toks);
    int32_t *ids = NULL; int cap = 0, rc = PL_OK, en = 0;
    for (int i = 0; i < nf && per100 && chars && bytes && toks; i++) {
        size_t n; char *s = pl_read_file(files[i], &n);
        if (!s) { rc = PL_ERR_IO; break; }
        int k = encode(tok, s, n, false, &ids, &cap);
        chars[i] = count_chars(s, n); bytes[i] = n;
        free(s);
        if (k < 0) { rc = k; break; }
        toks[i] = k;
        per100[i] = chars[i] ? 100.0 * k / (double)chars[i] : 0;
        if (!strcmp(base_name(files[i]), "en.txt")) en = i;
    }
    if (!rc) {
        printf("| %-16s | %7s | %7s | %7s | %14s | %8s |\n", "file", "chars", "bytes", "tokens", "tokens/100 ch", "vs en");
        printf("|------------------|---------|---------|---------|----------------|----------|\n");
        for (int i = 0; i < nf; i++)
            printf("| %-16s | %7zu | %7zu | %7d | %14.1f | %7.2fx |\n", base_name(files[i]), chars[i], bytes[i], toks[i],
                   per100[i], per100[en] > 0 ? per100[i] / per100[en] : 0);
    }
    free(per100); free(chars); free(bytes); free(toks); free(ids);
    return rc;
}

static int run_bench(const pl_tokenizer *tok, char **files, int nf) {
    int32_t *ids = NULL; int cap = 0; int rc = PL_OK;
    size_t total = 0; long ntok = 0; double t0 = pl_time_s();
    for (int f = 0; f < nf && !rc; f++) {
        size_t n; char *s = pl_read_file(files[f], &n);
        if (!s) return PL_ERR_IO;
        for (size_t i = 0; i < n && !rc;) {
            const char *e = memchr(s + i, '\n', n - i);
            size_t l = e ? (size_t)(e - s - i) + 1 : n - i;
            int k = encode(tok, s + i, l, false, &ids, &cap);
            if (k < 0) rc = k; else ntok += k;
            i += l;
        }
        total += n;
        free(s);
    }
    double dt = pl_time_s() - t0;
    if (!rc) printf("bytes %zu  tokens %ld  seconds %.3f  MB/s %.2f\n", total, ntok, dt, total / 1e6 / (dt > 0 ? dt : 1e-9));
    free(ids);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL;
    bool ids_only = false, stats = false, bench = false, special = true;
    char **files = calloc((size_t)argc + 1, sizeof *files);
    int nf = 0, rc = 0;
    const char *text = NULL;
    if (!files) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); free(files); return 0; }
        else if (!strcmp(a, "-m") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(a, "-f") && i + 1 < argc) files[nf++] = argv[++i];
        else if (!strcmp(a, "--ids")) ids_only = true;
        else if (!strcmp(a, "--stats")) stats = true;
        else if (!strcmp(a, "--bench")) bench = true;
        else if (!strcmp(a, "--no-special")) special = false;
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "plinth tokenize: unknown option '%s'\n", a); usage(stderr); free(files); return 2; }
        else if (!text) text = a;
        else { fprintf(stderr, "plinth tokenize: more than one TEXT (quote it)\n"); free(files); return 2; }
    }
    if (!model || (!text && !nf && !stats) || (bench && !nf)) { usage(stderr); free(files); return 2; }
    pl_tokenizer *tok = pl_tokenizer_load(model);
    if (!tok) { fprintf(stderr, "plinth tokenize: %s\n", pl_last_error()); free(files); return 1; }
    char **owned = NULL; int n_owned = 0;
    int st = PL_OK;
    if (stats) {
        if (!nf) { n_owned = bundled_files(&owned); if (n_owned < 0) st = n_owned; }
        if (!st) st = nf ? run_stats(tok, files, nf) : run_stats(tok, owned, n_owned);
    } else if (bench) {
        st = run_bench(tok, files, nf);
    } else {
        if (text) st = print_tokens(tok, text, strlen(text), ids_only, special);
        for (int i = 0; i < nf && !st; i++) {
            size_t n; char *s = NULL;
            if (!strcmp(files[i], "-")) {
                size_t cap = 0; n = 0;
                for (;;) {
                    if (n + 4096 > cap) { cap = cap ? cap * 2 : 65536; char *p = realloc(s, cap); if (!p) break; s = p; }
                    size_t r = fread(s + n, 1, cap - n, stdin);
                    if (!r) break;
                    n += r;
                }
            } else s = pl_read_file(files[i], &n);
            if (!s) { st = PL_ERR_IO; break; }
            st = print_tokens(tok, s, n, ids_only, special);
            free(s);
        }
    }
    if (st < 0) { fprintf(stderr, "plinth tokenize: %s\n", pl_last_error()); rc = 1; }
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    free(owned);
    pl_tokenizer_free(tok);
    free(files);
    return rc;
}
