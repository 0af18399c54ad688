/* plinth bench -m MODEL [-p 512] [-n 128] [-t N] [-r 5] [--json] [--roof]: prompt-processing and generation
 * speed as a llama-bench style markdown table (or JSON), and with --roof the machine's memory bandwidth and the
 * decode roof it implies. Measurements live in tasks/bench.c; this file parses options and prints. */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "core/cpu.h"
#include "tasks/bench.h"
#include "tasks/quantize.h"
#include "io/gguf.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth bench -m MODEL [options]\n\n"
        "  -m, --model PATH   a .gguf file or a Hugging Face model directory\n"
        "  -p N               prompt tokens for the pp test (default 512; 0 = skip)\n"
        "  -n N               generated tokens for the tg test (default 128; 0 = skip)\n"
        "  -r N               repetitions (default 5); t/s is mean +/- sd\n"
        "  -t, --threads N    threads (default: physical cores)\n"
        "  --json             print JSON instead of the table\n"
        "  --roof             measure memory bandwidth; print the decode roof and %% of it reached\n");
}

typedef struct { char test[32]; int n_prompt, n_gen; double mean, sd; double *samples; int reps; } bench_row;

static void model_label(const pl_llm *m, uint64_t params, char *out, size_t cap) {
    const char *ft = NULL;
    if (m->gguf) ft = pl_quant_ftype_name((int)pl_gguf_get_int(m->gguf, "general.file_type", -1));
    double p = (double)params;
    char sz[32];
    if (p >= 1e9) snprintf(sz, sizeof sz, "%.1fB", p / 1e9);
    else snprintf(sz, sizeof sz, p >= 1e7 ? "%.0fM" : "%.2fM", p / 1e6);
    snprintf(out, cap, "%s %s %s", pl_llm_arch_name(m->hp.arch), sz, ft ? ft : (m->gguf ? "?" : "safetensors"));
}

typedef struct { double bw, roof, bytes_tok; uint64_t kv; int ctx; } roof_info;

static void print_json(const char *label, uint64_t wbytes, uint64_t params, int threads, bench_row *rows, int n,
                       const roof_info *roof) {
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "results");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", label);
        cJSON_AddNumberToObject(o, "size_bytes", (double)wbytes);
        cJSON_AddNumberToObject(o, "params", (double)params);
        cJSON_AddStringToObject(o, "backend", "CPU");
        cJSON_AddNumberToObject(o, "threads", threads);
        cJSON_AddStringToObject(o, "test", rows[i].test);
        cJSON_AddNumberToObject(o, "n_prompt", rows[i].n_prompt);
        cJSON_AddNumberToObject(o, "n_gen", rows[i].n_gen);
        cJSON_AddNumberToObject(o, "avg_ts", rows[i].mean);
        cJSON_AddNumberToObject(o, "stddev_ts", rows[i].sd);
        cJSON_AddItemToObject(o, "samples_ts", cJSON_CreateDoubleArray(rows[i].samples, rows[i].reps));
        if (roof && rows[i].n_gen) cJSON_AddNumberToObject(o, "roof_pct", 100 * rows[i].mean / roof->roof);
        cJSON_AddItemToArray(arr, o);
    }
    if (roof) {
        cJSON *r = cJSON_AddObjectToObject(root, "roof");
        cJSON_AddNumberToObject(r, "bandwidth_bytes_per_s", roof->bw);
        cJSON_AddNumberToObject(r, "bytes_per_token", roof->bytes_tok);
        cJSON_AddNumberToObject(r, "kv_bytes", (double)roof->kv);
        cJSON_AddNumberToObject(r, "context", roof->ctx);
        cJSON_AddNumberToObject(r, "tokens_per_s", roof->roof);
    }
    char *s = cJSON_Print(root);
    if (s) puts(s);
    free(s);
    cJSON_Delete(root);
}

static void print_table(const char *label, uint64_t wbytes, uint64_t params, int threads, bench_row *rows, int n,
                        const roof_info *roof) {
    printf("| model | size | params | backend | threads | test | t/s |\n");
    printf("| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
    for (int i = 0; i < n; i++)
        printf("| %s | %.2f MiB | %.2f M | CPU | %d | %s | %.2f ± %.2f |\n", label, wbytes / 1048576.0, params / 1e6,
               threads, rows[i].test, rows[i].mean, rows[i].sd);
    if (!roof) return;
    printf("\nmemory bandwidth: %.2f GB/s (read, best of 5, %d threads)\n", roof->bw / 1e9, threads);
    printf("decode roof: %.1f tokens/s (%.2f MiB read per token: weights %.2f MiB + KV cache %.2f MiB at context %d)\n",
           roof->roof, roof->bytes_tok / 1048576.0, wbytes / 1048576.0, roof->kv / 1048576.0, roof->ctx);
    for (int i = 0; i < n; i++)
        if (rows[i].n_gen) printf("%s: %.1f%% of the roof\n", rows[i].test, 100 * rows[i].mean / roof->roof);
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL;
    int n_prompt = 512, n_gen = 128, reps = 5, threads = 0;
    bool json = false, want_roof = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        bool ok = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = arg_str(argc, argv, &i, &model);
        else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) { if ((ok = arg_int(argc, argv, &i, 0, 1 << 20, &v))) n_prompt = (int)v; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) { if ((ok = arg_int(argc, argv, &i, 0, 1 << 20, &v))) n_gen = (int)v; }
        else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) { if ((ok = arg_int(argc, argv, &i, 1, 1000, &v))) reps = (int)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((ok = arg_int(argc, argv, &i, 1, 256, &v))) threads = (int)v; }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--roof")) want_roof = true;
        else { fprintf(stderr, "plinth bench: unknown option '%s' (see plinth bench --help)\n", a); return 2; }
        if (!ok) return 2;
    }
    if (!model) { fprintf(stderr, "plinth bench: no model given (-m PATH)\n"); return 2; }
    if (!n_prompt && !n_gen) { fprintf(stderr, "plinth bench: nothing to run (-p 0 and -n 0)\n"); return 2; }
    if (!threads) threads = pl_cpu_physical_cores();
    int ctx = PL_MAX(PL_MAX(n_prompt, n_gen), 16);
    pl_llm *m = pl_llm_load_ex(model, &(pl_llm_params){.n_ctx = ctx, .n_threads = threads});
    if (!m) { fprintf(stderr, "plinth bench: %s\n", pl_last_error()); return 1; }
    bench_row rows[2] = {0};
    int n = 0, rc = PL_OK;
    double *samples = pl_calloc((size_t)reps * 2, sizeof(double));
    if (!samples) rc = PL_ERR_NOMEM;
    if (rc == PL_OK && n_prompt) {
        rows[n] = (bench_row){.n_prompt = n_prompt, .samples = samples, .reps = reps};
        snprintf(rows[n].test, sizeof rows[n].test, "pp%d", n_prompt);
        rc = pl_bench_pp(m, n_prompt, reps, samples);
        n++;
    }
    if (rc == PL_OK && n_gen) {
        rows[n] = (bench_row){.n_gen = n_gen, .samples = samples + reps, .reps = reps};
        snprintf(rows[n].test, sizeof rows[n].test, "tg%d", n_gen);
        rc = pl_bench_tg(m, n_gen, reps, samples + reps);
        n++;
    }
    if (rc) { fprintf(stderr, "plinth bench: %s\n", pl_last_error()); free(samples); pl_llm_free(m); return 1; }
    for (int i = 0; i < n; i++) pl_bench_mean_sd(rows[i].samples, reps, &rows[i].mean, &rows[i].sd);
    uint64_t params = 0, wbytes = pl_bench_weight_bytes(m, &params);
    roof_info roof = {0};
    if (want_roof) {
        /* decode reads every weight once per token plus the cache up to the current position: at the tg test's
         * average context (n/2) */
        roof.ctx = n_gen ? n_gen / 2 : 0;
        roof.kv = pl_bench_kv_bytes(m, roof.ctx);
        roof.bytes_tok = (double)(wbytes + roof.kv);
        roof.bw = pl_bench_mem_bandwidth(threads, (size_t)512 << 20, 5);
        if (roof.bw <= 0) { fprintf(stderr, "plinth bench: %s\n", pl_last_error()); free(samples); pl_llm_free(m); return 1; }
        roof.roof = roof.bw / roof.bytes_tok;
    }
    char label[128];
    model_label(m, params, label, sizeof label);
    if (json) print_json(label, wbytes, params, threads, rows, n, want_roof ? &roof : NULL);
    else print_table(label, wbytes, params, threads, rows, n, want_roof ? &roof : NULL);
    free(samples);
    pl_llm_free(m);
    return 0;
}
