/* Training a layer at a time (models/llm_train.c: activation checkpointing, the LM head and cross-entropy in chunks
 * of rows) gives the loss and the gradients of the one graph pl_llm_forward_train builds, within 1e-6: a LoRA adapter
 * (PEFT's fixture, every linear layer), virtual tokens (prompt tuning), and every weight (full fine-tuning) of tiny
 * llama, qwen2 and gemma3 models; with two micro-batches (set, then added to), targets missing on some rows and on
 * one whole row, head chunks of a few rows and of the automatic size, and a forward-only step. GPT-2 (one graph) is
 * refused with the reason. */
#include "models/lora.h"
#include "models/prompt_tuning.h"
#include "test.h"

#include <string.h>

enum { T = 11, B = 3 };

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double md = 0;
    for (int64_t i = 0; i < n; i++) md = fmax(md, fabs((double)a[i] - b[i]));
    return md;
}

/* micro-batch k: ids, and targets with holes (every fifth position, and all of row 1 in the second batch) */
static void fill(int k, int V, int32_t *ids, int32_t *tg) {
    uint64_t s = 1234 + (uint64_t)k;
    for (int i = 0; i < T * B; i++) {
        ids[i] = (int32_t)(pl_splitmix64(&s) % (uint64_t)V);
        tg[i] = i % 5 == 3 || (k == 1 && i / T == 1) ? -1 : (int32_t)(pl_splitmix64(&s) % (uint64_t)V);
    }
}

/* The whole graph, then the layer-at-a-time step, each over two micro-batches: the same losses and gradient g (n floats) */
static void compare(const char *what, pl_llm *m, float *g, int64_t n, int head_rows) {
    const int V = pl_llm_n_vocab(m);
    float loss_one[2], loss_ckpt[2], loss_fwd;
    float *g_one = malloc((size_t)n * sizeof(float));
    /* one graph, its batch refilled after it was built (prompt tuning once copied the targets when it was built) */
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
    pl_tensor *ids = pl_new_2d(ctx, PL_I32, T, B), *tg = pl_new_2d(ctx, PL_I32, T, B);
    pl_tensor *loss = pl_llm_forward_train(ctx, m, ids, tg, NULL);
    pl_graph *gr = loss ? pl_graph_build(ctx, loss, true) : NULL;
    bool built = gr != NULL;
    CHECKF(built, "%s: %s", what, pl_last_error());
    for (int k = 0; built && k < 2; k++) {
        fill(k, V, ids->data, tg->data);
        pl_graph_forward(ctx, gr);
        if (k == 0) pl_graph_backward_reset(ctx, gr);
        else pl_graph_backward(ctx, gr);
        loss_one[k] = pl_f32(loss)[0];
    }
    pl_ctx_free(ctx);
    memcpy(g_one, g, (size_t)n * sizeof(float));

    memset(g, 0x7f, (size_t)n * sizeof(float)); /* garbage: the first step must set, not add */
    pl_llm_ckpt *c = pl_llm_ckpt_new(m, T, B, &(pl_ctx_params){.n_threads = 2}, head_rows);
    CHECKF(c != NULL, "%s: %s", what, pl_last_error());
    if (!c || !built) goto done;
    for (int k = 0; k < 2; k++) {
        fill(k, V, c->ids->data, c->targets->data);
        loss_ckpt[k] = pl_llm_ckpt_step(c, true, k == 0);
    }
    double dg = max_abs_diff(g, g_one, n), gmax = 0;
    for (int64_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(g_one[i]));
    CHECK_NEAR(loss_ckpt[0], loss_one[0], 1e-6);
    CHECK_NEAR(loss_ckpt[1], loss_one[1], 1e-6);
    CHECKF(dg <= 1e-6, "%s: the gradient differs from the one graph's by %.3g", what, dg);
    CHECKF(gmax > 1e-4, "%s: no gradient to compare (largest %.3g)", what, gmax);
    /* forward only: the loss, and the gradient left alone */
    memcpy(g_one, g, (size_t)n * sizeof(float));
    loss_fwd = pl_llm_ckpt_step(c, false, false);
    CHECK_NEAR(loss_fwd, loss_one[1], 1e-6);
    CHECK(!memcmp(g, g_one, (size_t)n * sizeof(float)));
    printf("%-22s head chunk %3d rows: losses %.6f %.6f (one graph %.6f %.6f), gradient max diff %.2g (largest %.3g), "
           "%zu bytes at the peak\n", what, c->head_rows, loss_ckpt[0], loss_ckpt[1], loss_one[0], loss_one[1], dg, gmax,
           pl_llm_ckpt_bytes(c));
done:
    pl_llm_ckpt_free(c);
    free(g_one);
}

static pl_llm *load(const char *rel, bool train) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", test_root(), rel);
    pl_llm *m = pl_llm_load_ex(dir, &(pl_llm_params){.n_threads = 2, .train = train});
    CHECKF(m != NULL, "%s: %s", rel, pl_last_error());
    return m;
}

static void check_lora(int head_rows) {
    pl_llm *m = load("tests/golden/train/llama", false);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/golden/lora/llama_all", test_root());
    pl_lora *l = m ? pl_lora_load(m, dir) : NULL;
    CHECKF(l != NULL, "lora: %s", pl_last_error());
    if (l && pl_llm_add_lora(m, l, 1.0f) == PL_OK) compare("llama LoRA (all)", m, l->g, l->n_floats, head_rows);
    pl_lora_free(l);
    pl_llm_free(m);
}

static void check_prompt(void) {
    pl_llm *m = load("tests/golden/train/llama", false);
    pl_prompt_adapter *p = m ? pl_prompt_new(m, 4, NULL, 0, 7) : NULL;
    CHECKF(p != NULL, "prompt: %s", pl_last_error());
    if (p && pl_llm_set_prompt(m, p) == PL_OK) compare("llama prompt tuning", m, p->g, p->n_floats, 4);
    pl_prompt_free(p);
    pl_llm_free(m);
}

static void check_full(const char *rel, const char *what, int head_rows) {
    pl_llm *m = load(rel, true);
    if (m) compare(what, m, m->g, m->n_floats, head_rows);
    pl_llm_free(m);
}

int main(void) {
    check_lora(5);
    check_lora(0);
    check_prompt();
    check_full("tests/golden/train/llama", "llama, every weight", 7);
    check_full("tests/golden/train/qwen2", "qwen2, every weight", 0);
    check_full("tests/golden/train/gemma3", "gemma3, every weight", 6);
    pl_llm *g = load("tests/golden/train/gpt2", true);
    CHECK(g && !pl_llm_ckpt_new(g, T, B, NULL, 0) && strstr(pl_last_error(), "one graph"));
    pl_llm_free(g);
    TEST_DONE();
}
