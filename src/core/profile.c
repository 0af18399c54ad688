/* The profiler: per-op times (forward and backward, with call counts) and time spent outside the ops, kept in
 * an object a context points at (ctx->profile, made by pl_ctx_new when pl_ctx_params.profile asks). The graph's
 * drivers (core/graph.c, grad_reset.c) record into it, forward matmuls also by weight type (time, the weights'
 * GB/s, GMAC/s); pl_ctx_profile_print prints the tables. No state of its own. */
#include "core/profile.h"

#include <time.h>

#define N_EXTRA 8

struct pl_profile {
    pl_profile_mode mode;          /* WALL or CPU */
    double op_s[PL_OP_COUNT][2];   /* seconds per op, [0] forward, [1] backward */
    long op_n[PL_OP_COUNT][2];     /* calls */
    struct { const char *what; double s; long n; } extra[N_EXTRA]; /* outside the ops, by what */
    struct { double s, bytes, macs; long n; } mm[PL_DTYPE_COUNT][2]; /* forward matmuls by weight type: [decode, batch] */
};

pl_profile_mode pl_profile_mode_parse(const char *s) {
    return !s ? PL_PROFILE_OFF : !strcmp(s, "cpu") ? PL_PROFILE_CPU : PL_PROFILE_WALL;
}

pl_profile *profile_new(pl_profile_mode mode) {
    pl_profile *p = pl_calloc(1, sizeof *p);
    if (p) p->mode = mode;
    return p;
}
void profile_free(pl_profile *p) { free(p); }

/* CPU: the calling thread's CPU time instead of the wall clock - on a shared, noisy host the time other
 * processes take the core is left out (exact at one thread; with more it sees the caller's share) */
double profile_clock(const pl_profile *p) {
    if (!p || p->mode != PL_PROFILE_CPU) return pl_time_s();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void profile_op(pl_profile *p, pl_op op, int dir, double seconds) {
    p->op_s[op][dir] += seconds;
    p->op_n[op][dir]++;
}

/* a forward matmul's weight type, its weight bytes and multiply-adds: where a step's time goes per type, and
 * how near each type's kernel runs to the memory roof (decode: the weights are read once a step) */
void profile_matmul(pl_profile *p, const pl_tensor *t, double seconds) {
    const pl_tensor *a = t->src[0];
    if ((int)a->type < 0 || a->type >= PL_DTYPE_COUNT) return;
    int64_t N = t->ne[1] * t->ne[2] * t->ne[3];
    int batch = t->ne[1] > 8; /* up to eight activation rows a matrix: decode steps (one or a few sequences) */
    p->mm[a->type][batch].s += seconds;
    p->mm[a->type][batch].bytes += (double)pl_nbytes(a);
    p->mm[a->type][batch].macs += (double)a->ne[0] * (double)t->ne[0] * (double)N;
    p->mm[a->type][batch].n++;
}

void profile_extra(pl_profile *p, const char *what, double seconds) {
    for (int i = 0; i < N_EXTRA; i++)
        if (!p->extra[i].what || !strcmp(p->extra[i].what, what)) {
            p->extra[i].what = what;
            p->extra[i].s += seconds;
            p->extra[i].n++;
            return;
        }
}

void profile_print(const pl_profile *p, FILE *f) {
    if (!p) return;
    double total = 0;
    for (int o = 0; o < PL_OP_COUNT; o++) total += p->op_s[o][0] + p->op_s[o][1];
    fprintf(f, "%-14s %10s %10s %8s %10s %8s\n", "op", "fwd s", "calls", "fwd %", "bwd s", "bwd %");
    for (int o = 0; o < PL_OP_COUNT; o++)
        if (p->op_n[o][0] || p->op_n[o][1])
            fprintf(f, "%-14s %10.3f %10ld %7.1f%% %10.3f %7.1f%%\n", pl_op_name((pl_op)o), p->op_s[o][0],
                    p->op_n[o][0], 100 * p->op_s[o][0] / total, p->op_s[o][1], 100 * p->op_s[o][1] / total);
    fprintf(f, "total %.3f s in ops\n", total);
    for (int i = 0; i < N_EXTRA && p->extra[i].what; i++)
        fprintf(f, "outside ops: %-16s %8.3f s in %ld calls\n", p->extra[i].what, p->extra[i].s, p->extra[i].n);
    bool head = false;
    for (int b = 0; b < 2; b++)
        for (int ty = 0; ty < PL_DTYPE_COUNT; ty++) {
            const double sec = p->mm[ty][b].s;
            if (!p->mm[ty][b].n) continue;
            if (!head) fprintf(f, "%-14s %-8s %10s %10s %8s %10s %10s\n", "matmul by type", "rows", "fwd s", "calls", "fwd %",
                               "weight GB/s", "GMAC/s");
            head = true;
            fprintf(f, "%-14s %-8s %10.3f %10ld %7.1f%% %10.1f %10.1f\n", pl_dtype_name((pl_dtype)ty), b ? "> 8" : "<= 8", sec,
                    p->mm[ty][b].n, 100 * sec / total, sec > 0 ? p->mm[ty][b].bytes / sec / 1e9 : 0,
                    sec > 0 ? p->mm[ty][b].macs / sec / 1e9 : 0);
        }
}

/* ---- the public calls on a context ---- */
bool pl_ctx_profiling(const pl_ctx *ctx) { return ctx && ctx->profile; }
double pl_ctx_profile_clock(const pl_ctx *ctx) { return profile_clock(ctx ? ctx->profile : NULL); }
void pl_ctx_profile_add(pl_ctx *ctx, const char *what, double seconds) {
    if (ctx && ctx->profile) profile_extra(ctx->profile, what, seconds);
}
void pl_ctx_profile_print(const pl_ctx *ctx, FILE *f) { profile_print(ctx ? ctx->profile : NULL, f); }
