/* plinth synth: synthetic training examples made by a model from a template with slots, filtered, each line
 * recording how it was made. Parses options into pl_synth_opts and calls pl_synth (src/tasks/synth.c). */
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/interrupt.h"
#include "tasks/synth.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    pl_synth_opts d = pl_synth_default_opts();
    fprintf(f,
        "usage: plinth synth --teacher MODEL --template FILE.json -n N -o DATA.jsonl [options] [--]\n\n"
        "Makes N training examples: the teacher answers the template's instruction with its slots filled at\n"
        "random (seeded), answers that fail the template's checks (length, duplicates, forbidden text, a label the\n"
        "teacher assigns itself) are dropped, and each kept one becomes a prompt/completion line that records its\n"
        "slots, seed and attempt. See docs/synth.md for the template format.\n\n"
        "  --teacher PATH       the model that writes (.gguf or HF directory; its chat template is used)\n"
        "  --template FILE      the template (JSON)\n"
        "  -n N                 examples to keep (default %d)\n"
        "  -o, --out FILE       the JSONL written (atomically)\n"
        "  --max-attempts N     answers generated at most (default 4 x N)\n"
        "  --seed N             seed of the slot choices and the sampling (default %llu)\n"
        "  --temp X             sampling temperature (default %g); --top-p X (default %g)\n"
        "  --max-tokens N       tokens per answer (default %d)\n"
        "  -c, --ctx-size N, -t, --threads N\n"
        "  -q, --quiet          no progress output\n"
        "  --                   the end of the options\n",
        d.n, (unsigned long long)d.seed, d.temperature, d.top_p, d.max_tokens);
}

int cmd_synth(int argc, char **argv) {
    pl_synth_opts o = pl_synth_default_opts();
    arg_rest rest = {.max = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        double f;
        int k;
        bool ok = true;
        if ((k = arg_positional(argv, i, &rest)) != 0) { if (k < 0) return 2; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--teacher")) ok = arg_str(argc, argv, &i, &o.teacher);
        else if (!strcmp(a, "--template")) ok = arg_str(argc, argv, &i, &o.template_path);
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) ok = arg_str(argc, argv, &i, &o.out_path);
        else if (!strcmp(a, "-n")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 24, &v))) o.n = (int)v; }
        else if (!strcmp(a, "--max-attempts")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 26, &v))) o.max_attempts = (int)v; }
        else if (!strcmp(a, "--seed")) { if ((ok = arg_int(argc, argv, &i, 0, 1LL << 62, &v))) o.seed = (uint64_t)v; }
        else if (!strcmp(a, "--temp")) { if ((ok = arg_float(argc, argv, &i, 0, 100, &f))) o.temperature = (float)f; }
        else if (!strcmp(a, "--top-p")) { if ((ok = arg_float(argc, argv, &i, 0, 1, &f))) o.top_p = (float)f; }
        else if (!strcmp(a, "--max-tokens")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 20, &v))) o.max_tokens = (int)v; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { if ((ok = arg_int(argc, argv, &i, 16, 1 << 20, &v))) o.n_ctx = (int)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if ((ok = arg_int(argc, argv, &i, 1, 256, &v))) o.threads = (int)v; }
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o.quiet = true;
        else return arg_unknown(argv, i);
        if (!ok) return 2;
    }
    if (!o.teacher || !o.template_path || !o.out_path) {
        fprintf(stderr, "plinth synth: --teacher, --template and -o are needed\n");
        return 2;
    }
    o.interrupt = cli_catch_interrupt(1);
    pl_synth_stats st;
    int rc = pl_synth(&o, &st);
    if (!o.quiet && st.attempts)
        fprintf(stderr, "synth: kept %d of %d answers; dropped %d duplicate, %d empty, %d too short, %d too long, %d forbidden, %d mislabelled\n",
                st.kept, st.attempts, st.duplicate, st.empty, st.too_short, st.too_long, st.forbidden, st.mislabelled);
    if (rc == PL_OK) return 0;
    fprintf(stderr, "plinth synth: %s\n", pl_last_error());
    return rc == PL_ERR_INTERRUPTED ? 130 : 1;
}
