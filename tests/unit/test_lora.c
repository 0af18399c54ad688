/* LoRA parity with PEFT (issue 18): for adapters made by tools/make_lora_fixtures.py (tiny random Llama, rank 4,
 * targets q,v and every linear layer, lora_B random), plinth loads the PEFT directory onto the base and gives
 * PEFT's logits, loss and the gradient of every LoRA weight (1e-4, max abs), the base getting none; an adapter
 * saved by plinth loads back bit for bit; a llama GGUF's permuted Q/K rows are followed (an adapter saved from
 * the HF model gives the same logits on its GGUF twin); bad adapters are refused with the reason. Prompt tuning
 * likewise: PEFT's virtual tokens give its logits over the virtual and real positions, its loss and the
 * gradient of the virtual-token embeddings. */
#include "io/gguf.h"
#include "io/safetensors.h"
#include "models/lora.h"
#include "models/prompt_tuning.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* logits {V, T, B} of m (adapters attached) on ids: the training graph without a loss */
static float *logits_of(pl_llm *m, const int32_t *ids, int T, int B) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
    pl_tensor *t = pl_new_2d(ctx, PL_I32, T, B), *logits = NULL;
    memcpy(t->data, ids, (size_t)T * B * sizeof(int32_t));
    pl_llm_forward_train(ctx, m, t, NULL, &logits);
    float *out = NULL;
    if (logits) {
        pl_graph_forward(ctx, pl_graph_build(ctx, logits, false));
        out = malloc(pl_nbytes(logits));
        memcpy(out, logits->data, pl_nbytes(logits));
    }
    pl_ctx_free(ctx);
    return out;
}

static void check_adapter(const char *name) {
    char dir[4096], base[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/tests/golden/lora/%s", test_root(), name);
    snprintf(base, sizeof base, "%s/tests/golden/train/llama", test_root());
    snprintf(path, sizeof path, "%s/expected.json", dir);
    char *js = pl_read_file(path, NULL);
    cJSON *exp = js ? cJSON_Parse(js) : NULL;
    free(js);
    snprintf(path, sizeof path, "%s/grads.safetensors", dir);
    pl_st *ref = pl_st_open(path);
    pl_llm *m = pl_llm_load_ex(base, &(pl_llm_params){.n_threads = 2});
    pl_lora *l = m ? pl_lora_load(m, dir) : NULL;
    CHECKF(exp && ref && m && l, "%s: %s", name, pl_last_error());
    if (!exp || !ref || !m || !l) goto done;
    CHECK(pl_llm_add_lora(m, l, 1.0f) == PL_OK);
    const cJSON *in = cJSON_GetObjectItem(exp, "input_ids");
    int B = cJSON_GetArraySize(in), T = cJSON_GetArraySize(cJSON_GetArrayItem(in, 0)), V = pl_llm_n_vocab(m);

    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
    pl_tensor *ids = pl_new_2d(ctx, PL_I32, T, B), *targets = pl_new_2d(ctx, PL_I32, T, B), *logits = NULL;
    fill_batch(exp, ids, targets, B, T);
    pl_tensor *loss = pl_llm_forward_train(ctx, m, ids, targets, &logits);
    pl_graph *g = loss ? pl_graph_build(ctx, loss, true) : NULL;
    CHECKF(g != NULL, "%s: %s", name, pl_last_error());
    if (g) {
        pl_graph_forward(ctx, g);
        pl_graph_backward_reset(ctx, g);
        const pl_st_tensor *rl = pl_st_find(ref, "__logits__");
        double dl = rl ? max_abs_diff(pl_f32(logits), rl->data, (int64_t)V * T * B) : 1e9;
        CHECKF(dl <= 1e-4, "%s: logits differ from PEFT's by %.3g", name, dl);
        CHECK_NEAR(pl_f32(loss)[0], cJSON_GetObjectItem(exp, "loss")->valuedouble, 1e-4);
        int n = 0;
        double worst = 0;
        for (int layer = 0; layer < l->n_layer; layer++)
            for (int role = 0; role < PL_W_COUNT; role++)
                for (int k = 0; k < 2 && l->a[layer][role]; k++) {
                    const pl_tensor *t = k ? l->b[layer][role] : l->a[layer][role];
                    char tn[512];
                    pl_peft_tensor_name(tn, sizeof tn, PL_NAMES_LLAMA, (pl_weight_role)role, layer, k ? 'B' : 'A');
                    const pl_st_tensor *r = pl_st_find(ref, tn);
                    CHECKF(r && r->numel == pl_nelements(t), "%s: PEFT has no gradient %s of this size", name, tn);
                    if (!r || r->numel != pl_nelements(t)) continue;
                    double d = max_abs_diff(pl_f32(t->grad), r->data, r->numel);
                    CHECKF(d <= 1e-4, "%s: d loss / d %s differs by %.3g", name, tn, d);
                    worst = fmax(worst, d), n++;
                }
        CHECKF(n == pl_st_n_tensors(ref) - 1, "%s: %d LoRA gradients, PEFT has %lld", name, n, (long long)pl_st_n_tensors(ref) - 1);
        /* the base is frozen: none of its weights is a parameter */
        for (int layer = 0; layer < m->hp.n_layer; layer++) CHECK(!(m->layers[layer].wq->flags & PL_FLAG_PARAM) && !m->layers[layer].wq->grad);
        printf("%-10s logits max diff %.2g, loss %.6f (PEFT %.6f), %d LoRA gradients max diff %.2g\n", name, dl, pl_f32(loss)[0],
               cJSON_GetObjectItem(exp, "loss")->valuedouble, n, worst);

        /* saved by plinth, loaded again: the same numbers */
        char out[256];
        snprintf(out, sizeof out, "/tmp/plinth_lora_%d_%s", (int)getpid(), name);
        CHECK(pl_lora_save(l, m, out, "tests/golden/train/llama") == PL_OK);
        pl_lora *back = pl_lora_load(m, out);
        CHECKF(back && back->n_floats == l->n_floats && !memcmp(back->w, l->w, (size_t)l->n_floats * sizeof(float)), "%s: %s", name, pl_last_error());
        pl_lora_free(back);
        snprintf(path, sizeof path, "rm -rf '%s'", out);
        CHECK(system(path) == 0);
    }
    pl_ctx_free(ctx);
done:
    pl_lora_free(l);
    pl_llm_free(m);
    pl_st_close(ref);
    cJSON_Delete(exp);
}

/* A random adapter on every linear layer of the HF llama, saved and loaded onto its GGUF twin (Q/K rows
 * interleaved there): both give the same logits; the GGUF one without the adapter differs from them. */
static void check_gguf_twin(void) {
    char hf[4096], gguf[4200], out[256];
    snprintf(hf, sizeof hf, "%s/tests/golden/lm/llama", test_root());
    snprintf(gguf, sizeof gguf, "%s/model.gguf", hf);
    snprintf(out, sizeof out, "/tmp/plinth_lora_twin_%d", (int)getpid());
    pl_llm *a = pl_llm_load_ex(hf, &(pl_llm_params){.n_threads = 2}), *b = pl_llm_load_ex(gguf, &(pl_llm_params){.n_threads = 2});
    unsigned all = 0;
    for (int i = 0; i < PL_LORA_ROLES_N; i++) all |= 1u << pl_lora_roles[i];
    pl_lora *la = a ? pl_lora_new(a, 4, 8.0f, false, all, 7) : NULL, *lb = NULL;
    CHECKF(a && b && la, "%s", pl_last_error());
    if (!a || !b || !la) goto done;
    uint64_t s = 99;
    for (int layer = 0; layer < la->n_layer; layer++) /* B != 0, so the update shows */
        for (int role = 0; role < PL_W_COUNT; role++)
            if (la->b[layer][role])
                for (int64_t i = 0; i < pl_nelements(la->b[layer][role]); i++)
                    pl_f32(la->b[layer][role])[i] = 0.2f * (float)((pl_splitmix64(&s) >> 40) / 16777216.0 - 0.5);
    CHECK(pl_lora_save(la, a, out, "llama") == PL_OK);
    lb = pl_lora_load(b, out);
    CHECKF(lb != NULL, "%s", pl_last_error());
    if (!lb) goto done;
    int32_t ids[12];
    for (int i = 0; i < 12; i++) ids[i] = (i * 37 + 5) % pl_llm_n_vocab(a);
    int64_t n = (int64_t)pl_llm_n_vocab(a) * 12;
    float *plain = logits_of(b, ids, 12, 1);
    pl_llm_add_lora(a, la, 1.0f);
    pl_llm_add_lora(b, lb, 1.0f);
    float *x = logits_of(a, ids, 12, 1), *y = logits_of(b, ids, 12, 1);
    CHECK(plain && x && y);
    if (plain && x && y) {
        double d = max_abs_diff(x, y, n), moved = max_abs_diff(plain, y, n);
        CHECKF(d <= 1e-4, "adapter on the HF model and on its GGUF twin: logits differ by %.3g", d);
        CHECKF(moved > 1e-2, "the adapter changed the logits by only %.3g", moved);
        printf("gguf twin: logits max diff %.2g (the adapter moves them by %.2g)\n", d, moved);
    }
    free(plain); free(x); free(y);
done:
    snprintf(gguf, sizeof gguf, "rm -rf '%s'", out);
    CHECK(system(gguf) == 0);
    pl_lora_free(la); pl_lora_free(lb);
    pl_llm_free(a); pl_llm_free(b);
}

/* llama.cpp's LoRA GGUF: an rsLoRA adapter made on the HF model (random B, so it shows) is written as a GGUF
 * adapter whose keys and tensors are llama.cpp's (general.type adapter, adapter.lora.alpha giving the same
 * scale over r, "<GGUF weight>.lora_a" {in, r} / ".lora_b" {r, out}, B of Q / K in the GGUF's row order), and it
 * loads back on the HF model and on the GGUF twin with the logits of the adapter it was saved from; on a base
 * of another shape or architecture it is refused with the reason. */
static void check_gguf_adapter(void) {
    char hf[4096], gguf[4200], other[4096], out[256], cmd[400];
    snprintf(hf, sizeof hf, "%s/tests/golden/lm/llama", test_root());
    snprintf(gguf, sizeof gguf, "%s/model.gguf", hf);
    snprintf(other, sizeof other, "%s/tests/golden/train/llama", test_root()); /* width 32: another base */
    snprintf(out, sizeof out, "/tmp/plinth_lora_%d.gguf", (int)getpid());
    pl_llm *a = pl_llm_load_ex(hf, &(pl_llm_params){.n_threads = 2}), *b = pl_llm_load_ex(gguf, &(pl_llm_params){.n_threads = 2});
    pl_llm *o = pl_llm_load_ex(other, &(pl_llm_params){.n_threads = 1});
    unsigned qvd = 1u << PL_W_Q | 1u << PL_W_V | 1u << PL_W_DOWN;
    pl_lora *la = a ? pl_lora_new(a, 4, 6.0f, true, qvd, 11) : NULL, *lha = NULL, *lhb = NULL;
    CHECKF(a && b && o && la, "%s", pl_last_error());
    if (!a || !b || !o || !la) goto done;
    uint64_t s = 5;
    for (int layer = 0; layer < la->n_layer; layer++)
        for (int role = 0; role < PL_W_COUNT; role++)
            if (la->b[layer][role])
                for (int64_t i = 0; i < pl_nelements(la->b[layer][role]); i++)
                    pl_f32(la->b[layer][role])[i] = 0.2f * (float)((pl_splitmix64(&s) >> 40) / 16777216.0 - 0.5);
    CHECKF(pl_lora_save_gguf(la, a, out, "llama") == PL_OK, "%s", pl_last_error());
    pl_gguf *g = pl_gguf_open(out);
    CHECKF(g != NULL, "%s", pl_last_error());
    if (g) {
        const char *type = pl_gguf_get_str(g, "general.type", NULL), *atype = pl_gguf_get_str(g, "adapter.type", NULL);
        const char *arch = pl_gguf_get_str(g, "general.architecture", NULL);
        CHECK(type && !strcmp(type, "adapter") && atype && !strcmp(atype, "lora") && arch && !strcmp(arch, "llama"));
        CHECK_NEAR(pl_gguf_get_float(g, "adapter.lora.alpha", 0) / 4.0, la->scale, 1e-6); /* llama.cpp: alpha / r */
        CHECK(pl_gguf_n_tensors(g) == 2 * 3 * la->n_layer);
        const pl_gguf_tensor *ta = pl_gguf_find_tensor(g, "blk.1.ffn_down.weight.lora_a"), *tb = pl_gguf_find_tensor(g, "blk.1.ffn_down.weight.lora_b");
        CHECK(ta && tb && ta->type == PL_F32 && ta->ne[0] == a->hp.n_ff && ta->ne[1] == 4 && tb->ne[0] == 4 && tb->ne[1] == a->hp.n_embd);
        CHECK(pl_gguf_find_tensor(g, "blk.0.attn_q.weight.lora_b") && !pl_gguf_find_tensor(g, "blk.0.attn_k.weight.lora_a"));
        pl_gguf_close(g);
    }
    lha = pl_lora_load(a, out);
    lhb = pl_lora_load(b, out);
    CHECKF(lha && lhb, "%s", pl_last_error());
    if (!lha || !lhb) goto done;
    CHECK(lha->cfg.r == 4 && lha->cfg.roles == qvd && fabsf(lha->scale - la->scale) < 1e-6f);
    CHECK(max_abs_diff(lha->w, la->w, la->n_floats) == 0); /* HF order -> GGUF order -> HF order */
    int32_t ids[10];
    for (int i = 0; i < 10; i++) ids[i] = (i * 29 + 3) % pl_llm_n_vocab(a);
    int64_t n = (int64_t)pl_llm_n_vocab(a) * 10;
    float *plain = logits_of(b, ids, 10, 1);
    pl_llm_add_lora(a, la, 1.0f);
    float *x = logits_of(a, ids, 10, 1);
    pl_llm_add_lora(a, NULL, 1.0f);
    pl_llm_add_lora(a, lha, 1.0f);
    pl_llm_add_lora(b, lhb, 1.0f);
    float *y = logits_of(a, ids, 10, 1), *z = logits_of(b, ids, 10, 1);
    CHECK(plain && x && y && z);
    if (plain && x && y && z) {
        double dy = max_abs_diff(x, y, n), dz = max_abs_diff(x, z, n), moved = max_abs_diff(plain, z, n);
        CHECKF(dy == 0, "the GGUF adapter reloaded on its HF base: logits differ by %.3g", dy);
        CHECKF(dz <= 1e-4, "the GGUF adapter on the GGUF twin: logits differ by %.3g", dz);
        CHECKF(moved > 1e-2, "the adapter changed the logits by only %.3g", moved);
        printf("gguf adapter: logits on the GGUF twin max diff %.2g (the adapter moves them by %.2g)\n", dz, moved);
    }
    free(plain); free(x); free(y); free(z);
    pl_lora *bad = pl_lora_load(o, out);
    CHECKF(!bad && strstr(pl_last_error(), "made for another model"), "another base: %s", pl_last_error());
    pl_lora_free(bad);
done:
    snprintf(cmd, sizeof cmd, "rm -f '%s'", out);
    CHECK(system(cmd) == 0);
    pl_lora_free(la); pl_lora_free(lha); pl_lora_free(lhb);
    pl_llm_free(a); pl_llm_free(b); pl_llm_free(o);
}

/* refused, with the reason: another base's adapter, a rank larger than a layer, unsupported PEFT settings */
static void check_refusals(void) {
    char base[4096], other[4096], dir[4096];
    snprintf(base, sizeof base, "%s/tests/golden/lm/llama", test_root());  /* width 64: the fixtures' base is 32 */
    snprintf(other, sizeof other, "%s/tests/golden/lora/llama_qv", test_root());
    pl_llm *m = pl_llm_load_ex(base, &(pl_llm_params){.n_threads = 1});
    CHECKF(m != NULL, "%s", pl_last_error());
    if (!m) return;
    CHECK(pl_lora_load(m, other) == NULL && strstr(pl_last_error(), "another model"));
    CHECK(pl_lora_new(m, 1000, 16, false, 1u << PL_W_Q, 1) == NULL && strstr(pl_last_error(), "larger than"));
    CHECK(pl_lora_new(m, 0, 16, false, 1u << PL_W_Q, 1) == NULL);
    CHECK(pl_lora_load(m, "/nonexistent/adapter") == NULL && strstr(pl_last_error(), "adapter_config.json"));
    const char *bad[][2] = {{"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"], \"use_dora\": true}", "DoRA"},
                            {"{\"peft_type\": \"PREFIX_TUNING\"}", "only LORA"},
                            {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"embed_tokens\"]}", "embed_tokens"},
                            {"{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"], \"rank_pattern\": {\"q_proj\": 8}}", "rank_pattern"},
                            {"{\"peft_type\": \"LORA\", \"r\": 4", "JSON"}};
    snprintf(dir, sizeof dir, "/tmp/plinth_lora_bad_%d", (int)getpid());
    mkdir(dir, 0755);
    for (size_t i = 0; i < PL_ARRAY_LEN(bad); i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/adapter_config.json", dir);
        pl_write_file_atomic(p, bad[i][0], strlen(bad[i][0]));
        CHECKF(pl_lora_load(m, dir) == NULL && strstr(pl_last_error(), bad[i][1]), "bad config %zu: %s", i, pl_last_error());
    }
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/adapter_config.json");
    remove(dir);
    dir[strlen(dir) - strlen("/adapter_config.json")] = 0;
    rmdir(dir);
    pl_llm_free(m);
}

static void check_prompt(void) {
    char dir[4096], base[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/tests/golden/lora/llama_prompt", test_root());
    snprintf(base, sizeof base, "%s/tests/golden/train/llama", test_root());
    snprintf(path, sizeof path, "%s/expected.json", dir);
    char *js = pl_read_file(path, NULL);
    cJSON *exp = js ? cJSON_Parse(js) : NULL;
    free(js);
    snprintf(path, sizeof path, "%s/grads.safetensors", dir);
    pl_st *ref = pl_st_open(path);
    pl_llm *m = pl_llm_load_ex(base, &(pl_llm_params){.n_threads = 2});
    pl_prompt_adapter *p = m ? pl_prompt_load(m, dir) : NULL;
    CHECKF(exp && ref && m && p, "prompt: %s", pl_last_error());
    if (exp && ref && m && p) {
        CHECK(pl_llm_set_prompt(m, p) == PL_OK && p->n_virtual == 5);
        const cJSON *in = cJSON_GetObjectItem(exp, "input_ids");
        int B = cJSON_GetArraySize(in), T = cJSON_GetArraySize(cJSON_GetArrayItem(in, 0)), V = pl_llm_n_vocab(m), N = p->n_virtual;
        pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
        pl_tensor *ids = pl_new_2d(ctx, PL_I32, T, B), *targets = pl_new_2d(ctx, PL_I32, T, B), *logits = NULL;
        fill_batch(exp, ids, targets, B, T);
        pl_tensor *loss = pl_llm_forward_train(ctx, m, ids, targets, &logits);
        pl_graph *g = loss ? pl_graph_build(ctx, loss, true) : NULL;
        CHECKF(g && logits->ne[1] == N + T, "prompt: %s", pl_last_error());
        if (g && logits->ne[1] == N + T) {
            pl_graph_forward(ctx, g);
            pl_graph_backward_reset(ctx, g);
            const pl_st_tensor *rl = pl_st_find(ref, "__logits__"), *rg = pl_st_find(ref, "prompt_embeddings");
            double dl = rl ? max_abs_diff(pl_f32(logits), rl->data, (int64_t)V * (N + T) * B) : 1e9;
            double dg = rg && rg->numel == p->n_floats ? max_abs_diff(p->g, rg->data, rg->numel) : 1e9;
            CHECKF(dl <= 1e-4, "prompt: logits differ from PEFT's by %.3g", dl);
            CHECKF(dg <= 1e-4, "prompt: the virtual tokens' gradient differs from PEFT's by %.3g", dg);
            CHECK_NEAR(pl_f32(loss)[0], cJSON_GetObjectItem(exp, "loss")->valuedouble, 1e-4);
            printf("prompt     %d virtual tokens: logits max diff %.2g, loss %.6f (PEFT %.6f), gradient max diff %.2g\n", N, dl,
                   pl_f32(loss)[0], cJSON_GetObjectItem(exp, "loss")->valuedouble, dg);
            char out[256];
            snprintf(out, sizeof out, "/tmp/plinth_prompt_%d", (int)getpid());
            CHECK(pl_prompt_save(p, out, "tests/golden/train/llama") == PL_OK);
            pl_prompt_adapter *back = pl_prompt_load(m, out);
            CHECK(back && back->n_floats == p->n_floats && !memcmp(back->w, p->w, (size_t)p->n_floats * sizeof(float)));
            pl_prompt_free(back);
            snprintf(path, sizeof path, "rm -rf '%s'", out);
            CHECK(system(path) == 0);
        }
        pl_ctx_free(ctx);
        /* generation's path (the KV cache) gives the training graph's logits: the virtual tokens go in with a
         * sequence's first batch, the next token after them */
        int32_t row[16];
        for (int t = 0; t < T; t++) row[t] = cJSON_GetArrayItem(cJSON_GetArrayItem(in, 0), t)->valueint;
        float *train_logits = logits_of(m, row, T, 1), *dec = malloc((size_t)T * V * sizeof(float));
        CHECK(pl_llm_eval(m, row, T - 1, 0, dec, true) == PL_OK);
        CHECK(pl_llm_eval(m, row + T - 1, 1, T - 1, dec + (int64_t)(T - 1) * V, false) == PL_OK);
        double dd = train_logits ? max_abs_diff(dec, train_logits + (int64_t)N * V, (int64_t)T * V) : 1e9;
        CHECKF(dd <= 1e-5, "prompt: decoding with the KV cache differs from the training graph by %.3g", dd);
        free(train_logits); free(dec);
        /* another base: refused */
        char other[4096];
        snprintf(other, sizeof other, "%s/tests/golden/lm/llama", test_root());
        pl_llm *o = pl_llm_load_ex(other, &(pl_llm_params){.n_threads = 1});
        CHECK(o && pl_prompt_load(o, dir) == NULL && strstr(pl_last_error(), "another model"));
        CHECK(o && pl_prompt_load(o, other) == NULL); /* not an adapter */
        pl_llm_free(o);
    }
    pl_prompt_free(p);
    pl_llm_free(m);
    pl_st_close(ref);
    cJSON_Delete(exp);
}

/* PEFT's TEXT init: virtual token i is the embedding row of the text's token i mod n (the text repeated to fill N,
 * or cut to N), as the model sees it; bad token ids and counts are refused */
static void check_prompt_init(void) {
    char base[4096];
    snprintf(base, sizeof base, "%s/tests/golden/train/llama", test_root());
    pl_llm *m = pl_llm_load_ex(base, &(pl_llm_params){.n_threads = 1});
    CHECKF(m != NULL, "prompt init: %s", pl_last_error());
    if (!m) return;
    const int C = m->hp.n_embd, V = pl_llm_n_vocab(m);
    const int32_t text[3] = {7, V - 1, 0};
    const struct { int n_virtual, n_text; } cases[] = {{7, 3}, {2, 3}, {3, 3}, {5, 1}};
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", base);
    pl_st *st = pl_st_open(path); /* the table as the file holds it (f32), not as the loader mapped it */
    const pl_st_tensor *emb = st ? pl_st_find(st, "model.embed_tokens.weight") : NULL;
    CHECKF(emb && emb->type == PL_F32 && emb->numel == (int64_t)V * C, "prompt init: %s has no f32 embedding table", path);
    if (!emb || emb->type != PL_F32 || emb->numel != (int64_t)V * C) { pl_st_close(st); pl_llm_free(m); return; }
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        pl_prompt_adapter *p = pl_prompt_new(m, cases[k].n_virtual, text, cases[k].n_text, 1);
        CHECKF(p && p->n_virtual == cases[k].n_virtual, "prompt init: %s", pl_last_error());
        for (int i = 0; p && i < p->n_virtual; i++) {
            int32_t id = text[i % cases[k].n_text];
            CHECKF(!memcmp(p->w + (int64_t)i * C, (const float *)emb->data + (int64_t)id * C, (size_t)C * sizeof(float)),
                   "prompt init: %d virtual tokens from %d text tokens: token %d is not the embedding of id %d",
                   cases[k].n_virtual, cases[k].n_text, i, id);
        }
        pl_prompt_free(p);
    }
    /* random init: N(0, 1) draws, not any embedding row */
    pl_prompt_adapter *r = pl_prompt_new(m, 4, NULL, 0, 1);
    double ss = 0;
    for (int64_t i = 0; r && i < r->n_floats; i++) ss += (double)r->w[i] * r->w[i];
    CHECKF(r && fabs(ss / (double)r->n_floats - 1.0) < 0.3, "prompt init: random draws of variance %.3g", r ? ss / (double)r->n_floats : -1);
    pl_prompt_free(r);
    const int32_t bad[2] = {3, V};
    CHECK(pl_prompt_new(m, 4, bad, 2, 1) == NULL && strstr(pl_last_error(), "out of range"));
    CHECK(pl_prompt_new(m, 0, text, 3, 1) == NULL && strstr(pl_last_error(), "virtual tokens"));
    pl_st_close(st);
    pl_llm_free(m);
}

/* the adapter baked into the weights gives the logits of the adapter applied (a llama GGUF too: both in its order) */
static void check_merge(const char *base_rel) {
    char base[4096], dir[4096];
    snprintf(base, sizeof base, "%s/%s", test_root(), base_rel);
    snprintf(dir, sizeof dir, "%s/tests/golden/lora/llama_all", test_root());
    pl_llm *a = pl_llm_load_ex(base, &(pl_llm_params){.n_threads = 2}), *b = pl_llm_load_ex(base, &(pl_llm_params){.n_threads = 2, .train = true});
    pl_lora *la = a ? pl_lora_load(a, dir) : NULL, *lb = b ? pl_lora_load(b, dir) : NULL;
    CHECKF(la && lb, "merge %s: %s", base_rel, pl_last_error());
    if (la && lb) {
        CHECK(pl_llm_add_lora(a, la, 0.5f) == PL_OK && pl_lora_merge_into(b, lb, 0.5f) == PL_OK);
        CHECK(pl_lora_merge_into(a, la, 1.0f) < 0); /* mapped weights are not merged into */
        int32_t ids[10];
        for (int i = 0; i < 10; i++) ids[i] = (i * 29 + 3) % pl_llm_n_vocab(a);
        float *x = logits_of(a, ids, 10, 1), *y = logits_of(b, ids, 10, 1);
        double d = x && y ? max_abs_diff(x, y, (int64_t)pl_llm_n_vocab(a) * 10) : 1e9;
        CHECKF(d <= 1e-5, "merge %s: merged weights differ from the applied adapter by %.3g", base_rel, d);
        free(x); free(y);
    }
    pl_lora_free(la); pl_lora_free(lb);
    pl_llm_free(a); pl_llm_free(b);
}

int main(void) {
    check_adapter("llama_qv");
    check_adapter("llama_all");
    check_gguf_twin();
    check_gguf_adapter();
    check_refusals();
    check_prompt();
    check_prompt_init();
    check_merge("tests/golden/train/llama");
    TEST_DONE();
}
