/* Batched decoding throughput (issue 15): one sequence decoded alone against N sequences decoded together, each
 * step one token per sequence in one forward pass (the weights are read once per step for all of them). Every
 * sequence is first prefilled with the same number of random prompt tokens; runs alternate, medians reported.
 * usage: batch_decode MODEL [N=8] [STEPS=64] [THREADS=2] [PROMPT=32] [REPEAT=3]  (bench/bench_batch.sh builds it) */
#include "bench_common.h"
#include "models/llm.h"
#include "tasks/bench.h"
#include "tasks/sample.h"

#include <stdio.h>
#include <string.h>

/* BENCH_CPU_TIME=1: the process's CPU time instead of the wall clock — with one thread, what a step costs even on
 * a host shared with other jobs (kernel work there); never a figure to compare with a peer's wall time */
static double clock_now(void) {
    static int cpu = -1;
    if (cpu < 0) cpu = getenv("BENCH_CPU_TIME") && atoi(getenv("BENCH_CPU_TIME")) > 0;
    return cpu ? cpu_s() : now();
}

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

/* n sequences: prefill, then `steps` batches of one token each; returns decode tokens/s (all sequences) */
static double run(pl_llm *m, int n, int steps, int prompt, uint64_t *rng) {
    int V = pl_llm_n_vocab(m), seq[64];
    int32_t tok[64], *p = malloc((size_t)prompt * sizeof *p), *ps = malloc((size_t)prompt * sizeof *ps);
    float *logits = malloc((size_t)n * V * sizeof(float));
    pl_sampler_params sp = pl_sampler_default_params();
    sp.temperature = 0; /* greedy, as plinth run --temp 0 picks */
    pl_sampler *greedy = pl_sampler_new(&sp, V);
    for (int s = 0; s < n; s++) {
        seq[s] = pl_llm_seq_new(m);
        for (int i = 0; i < prompt; i++) { *rng = *rng * 6364136223846793005ull + 1; p[i] = (int32_t)((*rng >> 33) % V); ps[i] = seq[s]; }
        if (pl_llm_decode(m, &(pl_llm_batch){prompt, p, ps, NULL}, NULL)) { fprintf(stderr, "%s\n", pl_last_error()); exit(1); }
        tok[s] = p[prompt - 1];
    }
    double t0 = clock_now();
    for (int t = 0; t < steps; t++) {
        if (pl_llm_decode(m, &(pl_llm_batch){n, tok, seq, NULL}, logits)) { fprintf(stderr, "%s\n", pl_last_error()); exit(1); }
        for (int s = 0; s < n; s++) tok[s] = pl_sampler_sample(greedy, logits + (size_t)s * V, NULL, 0);
    }
    double dt = clock_now() - t0;
    for (int s = 0; s < n; s++) pl_llm_seq_remove(m, seq[s]);
    free(p); free(ps); free(logits);
    pl_sampler_free(greedy);
    return (double)n * steps / dt;
}

int main(int argc, char **argv) {
    pl_ctx_set_defaults(&(pl_ctx_params){.profile = pl_profile_mode_parse(getenv("PLINTH_PROFILE"))});
    if (argc < 2) { fprintf(stderr, "usage: batch_decode MODEL [N=8] [STEPS=64] [THREADS=2] [PROMPT=32] [REPEAT=3]\n"); return 2; }
    int n = argc > 2 ? atoi(argv[2]) : 8, steps = argc > 3 ? atoi(argv[3]) : 64, threads = argc > 4 ? atoi(argv[4]) : 2;
    int prompt = argc > 5 ? atoi(argv[5]) : 32, repeat = argc > 6 ? atoi(argv[6]) : 3;
    if (n < 1 || n > 64 || steps < 1 || prompt < 1 || repeat < 1 || repeat > 32) { fprintf(stderr, "bad arguments\n"); return 2; }
    pl_llm *m = pl_llm_load_ex(argv[1], &(pl_llm_params){.n_threads = threads, .n_ctx = (n + 1) * (prompt + steps) + 16});
    if (!m) { fprintf(stderr, "%s\n", pl_last_error()); return 1; }
    uint64_t rng = 42;
    run(m, 1, 8, prompt, &rng); /* warm-up: page in the weights */
    double one[32], many[32];
    for (int r = 0; r < repeat; r++) { one[r] = run(m, 1, steps, prompt, &rng); many[r] = run(m, n, steps, prompt, &rng); }
    qsort(one, repeat, sizeof *one, cmp);
    qsort(many, repeat, sizeof *many, cmp);
    printf("model %s, %d threads, prompt %d, %d decode steps, median of %d alternating runs\n", argv[1], threads, prompt, steps, repeat);
    printf("1 sequence:   %8.1f tok/s\n%d sequences: %8.1f tok/s aggregate (%.1f per sequence)\nratio %.2fx\n", one[repeat / 2], n,
           many[repeat / 2], many[repeat / 2] / n, many[repeat / 2] / one[repeat / 2]);
    printf("multiply-adds per token: %.1f M\n", (double)pl_bench_macs_per_token(m) / 1e6);
    pl_ctx_profile_print(m->step, stderr); /* PLINTH_PROFILE=1: where the time went (both runs together) */
    pl_llm_free(m);
    return 0;
}
