#include "cli/cli.h"
int cmd_rag(int argc, char **argv) { (void)argc; (void)argv; return 2; }
