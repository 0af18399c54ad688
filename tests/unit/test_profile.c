/* The profiler keeps its state per context (core/profile.c): two contexts made with .profile = WALL, each running
 * its own graph, print two separate tables (each op counted where it ran, time added to one context absent
 * from the other); a context made with .profile = OFF (or DEFAULT, the process default being off) keeps none.
 * Forward matmuls are also counted by weight type, decode-sized (<= 8 rows) apart from batches. */
#include "core/tensor.h"
#include "test.h"

#include <string.h>

/* ctx's printed profile table (caller frees) */
static char *printed(const pl_ctx *ctx) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    pl_ctx_profile_print(ctx, f);
    fclose(f);
    return buf;
}

/* run a graph of `calls` forward passes of a (op) b in ctx; return its printed profile (caller frees) */
static char *profile_of(pl_ctx *ctx, bool mul, int calls) {
    pl_tensor *a = pl_new_1d(ctx, PL_F32, 16), *b = pl_new_1d(ctx, PL_F32, 16);
    memset(a->data, 0, pl_nbytes(a));
    memset(b->data, 0, pl_nbytes(b));
    pl_graph *g = pl_graph_build(ctx, mul ? pl_mul(ctx, a, b) : pl_add(ctx, a, b), false);
    for (int i = 0; g && i < calls; i++) pl_graph_forward(ctx, g);
    return printed(ctx);
}

/* the calls column of op's row, or -1 when the table has no row for it */
static long calls_of(const char *table, const char *op) {
    char name[32];
    for (const char *line = table; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        double s;
        long calls;
        if (sscanf(line, "%31s %lf %ld", name, &s, &calls) == 3 && !strcmp(name, op)) return calls;
    }
    return -1;
}

/* the calls column of the "matmul by type" row for type ty and rows ("<=" or ">"), or -1 */
static long mm_calls_of(const char *table, const char *ty, const char *rows) {
    char name[32], r0[8], r1[8];
    const char *sec = table ? strstr(table, "matmul by type") : NULL;
    for (const char *line = sec; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        double s;
        long calls;
        if (sscanf(line, "%31s %7s %7s %lf %ld", name, r0, r1, &s, &calls) == 5 && !strcmp(name, ty) && !strcmp(r0, rows))
            return calls;
    }
    return -1;
}

/* q8_0 weights against 2 activation rows, twice; f32 weights against 16 rows, once */
static char *matmul_profile(pl_ctx *ctx) {
    const int K = 64, M = 8;
    float w[8 * 64];
    for (int i = 0; i < M * K; i++) w[i] = (float)((i * 37) % 17 - 8) / 8;
    pl_tensor *wq = pl_new_2d(ctx, PL_Q8_0, K, M), *wf = pl_new_2d(ctx, PL_F32, K, M);
    pl_dtype_traits(PL_Q8_0)->from_float(w, wq->data, M * K);
    memcpy(wf->data, w, sizeof w);
    pl_tensor *x2 = pl_new_2d(ctx, PL_F32, K, 2), *x16 = pl_new_2d(ctx, PL_F32, K, 16);
    for (int i = 0; i < 2 * K; i++) pl_f32(x2)[i] = 0.5f;
    for (int i = 0; i < 16 * K; i++) pl_f32(x16)[i] = 0.25f;
    pl_graph *g1 = pl_graph_build(ctx, pl_matmul(ctx, wq, x2), false), *g2 = pl_graph_build(ctx, pl_matmul(ctx, wf, x16), false);
    pl_graph_forward(ctx, g1);
    pl_graph_forward(ctx, g1);
    pl_graph_forward(ctx, g2);
    return printed(ctx);
}

int main(void) {
    pl_ctx *mc = pl_ctx_new(&(pl_ctx_params){.n_threads = 1, .profile = PL_PROFILE_CPU});
    char *tm = matmul_profile(mc);
    CHECKF(mm_calls_of(tm, "q8_0", "<=") == 2 && mm_calls_of(tm, "f32", ">") == 1 && mm_calls_of(tm, "q8_0", ">") == -1 &&
               mm_calls_of(tm, "f32", "<=") == -1,
           "matmuls by type:\n%s", tm);
    free(tm);
    pl_ctx_free(mc);

    pl_ctx *a = pl_ctx_new(&(pl_ctx_params){.n_threads = 1, .profile = PL_PROFILE_WALL});
    pl_ctx *b = pl_ctx_new(&(pl_ctx_params){.n_threads = 1, .profile = PL_PROFILE_CPU});
    pl_ctx *off = pl_ctx_new(&(pl_ctx_params){.n_threads = 1, .profile = PL_PROFILE_OFF});
    pl_ctx *def = pl_ctx_new(&(pl_ctx_params){.n_threads = 1});
    CHECK(a && b && off && def);
    CHECK(pl_ctx_profiling(a) && pl_ctx_profiling(b) && !pl_ctx_profiling(off) && !pl_ctx_profiling(def));
    pl_ctx_profile_add(a, "optimizer", 0.25);
    char *ta = profile_of(a, false, 3), *tb = profile_of(b, true, 2), *toff = profile_of(off, false, 1);
    CHECKF(calls_of(ta, "add") == 3 && calls_of(ta, "mul") == -1, "context a:\n%s", ta);
    CHECKF(calls_of(tb, "mul") == 2 && calls_of(tb, "add") == -1, "context b:\n%s", tb);
    CHECK(strstr(ta, "outside ops: optimizer") != NULL);
    CHECK(strstr(tb, "optimizer") == NULL);
    CHECKF(toff && !*toff, "a context without profiling printed:\n%s", toff);
    char *ta2 = profile_of(a, false, 1); /* a's table goes on counting; b's is untouched by it */
    CHECK(calls_of(ta2, "add") == 4);
    free(ta); free(tb); free(toff); free(ta2);
    pl_ctx_free(a); pl_ctx_free(b); pl_ctx_free(off); pl_ctx_free(def);
    TEST_DONE();
}
