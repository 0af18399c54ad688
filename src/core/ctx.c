/* The context: an arena of big chunks (every tensor of a graph is freed in one call) and a persistent
 * thread pool that splits a range of rows between the caller and n_threads-1 workers. */
#include "core/cpu.h"
#include "core/profile.h"
#include "core/tensor.h"

#include <pthread.h>

/* ---- arena ------------------------------------------------------------------------------------------ */
/* Chunks in the order they were made; a reset rewinds to the first and keeps them all, so a graph rebuilt every
 * step (a prefill, a decode token) takes the same chunks in the same order and touches no fresh page. (Merging
 * them into one new chunk of their total size, as before, made the step after the first fault every page in
 * again: ~1 GB for Gemma 3's 512-token prompt, seconds of the kernel's time where huge pages were compacted.) */
typedef struct chunk { struct chunk *next; size_t size, used; char *mem; } chunk;
struct pl_arena { chunk *head, *cur, *tail; size_t chunk_bytes; };

/* Big chunks are aligned to 2 MiB, so where transparent huge pages are on for every mapping the kernel can back
 * them with huge pages, but they do not ask for them (MADV_HUGEPAGE): where the kernel compacts memory on such a
 * fault (THP defrag "madvise", a common default) a fresh process's first pass spent seconds in it (Gemma 3 270M,
 * a 512-token prompt on an AMD EPYC host, one thread: 13-15 s, 11-13 of them system time; 2.2-2.6 s without). */
static chunk *chunk_new(size_t size) {
    chunk *c = pl_calloc(1, sizeof *c);
    if (!c) return NULL;
    size_t align = size >= ((size_t)4 << 20) ? (size_t)2 << 20 : 64;
    if (posix_memalign((void **)&c->mem, align, size) != 0) {
        free(c);
        return pl_error_null(PL_ERR_NOMEM, "out of memory allocating a %zu-byte arena chunk", size);
    }
    c->size = size;
    return c;
}

void *pl_ctx_alloc(pl_ctx *ctx, size_t bytes) {
    pl_arena *a = ctx->arena;
    bytes = (bytes + 63) & ~(size_t)63;
    chunk *c = a->cur;
    while (c && c->used + bytes > c->size) c = c->next; /* the next kept chunk with room (reset left them empty) */
    if (!c) {
        if (!(c = chunk_new(bytes > a->chunk_bytes ? bytes : a->chunk_bytes))) return NULL;
        if (a->tail) a->tail->next = c;
        else a->head = c;
        a->tail = c;
    }
    a->cur = c;
    void *p = c->mem + c->used;
    c->used += bytes;
    return p;
}

size_t pl_ctx_arena_bytes(const pl_ctx *ctx) {
    size_t n = 0;
    for (const chunk *c = ctx->arena->head; c; c = c->next) n += c->size;
    return n;
}

static void arena_free_chunks(pl_arena *a) {
    for (chunk *c = a->head, *n; c; c = n) { n = c->next; free(c->mem); free(c); }
    a->head = a->cur = a->tail = NULL;
}

/* ---- thread pool ------------------------------------------------------------------------------------ */
/* A job is cut into units: for pl_parallel_for, one contiguous share of [0, n) per thread, and unit u is run
 * as "thread" u (fn's ith), whoever runs it, so per-thread partial results are the same whichever thread
 * takes which share; for pl_parallel_for_dynamic, single items; for pl_parallel_for_chunks, ranges that
 * shrink as they are handed out (the dynamic kinds pass the running thread's ith). Any thread takes the next unit from one
 * atomic word (the job's generation and the next unit), and the job is over when all its units are done,
 * not when every worker has checked in: on an oversubscribed host a worker the OS has put aside for a time
 * slice no longer holds the others up - whoever runs takes its share. Workers spin briefly on the word
 * before sleeping: a decode step runs hundreds of small ops, and waking sleeping threads for each would cost
 * more than the ops themselves. */
#include <stdatomic.h>
#include <immintrin.h>

#define POOL_SPIN 20000 /* pause iterations (~ a few hundred microseconds) before sleeping */
#define GUIDED_MAX 64   /* ranges of a guided job */

typedef struct {
    pl_range_fn fn;
    void *arg;
    int64_t total;
    _Atomic int64_t units; /* shares or items; atomic: a late worker may read it while it is rewritten */
    bool dynamic;
    bool guided;           /* units are the ranges [bound[u], bound[u + 1]) */
    int64_t bound[GUIDED_MAX + 1];
} pool_job;

struct pl_pool {
    int n;                   /* threads including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    _Atomic uint64_t state;  /* generation << 32 | the next unit to take */
    _Atomic int64_t n_done;  /* units of the current job finished */
    _Atomic int sleepers;    /* workers waiting on wake */
    _Atomic bool quit;
    pool_job jobs[2];        /* generation g's job is jobs[g & 1]: a late worker reads a job that is still whole */
};

typedef struct { pl_pool *pool; int ith; } worker_arg;

/* take and run units of generation gen until none is left (or a newer job has begun) */
static void run_units(pl_pool *p, uint64_t gen, int ith) {
    pool_job *j = &p->jobs[gen & 1];
    for (;;) {
        uint64_t s = atomic_load(&p->state);
        if (s >> 32 != (gen & 0xffffffffu)) return;
        /* a stale read (the slot rewritten for generation gen + 2) is caught by the exchange: state moved on */
        const int64_t units = atomic_load_explicit(&j->units, memory_order_relaxed);
        if ((int64_t)(s & 0xffffffffu) >= units) return;
        if (!atomic_compare_exchange_weak(&p->state, &s, s + 1)) continue;
        int64_t u = (int64_t)(s & 0xffffffffu); /* ours: the job stays whole until we count the unit done */
        int64_t per = (j->total + units - 1) / units, a = per * u, e = PL_MIN(a + per, j->total);
        if (j->guided) a = j->bound[u], e = j->bound[u + 1];
        if (a < e) j->fn(j->arg, a, e, j->dynamic ? ith : (int)u);
        if (atomic_fetch_add(&p->n_done, 1) + 1 == units) { /* after the add, j may be rewritten: units is ours */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void *worker_main(void *v) {
    worker_arg wa = *(worker_arg *)v;
    free(v);
    pl_pool *p = wa.pool;
    uint64_t seen = 0; /* the last generation this worker ran */
    for (;;) {
        for (int i = 0; i < POOL_SPIN && atomic_load(&p->state) >> 32 == seen && !atomic_load(&p->quit); i++) _mm_pause();
        if (atomic_load(&p->state) >> 32 == seen && !atomic_load(&p->quit)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->state) >> 32 == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = atomic_load(&p->state) >> 32;
        run_units(p, seen, wa.ith);
    }
    return NULL;
}

static pl_pool *pool_new(int n) {
    pl_pool *p = pl_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = pl_calloc((size_t)n, sizeof(pthread_t));
    for (int i = 1; i < n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        wa->pool = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) { free(wa); p->n = i; break; }
    }
    return p;
}

static void pool_free(pl_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p);
}

/* Guided ranges: each a share of what is left, remaining / (2 threads), so the first ranges are long (few
 * hand-outs) and the last ones short (threads finish within a short range of each other); the GUIDED_MAX-th
 * range takes whatever is left. Returns the count of ranges. */
static int64_t guided_bounds(int64_t *bound, int64_t n, int threads) {
    int64_t u = 0, at = 0;
    bound[0] = 0;
    while (at < n && u < GUIDED_MAX) {
        int64_t len = PL_MAX(1, (n - at) / (2 * threads));
        if (u == GUIDED_MAX - 1) len = n - at;
        at += len;
        bound[++u] = at;
    }
    return u;
}

/* units: 0 = one share per thread (static); else that many ranges, handed out as threads come free;
 * -1: guided ranges (guided_bounds) */
static void parallel_run(pl_ctx *ctx, int64_t n, pl_range_fn fn, void *arg, int64_t units) {
    pl_pool *p = ctx->pool;
    if (n <= 0) return;
    if (p->n == 1 || n == 1) { fn(arg, 0, n, 0); return; }
    bool dynamic = units != 0, guided = units < 0;
    uint64_t gen = ((atomic_load(&p->state) >> 32) + 1) & 0xffffffffu;
    if (gen == 0) gen = 1; /* 0 is what a new worker has seen */
    pool_job *j = &p->jobs[gen & 1];
    if (guided) units = guided_bounds(j->bound, n, p->n);
    else units = dynamic ? PL_MIN(units, PL_MIN(n, (int64_t)1 << 31)) : p->n; /* units are counted in 32 bits */
    j->fn = fn; j->arg = arg; j->total = n; j->dynamic = dynamic; j->guided = guided;
    atomic_store_explicit(&j->units, units, memory_order_relaxed);
    atomic_store(&p->n_done, 0);
    atomic_store(&p->state, gen << 32); /* publishes the job to spinning workers */
    if (atomic_load(&p->sleepers) > 0) { /* and wakes sleeping ones */
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    run_units(p, gen, 0);
    for (int i = 0; i < POOL_SPIN && atomic_load(&p->n_done) < units; i++) _mm_pause();
    if (atomic_load(&p->n_done) < units) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->n_done) < units) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
void pl_parallel_for(pl_ctx *ctx, int64_t n, pl_range_fn fn, void *arg) { parallel_run(ctx, n, fn, arg, 0); }
void pl_parallel_for_dynamic(pl_ctx *ctx, int64_t n, pl_range_fn fn, void *arg) { parallel_run(ctx, n, fn, arg, n); }
void pl_parallel_for_chunks(pl_ctx *ctx, int64_t n, pl_range_fn fn, void *arg) { parallel_run(ctx, n, fn, arg, -1); }

/* ---- context ---------------------------------------------------------------------------------------- */
extern void openblas_set_num_threads(int);

/* profiling and fusion: as the params say, or (DEFAULT) as the process's settings say; the profile is the context's own */
static int ctx_settings(pl_ctx *ctx, const pl_ctx_params *params) {
    ctx->fuse = params->fuse == PL_FUSE_DEFAULT ? process_fuse() : params->fuse == PL_FUSE_ON;
    pl_profile_mode mode = params->profile == PL_PROFILE_DEFAULT ? process_profile_mode() : params->profile;
    if (mode == PL_PROFILE_OFF) return 0;
    ctx->own_profile = true;
    return (ctx->profile = profile_new(mode)) ? 0 : PL_ERR_NOMEM;
}

pl_ctx *pl_ctx_new(const pl_ctx_params *params) {
    pl_ctx_params def = {0};
    if (!params) params = &def;
    pl_ctx *ctx = pl_calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->arena = pl_calloc(1, sizeof *ctx->arena);
    if (!ctx->arena) { free(ctx); return NULL; }
    ctx->arena->chunk_bytes = params->arena_bytes ? params->arena_bytes : (size_t)64 << 20;
    ctx->n_threads = params->n_threads > 0 ? params->n_threads : pl_cpu_physical_cores();
    if (ctx->n_threads > 256) ctx->n_threads = 256;
    ctx->pool = pool_new(ctx->n_threads);
    if (!ctx->pool) { free(ctx->arena); free(ctx); return NULL; }
    ctx->n_threads = ctx->pool->n;
    openblas_set_num_threads(1); /* matmul splits its sgemm calls over the pool itself */
    if (ctx_settings(ctx, params)) { pl_ctx_free(ctx); return NULL; }
    return ctx;
}

void pl_ctx_reset(pl_ctx *ctx) {
    /* keep the memory for reuse, in order (see the arena above) */
    pl_arena *a = ctx->arena;
    for (chunk *c = a->head; c; c = c->next) c->used = 0;
    a->cur = a->head;
}

void pl_ctx_free(pl_ctx *ctx) {
    if (!ctx) return;
    arena_free_chunks(ctx->arena);
    free(ctx->arena);
    pool_free(ctx->pool);
    if (ctx->own_profile) profile_free(ctx->profile);
    free(ctx);
}
