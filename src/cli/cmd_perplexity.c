/* plinth perplexity -m MODEL -f FILE [-c N_CTX] [-b BATCH] [--chunks N] [-t N] [--dump-nll FILE]: perplexity
 * of a text as llama.cpp's llama-perplexity computes it (tasks/perplexity.h). Prints `[1]9.8765,[2]...` per
 * chunk and `Final estimate: PPL = X +/- Y` on stdout, the same lines llama.cpp prints, for scripts to compare. */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "tasks/bundle.h"
#include "tasks/perplexity.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth perplexity -m MODEL -f FILE [options] [--]\n\n"
        "  -m, --model PATH     a .gguf file or a Hugging Face model directory\n"
        "  -f, --file PATH      the text (UTF-8); '-' reads standard input\n"
        "  -c, --ctx-size N     tokens per chunk (default 512); the second half of each chunk is scored\n"
        "  -b, --batch-size N   tokens per evaluation (default: the chunk)\n"
        "  --chunks N           evaluate at most N chunks (default: all)\n"
        "  -t, --threads N      threads\n"
        "  --lora DIR[:SCALE]   apply a LoRA adapter (PEFT directory; repeatable; scale 1 by default)\n"
        "  --prompt-adapter DIR put a prompt-tuning adapter's virtual tokens before the text (PEFT directory)\n"
        "  --dump-nll PATH      write each scored token as 'chunk position nll' lines\n"
        "  --                   the end of the options\n");
}

typedef struct { FILE *dump; } ppl_cli;

static void on_chunk(int chunk, double ppl, const int *pos, const double *nll, int n, void *ud) {
    ppl_cli *c = ud;
    printf("[%d]%.4f,", chunk + 1, ppl);
    fflush(stdout);
    for (int k = 0; c->dump && k < n; k++) fprintf(c->dump, "%d %d %.17g\n", chunk, pos[k], nll[k]);
}

int cmd_perplexity(int argc, char **argv) {
    const char *dump = NULL;
    pl_text_run_args r = {.ppl = pl_ppl_default_opts()};
    arg_rest rest = {.max = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        bool ok = true;
        int k = arg_positional(argv, i, &rest);
        if (k) { if (k < 0) return 2; continue; }
        if ((k = arg_text_run(argc, argv, &i, &r))) ok = k > 0;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--dump-nll")) ok = arg_str(argc, argv, &i, &dump);
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 20, &v))) r.ppl.n_batch = (int)v; }
        else return arg_unknown(argv, i);
        if (!ok) return 2;
    }
    const char *model = r.model, *file = r.file;
    pl_ppl_opts o = r.ppl;
    if (!model) { fprintf(stderr, "plinth perplexity: no model given (-m PATH)\n"); return 2; }
    if (!file) { fprintf(stderr, "plinth perplexity: no text file given (-f PATH)\n"); return 2; }
    size_t len = 0;
    char *text = arg_read_text(file, &len);
    if (!text) { fprintf(stderr, "plinth perplexity: %s\n", pl_last_error()); return 1; }
    pl_bundle_params bp = {.n_ctx = o.n_ctx, .n_threads = r.threads, .chat = "none", .n_lora = r.n_lora, .prompt_adapter = r.prompt_adapter};
    memcpy(bp.lora, r.lora, sizeof r.lora);
    pl_bundle *m = pl_bundle_open(model, &bp);
    ppl_cli c = {0};
    if (m && dump && !(c.dump = fopen(dump, "w")))
        pl_error(PL_ERR_IO, "cannot write '%s'", dump);
    int rc = PL_ERR_IO;
    pl_ppl_result res = {0};
    if (m && (!dump || c.dump)) {
        rc = pl_perplexity(m->llm, m->tok, text, len, &o, on_chunk, &c, &res);
        if (rc == PL_OK) printf("\n");
    }
    if (c.dump && fclose(c.dump) != 0 && rc == PL_OK) rc = pl_error(PL_ERR_IO, "cannot write '%s'", dump);
    pl_bundle_free(m);
    free(text);
    if (rc) { fflush(stdout); fprintf(stderr, "plinth perplexity: %s\n", pl_last_error()); return 1; }
    fprintf(stderr, "%d tokens, %d chunks of %d, %d scored%s; %.2f s (%.1f tokens/s)\n", res.n_tokens, res.n_chunks,
            o.n_ctx, res.n_scored, res.add_bos ? ", BOS first" : "", res.seconds,
            res.seconds > 0 ? res.n_chunks * (double)o.n_ctx / res.seconds : 0.0);
    printf("Final estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.ppl_err);
    return 0;
}
