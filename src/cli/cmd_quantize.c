/* plinth quantize IN OUT TYPE [-t N]: write a GGUF model quantized to TYPE (tasks/quantize.h). A progress bar
 * and fallback notes go to stderr, then a summary: tensors per type, size before/after, bits per weight. */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "core/dtype.h"
#include "tasks/imatrix.h"
#include "tasks/quantize.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth quantize [-t N] [--imatrix FILE] [--] IN.gguf OUT.gguf TYPE\n\n"
        "  TYPE: %s (case-insensitive)\n"
        "  Q4_K_M / Q5_K_M mix types as llama.cpp does (see docs/quantize.md); the output tensor gets Q6_K\n"
        "  in every quantized type but Q8_0; 1-D tensors (norms, biases) stay as they are.\n"
        "  -t, --threads N   threads\n"
        "  --imatrix FILE    importance matrix from `plinth imatrix` (or llama-imatrix): the scale searches of the\n"
        "                    quantized types weight each column's error by its mean squared activation\n"
        "  --                the end of the options: the paths may then start with '-'\n", pl_quant_target_list());
}

typedef struct { bool bar_open, tty; } q_cli;

/* A bar redrawn in place on a terminal; nothing per tensor when stderr is a file or a pipe. */
static void on_tensor(int i, int n, const char *name, pl_dtype from, pl_dtype to, void *ud) {
    q_cli *c = ud;
    if (!c->tty) return;
    int w = 30, done = (int)((long long)(i + 1) * w / n);
    fprintf(stderr, "\r[%.*s%*s] %4d/%d %-32.32s %5s -> %-5s", done, "##############################", w - done, "",
            i + 1, n, name, pl_dtype_name(from), pl_dtype_name(to));
    c->bar_open = true;
}

static void on_note(const char *msg, void *ud) {
    q_cli *c = ud;
    if (c->bar_open) fputc('\n', stderr);
    c->bar_open = false;
    fprintf(stderr, "note: %s\n", msg);
}

static void summary(const pl_quant_stats *s, const pl_quant_target *t, const char *out) {
    fprintf(stderr, "%s: %s, %d tensors:", out, t->name, s->n_tensors);
    for (int k = 0; k < (int)PL_ARRAY_LEN(s->n_by_type); k++)
        if (s->n_by_type[k]) fprintf(stderr, " %s %d", pl_dtype_name((pl_dtype)k), s->n_by_type[k]);
    fprintf(stderr, "\n");
    double bpw_in = s->n_elements ? 8.0 * s->bytes_in / s->n_elements : 0;
    double bpw_out = s->n_elements ? 8.0 * s->bytes_out / s->n_elements : 0;
    fprintf(stderr, "size: %.2f MiB (%.2f bits/weight) -> %.2f MiB (%.2f bits/weight), %.2f s\n",
            s->bytes_in / 1048576.0, bpw_in, s->bytes_out / 1048576.0, bpw_out, s->seconds);
    if (s->n_fallback) fprintf(stderr, "%d tensor(s) used a fallback type\n", s->n_fallback);
    if (s->n_imatrix) fprintf(stderr, "%d tensor(s) were quantized with importance weights\n", s->n_imatrix);
    if (s->n_requantized) fprintf(stderr, "%d tensor(s) were decoded from a quantized type first\n", s->n_requantized);
}

int cmd_quantize(int argc, char **argv) {
    arg_rest pos = {.max = 3};
    int threads = 0;
    const char *imatrix = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        int k = arg_positional(argv, i, &pos);
        if (k) { if (k < 0) return 2; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!arg_int(argc, argv, &i, 1, 256, &v)) return 2;
            threads = (int)v;
        } else if (!strcmp(a, "--imatrix")) {
            if (!arg_str(argc, argv, &i, &imatrix)) return 2;
        } else return arg_unknown(argv, i);
    }
    if (pos.n < 3) { usage(stderr); return 2; }
    const char *in = pos.v[0], *out = pos.v[1];
    const pl_quant_target *t = pl_quant_target_find(pos.v[2]);
    if (!t) { fprintf(stderr, "plinth quantize: %s\n", pl_last_error()); return 2; }
    /* over a file-size limit, write() must fail with EFBIG (and the tmp file be removed), not kill us */
    signal(SIGXFSZ, SIG_IGN);
    pl_imatrix *im = NULL;
    if (imatrix && !(im = pl_imatrix_load(imatrix))) { fprintf(stderr, "plinth quantize: %s\n", pl_last_error()); return 1; }
    q_cli c = {.tty = isatty(2)};
    pl_quant_opts o = {.n_threads = threads, .on_tensor = on_tensor, .on_note = on_note, .ud = &c, .imatrix = im};
    pl_quant_stats s;
    int rc = pl_quantize_file(in, out, t, &o, &s);
    pl_imatrix_free(im);
    if (c.bar_open) fputc('\n', stderr);
    if (rc) { fprintf(stderr, "plinth quantize: %s\n", pl_last_error()); return 1; }
    summary(&s, t, out);
    return 0;
}
