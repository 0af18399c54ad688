/* AdamW, clipping and the learning-rate schedule: flat loops over the parameter buffers. */
#include "train/optim.h"

#include <math.h>

void pl_adamw_step(const pl_adamw *o, int64_t t, float lr, int64_t n, float *w, const float *g, float *m, float *v) {
    float b1 = o->beta1, b2 = o->beta2;
    float bc1 = 1.0f - powf(b1, (float)t), bc2 = 1.0f - powf(b2, (float)t);
    float step = lr / bc1, bc2_sqrt = sqrtf(bc2), decay = 1.0f - lr * o->weight_decay;
    for (int64_t i = 0; i < n; i++) {
        w[i] *= decay;
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        w[i] -= step * m[i] / (sqrtf(v[i]) / bc2_sqrt + o->eps);
    }
}

float pl_clip_grad_norm(float *g, int64_t n, float max_norm) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    float norm = (float)sqrt(s);
    if (max_norm > 0 && norm > max_norm) {
        float k = max_norm / (norm + 1e-6f);
        for (int64_t i = 0; i < n; i++) g[i] *= k;
    }
    return norm;
}

float pl_lr_schedule(int64_t step, int64_t warmup, int64_t total, float lr_max, float lr_min) {
    if (step < warmup) return lr_max * (float)(step + 1) / (float)warmup;
    if (step >= total) return lr_min;
    double ratio = (double)(step - warmup) / (double)(total - warmup > 0 ? total - warmup : 1);
    return lr_min + 0.5f * (float)(1.0 + cos(3.141592653589793 * ratio)) * (lr_max - lr_min);
}
