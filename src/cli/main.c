/* plinth: the command. Reads the engine's environment variables once (PLINTH_PROFILE, PLINTH_FUSE: the
 * defaults of every context, docs/engine.md) and dispatches to one file per subcommand (src/cli/cmd_*.c). */
#include "cli/cli.h"
#include "core/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const pl_command g_commands[] = {
    PL_CLI_COMMANDS
};

static void usage(FILE *f) {
    fprintf(f, "plinth %s: foundation models in C\n\nusage: plinth COMMAND [options]\n\ncommands:\n", PL_VERSION);
    for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
        fprintf(f, "  %-12s %s\n", g_commands[i].name, g_commands[i].help);
    fprintf(f, "\n'plinth COMMAND --help' describes a command's options.\n");
}

/* PLINTH_PROFILE=1 (or cpu): time every op, printed by the commands that print a profile (train);
 * PLINTH_FUSE=0: no GEMM write-back fusions, to compare */
static void engine_settings_from_env(void) {
    const char *fuse = getenv("PLINTH_FUSE");
    pl_ctx_set_defaults(&(pl_ctx_params){.profile = pl_profile_mode_parse(getenv("PLINTH_PROFILE")),
                                         .fuse = fuse && !strcmp(fuse, "0") ? PL_FUSE_OFF : PL_FUSE_ON});
}

int main(int argc, char **argv) {
    engine_settings_from_env();
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("plinth %s\n", PL_VERSION); return 0; }
    for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
        if (!strcmp(argv[1], g_commands[i].name)) return g_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "plinth: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
