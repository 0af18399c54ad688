/* plinth distill: train a student on a teacher's soft labels over a text (or on the hard labels alone, --kd 0).
 * Parses options into pl_distill_opts and calls pl_distill (src/tasks/distill.c); Ctrl-C saves and stops. */
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/interrupt.h"
#include "tasks/distill.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    pl_distill_opts d = pl_distill_default_opts();
    fprintf(f,
        "usage: plinth distill --teacher MODEL --student MODEL -d TEXT [options] [--]\n\n"
        "Knowledge distillation: the teacher reads the text once; its temperature-softened next-token distributions\n"
        "(top k, cached in --out) train the student, which must share its tokenizer, on T^2 KL + alpha CE.\n"
        "Writes checkpoints (Hugging Face directories), loss.csv / loss.svg and val.csv (validation KL at T = 1\n"
        "and perplexity) to --out.\n\n"
        "  --teacher PATH       the teacher (.gguf or HF directory)\n"
        "  --student PATH       the student to train: a HF directory (e.g. from plinth train --arch llama\n"
        "                       --tokenizer TEACHER) or .gguf (its weights become f32)\n"
        "  -d, --data FILE      the text; its last --val-frac of sequences validate\n"
        "  -o, --out DIR        output directory (default %s)\n"
        "  --temperature T      softening of both distributions (default %g)\n"
        "  --alpha A            weight of the hard-label cross-entropy (default %g)\n"
        "  --kd W               weight of the distillation term (default %g; 0 = hard labels only, the baseline)\n"
        "  --top-k K            teacher entries kept per position (default %d)\n"
        "  --ctx N              tokens per sequence (default %d)\n"
        "  --steps N            training steps (default %lld); --batch N sequences a step (default %d)\n"
        "  --lr X               peak learning rate (default %g); --min-lr X; --warmup N\n"
        "  --val-frac X         validation fraction (default %g); --eval-every N steps (default: a tenth)\n"
        "  --save-every N       checkpoint every N steps, 0 = only at the end (default)\n"
        "  --seed N             shuffling seed (default %llu)\n"
        "  -t, --threads N      threads (default: physical cores)\n"
        "  --resume             continue from the last checkpoint in --out\n"
        "  -q, --quiet          no progress output\n"
        "  --                   the end of the options\n",
        d.out_dir, d.temperature, d.alpha, d.kd, d.top_k, d.ctx, (long long)d.steps, d.batch, d.lr, d.val_frac,
        (unsigned long long)d.seed);
}

int cmd_distill(int argc, char **argv) {
    pl_distill_opts o = pl_distill_default_opts();
    arg_rest rest = {.max = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        double f;
        int k;
        bool ok = true;
#define INT(lo, hi, dst) (ok = arg_int(argc, argv, &i, lo, hi, &v)) && ((dst) = v, 1)
#define FLT(lo, hi, dst) (ok = arg_float(argc, argv, &i, lo, hi, &f)) && ((dst) = (float)f, 1)
        if ((k = arg_positional(argv, i, &rest)) != 0) { if (k < 0) return 2; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--teacher")) ok = arg_str(argc, argv, &i, &o.teacher);
        else if (!strcmp(a, "--student")) ok = arg_str(argc, argv, &i, &o.student);
        else if (!strcmp(a, "-d") || !strcmp(a, "--data")) ok = arg_str(argc, argv, &i, &o.data_path);
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) ok = arg_str(argc, argv, &i, &o.out_dir);
        else if (!strcmp(a, "--temperature")) FLT(0.01, 100, o.temperature);
        else if (!strcmp(a, "--alpha")) FLT(0, 100, o.alpha);
        else if (!strcmp(a, "--kd")) FLT(0, 100, o.kd);
        else if (!strcmp(a, "--top-k")) INT(1, 1024, o.top_k);
        else if (!strcmp(a, "--ctx")) INT(2, 1 << 16, o.ctx);
        else if (!strcmp(a, "--steps")) INT(1, 1LL << 40, o.steps);
        else if (!strcmp(a, "--batch")) INT(1, 256, o.batch);
        else if (!strcmp(a, "--lr")) FLT(0, 10, o.lr);
        else if (!strcmp(a, "--min-lr")) FLT(0, 10, o.min_lr);
        else if (!strcmp(a, "--warmup")) INT(0, 1LL << 40, o.warmup);
        else if (!strcmp(a, "--val-frac")) FLT(0.001, 0.9, o.val_frac);
        else if (!strcmp(a, "--eval-every")) INT(1, 1 << 30, o.eval_every);
        else if (!strcmp(a, "--save-every")) INT(0, 1 << 30, o.save_every);
        else if (!strcmp(a, "--seed")) INT(0, 1LL << 62, o.seed);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) INT(1, 256, o.threads);
        else if (!strcmp(a, "--resume")) o.resume = true;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o.quiet = true;
        else return arg_unknown(argv, i);
        if (!ok) return 2;
#undef INT
#undef FLT
    }
    if (!o.teacher || !o.student) { fprintf(stderr, "plinth distill: --teacher and --student are needed\n"); return 2; }
    if (!o.data_path) { fprintf(stderr, "plinth distill: no text given (-d FILE)\n"); return 2; }
    o.interrupt = cli_catch_interrupt(1);
    int rc = pl_distill(&o);
    if (rc == PL_OK) return 0;
    fprintf(stderr, "plinth distill: %s\n", pl_last_error());
    return rc == PL_ERR_INTERRUPTED ? 130 : 1;
}
