/* CLIP and SigLIP (models/vit.c, clip.c, siglip.c, clip_model.c) against transformers' CLIPModel and SiglipModel
 * (tests/golden/clip/model, tools/make_clip_fixtures.py): tiny random checkpoints, two real photos through each
 * model's own preprocessor_config.json, three texts through its tokenizer.json (ids as transformers'): image and text embeddings and logits_per_image within 1e-4.
 * Training: on a batch of three photo-caption pairs, the model's loss (CLIP's symmetric cross-entropy, SigLIP's
 * sigmoid loss, ops/contrastive.c) and the gradient of every weight within 1e-4 of PyTorch's (grads.safetensors).
 * And checkpoints that do not match their config: a missing tensor, a misshapen one, a wrong model_type. */
#include "io/safetensors.h"
#include "models/clip.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <unistd.h>

static double max_diff(const float *got, const cJSON *want, int rows, int cols) {
    double mx = 0;
    CHECK(cJSON_GetArraySize(want) == rows);
    for (int i = 0; i < rows; i++) {
        const cJSON *r = cJSON_GetArrayItem(want, i);
        CHECK(cJSON_GetArraySize(r) == cols);
        for (int j = 0; j < cols; j++) mx = fmax(mx, fabs(got[i * cols + j] - cJSON_GetArrayItem(r, j)->valuedouble));
    }
    return mx;
}

static void check_model(const char *name) {
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/tests/golden/clip/model/%s", test_root(), name);
    pl_clip *m = pl_clip_load(dir, 2);
    CHECKF(m != NULL, "%s: %s", name, pl_last_error());
    if (!m) return;
    snprintf(path, sizeof path, "%s/expected.json", dir);
    size_t len;
    char *text = pl_read_file(path, &len);
    cJSON *exp = cJSON_ParseWithLength(text, len);
    const cJSON *photos = cJSON_GetObjectItem(exp, "photos"), *ids = cJSON_GetObjectItem(exp, "input_ids");
    int n_img = cJSON_GetArraySize(photos), n_txt = cJSON_GetArraySize(ids), S = m->vision.image_size, D = m->dim;
    float *pixels = calloc((size_t)n_img * 3 * S * S, sizeof(float));
    for (int i = 0; i < n_img; i++) {
        pl_image img;
        int h, w;
        snprintf(path, sizeof path, "%s/tests/golden/clip/preprocess/%s", test_root(), cJSON_GetArrayItem(photos, i)->valuestring);
        CHECK(pl_image_load(path, &img) == PL_OK);
        CHECK(pl_image_preprocess(&m->prep, &img, pixels + (size_t)i * 3 * S * S, &h, &w) == PL_OK && h == S && w == S);
        pl_image_free(&img);
    }
    int32_t rows[8][64];
    const int32_t *rp[8];
    int n_ids[8];
    pl_tokenizer *tok = pl_tokenizer_load(dir);
    CHECKF(tok != NULL, "%s", pl_last_error());
    for (int i = 0; i < n_txt && tok; i++) { /* plinth's tokenizer gives the ids transformers ran (padding aside) */
        const char *t = cJSON_GetArrayItem(cJSON_GetObjectItem(exp, "texts"), i)->valuestring;
        n_ids[i] = pl_tokenize(tok, t, strlen(t), rows[i], 64, true);
        const cJSON *r = cJSON_GetArrayItem(ids, i);
        int same = n_ids[i] > 0 && n_ids[i] <= cJSON_GetArraySize(r);
        for (int j = 0; same && j < cJSON_GetArraySize(r); j++)
            same = cJSON_GetArrayItem(r, j)->valueint == (j < n_ids[i] ? rows[i][j] : m->text.pad_id);
        CHECKF(same, "%s: '%s' tokenized otherwise than by transformers", name, t);
        rp[i] = rows[i];
    }
    pl_tokenizer_free(tok);
    float *ie = calloc((size_t)n_img * D, sizeof(float)), *te = calloc((size_t)n_txt * D, sizeof(float));
    float *logits = calloc((size_t)n_img * n_txt, sizeof(float));
    CHECKF(pl_clip_embed_images(m, pixels, n_img, ie) == PL_OK, "%s", pl_last_error());
    CHECKF(pl_clip_embed_texts(m, rp, n_ids, n_txt, te) == PL_OK, "%s", pl_last_error());
    pl_clip_logits(m, ie, n_img, te, n_txt, logits);
    double di = max_diff(ie, cJSON_GetObjectItem(exp, "image_embeds"), n_img, D);
    double dt = max_diff(te, cJSON_GetObjectItem(exp, "text_embeds"), n_txt, D);
    double dl = max_diff(logits, cJSON_GetObjectItem(exp, "logits_per_image"), n_img, n_txt);
    printf("%s: image embeds %.2g, text embeds %.2g, logits_per_image %.2g (max |diff|)\n", name, di, dt, dl);
    CHECK(di <= 1e-4 && dt <= 1e-4 && dl <= 1e-4);
    /* one image alone gets the vector it gets in the batch */
    float one[512];
    CHECK(D <= 512 && pl_clip_embed_images(m, pixels + (size_t)3 * S * S, 1, one) == PL_OK);
    double d1 = 0;
    for (int c = 0; c < D; c++) d1 = fmax(d1, fabs(one[c] - ie[D + c]));
    CHECK(d1 <= 1e-5);
    /* bad ids: out of the vocabulary, too long, none */
    int32_t bad[1] = {m->text.n_vocab}, *badp[1] = {bad};
    int n1 = 1, nlong = m->text.hp.n_pos + 1;
    CHECK(pl_clip_embed_texts(m, (const int32_t *const *)badp, &n1, 1, te) == PL_ERR_ARG);
    CHECK(pl_clip_embed_texts(m, rp, &nlong, 1, te) == PL_ERR_ARG);
    CHECK(pl_clip_embed_texts(m, rp, n_ids, 0, te) == PL_ERR_ARG);
    free(ie); free(te); free(logits); free(pixels);
    cJSON_Delete(exp);
    free(text);
    pl_clip_free(m);
}

static const char *k_train_photos[3] = {"chelsea_300x200.png", "coffee_150x260.png", "camera_512_gray.png"};

static void check_grads(const char *name) {
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/tests/golden/clip/model/%s", test_root(), name);
    pl_clip *m = pl_clip_load_train(dir, 2, false, 0);
    CHECKF(m != NULL, "%s: %s", name, pl_last_error());
    if (!m) return;
    pl_ctx *ctx = m->step;
    const pl_tower *v = &m->vision;
    int S = v->image_size, K = 3 * v->patch_size * v->patch_size;
    float *pixels = calloc((size_t)3 * 3 * S * S, sizeof(float));
    for (int i = 0; i < 3; i++) {
        pl_image img;
        int h, w;
        snprintf(path, sizeof path, "%s/tests/golden/clip/preprocess/%s", test_root(), k_train_photos[i]);
        CHECK(pl_image_load(path, &img) == PL_OK && pl_image_preprocess(&m->prep, &img, pixels + (size_t)i * 3 * S * S, &h, &w) == PL_OK);
        pl_image_free(&img);
    }
    pl_tensor *patches = pl_new_3d(ctx, PL_F32, K, v->n_patches, 3);
    vit_unfold(pixels, 3, S, v->patch_size, pl_f32(patches));
    snprintf(path, sizeof path, "%s/expected.json", dir);
    char *text = pl_read_file(path, NULL);
    cJSON *exp = cJSON_Parse(text);
    pl_tokenizer *tok = pl_tokenizer_load(dir);
    int32_t rows[3][64];
    const int32_t *rp[3] = {rows[0], rows[1], rows[2]};
    int n_ids[3];
    for (int i = 0; i < 3; i++) {
        const char *t = cJSON_GetArrayItem(cJSON_GetObjectItem(exp, "texts"), i)->valuestring;
        n_ids[i] = pl_tokenize(tok, t, strlen(t), rows[i], 64, true);
    }
    pl_tensor *ids = NULL, *at = NULL;
    CHECK(pl_clip_text_inputs(ctx, m, rp, n_ids, 3, &ids, &at) == PL_OK);
    pl_tensor *loss = pl_contrastive_loss(ctx, pl_clip_image_features(ctx, m, patches), pl_clip_text_features(ctx, m, ids, at),
                                          m->logit_scale_t, m->logit_bias_t, m->kind == PL_DUAL_SIGLIP);
    pl_graph *g = pl_graph_build(ctx, loss, true);
    CHECKF(g != NULL, "%s", pl_last_error());
    if (g) {
        pl_graph_forward(ctx, g);
        pl_graph_backward(ctx, g);
    }
    snprintf(path, sizeof path, "%s/grads.safetensors", dir);
    pl_st *ref = pl_st_open(path);
    CHECK(ref != NULL);
    const pl_st_tensor *rl = ref ? pl_st_find(ref, "__loss__") : NULL;
    double dl = rl && g ? fabs(pl_f32(loss)[0] - ((const float *)rl->data)[0]) : 1;
    double worst = 0, worst_rel = 0;
    const char *worst_name = "", *worst_rel_name = "";
    int compared = 0;
    for (int i = 0; ref && g && i < m->n_params; i++) {
        const pl_clip_param *p = &m->params[i];
        const pl_st_tensor *r = pl_st_find(ref, p->name);
        CHECKF(r != NULL, "%s: no reference gradient for %s", name, p->name);
        if (!r) continue;
        const float *want = r->data, *got = pl_f32(p->t->grad);
        double mx = 0, scale = 0;
        for (int64_t k = 0; k < pl_nelements(p->t); k++) {
            mx = fmax(mx, fabs(got[k] - want[k]));
            scale = fmax(scale, fabs(want[k]));
        }
        if (mx > worst) { worst = mx; worst_name = p->name; }
        if (mx / fmax(scale, 1e-6) > worst_rel) { worst_rel = mx / fmax(scale, 1e-6); worst_rel_name = p->name; }
        compared++;
    }
    printf("%s training batch: loss %.6f (|diff| %.2g), %d gradients, worst max |diff| %.2g (%s), relative to the tensor's largest %.2g (%s)\n",
           name, g ? pl_f32(loss)[0] : NAN, dl, compared, worst, worst_name, worst_rel, worst_rel_name);
    CHECK(dl <= 1e-5 && worst <= 1e-4 && compared == m->n_params && compared > 30);
    pl_st_close(ref);
    pl_tokenizer_free(tok);
    cJSON_Delete(exp);
    free(text);
    free(pixels);
    pl_clip_free(m);
}

/* a copy of the CLIP fixture whose config.json says something the tensors do not */
static void check_mismatch(const char *key, const char *from, const char *to, const char *words) {
    char src[1024], dir[] = "/tmp/plinth_clip_XXXXXX", cmd[4096];
    snprintf(src, sizeof src, "%s/tests/golden/clip/model/clip", test_root());
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof cmd, "cp %s/* %s/ && sed -i 's/\"%s\": %s/\"%s\": %s/' %s/config.json", src, dir, key, from, key, to, dir);
    CHECK(system(cmd) == 0);
    pl_clip *m = pl_clip_load(dir, 1);
    CHECKF(m == NULL && strstr(pl_last_error(), words), "%s %s -> %s: '%s'", key, from, to, pl_last_error());
    pl_clip_free(m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void) {
    check_model("clip");
    check_model("siglip");
    check_grads("clip");
    check_grads("siglip");
    check_mismatch("projection_dim", "16", "24", "visual_projection.weight");
    check_mismatch("intermediate_size", "64", "48", "mlp.fc1.weight");
    check_mismatch("patch_size", "8", "16", "patch_embedding.weight");
    check_mismatch("image_size", "32", "64", "makes 32 x 32 images, the model takes 64 x 64");
    check_mismatch("model_type", "\"clip\"", "\"clop\"", "not an image-text model");
    check_mismatch("hidden_act", "\"quick_gelu\"", "\"swish\"", "not supported");
    CHECK(pl_clip_load("/nonexistent/clip", 1) == NULL && strstr(pl_last_error(), "/nonexistent/clip"));
    TEST_DONE();
}
