/* The one SIGINT set-up of the subcommands (interrupt.h): a flag, and a handler that only sets it (all a
 * signal handler may safely do); the task polls the flag between tokens or items. */
#include "cli/interrupt.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

volatile sig_atomic_t *cli_catch_interrupt(int also_term) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    if (also_term) sigaction(SIGTERM, &sa, NULL);
    return &g_stop;
}
