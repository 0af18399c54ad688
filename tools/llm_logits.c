/* Print plinth's logits for a list of token ids (one sequence, every position) as raw f32 to stdout, for the
 * tools that compare them with transformers' (tools/check_hf_checkpoint.py and tools/check_lora_peft.py build it
 * against build/libplinth.a).
 * usage: llm_logits [--f32] [--lora DIR] [--prompt-adapter DIR] MODEL ID...
 *   (stdout: n_ids x n_vocab floats, the real tokens' positions; stderr: "n_vocab N")
 *   --f32: weights dequantized to f32 (exact math, as transformers runs a GGUF); --lora / --prompt-adapter: a
 *   PEFT adapter applied */
#include "models/llm.h"
#include "models/lora.h"
#include "models/prompt_tuning.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int a = 1;
    bool f32 = false;
    const char *lora = NULL, *prompt = NULL;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (!strcmp(argv[a], "--f32")) f32 = true;
        else if (!strcmp(argv[a], "--lora") && a + 1 < argc) lora = argv[++a];
        else if (!strcmp(argv[a], "--prompt-adapter") && a + 1 < argc) prompt = argv[++a];
        else break;
    }
    if (argc - a < 2) { fprintf(stderr, "usage: llm_logits [--f32] [--lora DIR] MODEL ID...\n"); return 2; }
    int n = argc - a - 1;
    pl_llm *m = pl_llm_load_ex(argv[a], &(pl_llm_params){.n_threads = 1, .n_ctx = n + 4097, .dequantize = f32});
    if (!m) { fprintf(stderr, "%s\n", pl_last_error()); return 1; }
    pl_lora *l = lora ? pl_lora_load(m, lora) : NULL;
    if (lora && (!l || pl_llm_add_lora(m, l, 1.0f))) { fprintf(stderr, "%s\n", pl_last_error()); return 1; }
    pl_prompt_adapter *p = prompt ? pl_prompt_load(m, prompt) : NULL;
    if (prompt && (!p || pl_llm_set_prompt(m, p))) { fprintf(stderr, "%s\n", pl_last_error()); return 1; }
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    float *logits = malloc((size_t)n * pl_llm_n_vocab(m) * sizeof(float));
    for (int i = 0; i < n; i++) ids[i] = atoi(argv[a + 1 + i]);
    if (pl_llm_eval(m, ids, n, 0, logits, true)) { fprintf(stderr, "%s\n", pl_last_error()); return 1; }
    fwrite(logits, sizeof(float), (size_t)n * pl_llm_n_vocab(m), stdout);
    fprintf(stderr, "n_vocab %d\n", pl_llm_n_vocab(m));
    free(ids); free(logits);
    pl_llm_free(m);
    pl_lora_free(l);
    pl_prompt_free(p);
    return 0;
}
