/* plinth tokenize: placeholder until its issue lands. */
#include "cli/cli.h"
#include <stdio.h>
int cmd_tokenize(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "plinth tokenize: not built yet\n"); return 1; }
