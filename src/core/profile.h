/* The profiler's object (core/profile.c): per-op times of one context, forward and backward, and the time its
 * callers spend outside the ops. pl_ctx_new makes one when asked (pl_ctx_params.profile); the graph's drivers
 * record into ctx->profile. Internal to core/; the public calls are in tensor.h. */
#ifndef PL_CORE_PROFILE_H
#define PL_CORE_PROFILE_H

#include "core/tensor.h"

pl_profile *profile_new(pl_profile_mode mode); /* WALL or CPU; NULL out of memory */
void profile_free(pl_profile *p);
double profile_clock(const pl_profile *p);     /* seconds on p's clock; the wall clock when p is NULL */
void profile_op(pl_profile *p, pl_op op, int dir, double seconds); /* dir 0 forward, 1 backward */
void profile_matmul(pl_profile *p, const pl_tensor *t, double seconds); /* a forward matmul, by weight type */
void profile_extra(pl_profile *p, const char *what, double seconds);
void profile_print(const pl_profile *p, FILE *f);

/* The process's settings for DEFAULT (core/profile_process.c): the profiling mode and the fusion setting a
 * context made with DEFAULT starts with. */
pl_profile_mode process_profile_mode(void);
bool process_fuse(void);

#endif
