/* plinth imatrix -m MODEL -f TEXT [-o FILE] [-c N_CTX] [--chunks N] [-t N]: run a model over calibration text and
 * write the importance matrix (per weight column, the mean squared activation) in llama.cpp's GGUF imatrix
 * format, for `plinth quantize --imatrix` (tasks/imatrix.h). Prints the running perplexity per chunk, as
 * llama-imatrix does, and a summary of the entries. */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "tasks/bundle.h"
#include "tasks/imatrix.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth imatrix -m MODEL -f TEXT [options] [--]\n\n"
        "  -m, --model PATH     a .gguf file or a Hugging Face model directory (F16/F32 is best)\n"
        "  -f, --file PATH      calibration text (UTF-8; '-' reads standard input); keep it apart from the text\n"
        "                       you evaluate on\n"
        "  -o, --output PATH    where to write it (default imatrix.gguf)\n"
        "  -c, --ctx-size N     tokens per chunk (default 512)\n"
        "  --chunks N           use at most N chunks (default: all whole chunks of the text)\n"
        "  -t, --threads N      threads\n"
        "  --                   the end of the options\n");
}

static void on_chunk(int chunk, double ppl, const int *pos, const double *nll, int n, void *ud) {
    (void)pos; (void)nll; (void)n; (void)ud;
    fprintf(stderr, "[%d]%.4f,", chunk + 1, ppl);
}

int cmd_imatrix(int argc, char **argv) {
    const char *out = "imatrix.gguf";
    pl_text_run_args a = {.ppl = pl_ppl_default_opts()};
    arg_rest rest = {.max = 0};
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        int k = arg_positional(argv, i, &rest);
        if (k) { if (k < 0) return 2; continue; }
        if ((k = arg_text_run(argc, argv, &i, &a))) ok = k > 0;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) ok = arg_str(argc, argv, &i, &out);
        else return arg_unknown(argv, i);
        if (!ok) return 2;
    }
    const char *model = a.model, *file = a.file;
    pl_ppl_opts o = a.ppl;
    if (!model) { fprintf(stderr, "plinth imatrix: no model given (-m PATH)\n"); return 2; }
    if (!file) { fprintf(stderr, "plinth imatrix: no calibration text given (-f PATH)\n"); return 2; }
    size_t len = 0;
    char *text = arg_read_text(file, &len);
    if (!text) { fprintf(stderr, "plinth imatrix: %s\n", pl_last_error()); return 1; }
    pl_bundle *m = pl_bundle_open(model, &(pl_bundle_params){.n_ctx = o.n_ctx, .n_threads = a.threads, .chat = "none"});
    pl_imatrix *im = m ? pl_imatrix_new() : NULL;
    pl_ppl_result r = {0};
    int rc = im ? pl_imatrix_collect(im, m->llm, m->tok, text, len, &o, on_chunk, NULL, &r) : PL_ERR_IO;
    if (im && r.n_chunks) fputc('\n', stderr);
    if (rc == PL_OK) rc = pl_imatrix_save(im, out, &file, 1);
    if (rc == PL_OK) {
        double rows = pl_imatrix_max_count(im);
        fprintf(stderr, "%s: %d matrices, %d chunks of %d tokens (%.0f activation rows each at most); "
                "perplexity on the way %.4f; %.2f s\n", out, pl_imatrix_n_entries(im), r.n_chunks, o.n_ctx, rows,
                r.ppl, r.seconds);
    }
    pl_imatrix_free(im);
    pl_bundle_free(m);
    free(text);
    if (rc) { fprintf(stderr, "plinth imatrix: %s\n", pl_last_error()); return 1; }
    return 0;
}
