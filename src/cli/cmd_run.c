/* plinth run: placeholder until its issue lands. */
#include "cli/cli.h"
#include <stdio.h>
int cmd_run(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "plinth run: not built yet\n"); return 1; }
