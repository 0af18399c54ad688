/* The process's defaults for contexts created with DEFAULT settings (pl_ctx_set_defaults, called once by the
 * command line's main from PLINTH_PROFILE / PLINTH_FUSE), and - transitional - the profile such contexts share
 * with the context-free pl_profile_* calls tasks/train.c still makes. Delete the shared profile once every
 * creator of contexts (models/llm.c, tasks/train.c) passes its settings and train.c prints its context's table. */
#include "core/profile.h"

static pl_profile_mode g_profile = PL_PROFILE_OFF;
static bool g_fuse = true;
static pl_profile *g_shared; /* made on first use while g_profile is on */

void pl_ctx_set_defaults(const pl_ctx_params *d) {
    if (d->profile != PL_PROFILE_DEFAULT) g_profile = d->profile;
    if (d->fuse != PL_FUSE_DEFAULT) g_fuse = d->fuse == PL_FUSE_ON;
}

pl_profile_mode process_profile_mode(void) { return g_profile; }
bool process_fuse(void) { return g_fuse; }
pl_profile *process_profile(void) {
    if (!g_shared && g_profile != PL_PROFILE_OFF) g_shared = profile_new(g_profile);
    return g_shared;
}

bool pl_profiling(void) { return g_shared != NULL; }
double pl_profile_clock(void) { return profile_clock(g_shared); }
void pl_profile_add(const char *what, double seconds) {
    if (g_shared) profile_extra(g_shared, what, seconds);
}
void pl_profile_print(FILE *f) { profile_print(g_shared, f); }
