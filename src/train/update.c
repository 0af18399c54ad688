/* The optimizer update of a training step over flat buffers, on the pool (update.h). */
#include "train/update.h"

#include <math.h>

#define CHUNK 65536
typedef struct { const pl_adamw *opt; const pl_flat_params *p; int64_t t; float lr, gscale; } adamw_job;
/* each chunk: the update with the clipping (and accumulation) factor folded in. The gradients need no zeroing
 * for the next step: its first backward pass resets them (pl_graph_backward_reset). */
static void adamw_range(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    adamw_job *j = arg;
    for (int64_t c = s; c < e; c++) {
        int64_t b = c * CHUNK, n = PL_MIN((c + 1) * CHUNK, j->p->n) - b;
        pl_adamw_step_scaled(j->opt, j->t, j->lr, n, j->p->w + b, j->p->g + b, j->p->m + b, j->p->v + b, j->gscale);
    }
}
typedef struct { const float *g; int64_t n; double part[256]; } sumsq_job;
static void sumsq_range(void *arg, int64_t s, int64_t e, int ith) {
    sumsq_job *j = arg;
    int64_t b = s * CHUNK, n = PL_MIN(e * CHUNK, j->n) - b;
    j->part[ith] += pl_sumsq_f32(n, j->g + b);
}

float pl_update_adamw(pl_ctx *ctx, const pl_adamw *opt, const pl_flat_params *p, int64_t t, float lr, float clip, int accum) {
    float mean = 1.0f / (float)accum, scale = mean, norm = NAN;
    int64_t chunks = (p->n + CHUNK - 1) / CHUNK;
    if (clip > 0) { /* the norm as pl_clip_grad_norm's, up to the order of the partial sums */
        sumsq_job sj = {.g = p->g, .n = p->n};
        pl_parallel_for(ctx, chunks, sumsq_range, &sj);
        double s = 0;
        for (int i = 0; i < 256; i++) s += sj.part[i];
        norm = (float)sqrt(s) * mean;
        if (norm > clip) scale = mean * (clip / (norm + 1e-6f));
    }
    adamw_job aj = {opt, p, t, lr, scale};
    pl_parallel_for(ctx, chunks, adamw_range, &aj);
    return norm;
}
