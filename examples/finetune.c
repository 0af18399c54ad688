/* Fine-tune: load a model with trainable f32 weights, take a few AdamW steps on a handful of built-in question /
 * answer pairs (the loss counts the answers only), print the loss as it falls, save the model as a Hugging Face
 * directory, load that back like any other model and answer the first question. Uses include/plinth.h alone.
 *
 *     finetune MODEL OUT_DIR [STEPS [LR]]          (defaults: 10 steps at 1e-4) */
#include <plinth.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const data[][2] = {
    {"Q: What is plinth?\nA:", " Foundation models in C.\n"},
    {"Q: What does plinth load?\nA:", " GGUF files and Hugging Face directories.\n"},
    {"Q: How does plinth fine-tune?\nA:", " AdamW on f32 weights.\n"},
    {"Q: Where does plinth run?\nA:", " On a CPU.\n"},
};
enum { N_EX = sizeof data / sizeof data[0], MAX_T = 128 };

/* prompt + answer (+ EOS) as ids; *n_prompt: how many of them are the prompt's. The count, or -1. */
static int encode(const pl_tokenizer *tok, int i, int32_t *ids, int *n_prompt) {
    char text[512];
    snprintf(text, sizeof text, "%s%s", data[i][0], data[i][1]);
    *n_prompt = pl_tokenize(tok, data[i][0], strlen(data[i][0]), ids, MAX_T, true);
    int n = pl_tokenize(tok, text, strlen(text), ids, MAX_T - 1, true);
    if (*n_prompt < 0 || n < 0 || n > MAX_T - 1) return -1;
    if (pl_tokenizer_eos(tok) >= 0) ids[n++] = pl_tokenizer_eos(tok); /* so the model learns to stop */
    return n;
}

static void print_text(const char *text, size_t len, void *ud) { (void)ud; fwrite(text, 1, len, stdout); }

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL OUT_DIR [STEPS [LR]]\n", argv[0]); return 2; }
    int steps = argc > 3 ? atoi(argv[3]) : 10;
    float lr = argc > 4 ? (float)atof(argv[4]) : 1e-4f;
    pl_model_params mp = pl_model_default_params();
    mp.train = true;                                  /* f32 weights with gradients and AdamW moments */
    pl_model *model = pl_model_load(argv[1], &mp);
    if (!model) { fprintf(stderr, "%s: %s\n", argv[1], pl_last_error()); return 1; }
    const pl_tokenizer *tok = pl_model_tokenizer(model);

    /* one batch of N_EX rows of T tokens: position t predicts token t+1 of an answer; -1 elsewhere (no loss) */
    static int32_t rows[N_EX][MAX_T], ids[N_EX * MAX_T], targets[N_EX * MAX_T];
    int n[N_EX], n_prompt[N_EX], T = 1;
    for (int i = 0; i < N_EX; i++) {
        if ((n[i] = encode(tok, i, rows[i], &n_prompt[i])) < 0) { fprintf(stderr, "example %d does not fit\n", i); return 1; }
        if (n[i] - 1 > T) T = n[i] - 1;
    }
    for (int i = 0; i < N_EX; i++)
        for (int t = 0; t < T; t++) {
            ids[i * T + t] = t < n[i] ? rows[i][t] : 0;  /* padding: any id, it has no target */
            targets[i * T + t] = t + 1 < n[i] && t + 1 >= n_prompt[i] ? rows[i][t + 1] : -1;
        }
    pl_trainer_params tp = pl_trainer_default_params();
    tp.batch = N_EX;
    tp.seq_len = T;
    pl_trainer *trainer = pl_trainer_new(model, &tp);
    if (!trainer) { fprintf(stderr, "%s\n", pl_last_error()); pl_model_free(model); return 1; }
    int rc = PL_OK;
    for (int s = 0; s < steps && rc == PL_OK; s++) {
        float loss;
        rc = pl_trainer_step(trainer, ids, targets, N_EX * T, lr, &loss);
        if (rc == PL_OK) printf("step %d loss %.4f\n", s + 1, loss);
    }
    pl_trainer_free(trainer);
    if (rc == PL_OK) rc = pl_model_save(model, argv[2]);
    pl_model_free(model);
    if (rc != PL_OK) { fprintf(stderr, "%s\n", pl_last_error()); return 1; }
    printf("saved %s\n", argv[2]);

    /* the saved directory is a model like any other */
    if (!(model = pl_model_load(argv[2], NULL))) { fprintf(stderr, "%s: %s\n", argv[2], pl_last_error()); return 1; }
    pl_generate_params gp = pl_generate_default_params();
    const char *stop = "\n";
    gp.n_predict = 32;
    gp.sampling.temperature = 0;                      /* greedy */
    gp.stops = &stop;
    gp.n_stops = 1;
    printf("reloaded: %s", data[0][0]);
    rc = pl_generate_text(model, data[0][0], &gp, print_text, NULL);
    putchar('\n');
    if (rc != PL_OK) fprintf(stderr, "%s\n", pl_last_error());
    pl_model_free(model);
    return rc == PL_OK ? 0 : 1;
}
