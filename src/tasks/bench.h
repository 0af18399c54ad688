/* Throughput of a decoder LM as llama-bench measures it: prompt processing (pp: one batch of n tokens from an
 * empty cache) and text generation (tg: n single-token steps), tokens/s per repetition; plus this machine's
 * memory bandwidth and the decode roof it implies (bandwidth / bytes read per generated token). The task
 * behind `plinth bench`; timings are reported, never asserted. */
#ifndef PL_TASKS_BENCH_H
#define PL_TASKS_BENCH_H

#include "models/llm.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Random token ids (fixed seed) so no tokenizer is needed, after `depth` tokens already in the cache (prefilled
 * once, untimed; llama-bench's -d). ts[r] = tokens/s of repetition r (after one warm-up run). PL_OK or a
 * negative status + message (depth + n larger than the model's context). */
int pl_bench_pp(pl_llm *m, int depth, int n_prompt, int reps, double *ts);
int pl_bench_tg(pl_llm *m, int depth, int n_gen, int reps, double *ts);

/* Bytes of the weights a forward pass reads (the token embedding only when it is also the LM head), and the
 * number of parameters (all weights, embedding included). */
uint64_t pl_bench_weight_bytes(const pl_llm *m, uint64_t *n_params);
/* the parameters a decode token reads, each once: its multiply-adds in the matrices (norm weights and biases,
 * a few thousand, counted with them; an untied embedding is only looked up, so left out) */
uint64_t pl_bench_macs_per_token(const pl_llm *m);
/* Bytes of K and V read by one decode step at context n_ctx (f32 or f16 as the cache is; a sliding-window layer
 * reads at most its window). */
uint64_t pl_bench_kv_bytes(const pl_llm *m, int n_ctx);

/* Read bandwidth in bytes/s: the best of reps threaded read-sums over a buffer of `bytes`. < 0 on failure. */
double pl_bench_mem_bandwidth(int n_threads, size_t bytes, int reps);

void pl_bench_mean_sd(const double *x, int n, double *mean, double *sd);

/* The whole of plinth bench: the pp and tg tests (0 tokens: skipped) after depth tokens, reps repetitions each,
 * and with roof the memory bandwidth and the decode roof at the tg test's average context (depth + n_gen / 2). */
typedef struct { int n_prompt, n_gen, reps, n_threads, depth; bool roof; } pl_bench_opts;
typedef struct {
    char test[32];            /* "pp512", "tg128", "tg128 @ d1024" */
    int n_prompt, n_gen;
    double mean, sd;          /* tokens/s over the repetitions */
    double *samples;          /* reps of them (in the report's buffer) */
} pl_bench_row;
typedef struct {
    pl_bench_row rows[2];
    int n_rows, reps, n_threads, depth;
    char label[128];          /* "llama 135M Q4_1": architecture, size, file type */
    uint64_t weight_bytes, n_params;
    bool has_roof;
    double bandwidth, bytes_per_token, roof_tps; /* bytes/s; weights + KV cache; bandwidth / bytes_per_token */
    uint64_t kv_bytes;
    int roof_ctx;
    double *buf;              /* the samples */
} pl_bench_report;
/* PL_OK or a negative status + message. Free with pl_bench_report_free. */
int pl_bench_run(pl_llm *m, const pl_bench_opts *o, pl_bench_report *r);
void pl_bench_report_free(pl_bench_report *r);

#endif
