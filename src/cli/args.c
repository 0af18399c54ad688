/* Option parsing shared by the subcommands (args.h): option values, "--", positional arguments, text from a
 * file or standard input, and the option groups of run / chat (sampling) and perplexity / imatrix. */
#include "cli/args.h"

#include "core/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int arg_positional(char **argv, int i, arg_rest *r) {
    const char *a = argv[i];
    if (!r->end && !strcmp(a, "--")) { r->end = true; return 1; }
    if (!r->end && a[0] == '-' && a[1]) return 0;
    if (r->n < r->max && r->n < 8) { r->v[r->n++] = a; return 1; }
    fprintf(stderr, "plinth %s: unexpected argument '%s' (see plinth %s --help)\n", argv[0], a, argv[0]);
    return -1;
}

int arg_unknown(char **argv, int i) {
    fprintf(stderr, "plinth %s: unknown option '%s' (see plinth %s --help)\n", argv[0], argv[i], argv[0]);
    return 2;
}

static char *read_stream(FILE *f, size_t *len) {
    size_t cap = 0, n = 0;
    char *s = NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *p = realloc(s, cap);
            if (!p) { free(s); return pl_error_null(PL_ERR_NOMEM, "out of memory reading standard input"); }
            s = p;
        }
        size_t r = fread(s + n, 1, cap - n - 1, f);
        if (!r) break;
        n += r;
    }
    if (ferror(f)) { free(s); return pl_error_null(PL_ERR_IO, "cannot read standard input"); }
    s[n] = 0;
    *len = n;
    return s;
}

char *arg_read_text(const char *path, size_t *len) {
    return strcmp(path, "-") ? pl_read_file(path, len) : read_stream(stdin, len);
}

bool arg_prompt(const char *cmd, const char *text, const char *file, const char **out, char **owned) {
    *owned = NULL;
    if (text && file) { fprintf(stderr, "plinth %s: give the prompt as -p TEXT or -f FILE, not both\n", cmd); return false; }
    if (!file) { *out = text; return true; }
    size_t n;
    if (!(*owned = arg_read_text(file, &n))) { fprintf(stderr, "plinth %s: %s\n", cmd, pl_last_error()); return false; }
    if (n && (*owned)[n - 1] == '\n') (*owned)[--n] = 0;
    *out = *owned;
    return true;
}

bool arg_str(int argc, char **argv, int *i, const char **out) {
    if (*i + 1 >= argc) { fprintf(stderr, "plinth %s: option %s needs a value\n", argv[0], argv[*i]); return false; }
    *out = argv[++*i];
    return true;
}

bool arg_int(int argc, char **argv, int *i, long long lo, long long hi, long long *out) {
    const char *s;
    if (!arg_str(argc, argv, i, &s)) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "plinth %s: %s expects an integer in [%lld, %lld], got '%s'\n", argv[0], argv[*i - 1], lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool arg_float(int argc, char **argv, int *i, double lo, double hi, double *out) {
    const char *s;
    if (!arg_str(argc, argv, i, &s)) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= lo && v <= hi)) {
        fprintf(stderr, "plinth %s: %s expects a number in [%g, %g], got '%s'\n", argv[0], argv[*i - 1], lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

int arg_lora(int argc, char **argv, int *i, const char **list, int *n, const char **prompt) {
    if (!strcmp(argv[*i], "--prompt-adapter")) return arg_str(argc, argv, i, prompt) ? 1 : -1;
    if (strcmp(argv[*i], "--lora")) return 0;
    if (*n == 8) { fprintf(stderr, "plinth: at most 8 --lora adapters\n"); return -1; }
    return arg_str(argc, argv, i, &list[*n]) ? (++*n, 1) : -1;
}

int arg_sampling(int argc, char **argv, int *i, pl_sampler_params *sp) {
    const char *a = argv[*i];
    long long v;
    double f;
    bool ok;
    if (!strcmp(a, "--temp")) { if ((ok = arg_float(argc, argv, i, 0, 100, &f))) sp->temperature = (float)f; }
    else if (!strcmp(a, "--top-k")) { if ((ok = arg_int(argc, argv, i, 0, 1 << 30, &v))) sp->top_k = (int)v; }
    else if (!strcmp(a, "--top-p")) { if ((ok = arg_float(argc, argv, i, 0, 1, &f))) sp->top_p = (float)f; }
    else if (!strcmp(a, "--min-p")) { if ((ok = arg_float(argc, argv, i, 0, 1, &f))) sp->min_p = (float)f; }
    else if (!strcmp(a, "--repeat-penalty")) { if ((ok = arg_float(argc, argv, i, 0.01, 100, &f))) sp->repeat_penalty = (float)f; }
    else if (!strcmp(a, "--seed")) { if ((ok = arg_int(argc, argv, i, 0, 1LL << 62, &v))) sp->seed = (uint64_t)v; }
    else return 0;
    return ok ? 1 : -1;
}

int arg_text_run(int argc, char **argv, int *i, pl_text_run_args *r) {
    const char *a = argv[*i];
    long long v;
    bool ok;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = arg_str(argc, argv, i, &r->model);
    else if (!strcmp(a, "-f") || !strcmp(a, "--file")) ok = arg_str(argc, argv, i, &r->file);
    else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { if ((ok = arg_int(argc, argv, i, 4, 1 << 20, &v))) r->ppl.n_ctx = (int)v; }
    else if (!strcmp(a, "--chunks")) { if ((ok = arg_int(argc, argv, i, 1, 1 << 30, &v))) r->ppl.n_chunks = (int)v; }
    else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((ok = arg_int(argc, argv, i, 1, 256, &v))) r->threads = (int)v; }
    else return arg_lora(argc, argv, i, r->lora, &r->n_lora, &r->prompt_adapter);
    return ok ? 1 : -1;
}
