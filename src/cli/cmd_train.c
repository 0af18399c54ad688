/* plinth train: pre-train a decoder model (gpt2, llama or qwen2) on a UTF-8 text file, with a byte-level
 * vocabulary or a model's tokenizer. Parses options into pl_train_opts and calls pl_train (src/tasks/train.c);
 * Ctrl-C saves a checkpoint and stops. */
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/interrupt.h"
#include "tasks/train.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    pl_train_opts d = pl_train_default_opts();
    fprintf(f,
        "usage: plinth train -f TEXT [options] [--]\n\n"
        "Pre-trains a decoder model on a UTF-8 text file. Writes checkpoints (Hugging Face model directories that\n"
        "every plinth command and transformers load), loss.csv and loss.svg to --out.\n\n"
        "  -f, --data FILE      training text (the last --val-frac of it is held out for validation)\n"
        "  -o, --out DIR        output directory (default %s)\n"
        "  --arch NAME          gpt2 (learned positions, LayerNorm, GELU), llama (RMSNorm, rotary positions,\n"
        "                       SwiGLU) or qwen2 (llama with Q/K/V biases); default gpt2\n"
        "  --tokenizer MODEL    the tokenizer of a model (.gguf or HF directory); default: bytes (vocabulary 256)\n"
        "  --layers N           transformer blocks (default %d)\n"
        "  --dim N              embedding width (default %d)\n"
        "  --heads N            attention heads, must divide --dim (default %d)\n"
        "  --kv-heads N         llama / qwen2: key-value heads, must divide --heads (default: --heads)\n"
        "  --ff N               MLP width (default 4 x dim for gpt2, 8/3 x dim for llama / qwen2)\n"
        "  --ctx N              context length (default %d)\n"
        "  --batch N            sequences per micro-batch (default %d)\n"
        "  --accum N            micro-batches per step: gradient accumulation (default %d)\n"
        "  --steps N            optimizer steps (default %lld)\n"
        "  --lr X               peak learning rate (default %g); --min-lr X final (default lr / 10)\n"
        "  --warmup N           linear warmup steps, then cosine decay (default %lld)\n"
        "  --wd X               AdamW decoupled weight decay (default %g)\n"
        "  --clip X             gradient-norm clipping, 0 = off (default %g)\n"
        "  --eval-every N       validation loss every N steps, 0 = off (default %d); --eval-iters N batches (default %d)\n"
        "  --save-every N       checkpoint every N steps, 0 = only at the end (default %d)\n"
        "  --val-frac X         held-out fraction (default %g)\n"
        "  --seed N             seed for initialization and batches (default %llu)\n"
        "  -t, --threads N      threads (default: physical cores)\n"
        "  --resume             continue from the last checkpoint in --out\n"
        "  -q, --quiet          no progress output\n"
        "  --                   the end of the options\n",
        d.out_dir, d.model.layers, d.model.dim, d.model.heads, d.model.ctx, d.batch, d.accum, (long long)d.steps, d.lr,
        (long long)d.warmup, d.weight_decay, d.clip, d.eval_every, d.eval_iters, d.save_every, d.val_frac,
        (unsigned long long)d.seed);
}

static bool parse_arch(const char *s, pl_llm_arch *out) {
    if (!strcmp(s, "gpt2")) *out = PL_LLM_GPT2;
    else if (!strcmp(s, "llama")) *out = PL_LLM_LLAMA;
    else if (!strcmp(s, "qwen2")) *out = PL_LLM_QWEN2;
    else { fprintf(stderr, "plinth train: --arch '%s': gpt2, llama or qwen2\n", s); return false; }
    return true;
}

int cmd_train(int argc, char **argv) {
    pl_train_opts o = pl_train_default_opts();
    arg_rest rest = {.max = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *s;
        long long v;
        double f;
        int k;
        bool ok = true;
#define INT(lo, hi, dst) (ok = arg_int(argc, argv, &i, lo, hi, &v)) && ((dst) = v, 1)
#define FLT(lo, hi, dst) (ok = arg_float(argc, argv, &i, lo, hi, &f)) && ((dst) = f, 1)
        if ((k = arg_positional(argv, i, &rest)) != 0) { if (k < 0) return 2; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--data")) ok = arg_str(argc, argv, &i, &o.data_path);
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) ok = arg_str(argc, argv, &i, &o.out_dir);
        else if (!strcmp(a, "--arch")) ok = arg_str(argc, argv, &i, &s) && parse_arch(s, &o.model.arch);
        else if (!strcmp(a, "--tokenizer")) ok = arg_str(argc, argv, &i, &o.tokenizer);
        else if (!strcmp(a, "--layers")) INT(0, 1 << 30, o.model.layers);
        else if (!strcmp(a, "--dim")) INT(0, 1 << 30, o.model.dim);
        else if (!strcmp(a, "--heads")) INT(0, 1 << 30, o.model.heads);
        else if (!strcmp(a, "--kv-heads")) INT(1, 1 << 30, o.model.kv_heads);
        else if (!strcmp(a, "--ff")) INT(1, 1 << 30, o.model.ff);
        else if (!strcmp(a, "--ctx")) INT(0, 1 << 30, o.model.ctx);
        else if (!strcmp(a, "--batch")) INT(1, 1 << 20, o.batch);
        else if (!strcmp(a, "--accum")) INT(1, 1 << 20, o.accum);
        else if (!strcmp(a, "--steps")) INT(1, 1LL << 40, o.steps);
        else if (!strcmp(a, "--warmup")) INT(0, 1LL << 40, o.warmup);
        else if (!strcmp(a, "--lr")) FLT(0, 10, o.lr);
        else if (!strcmp(a, "--min-lr")) FLT(0, 10, o.min_lr);
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
        else return arg_unknown(argv, i);
        if (!ok) return 2;
#undef INT
#undef FLT
    }
    if (!o.data_path) { fprintf(stderr, "plinth train: no training text given (-f FILE)\n"); return 2; }
    if (pl_train_model_check(&o.model)) { fprintf(stderr, "plinth train: %s\n", pl_last_error()); return 2; }
    o.interrupt = cli_catch_interrupt(1);
    int rc = pl_train(&o);
    if (rc == PL_OK) return 0;
    fprintf(stderr, "plinth train: %s\n", pl_last_error());
    return rc == PL_ERR_INTERRUPTED ? 130 : 1;
}
