/* plinth finetune: adapt a loaded model to a JSONL dataset (--method full: every weight; lora: an adapter). Parses options into
 * pl_finetune_opts and calls pl_finetune (src/tasks/finetune.c); Ctrl-C saves a checkpoint and stops. */
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/interrupt.h"
#include "tasks/finetune.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    pl_finetune_opts d = pl_finetune_default_opts();
    fprintf(f,
        "usage: plinth finetune -m MODEL -d DATA.jsonl [options] [--]\n\n"
        "Fine-tunes a model on JSONL examples: {\"messages\": [{\"role\": ..., \"content\": ...}, ...]} (chat; the last\n"
        "assistant message is learned) or {\"prompt\": ..., \"completion\": ...}, rendered with the model's chat\n"
        "template; the loss is on the completion only. Writes checkpoints (Hugging Face directories with the\n"
        "tokenizer, loadable by every plinth command), loss.csv and loss.svg to --out.\n\n"
        "  -m, --model PATH     the model to adapt: .gguf (quantized weights become f32) or a HF directory\n"
        "  -d, --data FILE      the examples (JSONL); the last --val-frac of them validate\n"
        "  -o, --out DIR        output directory (default %s)\n"
        "  --method NAME        full: train every weight (default); lora: train a LoRA adapter, the base frozen\n"
        "                       (quantized or not) and saved as a PEFT adapter directory\n"
        "  --rank R             lora: rank (default 8)\n"
        "  --alpha A            lora: scale alpha / rank (default alpha = 2 x rank)\n"
        "  --targets LIST       lora: layers, of q,k,v,o,gate,up,down (default all)\n"
        "  --rslora             lora: scale alpha / sqrt(rank) (rank-stabilized LoRA)\n"
        "  --method prompt      prompt tuning: learn virtual tokens put before every example, the model frozen\n"
        "  --virtual-tokens N   prompt: how many (default 20)\n"
        "  --init TEXT          prompt: start from this text's token embeddings, repeated or cut to N (PEFT's\n"
        "                       TEXT init; also --prompt-init) (default: random)\n"
        "  --chat NAME          chat template: auto (the model's, default), none (plain text), or a family\n"
        "  --ctx N              tokens per example at most; longer ones are cut, counted (default 512)\n"
        "  --epochs N           passes over the training examples (default %d); --steps N instead\n"
        "  --batch N            examples per micro-batch (default %d); --accum N micro-batches per step (default %d)\n"
        "  --lr X               peak learning rate (default %g); --min-lr X final (default lr / 10)\n"
        "  --warmup N           warmup steps (default: a tenth of the steps), then cosine decay\n"
        "  --wd X               AdamW weight decay (default %g); --clip X gradient-norm clipping (default %g)\n"
        "  --val-frac X         validation fraction (default %g); --eval-every N steps (default: a tenth)\n"
        "  --save-every N       checkpoint every N steps, 0 = only at the end (default)\n"
        "  --seed N             shuffling seed (default %llu)\n"
        "  -t, --threads N      threads (default: physical cores)\n"
        "  --activations MODE   keep (one graph, every activation kept: faster, several times the memory),\n"
        "                       recompute (a layer at a time), or auto (default: recompute when the base is\n"
        "                       quantized or keeping them would take over half the available memory)\n"
        "  --one-graph          the same as --activations keep\n"
        "                       instead of running each layer's forward again (llama, qwen2, gemma3)\n"
        "  --resume             continue from the last checkpoint in --out\n"
        "  -q, --quiet          no progress output\n"
        "  --                   the end of the options\n",
        d.out_dir, d.epochs, d.batch, d.accum, d.lr, d.weight_decay, d.clip, d.val_frac, (unsigned long long)d.seed);
}

int cmd_finetune(int argc, char **argv) {
    pl_finetune_opts o = pl_finetune_default_opts();
    arg_rest rest = {.max = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        double f;
        int k;
        bool ok = true;
#define INT(lo, hi, dst) (ok = arg_int(argc, argv, &i, lo, hi, &v)) && ((dst) = v, 1)
#define FLT(lo, hi, dst) (ok = arg_float(argc, argv, &i, lo, hi, &f)) && ((dst) = f, 1)
        if ((k = arg_positional(argv, i, &rest)) != 0) { if (k < 0) return 2; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = arg_str(argc, argv, &i, &o.model);
        else if (!strcmp(a, "-d") || !strcmp(a, "--data")) ok = arg_str(argc, argv, &i, &o.data_path);
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) ok = arg_str(argc, argv, &i, &o.out_dir);
        else if (!strcmp(a, "--method")) ok = arg_str(argc, argv, &i, &o.method);
        else if (!strcmp(a, "--rank")) INT(1, 4096, o.lora_rank);
        else if (!strcmp(a, "--alpha")) FLT(0, 1e6, o.lora_alpha);
        else if (!strcmp(a, "--targets")) ok = arg_str(argc, argv, &i, &o.lora_targets);
        else if (!strcmp(a, "--rslora")) o.rslora = true;
        else if (!strcmp(a, "--virtual-tokens")) INT(1, 4096, o.n_virtual);
        else if (!strcmp(a, "--init") || !strcmp(a, "--prompt-init")) ok = arg_str(argc, argv, &i, &o.init_text);
        else if (!strcmp(a, "--chat")) ok = arg_str(argc, argv, &i, &o.chat);
        else if (!strcmp(a, "--ctx")) INT(2, 1 << 20, o.ctx);
        else if (!strcmp(a, "--epochs")) INT(1, 1 << 20, o.epochs);
        else if (!strcmp(a, "--steps")) INT(1, 1LL << 40, o.steps);
        else if (!strcmp(a, "--batch")) INT(1, 256, o.batch);
        else if (!strcmp(a, "--accum")) INT(1, 1 << 20, o.accum);
        else if (!strcmp(a, "--lr")) FLT(0, 10, o.lr);
        else if (!strcmp(a, "--min-lr")) FLT(0, 10, o.min_lr);
        else if (!strcmp(a, "--warmup")) INT(0, 1LL << 40, o.warmup);
        else if (!strcmp(a, "--wd")) FLT(0, 10, o.weight_decay);
        else if (!strcmp(a, "--clip")) FLT(0, 1e9, o.clip);
        else if (!strcmp(a, "--val-frac")) FLT(0, 0.9, o.val_frac);
        else if (!strcmp(a, "--eval-every")) INT(1, 1 << 30, o.eval_every);
        else if (!strcmp(a, "--save-every")) INT(0, 1 << 30, o.save_every);
        else if (!strcmp(a, "--seed")) INT(0, 1LL << 62, o.seed);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) INT(1, 256, o.threads);
        else if (!strcmp(a, "--resume")) o.resume = true;
        else if (!strcmp(a, "--one-graph")) o.activations = "keep";
        else if (!strcmp(a, "--activations")) ok = arg_str(argc, argv, &i, &o.activations);
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o.quiet = true;
        else return arg_unknown(argv, i);
        if (!ok) return 2;
#undef INT
#undef FLT
    }
    if (!o.model) { fprintf(stderr, "plinth finetune: no model given (-m PATH)\n"); return 2; }
    if (!o.data_path) { fprintf(stderr, "plinth finetune: no data given (-d FILE.jsonl)\n"); return 2; }
    o.interrupt = cli_catch_interrupt(1);
    int rc = pl_finetune(&o);
    if (rc == PL_OK) return 0;
    fprintf(stderr, "plinth finetune: %s\n", pl_last_error());
    return rc == PL_ERR_INTERRUPTED ? 130 : 1;
}
