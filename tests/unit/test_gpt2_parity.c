/* Parity with PyTorch on a GPT-2 training step (llm.c's test_gpt2 idea): load the weights and batch that
 * tools/make_gpt2_fixture.py dumped from PyTorch, check logits, loss and every parameter's gradient, then
 * ten AdamW steps: the losses and the final parameters. */
#include "io/safetensors.h"
#include "models/gpt.h"
#include "train/optim.h"
#include "test.h"

static const pl_st_tensor *need(const pl_st *st, const char *name) {
    const pl_st_tensor *t = pl_st_find(st, name);
    if (!t) { fprintf(stderr, "fixture lacks %s\n", name); exit(1); }
    return t;
}

/* max |a-b| <= atol, or max |a-b| / max|b| <= rtol */
static void check_close(const char *what, const float *a, const float *b, int64_t n, double atol, double rtol) {
    double md = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) { md = fmax(md, fabs((double)a[i] - b[i])); mb = fmax(mb, fabs((double)b[i])); }
    CHECKF(md <= atol || md <= rtol * mb, "%s: max abs diff %.3g (max |ref| %.3g)", what, md, mb);
    if (getenv("VERBOSE")) printf("%-36s max abs diff %.3g\n", what, md);
}

int main(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/gpt2/gpt2_tiny.safetensors", test_root());
    pl_st *st = pl_st_open(path);
    CHECKF(st != NULL, "%s", pl_last_error());
    if (!st) TEST_DONE();
    pl_gpt_config cfg = {atoi(pl_st_metadata_get(st, "vocab")), atoi(pl_st_metadata_get(st, "ctx")),
                         atoi(pl_st_metadata_get(st, "dim")), atoi(pl_st_metadata_get(st, "layers")),
                         atoi(pl_st_metadata_get(st, "heads"))};
    int B = atoi(pl_st_metadata_get(st, "batch")), T = atoi(pl_st_metadata_get(st, "seq"));
    pl_gpt *m = pl_gpt_new(&cfg);
    CHECK(m != NULL);
    for (int i = 0; i < m->n_params; i++) {
        const pl_st_tensor *s = need(st, m->params[i]->name);
        CHECKF(s->numel == pl_nelements(m->params[i]), "%s size", s->name);
        memcpy(m->params[i]->data, s->data, s->nbytes);
    }
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
    pl_tensor *x = pl_new_2d(ctx, PL_I32, T, B), *y = pl_new_2d(ctx, PL_I32, T, B), *loss;
    memcpy(x->data, need(st, "x")->data, (size_t)B * T * 4);
    memcpy(y->data, need(st, "y")->data, (size_t)B * T * 4);
    pl_tensor *logits = pl_gpt_forward(ctx, m, x, y, &loss);
    pl_graph *g = pl_graph_build(ctx, loss, true);
    CHECK(g != NULL);
    memset(m->g, 0, (size_t)m->n_floats * 4);
    pl_graph_forward(ctx, g);
    pl_graph_backward(ctx, g);

    /* logits are (B, T, V) in PyTorch = {V, T, B} here: the same memory order */
    check_close("logits", pl_f32(logits), need(st, "logits")->data, (int64_t)B * T * cfg.vocab, 1e-4, 1e-3);
    CHECK_NEAR(pl_f32(loss)[0], ((const float *)need(st, "loss")->data)[0], 1e-5);
    for (int i = 0; i < m->n_params; i++) {
        char name[128];
        snprintf(name, sizeof name, "grad.%s", m->params[i]->name);
        check_close(name, pl_f32(m->params[i]->grad), need(st, name)->data, pl_nelements(m->params[i]), 1e-4, 1e-3);
    }

    /* ten AdamW steps; the reference records the loss before each step */
    pl_adamw opt = {(float)atof(pl_st_metadata_get(st, "lr")), (float)atof(pl_st_metadata_get(st, "beta1")),
                    (float)atof(pl_st_metadata_get(st, "beta2")), (float)atof(pl_st_metadata_get(st, "eps")),
                    (float)atof(pl_st_metadata_get(st, "weight_decay"))};
    const float *ref = need(st, "losses")->data;
    for (int step = 0; step < 10; step++) {
        pl_graph_forward(ctx, g);
        if (step % 2) { /* odd steps: the trainer's way, gradients reset inside the pass (poisoned: none may leak) */
            for (int64_t i = 0; i < m->n_floats; i++) m->g[i] = NAN;
            pl_graph_backward_reset(ctx, g);
        } else {
            memset(m->g, 0, (size_t)m->n_floats * 4);
            pl_graph_backward(ctx, g);
        }
        CHECK_NEAR(pl_f32(loss)[0], ref[step], 1e-4);
        if (getenv("VERBOSE")) printf("step %d loss %.6f ref %.6f\n", step, pl_f32(loss)[0], ref[step]);
        pl_adamw_step(&opt, step + 1, opt.lr, m->n_floats, m->w, m->g, m->m, m->v);
    }
    for (int i = 0; i < m->n_params; i++) {
        char name[128];
        snprintf(name, sizeof name, "final.%s", m->params[i]->name);
        const float *mine = pl_f32(m->params[i]), *theirs = need(st, name)->data;
        if (strstr(name, "c_attn.bias")) {
            /* The key bias adds q.b_k to every score of a row, which softmax ignores: its true gradient is 0 and
             * both sides hold only rounding noise (~1e-9), which Adam's m/sqrt(v) blows up to +-lr per step. So
             * compare the query and value thirds; the key third must merely have stayed near its start. */
            int64_t C = cfg.dim;
            check_close(name, mine, theirs, C, 1e-4, 1e-3);
            check_close(name, mine + 2 * C, theirs + 2 * C, C, 1e-4, 1e-3);
            const float *start = need(st, m->params[i]->name)->data;
            double moved = 0;
            for (int64_t j = C; j < 2 * C; j++) moved = fmax(moved, fabs((double)mine[j] - start[j] * (1 - 10 * opt.lr * opt.weight_decay)));
            CHECKF(moved <= 10 * opt.lr * 1.05, "%s: key bias moved %.3g", name, moved);
            continue;
        }
        check_close(name, mine, theirs, pl_nelements(m->params[i]), 1e-4, 1e-3);
    }
    /* the loss must actually fall: ten steps of AdamW on one batch */
    CHECK(ref[9] < ref[0] - 0.05f);
    pl_ctx_free(ctx);
    pl_gpt_free(m);
    pl_st_close(st);
    TEST_DONE();
}
