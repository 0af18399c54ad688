/* Ctrl-C for the commands that run long (run, chat, eval): the first SIGINT sets a flag that the task polls
 * (its options' `interrupt`) and stops at a clean point; the command then exits 130. */
#ifndef PL_CLI_INTERRUPT_H
#define PL_CLI_INTERRUPT_H

#include <signal.h>

/* Install the handler (for SIGTERM too with also_term) and return the flag it sets. No SA_RESTART: a read
 * waiting on the terminal (chat's prompt) returns EINTR. */
volatile sig_atomic_t *cli_catch_interrupt(int also_term);

#endif
