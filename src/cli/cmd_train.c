/* plinth train: placeholder until its issue lands. */
#include "cli/cli.h"
#include <stdio.h>
int cmd_train(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "plinth train: not built yet\n"); return 1; }
