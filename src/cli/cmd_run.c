/* plinth run: generate text. -m takes a GPT checkpoint made by `plinth train` (a training directory or its
 * checkpoint file); the sampling options map onto the sampler chain (src/tasks/sample.h). */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "tasks/gpt_generate.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) { (void)sig; g_stop = 1; }

static void print_piece(const char *s, size_t n, void *ud) {
    (void)ud;
    fwrite(s, 1, n, stdout);
    fflush(stdout);
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth run -m MODEL -p PROMPT [options]\n\n"
        "  -m, --model PATH     a checkpoint from plinth train (its output directory or checkpoint file)\n"
        "  -p, --prompt TEXT    the prompt\n"
        "  -n, --n-predict N    tokens to generate (default 200)\n"
        "  --temp X             temperature, 0 = greedy (default 0.8)\n"
        "  --top-k N            keep the N most likely (default 40, 0 = off)\n"
        "  --top-p X            nucleus sampling (default 0.95, 1 = off)\n"
        "  --min-p X            min-p sampling (default 0.05, 0 = off)\n"
        "  --repeat-penalty X   (default 1 = off)\n"
        "  --seed N             sampling seed (same seed, same text)\n"
        "  -t, --threads N      threads\n");
}

int cmd_run(int argc, char **argv) {
    pl_gpt_gen_opts o = {.n_predict = 200, .sampling = pl_sampler_default_params()};
    const char *model = NULL, *prompt = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        double f;
        bool ok = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = arg_str(argc, argv, &i, &model);
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) ok = arg_str(argc, argv, &i, &prompt);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if ((ok = arg_int(argc, argv, &i, 0, 1 << 24, &v))) o.n_predict = (int)v; }
        else if (!strcmp(a, "--temp")) { if ((ok = arg_float(argc, argv, &i, 0, 100, &f))) o.sampling.temperature = (float)f; }
        else if (!strcmp(a, "--top-k")) { if ((ok = arg_int(argc, argv, &i, 0, 1 << 30, &v))) o.sampling.top_k = (int)v; }
        else if (!strcmp(a, "--top-p")) { if ((ok = arg_float(argc, argv, &i, 0, 1, &f))) o.sampling.top_p = (float)f; }
        else if (!strcmp(a, "--min-p")) { if ((ok = arg_float(argc, argv, &i, 0, 1, &f))) o.sampling.min_p = (float)f; }
        else if (!strcmp(a, "--repeat-penalty")) { if ((ok = arg_float(argc, argv, &i, 0.01, 100, &f))) o.sampling.repeat_penalty = (float)f; }
        else if (!strcmp(a, "--seed")) { if ((ok = arg_int(argc, argv, &i, 0, 1LL << 62, &v))) o.sampling.seed = (uint64_t)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((ok = arg_int(argc, argv, &i, 1, 256, &v))) o.threads = (int)v; }
        else { fprintf(stderr, "plinth run: unknown option '%s' (see plinth run --help)\n", a); return 2; }
        if (!ok) return 2;
    }
    if (!model) { fprintf(stderr, "plinth run: no model given (-m PATH)\n"); return 2; }
    if (!prompt) { fprintf(stderr, "plinth run: no prompt given (-p TEXT)\n"); return 2; }
    o.checkpoint = model;
    o.prompt = prompt;
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    o.interrupt = &g_stop;
    fputs(prompt, stdout);
    double t0 = pl_time_s();
    int n = 0, rc = pl_gpt_generate(&o, print_piece, NULL, &n);
    double dt = pl_time_s() - t0;
    printf("\n");
    if (rc == PL_ERR_INTERRUPTED) { fprintf(stderr, "plinth run: interrupted after %d tokens\n", n); return 130; }
    if (rc) { fprintf(stderr, "plinth run: %s\n", pl_last_error()); return 1; }
    fprintf(stderr, "%d tokens in %.2f s (%.1f tokens/s)\n", n, dt, dt > 0 ? n / dt : 0.0);
    return 0;
}
