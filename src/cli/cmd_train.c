/* plinth train: pre-train a GPT on a UTF-8 text file (byte-level vocabulary). Parses options into
 * pl_train_opts and calls pl_train_gpt (src/tasks/train.c); Ctrl-C saves a checkpoint and stops. */
#include "cli/args.h"
#include "cli/cli.h"
#include "tasks/train.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) { (void)sig; g_stop = 1; }

static void usage(FILE *f) {
    pl_train_opts d = pl_train_default_opts();
    fprintf(f,
        "usage: plinth train -f TEXT [options]\n\n"
        "Pre-trains a GPT-2-style model (learned positions, LayerNorm, GELU, tied embeddings) on a UTF-8 text file\n"
        "with a byte-level vocabulary. Writes checkpoints, loss.csv and loss.svg to --out.\n\n"
        "  -f, --data FILE      training text (the last --val-frac of it is held out for validation)\n"
        "  -o, --out DIR        output directory (default %s)\n"
        "  --layers N           transformer blocks (default %d)\n"
        "  --dim N              embedding width (default %d)\n"
        "  --heads N            attention heads, must divide --dim (default %d)\n"
        "  --ctx N              context length (default %d)\n"
        "  --batch N            sequences per micro-batch (default %d)\n"
        "  --accum N            micro-batches per step: gradient accumulation (default %d)\n"
        "  --steps N            optimizer steps (default %lld)\n"
        "  --lr X               peak learning rate (default %g); --min-lr X final (default %g)\n"
        "  --warmup N           linear warmup steps, then cosine decay (default %lld)\n"
        "  --wd X               AdamW decoupled weight decay (default %g)\n"
        "  --clip X             gradient-norm clipping, 0 = off (default %g)\n"
        "  --eval-every N       validation loss every N steps, 0 = off (default %d); --eval-iters N batches (default %d)\n"
        "  --save-every N       checkpoint every N steps, 0 = only at the end (default %d)\n"
        "  --val-frac X         held-out fraction (default %g)\n"
        "  --seed N             seed for initialization and batches (default %llu)\n"
        "  -t, --threads N      threads (default: physical cores)\n"
        "  --resume             continue from the last checkpoint in --out\n"
        "  -q, --quiet          no progress output\n",
        d.out_dir, d.model.layers, d.model.dim, d.model.heads, d.model.ctx, d.batch, d.accum, (long long)d.steps, d.lr,
        d.min_lr, (long long)d.warmup, d.weight_decay, d.clip, d.eval_every, d.eval_iters, d.save_every, d.val_frac,
        (unsigned long long)d.seed);
}

int cmd_train(int argc, char **argv) {
    pl_train_opts o = pl_train_default_opts();
    bool min_lr_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        double f;
        bool ok = true;
#define INT(lo, hi, dst) (ok = arg_int(argc, argv, &i, lo, hi, &v)) && ((dst) = v, 1)
#define FLT(lo, hi, dst) (ok = arg_float(argc, argv, &i, lo, hi, &f)) && ((dst) = f, 1)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--data")) ok = arg_str(argc, argv, &i, &o.data_path);
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) ok = arg_str(argc, argv, &i, &o.out_dir);
        else if (!strcmp(a, "--layers")) INT(0, 1 << 30, o.model.layers);
        else if (!strcmp(a, "--dim")) INT(0, 1 << 30, o.model.dim);
        else if (!strcmp(a, "--heads")) INT(0, 1 << 30, o.model.heads);
        else if (!strcmp(a, "--ctx")) INT(0, 1 << 30, o.model.ctx);
        else if (!strcmp(a, "--batch")) INT(1, 1 << 20, o.batch);
        else if (!strcmp(a, "--accum")) INT(1, 1 << 20, o.accum);
        else if (!strcmp(a, "--steps")) INT(1, 1LL << 40, o.steps);
        else if (!strcmp(a, "--warmup")) INT(0, 1LL << 40, o.warmup);
        else if (!strcmp(a, "--lr")) FLT(0, 10, o.lr);
        else if (!strcmp(a, "--min-lr")) { FLT(0, 10, o.min_lr); min_lr_set = true; }
        else if (!strcmp(a, "--wd")) FLT(0, 10, o.weight_decay);
        else if (!strcmp(a, "--clip")) FLT(0, 1e9, o.clip);
        else if (!strcmp(a, "--eval-every")) INT(0, 1 << 30, o.eval_every);
        else if (!strcmp(a, "--eval-iters")) INT(1, 1 << 20, o.eval_iters);
        else if (!strcmp(a, "--save-every")) INT(0, 1 << 30, o.save_every);
        else if (!strcmp(a, "--val-frac")) FLT(0, 0.9, o.val_frac);
        else if (!strcmp(a, "--seed")) INT(0, 1LL << 62, o.seed);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) INT(1, 256, o.threads);
        else if (!strcmp(a, "--resume")) o.resume = true;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o.quiet = true;
        else { fprintf(stderr, "plinth train: unknown option '%s' (see plinth train --help)\n", a); return 2; }
        if (!ok) return 2;
#undef INT
#undef FLT
    }
    if (!o.data_path) { fprintf(stderr, "plinth train: no training text given (-f FILE)\n"); return 2; }
    if (!min_lr_set) o.min_lr = o.lr / 10;
    if (pl_gpt_config_check(&o.model)) { fprintf(stderr, "plinth train: %s\n", pl_last_error()); return 2; }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o.interrupt = &g_stop;
    int rc = pl_train_gpt(&o);
    if (rc == PL_OK) return 0;
    fprintf(stderr, "plinth train: %s\n", pl_last_error());
    return rc == PL_ERR_INTERRUPTED ? 130 : 1;
}
