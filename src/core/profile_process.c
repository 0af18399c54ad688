/* The process's defaults for contexts created with DEFAULT settings (pl_ctx_set_defaults, called once by the
 * command line's main from PLINTH_PROFILE / PLINTH_FUSE): which profiling mode and fusion setting such a context
 * starts with. The timings themselves always live in the context (core/profile.c). */
#include "core/profile.h"

static pl_profile_mode g_profile = PL_PROFILE_OFF;
static bool g_fuse = true;

void pl_ctx_set_defaults(const pl_ctx_params *d) {
    if (d->profile != PL_PROFILE_DEFAULT) g_profile = d->profile;
    if (d->fuse != PL_FUSE_DEFAULT) g_fuse = d->fuse == PL_FUSE_ON;
}

pl_profile_mode process_profile_mode(void) { return g_profile; }
bool process_fuse(void) { return g_fuse; }
