/* Generate text: load a model (a .gguf file, a Hugging Face directory or a training directory) and print a
 * continuation of the prompt as it is generated. Uses include/plinth.h alone.
 *
 *     generate MODEL PROMPT [TOKENS [TEMPERATURE [SEED]]]      (TEMPERATURE 0: greedy) */
#include <plinth.h>

#include <stdio.h>
#include <stdlib.h>

/* generation streams text as it becomes complete UTF-8; pieces are not NUL-terminated */
static void print_text(const char *text, size_t len, void *ud) {
    size_t *total = ud;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    *total += len;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL PROMPT [TOKENS [TEMPERATURE [SEED]]]\n", argv[0]);
        return 2;
    }
    pl_model *model = pl_model_load(argv[1], NULL); /* the defaults: the model's context, every core */
    if (!model) {
        fprintf(stderr, "%s: %s\n", argv[1], pl_last_error());
        return 1;
    }
    pl_generate_params p = pl_generate_default_params();
    p.n_predict = argc > 3 ? atoi(argv[3]) : 64;
    if (argc > 4) p.sampling.temperature = (float)atof(argv[4]);
    if (argc > 5) p.sampling.seed = strtoull(argv[5], NULL, 10);

    size_t total = 0;
    fputs(argv[2], stdout);
    int rc = pl_generate_text(model, argv[2], &p, print_text, &total);
    putchar('\n');
    if (rc != PL_OK) fprintf(stderr, "generation failed: %s\n", pl_last_error());
    else fprintf(stderr, "[%zu bytes generated]\n", total);
    pl_model_free(model);
    return rc == PL_OK ? 0 : 1;
}
