/* Gradient parity with PyTorch through the loaded architectures (issue 15): for tiny random llama, qwen2, gemma3
 * and gpt2 models made by tools/make_grad_fixtures.py with transformers, load the HF directory as trainable
 * parameters, run `model(input_ids, labels=...)` as plinth's training graph, and hold the logits, the loss and
 * the gradient of every weight to PyTorch's (1e-4, max abs); then ten AdamW steps of full fine-tuning on the
 * batch, whose losses must match PyTorch's within 1e-5. */
#include "io/safetensors.h"
#include "models/llm.h"
#include "train/optim.h"
#include "test.h"

#include <cjson/cJSON.h>

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double md = 0;
    for (int64_t i = 0; i < n; i++) md = fmax(md, fabs((double)a[i] - b[i]));
    return md;
}

/* labels (B, T) as HF shifts them: position t predicts labels[t+1]; -100 and the last position carry no loss */
static void fill_batch(const cJSON *exp, pl_tensor *ids, pl_tensor *targets, int B, int T) {
    const cJSON *in = cJSON_GetObjectItem(exp, "input_ids"), *lab = cJSON_GetObjectItem(exp, "labels");
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            ((int32_t *)ids->data)[b * T + t] = cJSON_GetArrayItem(cJSON_GetArrayItem(in, b), t)->valueint;
            int y = t + 1 < T ? cJSON_GetArrayItem(cJSON_GetArrayItem(lab, b), t + 1)->valueint : -100;
            ((int32_t *)targets->data)[b * T + t] = y < 0 ? -1 : y;
        }
}

/* the gradient of parameter p in the layout of the HF tensor (GPT-2's Conv1D weights are (in, out) there) */
static const float *hf_layout(const pl_llm_param *p, float *buf) {
    const pl_tensor *g = p->t->grad;
    if (!(p->flags & LLM_W_HF_TRANSPOSED)) return pl_f32(g);
    int64_t in = g->ne[0], out = g->ne[1];
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++) buf[i * out + o] = pl_f32(g)[o * in + i];
    return buf;
}

static void check_arch(const char *arch) {
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/tests/golden/train/%s", test_root(), arch);
    snprintf(path, sizeof path, "%s/expected.json", dir);
    char *js = pl_read_file(path, NULL);
    cJSON *exp = js ? cJSON_Parse(js) : NULL;
    free(js);
    snprintf(path, sizeof path, "%s/grads.safetensors", dir);
    pl_st *ref = pl_st_open(path);
    pl_llm *m = pl_llm_load_ex(dir, &(pl_llm_params){.n_threads = 2, .train = true});
    CHECKF(exp && ref && m, "%s: %s", arch, pl_last_error());
    if (!exp || !ref || !m) { cJSON_Delete(exp); pl_st_close(ref); pl_llm_free(m); return; }
    const cJSON *in = cJSON_GetObjectItem(exp, "input_ids");
    int B = cJSON_GetArraySize(in), T = cJSON_GetArraySize(cJSON_GetArrayItem(in, 0)), V = pl_llm_n_vocab(m);

    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
    pl_tensor *ids = pl_new_2d(ctx, PL_I32, T, B), *targets = pl_new_2d(ctx, PL_I32, T, B), *logits = NULL;
    fill_batch(exp, ids, targets, B, T);
    pl_tensor *loss = pl_llm_forward_train(ctx, m, ids, targets, &logits);
    pl_graph *g = loss ? pl_graph_build(ctx, loss, true) : NULL;
    CHECKF(g != NULL, "%s: %s", arch, pl_last_error());
    if (!g) goto done;
    pl_graph_forward(ctx, g);
    pl_graph_backward_reset(ctx, g);

    const pl_st_tensor *rl = pl_st_find(ref, "__logits__");
    double dl = rl ? max_abs_diff(pl_f32(logits), rl->data, (int64_t)V * T * B) : 1e9;
    CHECKF(dl <= 1e-4, "%s: logits differ by %.3g", arch, dl);
    CHECK_NEAR(pl_f32(loss)[0], cJSON_GetObjectItem(exp, "loss")->valuedouble, 1e-4);
    /* every gradient PyTorch has, by name, and no parameter it lacks */
    CHECKF(m->n_params == pl_st_n_tensors(ref) - 1, "%s: %d parameters, PyTorch has %lld", arch, m->n_params,
           (long long)pl_st_n_tensors(ref) - 1);
    double worst = 0;
    for (int i = 0; i < m->n_params; i++) {
        const pl_llm_param *p = &m->params[i];
        const pl_st_tensor *r = pl_st_find(ref, p->hf_name);
        CHECKF(r && r->numel == pl_nelements(p->t), "%s: gradient of %s missing or of another size", arch, p->hf_name);
        if (!r || r->numel != pl_nelements(p->t)) continue;
        float *buf = malloc((size_t)r->numel * sizeof(float));
        double d = max_abs_diff(hf_layout(p, buf), r->data, r->numel);
        free(buf);
        CHECKF(d <= 1e-4, "%s: d loss / d %s differs by %.3g", arch, p->hf_name, d);
        worst = fmax(worst, d);
    }
    printf("%-7s loss %.6f (PyTorch %.6f), logits max diff %.2g, %d gradients max diff %.2g\n", arch, pl_f32(loss)[0],
           cJSON_GetObjectItem(exp, "loss")->valuedouble, dl, m->n_params, worst);

    /* ten AdamW steps on the batch; PyTorch recorded the loss before each */
    const cJSON *ad = cJSON_GetObjectItem(exp, "adamw"), *losses = cJSON_GetObjectItem(ad, "losses");
    pl_adamw opt = {.beta1 = (float)cJSON_GetObjectItem(ad, "beta1")->valuedouble,
                    .beta2 = (float)cJSON_GetObjectItem(ad, "beta2")->valuedouble,
                    .eps = (float)cJSON_GetObjectItem(ad, "eps")->valuedouble,
                    .weight_decay = (float)cJSON_GetObjectItem(ad, "weight_decay")->valuedouble};
    float lr = (float)cJSON_GetObjectItem(ad, "lr")->valuedouble;
    double worst_step = 0;
    for (int s = 0; s < cJSON_GetArraySize(losses); s++) {
        if (s) { pl_graph_forward(ctx, g); pl_graph_backward_reset(ctx, g); }
        double d = fabs(pl_f32(loss)[0] - cJSON_GetArrayItem(losses, s)->valuedouble);
        CHECKF(d <= 1e-5, "%s: AdamW step %d loss %.7f, PyTorch %.7f", arch, s, pl_f32(loss)[0],
               cJSON_GetArrayItem(losses, s)->valuedouble);
        worst_step = fmax(worst_step, d);
        pl_adamw_step(&opt, s + 1, lr, m->n_floats, m->w, m->g, m->adam_m, m->adam_v);
    }
    double first = cJSON_GetArrayItem(losses, 0)->valuedouble, last = cJSON_GetArrayItem(losses, 9)->valuedouble;
    CHECK(last < first - 0.5); /* the reference itself learned: the comparison means something */
    printf("%-7s ten AdamW steps: losses %.5f .. %.5f, max diff from PyTorch %.2g\n", arch, first, pl_f32(loss)[0], worst_step);
done:
    pl_ctx_free(ctx);
    pl_llm_free(m);
    pl_st_close(ref);
    cJSON_Delete(exp);
}

int main(void) {
    const char *archs[] = {"llama", "qwen2", "gemma3", "gpt2"};
    for (int i = 0; i < 4; i++) check_arch(archs[i]);
    TEST_DONE();
}
