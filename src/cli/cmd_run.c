/* plinth run: generate text. -m takes a GGUF file, a HF model directory (config.json + *.safetensors), or what
 * `plinth train` / `finetune` wrote (a training directory: its current checkpoint, itself a HF directory), run by
 * tasks/generate.h; the sampling options map onto the sampler chain (src/tasks/sample.h). */
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/interrupt.h"
#include "core/common.h"
#include "tasks/bundle.h"
#include "tasks/generate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_piece(const char *s, size_t n, void *ud) {
    (void)ud;
    fwrite(s, 1, n, stdout);
    fflush(stdout);
}

typedef struct { const char *prompt; bool done; } echo;
static void echo_piece(const char *s, size_t n, void *ud) {
    echo *e = ud;
    if (!e->done) { fputs(e->prompt, stdout); e->done = true; }
    print_piece(s, n, NULL);
}

typedef struct { int n_predict; pl_sampler_params sampling; } gen_args;

static int run_llm(const char *path, const char *prompt, const pl_bundle_params *bp, const gen_args *go) {
    pl_bundle *b = pl_bundle_open(path, bp);
    if (!b) { fprintf(stderr, "plinth run: %s\n", pl_last_error()); return 1; }
    pl_gen_opts o = pl_bundle_gen_opts(b, false);
    o.n_predict = go->n_predict;
    o.sampling = go->sampling;
    o.interrupt = cli_catch_interrupt(0);
    pl_gen_stats st = {0};
    /* the prompt is echoed with the first piece, so a refused prompt (empty, invalid UTF-8, too long) prints nothing */
    echo e = {prompt, false};
    int rc = pl_generate(b->llm, b->tok, prompt, &o, echo_piece, &e, NULL, &st);
    if (rc == PL_OK || rc == PL_ERR_INTERRUPTED) { echo_piece("", 0, &e); printf("\n"); }
    fflush(stdout);
    pl_bundle_free(b);
    if (rc == PL_ERR_INTERRUPTED) { fprintf(stderr, "plinth run: interrupted after %d tokens\n", st.n_generated); return 130; }
    if (rc) { fprintf(stderr, "plinth run: %s\n", pl_last_error()); return 1; }
    fprintf(stderr, "prompt: %d tokens in %.2f s (%.1f tokens/s); generated: %d tokens in %.2f s (%.1f tokens/s)\n",
            st.n_prompt, st.t_prompt, st.t_prompt > 0 ? st.n_prompt / st.t_prompt : 0.0, st.n_generated,
            st.t_generate, st.t_generate > 0 ? st.n_generated / st.t_generate : 0.0);
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth run -m MODEL (-p PROMPT | -f FILE) [options] [--]\n\n"
        "  -m, --model PATH     a .gguf file, a Hugging Face model directory (config.json + *.safetensors),\n"
        "                       or what plinth train / finetune wrote (its directory or a checkpoint in it)\n"
        "  -p, --prompt TEXT    the prompt\n"
        "  -f, --file FILE      read the prompt from FILE ('-': standard input); one trailing newline is dropped\n"
        "  -n, --n-predict N    tokens to generate (default 200)\n"
        "  --temp X             temperature, 0 = greedy (default 0.8)\n"
        "  --top-k N            keep the N most likely (default 40, 0 = off)\n"
        "  --top-p X            nucleus sampling (default 0.95, 1 = off)\n"
        "  --min-p X            min-p sampling (default 0.05, 0 = off)\n"
        "  --repeat-penalty X   (default 1 = off)\n"
        "  --seed N             sampling seed (same seed, same text)\n"
        "  -c, --ctx-size N     context length (default: the model's, at most 4096)\n"
        "  -t, --threads N      threads\n"
        "  --lora DIR[:SCALE]   apply a LoRA adapter (PEFT directory; repeatable; scale 1 by default)\n"
        "  --prompt-adapter DIR put a prompt-tuning adapter's virtual tokens before the text (PEFT directory)\n"
        "  --f32                dequantize the weights to f32 at load and compute in f32 (exact: what\n"
        "                       transformers computes for a GGUF; ~4 bytes a parameter of memory, slower)\n"
        "  --kv-f16             keep the KV cache in f16 (half its memory; logits move by a few 1e-3)\n"
        "  --                   the end of the options\n");
}

/* the prompt's source (-p or -f) and the options */
typedef struct { const char *model, *prompt, *file; pl_bundle_params bp; gen_args o; } run_args;

/* 0, 2 (usage error: printed) or -1 (--help printed) */
static int parse_args(int argc, char **argv, run_args *r) {
    arg_rest rest = {.max = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        int k;
        bool ok = true;
        if ((k = arg_positional(argv, i, &rest)) != 0) { if (k < 0) return 2; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return -1; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = arg_str(argc, argv, &i, &r->model);
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) ok = arg_str(argc, argv, &i, &r->prompt);
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) ok = arg_str(argc, argv, &i, &r->file);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if ((ok = arg_int(argc, argv, &i, 0, 1 << 24, &v))) r->o.n_predict = (int)v; }
        else if ((k = arg_lora(argc, argv, &i, r->bp.lora, &r->bp.n_lora, &r->bp.prompt_adapter)) != 0) ok = k > 0;
        else if ((k = arg_sampling(argc, argv, &i, &r->o.sampling)) != 0) ok = k > 0;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 20, &v))) r->bp.n_ctx = (int)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((ok = arg_int(argc, argv, &i, 1, 256, &v))) r->bp.n_threads = (int)v; }
        else if (!strcmp(a, "--f32")) r->bp.dequantize = true;
        else if (!strcmp(a, "--kv-f16")) r->bp.kv_f16 = true;
        else return arg_unknown(argv, i);
        if (!ok) return 2;
    }
    if (!r->model) { fprintf(stderr, "plinth run: no model given (-m PATH)\n"); return 2; }
    if (!r->prompt && !r->file) { fprintf(stderr, "plinth run: no prompt given (-p TEXT or -f FILE)\n"); return 2; }
    return 0;
}

int cmd_run(int argc, char **argv) {
    run_args r = {.o = {.n_predict = 200, .sampling = pl_sampler_default_params()}, .bp = {.chat = "none"}};
    int rc = parse_args(argc, argv, &r);
    if (rc) return rc < 0 ? 0 : rc;
    const char *prompt;
    char *owned, *path = NULL;
    if (!arg_prompt("run", r.prompt, r.file, &prompt, &owned)) return r.prompt && r.file ? 2 : 1;
    int kind = pl_bundle_resolve(r.model, &path);
    if (kind < 0) { fprintf(stderr, "plinth run: %s\n", pl_last_error()); rc = 1; }
    else if (!kind) { fprintf(stderr, "plinth run: '%s' is not a model (a .gguf file, a directory with config.json, or a training directory)\n", r.model); rc = 1; }
    else rc = run_llm(path, prompt, &r.bp, &r.o);
    free(path);
    free(owned);
    return rc;
}
