/* Print plinth's logits for a list of token ids (one sequence, every position) as raw f32 to stdout, for the
 * tools that compare them with transformers' (tools/check_hf_checkpoint.py builds it against build/libplinth.a).
 * usage: llm_logits MODEL ID...   (stdout: n_ids x n_vocab floats; stderr: "n_vocab N") */
#include "models/llm.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: llm_logits MODEL ID...\n"); return 2; }
    int n = argc - 2;
    pl_llm *m = pl_llm_load_ex(argv[1], &(pl_llm_params){.n_threads = 1, .n_ctx = n + 1});
    if (!m) { fprintf(stderr, "%s\n", pl_last_error()); return 1; }
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    float *logits = malloc((size_t)n * pl_llm_n_vocab(m) * sizeof(float));
    for (int i = 0; i < n; i++) ids[i] = atoi(argv[i + 2]);
    if (pl_llm_eval(m, ids, n, 0, logits, true)) { fprintf(stderr, "%s\n", pl_last_error()); return 1; }
    fwrite(logits, sizeof(float), (size_t)n * pl_llm_n_vocab(m), stdout);
    fprintf(stderr, "n_vocab %d\n", pl_llm_n_vocab(m));
    free(ids); free(logits);
    pl_llm_free(m);
    return 0;
}
