/* The profiler keeps its state per context (core/profile.c): two contexts made with .profile = WALL, each running
 * its own graph, print two separate tables (each op counted where it ran, time added to one context absent
 * from the other); a context made with .profile = OFF (or DEFAULT, the process default being off) keeps none. */
#include "core/tensor.h"
#include "test.h"

#include <string.h>

/* run a graph of `calls` forward passes of a (op) b in ctx; return its printed profile (caller frees) */
static char *profile_of(pl_ctx *ctx, bool mul, int calls) {
    pl_tensor *a = pl_new_1d(ctx, PL_F32, 16), *b = pl_new_1d(ctx, PL_F32, 16);
    memset(a->data, 0, pl_nbytes(a));
    memset(b->data, 0, pl_nbytes(b));
    pl_graph *g = pl_graph_build(ctx, mul ? pl_mul(ctx, a, b) : pl_add(ctx, a, b), false);
    for (int i = 0; g && i < calls; i++) pl_graph_forward(ctx, g);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    pl_ctx_profile_print(ctx, f);
    fclose(f);
    return buf;
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

int main(void) {
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
