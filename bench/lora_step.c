/* LoRA training steps with plinth (issue 18's bench): a model loaded as it is (frozen), a LoRA adapter on every
 * linear layer, random token batches (B x T), forward + backward + AdamW on the adapter; prints the median step
 * time and tokens/s. bench/bench_lora.py runs it beside PyTorch + PEFT on the same model and settings.
 * A layer at a time (activation checkpointing, models/llm_train.c) as plinth finetune runs it, or with ONE_GRAPH=1
 * the step as one graph keeping every activation.
 * PLINTH_PROFILE=1 (or cpu) prints where the steps' time went, op by op.
 * usage: lora_step MODEL [RANK=8] [B=4] [T=256] [STEPS=5] [THREADS=2] [ONE_GRAPH=0] */
#include "bench_common.h"
#include "models/lora.h"
#include "train/update.h"

#include <stdio.h>
#include <string.h>

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: lora_step MODEL [RANK=8] [B=4] [T=256] [STEPS=5] [THREADS=2] [ONE_GRAPH=0]\n"); return 2; }
    int rank = argc > 2 ? atoi(argv[2]) : 8, B = argc > 3 ? atoi(argv[3]) : 4, T = argc > 4 ? atoi(argv[4]) : 256;
    int steps = argc > 5 ? atoi(argv[5]) : 5, threads = argc > 6 ? atoi(argv[6]) : 2, one = argc > 7 && atoi(argv[7]);
    if (rank < 1 || B < 1 || T < 2 || steps < 1 || steps > 64 || threads < 1) { fprintf(stderr, "bad arguments\n"); return 2; }
    pl_ctx_set_defaults(&(pl_ctx_params){.profile = pl_profile_mode_parse(getenv("PLINTH_PROFILE"))});
    pl_llm *m = pl_llm_load_ex(argv[1], &(pl_llm_params){.n_threads = threads, .n_ctx = 16});
    unsigned all = 0;
    for (int i = 0; i < PL_LORA_ROLES_N; i++) all |= 1u << pl_lora_roles[i];
    pl_lora *l = m ? pl_lora_new(m, rank, 2.0f * rank, false, all, 1) : NULL;
    if (!l || pl_llm_add_lora(m, l, 1.0f)) { fprintf(stderr, "%s\n", pl_last_error()); return 1; }
    pl_ctx *ctx = NULL;
    pl_llm_ckpt *ck = NULL;
    pl_tensor *ids = NULL, *tg = NULL;
    pl_graph *g = NULL;
    if (one) {
        ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = threads});
        ids = pl_new_2d(ctx, PL_I32, T, B), tg = pl_new_2d(ctx, PL_I32, T, B);
        pl_tensor *loss = pl_llm_forward_train(ctx, m, ids, tg, NULL);
        g = loss ? pl_graph_build(ctx, loss, true) : NULL;
    } else if ((ck = pl_llm_ckpt_new(m, T, B, &(pl_ctx_params){.n_threads = threads}, 0))) {
        ids = ck->ids, tg = ck->targets, ctx = ck->work;
    }
    if (!g && !ck) { fprintf(stderr, "%s\n", pl_last_error()); return 1; }
    pl_adamw opt = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    pl_flat_params fp = {l->w, l->g, l->adam_m, l->adam_v, l->n_floats};
    uint64_t s = 7;
    double t[64];
    const int V = pl_llm_n_vocab(m);
    for (int k = -1; k < steps; k++) { /* one warm-up step */
        for (int i = 0; i < B * T; i++) ((int32_t *)ids->data)[i] = (int32_t)(pl_splitmix64(&s) % (uint64_t)V);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < T; i++) ((int32_t *)tg->data)[b * T + i] = i + 1 < T ? ((int32_t *)ids->data)[b * T + i + 1] : -1;
        double t0 = now();
        if (ck) pl_llm_ckpt_step(ck, true, true);
        else pl_graph_forward(ctx, g), pl_graph_backward_reset(ctx, g);
        pl_update_adamw(ctx, &opt, &fp, k + 2, 1e-4f, 1.0f, 1);
        if (k >= 0) t[k] = now() - t0;
    }
    qsort(t, (size_t)steps, sizeof *t, cmp);
    printf("plinth (%s): %s, LoRA rank %d on q,k,v,o,gate,up,down (%lld parameters), batch %d x %d, %d threads: "
           "median step %.3f s, %.0f tokens/s\n", ck ? "a layer at a time" : "one graph", argv[1], rank, (long long)l->n_floats,
           B, T, threads, t[steps / 2], B * T / t[steps / 2]);
    pl_ctx_profile_print(ctx, stderr);
    if (ck) pl_llm_ckpt_free(ck);
    else pl_ctx_free(ctx);
    pl_lora_free(l);
    pl_llm_free(m);
    return 0;
}
