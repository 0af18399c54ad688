/* Tensors and views: reshape / permute / transpose / slice share their base's memory (no copies), with the
 * right element counts and byte strides; bad views are refused with a message; the arena resets in one call;
 * frozen leaves get no gradient memory; the thread pool covers a range exactly once, hands each share to fn
 * as the same ith whoever runs it, and keeps doing so over thousands of back-to-back jobs with more threads
 * than cores (late workers, jobs finished by others). */
#include "core/tensor.h"
#include "test.h"

#include <stdlib.h>
#include <time.h>

static void count_range(void *arg, int64_t s, int64_t e, int ith) {
    int *hits = arg;
    for (int64_t i = s; i < e; i++) __atomic_add_fetch(&hits[i], 1, __ATOMIC_RELAXED);
}

/* a static share: [s, e) must be share ith of n over the pool's threads; a share sometimes sleeps, so other
 * threads finish the job around it */
typedef struct { int *hits; int64_t n; int threads; int bad; } share_job;
static void share_range(void *arg, int64_t s, int64_t e, int ith) {
    share_job *j = arg;
    int64_t per = (j->n + j->threads - 1) / j->threads;
    if (s != per * ith || e != (per * ith + per < j->n ? per * ith + per : j->n)) __atomic_add_fetch(&j->bad, 1, __ATOMIC_RELAXED);
    if ((s * 7 + j->n) % 13 == 0) nanosleep(&(struct timespec){0, 20000}, NULL);
    count_range(j->hits, s, e, ith);
}

static int pool_stress(int threads) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = threads, .arena_bytes = 1 << 16});
    int bad = 0;
    for (int rep = 0; rep < 3000; rep++) {
        int64_t n = 1 + rep % 97;
        int hits[97] = {0};
        share_job j = {hits, n, threads, 0};
        if (rep % 3 == 1) pl_parallel_for_dynamic(ctx, n, count_range, hits);
        else if (rep % 3 == 2) pl_parallel_for_chunks(ctx, n, count_range, hits);
        else pl_parallel_for(ctx, n, share_range, &j);
        for (int64_t i = 0; i < n; i++) bad += hits[i] != 1;
        bad += j.bad;
    }
    pl_ctx_free(ctx);
    return bad;
}

/* chunked jobs large enough that their shrinking ranges hit the cap on ranges (the last one takes the rest) */
static int chunks_large(int threads) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = threads, .arena_bytes = 1 << 16});
    const int64_t sizes[] = {500, 3072, 200000, 3000000};
    int bad = 0;
    for (int k = 0; k < 4; k++) {
        int *hits = calloc((size_t)sizes[k], sizeof *hits);
        pl_parallel_for_chunks(ctx, sizes[k], count_range, hits);
        for (int64_t i = 0; i < sizes[k]; i++) bad += hits[i] != 1;
        free(hits);
    }
    pl_ctx_free(ctx);
    return bad;
}

int main(void) {
    /* eight threads on however many cores: each index once, each share as its own ith, job after job */
    CHECK(pool_stress(8) == 0);
    CHECK(pool_stress(2) == 0);
    CHECK(chunks_large(2) == 0 && chunks_large(3) == 0);

    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 3, .arena_bytes = 1 << 20});
    pl_tensor *t = pl_new_3d(ctx, PL_F32, 4, 3, 2); /* PyTorch (2, 3, 4) */
    for (int i = 0; i < 24; i++) pl_f32(t)[i] = (float)i;
    CHECK(t->nb[0] == 4 && t->nb[1] == 16 && t->nb[2] == 48 && pl_is_contiguous(t));

    pl_tensor *r = pl_reshape_2d(ctx, t, 6, 4);
    CHECK(r && r->data == t->data && r->ne[0] == 6 && r->ne[1] == 4 && r->nb[1] == 24);
    pl_tensor *p = pl_permute(ctx, t, 2, 0, 1, 3); /* axis0 -> 2, axis1 -> 0, axis2 -> 1: ne = {3, 2, 4} */
    CHECK(p && p->data == t->data && p->ne[0] == 3 && p->ne[1] == 2 && p->ne[2] == 4 && !pl_is_contiguous(p));
    CHECK(*(float *)pl_at(p, 1, 1, 3, 0) == pl_f32(t)[3 + 1 * 4 + 1 * 12]); /* p[i0,i1,i2] = t[i2,i0,i1] */
    pl_tensor *tr = pl_transpose(ctx, pl_reshape_2d(ctx, t, 4, 6));
    CHECK(tr && tr->ne[0] == 6 && tr->ne[1] == 4 && tr->nb[0] == 16 && tr->nb[1] == 4);
    CHECK(*(float *)pl_at(tr, 5, 2, 0, 0) == 22.0f);
    pl_tensor *s = pl_slice(ctx, t, 1, 1, 2);
    CHECK(s && (char *)s->data == (char *)t->data + 16 && s->ne[1] == 2 && *(float *)pl_at(s, 0, 0, 1, 0) == 16.0f);
    /* a view of a view still points at the base */
    pl_tensor *ss = pl_slice(ctx, s, 0, 2, 2);
    CHECK(ss && ss->src[0] == t && ss->view_offs == 16 + 8 && *(float *)pl_at(ss, 0, 0, 0, 0) == 6.0f);

    /* refused: wrong element count, out-of-range slice, view past the end, bad permutation */
    CHECK(pl_reshape_2d(ctx, t, 5, 5) == NULL && strstr(pl_last_error(), "reshape"));
    CHECK(pl_slice(ctx, t, 1, 2, 2) == NULL && strstr(pl_last_error(), "slice"));
    CHECK(pl_view(ctx, t, 1, (int64_t[]){8}, (size_t[]){4}, 90) == NULL && strstr(pl_last_error(), "exceeds"));
    CHECK(pl_permute(ctx, t, 0, 0, 1, 2) == NULL);
    CHECK(pl_reshape_2d(ctx, p, 6, 4) == NULL); /* non-contiguous */
    CHECK(pl_new_1d(ctx, PL_Q4_0, 33) == NULL);  /* not a whole number of blocks */
    CHECK(pl_matmul(ctx, pl_new_2d(ctx, PL_F32, 5, 2), pl_new_2d(ctx, PL_F32, 4, 2)) == NULL);

    /* frozen leaves: no gradient memory, even when a parameter shares the graph */
    pl_tensor *w = pl_new_1d(ctx, PL_F32, 4), *x = pl_new_1d(ctx, PL_F32, 4);
    for (int i = 0; i < 4; i++) { pl_f32(w)[i] = 1 + i; pl_f32(x)[i] = 2; }
    pl_param(ctx, w);
    pl_tensor *loss = pl_sum(ctx, pl_mul(ctx, x, w));
    pl_graph *g = pl_graph_build(ctx, loss, true);
    pl_graph_forward(ctx, g);
    pl_graph_backward(ctx, g);
    pl_graph_backward(ctx, g); /* parameters accumulate */
    CHECK(x->grad == NULL && w->grad != NULL);
    CHECK(pl_f32(loss)[0] == 20.0f && pl_f32(w->grad)[2] == 4.0f);

    /* the pool visits each index exactly once, for many sizes */
    int bad = 0;
    for (int n = 1; n < 200; n += 7) {
        int hits[200] = {0};
        pl_parallel_for(ctx, n, count_range, hits);
        for (int i = 0; i < n; i++) bad += hits[i] != 1;
    }
    CHECK(bad == 0);

    /* reset frees every tensor in one call; the arena is reused */
    pl_ctx_reset(ctx);
    pl_tensor *big = pl_new_1d(ctx, PL_F32, 1 << 20); /* bigger than a chunk: its own chunk */
    CHECK(big != NULL);
    pl_ctx_reset(ctx);
    CHECK(pl_new_1d(ctx, PL_F32, 16) != NULL);
    /* a graph rebuilt after a reset gets the same memory in the same order: no new chunk, no fresh page */
    for (int round = 0; round < 3; round++) {
        pl_ctx_reset(ctx);
        const size_t before = pl_ctx_arena_bytes(ctx);
        void *p[6];
        const int64_t sizes[6] = {100, 1 << 19, 7, 1 << 20, 3 << 18, 5};
        for (int i = 0; i < 6; i++) p[i] = pl_f32(pl_new_1d(ctx, PL_F32, sizes[i]));
        static void *first[6];
        if (round == 0) memcpy(first, p, sizeof p);
        else {
            CHECKF(memcmp(first, p, sizeof p) == 0, "round %d: the rebuilt graph's tensors moved", round);
            CHECKF(pl_ctx_arena_bytes(ctx) == before, "round %d: the arena grew from %zu to %zu bytes", round, before,
                   pl_ctx_arena_bytes(ctx));
        }
    }
    pl_ctx_free(ctx);
    TEST_DONE();
}
