/* plinth info: placeholder until its issue lands. */
#include "cli/cli.h"
#include <stdio.h>
int cmd_info(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "plinth info: not built yet\n"); return 1; }
