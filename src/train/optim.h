/* Optimization on flat buffers: AdamW with decoupled weight decay (Loshchilov & Hutter), global-norm
 * gradient clipping, and the warmup + cosine learning-rate schedule. */
#ifndef PL_TRAIN_OPTIM_H
#define PL_TRAIN_OPTIM_H

#include <stdint.h>

typedef struct {
    float beta1, beta2, eps, weight_decay; /* the learning rate is each step's argument (a schedule) */
} pl_adamw;

/* One AdamW step (t counts from 1) over n parameters, exactly as torch.optim.AdamW computes it:
 * w *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps) */
void pl_adamw_step(const pl_adamw *o, int64_t t, float lr, int64_t n, float *w, const float *g, float *m, float *v);
/* The same with every g[i] taken as g[i] * gscale (a clipping factor folded into the update) */
void pl_adamw_step_scaled(const pl_adamw *o, int64_t t, float lr, int64_t n, float *w, const float *g, float *m,
                          float *v, float gscale);
/* sum of g[i]^2 accumulated in double (SIMD where the CPU has it) */
double pl_sumsq_f32(int64_t n, const float *g);
/* Scale g so its global L2 norm is at most max_norm (<= 0: no clipping). Returns the norm before clipping. */
float pl_clip_grad_norm(float *g, int64_t n, float max_norm);
/* Linear warmup over `warmup` steps to lr_max, then cosine decay to lr_min at `total` (step counts from 0). */
float pl_lr_schedule(int64_t step, int64_t warmup, int64_t total, float lr_max, float lr_min);

#endif
