/* Option parsing shared by the subcommands: values with range checks and clear messages, "--" as the end of
 * the options, text from -f FILE or standard input (-f -), and the option groups several commands share. */
#ifndef PL_CLI_ARGS_H
#define PL_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parse argv[*i + 1] as the value of option argv[*i]; advance *i. false (message printed) on error. */
bool arg_int(int argc, char **argv, int *i, long long lo, long long hi, long long *out);
bool arg_float(int argc, char **argv, int *i, double lo, double hi, double *out);
bool arg_str(int argc, char **argv, int *i, const char **out);

/* The arguments that are not options: those not starting with '-' ("-" alone is one: standard input) and
 * every argument after "--", which ends the options. A command's loop calls arg_positional first. */
typedef struct {
    const char *v[8];
    int n, max;        /* max: how many the command takes (at most 8) */
    bool end;          /* "--" seen */
} arg_rest;
/* 1 = argv[i] was "--" or a positional argument (taken into r), 0 = an option to parse, -1 = one positional
 * too many (message printed: exit 2). */
int arg_positional(char **argv, int i, arg_rest *r);
/* The message for an option the command does not know: exit code 2. */
int arg_unknown(char **argv, int i);

/* The text of -f FILE, or of standard input for "-" (malloc'd, NUL-terminated, *len bytes); NULL + message. */
char *arg_read_text(const char *path, size_t *len);
/* A prompt given as -p TEXT or -f FILE (one of them; -f - reads standard input): *out is TEXT or the file's text
 * with one trailing newline removed (as llama.cpp's -f), *owned what to free. false (message printed) on error. */
bool arg_prompt(const char *cmd, const char *text, const char *file, const char **out, char **owned);

/* The sampler options shared by run and chat (--temp --top-k --top-p --min-p --repeat-penalty --seed):
 * 1 = argv[*i] was one and its value parsed into *sp, 0 = not a sampler option, -1 = bad value (printed). */
#include "tasks/sample.h"
int arg_sampling(int argc, char **argv, int *i, pl_sampler_params *sp);

/* --lora DIR[:SCALE] (repeatable, up to PL_LLM_MAX_LORA): appended to list[*n]; --prompt-adapter DIR into
 * *prompt. Same return convention. */
int arg_lora(int argc, char **argv, int *i, const char **list, int *n, const char **prompt);

/* The options of the commands that run a model over a text chunk by chunk (perplexity, imatrix):
 * -m/--model, -f/--file (- = standard input), -c/--ctx-size, --chunks, -t/--threads. Same return convention
 * as arg_sampling. */
#include "tasks/perplexity.h"
typedef struct {
    const char *model, *file;
    pl_ppl_opts ppl;
    int threads;
    const char *lora[8];
    int n_lora;
    const char *prompt_adapter;
} pl_text_run_args;
int arg_text_run(int argc, char **argv, int *i, pl_text_run_args *r);

#endif
