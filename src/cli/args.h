/* Small helpers for the subcommands' option parsing: numbers with range checks and clear messages. */
#ifndef PL_CLI_ARGS_H
#define PL_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

/* Parse argv[*i + 1] as the value of option argv[*i]; advance *i. false (message printed) on error. */
bool arg_int(int argc, char **argv, int *i, long long lo, long long hi, long long *out);
bool arg_float(int argc, char **argv, int *i, double lo, double hi, double *out);
bool arg_str(int argc, char **argv, int *i, const char **out);

/* The sampler options shared by run and chat (--temp --top-k --top-p --min-p --repeat-penalty --seed):
 * 1 = argv[*i] was one and its value parsed into *sp, 0 = not a sampler option, -1 = bad value (printed). */
#include "tasks/sample.h"
int arg_sampling(int argc, char **argv, int *i, pl_sampler_params *sp);

/* The options of the commands that run a model over a text chunk by chunk (perplexity, imatrix):
 * -m/--model, -f/--file, -c/--ctx-size, --chunks, -t/--threads. Same return convention as arg_sampling. */
#include "tasks/perplexity.h"
typedef struct {
    const char *model, *file;
    pl_ppl_opts ppl;
    int threads;
} pl_text_run_args;
int arg_text_run(int argc, char **argv, int *i, pl_text_run_args *r);

#endif
