/* plinth bench -m MODEL [-p 512] [-n 128] [-t N] [-r 5] [--json] [--roof]: prompt-processing and generation
 * speed as a llama-bench style markdown table (or JSON), and with --roof the machine's memory bandwidth and the
 * decode roof it implies. Measurements live in tasks/bench.c; this file parses options and prints. */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "core/cpu.h"
#include "tasks/bench.h"
#include "tasks/bundle.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth bench -m MODEL [options] [--]\n\n"
        "  -m, --model PATH   a .gguf file or a Hugging Face model directory\n"
        "  -p N               prompt tokens for the pp test (default 512; 0 = skip)\n"
        "  -n N               generated tokens for the tg test (default 128; 0 = skip)\n"
        "  -d, --depth N      run both tests after N tokens already in the cache (llama-bench's -d; default 0)\n"
        "  -r N               repetitions (default 5); t/s is mean +/- sd\n"
        "  -t, --threads N    threads (default: physical cores)\n"
        "  --json             print JSON instead of the table\n"
        "  --roof             measure memory bandwidth; print the decode roof and %% of it reached\n"
        "  --kv-f16           keep the KV cache in f16 (as llama-bench's default -ctk f16 -ctv f16)\n"
        "  --                 the end of the options\n");
}

static void print_json(const pl_bench_report *r) {
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "results");
    for (int i = 0; i < r->n_rows; i++) {
        const pl_bench_row *row = &r->rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", r->label);
        cJSON_AddNumberToObject(o, "size_bytes", (double)r->weight_bytes);
        cJSON_AddNumberToObject(o, "params", (double)r->n_params);
        cJSON_AddStringToObject(o, "backend", "CPU");
        cJSON_AddNumberToObject(o, "threads", r->n_threads);
        cJSON_AddStringToObject(o, "test", row->test);
        cJSON_AddNumberToObject(o, "n_prompt", row->n_prompt);
        cJSON_AddNumberToObject(o, "n_gen", row->n_gen);
        cJSON_AddNumberToObject(o, "n_depth", r->depth);
        cJSON_AddNumberToObject(o, "avg_ts", row->mean);
        cJSON_AddNumberToObject(o, "stddev_ts", row->sd);
        cJSON_AddItemToObject(o, "samples_ts", cJSON_CreateDoubleArray(row->samples, r->reps));
        if (r->has_roof && row->n_gen) cJSON_AddNumberToObject(o, "roof_pct", 100 * row->mean / r->roof_tps);
        cJSON_AddItemToArray(arr, o);
    }
    if (r->has_roof) {
        cJSON *ro = cJSON_AddObjectToObject(root, "roof");
        cJSON_AddNumberToObject(ro, "bandwidth_bytes_per_s", r->bandwidth);
        cJSON_AddNumberToObject(ro, "bytes_per_token", r->bytes_per_token);
        cJSON_AddNumberToObject(ro, "kv_bytes", (double)r->kv_bytes);
        cJSON_AddNumberToObject(ro, "context", r->roof_ctx);
        cJSON_AddNumberToObject(ro, "tokens_per_s", r->roof_tps);
    }
    char *s = cJSON_Print(root);
    if (s) puts(s);
    free(s);
    cJSON_Delete(root);
}

static void print_table(const pl_bench_report *r) {
    printf("| model | size | params | backend | threads | test | t/s |\n");
    printf("| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
    for (int i = 0; i < r->n_rows; i++)
        printf("| %s | %.2f MiB | %.2f M | CPU | %d | %s | %.2f ± %.2f |\n", r->label, r->weight_bytes / 1048576.0,
               r->n_params / 1e6, r->n_threads, r->rows[i].test, r->rows[i].mean, r->rows[i].sd);
    if (!r->has_roof) return;
    printf("\nmemory bandwidth: %.2f GB/s (read, best of 5, %d threads)\n", r->bandwidth / 1e9, r->n_threads);
    printf("decode roof: %.1f tokens/s (%.2f MiB read per token: weights %.2f MiB + KV cache %.2f MiB at context %d)\n",
           r->roof_tps, r->bytes_per_token / 1048576.0, r->weight_bytes / 1048576.0, r->kv_bytes / 1048576.0,
           r->roof_ctx);
    for (int i = 0; i < r->n_rows; i++)
        if (r->rows[i].n_gen) printf("%s: %.1f%% of the roof\n", r->rows[i].test, 100 * r->rows[i].mean / r->roof_tps);
}

typedef struct { const char *model; pl_bench_opts o; bool json, kv_f16; } bench_args;

/* 0, 2 (usage error: printed) or -1 (--help printed) */
static int parse_args(int argc, char **argv, bench_args *b) {
    arg_rest rest = {.max = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        int k;
        bool ok = true;
        if ((k = arg_positional(argv, i, &rest)) != 0) { if (k < 0) return 2; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return -1; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = arg_str(argc, argv, &i, &b->model);
        else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) { if ((ok = arg_int(argc, argv, &i, 0, 1 << 20, &v))) b->o.n_prompt = (int)v; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) { if ((ok = arg_int(argc, argv, &i, 0, 1 << 20, &v))) b->o.n_gen = (int)v; }
        else if (!strcmp(a, "-d") || !strcmp(a, "--depth")) { if ((ok = arg_int(argc, argv, &i, 0, 1 << 20, &v))) b->o.depth = (int)v; }
        else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) { if ((ok = arg_int(argc, argv, &i, 1, 1000, &v))) b->o.reps = (int)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((ok = arg_int(argc, argv, &i, 1, 256, &v))) b->o.n_threads = (int)v; }
        else if (!strcmp(a, "--json")) b->json = true;
        else if (!strcmp(a, "--roof")) b->o.roof = true;
        else if (!strcmp(a, "--kv-f16")) b->kv_f16 = true;
        else return arg_unknown(argv, i);
        if (!ok) return 2;
    }
    if (!b->model) { fprintf(stderr, "plinth bench: no model given (-m PATH)\n"); return 2; }
    if (!b->o.n_prompt && !b->o.n_gen) { fprintf(stderr, "plinth bench: nothing to run (-p 0 and -n 0)\n"); return 2; }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    bench_args b = {.o = {.n_prompt = 512, .n_gen = 128, .reps = 5}};
    int rc = parse_args(argc, argv, &b);
    if (rc) return rc < 0 ? 0 : rc;
    if (!b.o.n_threads) b.o.n_threads = pl_cpu_physical_cores();
    int ctx = b.o.depth + PL_MAX(PL_MAX(b.o.n_prompt, b.o.n_gen), 16);
    pl_bundle *m = pl_bundle_open(b.model, &(pl_bundle_params){.n_ctx = ctx, .n_threads = b.o.n_threads, .no_tokenizer = true,
                                                          .kv_f16 = b.kv_f16});
    if (!m) { fprintf(stderr, "plinth bench: %s\n", pl_last_error()); return 1; }
    pl_bench_report r;
    rc = pl_bench_run(m->llm, &b.o, &r);
    if (rc) fprintf(stderr, "plinth bench: %s\n", pl_last_error());
    else if (b.json) print_json(&r);
    else print_table(&r);
    pl_bench_report_free(&r);
    pl_bundle_free(m);
    return rc ? 1 : 0;
}
