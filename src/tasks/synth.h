/* Synthetic training data made by a model: the workflow behind `plinth synth`. A template file (JSON) names an
 * instruction with {slots}, the values each slot takes, and how a kept answer becomes a training example
 * (prompt / completion with the same slots and {output}); the teacher answers the instruction (its chat
 * template, sampled with a seed), and each answer is filtered: length bounds (an answer cut off by the token
 * budget counts as too long), a duplicate of one kept before,
 * text it must not contain, and optionally a label the teacher itself assigns (asked a question about the
 * answer, the first of the slot's values its greedy reply names must be the one chosen). Every line records
 * how it was made. See docs/synth.md. */
#ifndef PL_TASKS_SYNTH_H
#define PL_TASKS_SYNTH_H

#include "plinth.h"

#include <signal.h>
#include <stdint.h>

typedef struct {
    const char *teacher, *template_path, *out_path;
    int n;                  /* examples to keep */
    int max_attempts;       /* answers generated at most (0: 4 n) */
    uint64_t seed;
    float temperature, top_p;
    int max_tokens;         /* per answer (default 120) */
    int n_ctx, threads;
    bool quiet;
    volatile sig_atomic_t *interrupt;
} pl_synth_opts;

typedef struct {
    int kept, attempts;
    int too_short, too_long, duplicate, forbidden, mislabelled, empty;
} pl_synth_stats;

pl_synth_opts pl_synth_default_opts(void);
/* Writes o->out_path (atomically, whatever was kept when interrupted). PL_OK, PL_ERR_INTERRUPTED, or an error
 * with a message (a template that is not JSON, names a slot it does not define, ...); stats filled either way. */
int pl_synth(const pl_synth_opts *o, pl_synth_stats *stats);

#endif
