/* plinth run: generate text. -m takes a GGUF file or a HF model directory (config.json + *.safetensors),
 * run by tasks/generate.h, or a GPT checkpoint made by `plinth train` (a training directory or its checkpoint
 * file), run by tasks/gpt_generate.h; the sampling options map onto the sampler chain (src/tasks/sample.h). */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "tasks/generate.h"
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

typedef struct { const char *prompt; bool done; } echo;
static void echo_piece(const char *s, size_t n, void *ud) {
    echo *e = ud;
    if (!e->done) { fputs(e->prompt, stdout); e->done = true; }
    print_piece(s, n, NULL);
}

/* A .gguf file (present or not: the loader names what is wrong) or a directory holding config.json. */
static bool is_llm_path(const char *path) {
    size_t n = strlen(path);
    return (n > 5 && !strcmp(path + n - 5, ".gguf")) || pl_llm_path_ok(path);
}

static int run_llm(const char *path, const char *prompt, int n_ctx, bool f32, bool kv_f16, const pl_gpt_gen_opts *go) {
    pl_gen_opts o = pl_gen_default_opts();
    o.n_predict = go->n_predict;
    o.sampling = go->sampling;
    o.interrupt = &g_stop;
    pl_llm *m = pl_llm_load_ex(path, &(pl_llm_params){.n_ctx = n_ctx, .n_threads = go->threads, .dequantize = f32,
                                                      .kv_f16 = kv_f16});
    if (!m) { fprintf(stderr, "plinth run: %s\n", pl_last_error()); return 1; }
    pl_tokenizer *tok = pl_tokenizer_load(path);
    if (!tok) { fprintf(stderr, "plinth run: %s\n", pl_last_error()); pl_llm_free(m); return 1; }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    pl_gen_stats st = {0};
    /* the prompt is echoed with the first piece, so a refused prompt (empty, invalid UTF-8, too long) prints nothing */
    echo e = {prompt, false};
    int rc = pl_generate(m, tok, prompt, &o, echo_piece, &e, NULL, &st);
    if (rc == PL_OK || rc == PL_ERR_INTERRUPTED) { echo_piece("", 0, &e); printf("\n"); }
    fflush(stdout);
    pl_tokenizer_free(tok);
    pl_llm_free(m);
    if (rc == PL_ERR_INTERRUPTED) { fprintf(stderr, "plinth run: interrupted after %d tokens\n", st.n_generated); return 130; }
    if (rc) { fprintf(stderr, "plinth run: %s\n", pl_last_error()); return 1; }
    fprintf(stderr, "prompt: %d tokens in %.2f s (%.1f tokens/s); generated: %d tokens in %.2f s (%.1f tokens/s)\n",
            st.n_prompt, st.t_prompt, st.t_prompt > 0 ? st.n_prompt / st.t_prompt : 0.0, st.n_generated,
            st.t_generate, st.t_generate > 0 ? st.n_generated / st.t_generate : 0.0);
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth run -m MODEL -p PROMPT [options]\n\n"
        "  -m, --model PATH     a .gguf file, a Hugging Face model directory (config.json + *.safetensors),\n"
        "                       or a checkpoint from plinth train (its output directory or checkpoint file)\n"
        "  -p, --prompt TEXT    the prompt\n"
        "  -n, --n-predict N    tokens to generate (default 200)\n"
        "  --temp X             temperature, 0 = greedy (default 0.8)\n"
        "  --top-k N            keep the N most likely (default 40, 0 = off)\n"
        "  --top-p X            nucleus sampling (default 0.95, 1 = off)\n"
        "  --min-p X            min-p sampling (default 0.05, 0 = off)\n"
        "  --repeat-penalty X   (default 1 = off)\n"
        "  --seed N             sampling seed (same seed, same text)\n"
        "  -c, --ctx-size N     context length (default: the model's, at most 4096)\n"
        "  -t, --threads N      threads\n"
        "  --f32                dequantize the weights to f32 at load and compute in f32 (exact: what\n"
        "                       transformers computes for a GGUF; ~4 bytes a parameter of memory, slower)\n"
        "  --kv-f16             keep the KV cache in f16 (half its memory; logits move by a few 1e-3)\n");
}

int cmd_run(int argc, char **argv) {
    pl_gpt_gen_opts o = {.n_predict = 200, .sampling = pl_sampler_default_params()};
    const char *model = NULL, *prompt = NULL;
    int n_ctx = 0;
    bool f32 = false, kv_f16 = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        int r;
        bool ok = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = arg_str(argc, argv, &i, &model);
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) ok = arg_str(argc, argv, &i, &prompt);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if ((ok = arg_int(argc, argv, &i, 0, 1 << 24, &v))) o.n_predict = (int)v; }
        else if ((r = arg_sampling(argc, argv, &i, &o.sampling)) != 0) ok = r > 0;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 20, &v))) n_ctx = (int)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((ok = arg_int(argc, argv, &i, 1, 256, &v))) o.threads = (int)v; }
        else if (!strcmp(a, "--f32")) f32 = true;
        else if (!strcmp(a, "--kv-f16")) kv_f16 = true;
        else { fprintf(stderr, "plinth run: unknown option '%s' (see plinth run --help)\n", a); return 2; }
        if (!ok) return 2;
    }
    if (!model) { fprintf(stderr, "plinth run: no model given (-m PATH)\n"); return 2; }
    if (!prompt) { fprintf(stderr, "plinth run: no prompt given (-p TEXT)\n"); return 2; }
    if (is_llm_path(model)) return run_llm(model, prompt, n_ctx, f32, kv_f16, &o);
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
    fflush(stdout); /* the text before the statistics on stderr */
    if (rc == PL_ERR_INTERRUPTED) { fprintf(stderr, "plinth run: interrupted after %d tokens\n", n); return 130; }
    if (rc) { fprintf(stderr, "plinth run: %s\n", pl_last_error()); return 1; }
    fprintf(stderr, "%d tokens in %.2f s (%.1f tokens/s)\n", n, dt, dt > 0 ? n / dt : 0.0);
    return 0;
}
