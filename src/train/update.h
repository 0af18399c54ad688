/* One optimizer update over a model's flat buffers (weights, gradients, AdamW moments), split over the context's
 * thread pool in chunks: the global gradient norm (for clipping, as one factor folded into AdamW) and the AdamW
 * step. What `plinth train` and `plinth finetune` run after each step's backward passes. */
#ifndef PL_TRAIN_UPDATE_H
#define PL_TRAIN_UPDATE_H

#include "core/tensor.h"
#include "train/optim.h"

typedef struct { float *w, *g, *m, *v; int64_t n; } pl_flat_params;

/* AdamW step t (from 1) at learning rate lr on the mean gradient g / accum, its global norm clipped to clip
 * (<= 0: no clipping). Returns the norm of the mean gradient before clipping (NAN without clipping). */
float pl_update_adamw(pl_ctx *ctx, const pl_adamw *opt, const pl_flat_params *p, int64_t t, float lr, float clip, int accum);

#endif
