/* Option-value parsing shared by the subcommands. */
#include "cli/args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    else return 0;
    return ok ? 1 : -1;
}
