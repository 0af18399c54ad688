/* plinth clip train (clip_train.h): the model directory, the batches, the steps and the zero-shot evaluation. */
#include "tasks/clip_train.h"
#include "models/clip.h"
#include "tasks/clip_data.h"
#include "tasks/train_log.h"
#include "train/optim.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a new model's directory ------------------------------------------------------------------------- */
static cJSON *tower_config(int width, int layers, int heads, bool siglip) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "hidden_size", width);
    cJSON_AddNumberToObject(c, "intermediate_size", 4 * width);
    cJSON_AddNumberToObject(c, "num_hidden_layers", layers);
    cJSON_AddNumberToObject(c, "num_attention_heads", heads);
    cJSON_AddStringToObject(c, "hidden_act", siglip ? "gelu_pytorch_tanh" : "quick_gelu");
    cJSON_AddNumberToObject(c, "layer_norm_eps", siglip ? 1e-6 : 1e-5);
    return c;
}

static int write_json(const char *dir, const char *name, cJSON *j) {
    char path[1200], *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s) return PL_ERR_NOMEM;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = pl_write_file_atomic(path, s, strlen(s));
    free(s);
    return rc;
}

/* config.json, preprocessor_config.json and tokenizer.json of a new model for side x side gray images */
static int write_new_model(const pl_clip_train_opts *o, int side, int n_vocab_words, const char *const *captions, int n_captions) {
    bool sg = o->siglip;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToObject(c, "architectures", cJSON_CreateStringArray((const char *[]){sg ? "SiglipModel" : "CLIPModel"}, 1));
    cJSON_AddStringToObject(c, "model_type", sg ? "siglip" : "clip");
    cJSON *t = tower_config(o->text_width, o->text_layers, o->heads, sg);
    cJSON_AddNumberToObject(t, "vocab_size", n_vocab_words);
    cJSON_AddNumberToObject(t, "max_position_embeddings", 16);
    cJSON_AddNumberToObject(t, "pad_token_id", 0);
    cJSON_AddNumberToObject(t, "bos_token_id", 3);
    cJSON_AddNumberToObject(t, "eos_token_id", 4);
    if (sg) cJSON_AddNumberToObject(t, "projection_size", o->width);
    cJSON_AddItemToObject(c, "text_config", t);
    cJSON *v = tower_config(o->width, o->layers, o->heads, sg);
    cJSON_AddNumberToObject(v, "image_size", side);
    cJSON_AddNumberToObject(v, "patch_size", o->patch);
    cJSON_AddNumberToObject(v, "num_channels", 3);
    cJSON_AddItemToObject(c, "vision_config", v);
    if (!sg) cJSON_AddNumberToObject(c, "projection_dim", o->dim);
    int rc = write_json(o->out_dir, "config.json", c);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "image_processor_type", sg ? "SiglipImageProcessor" : "CLIPImageProcessor");
    cJSON_AddBoolToObject(p, "do_resize", 1);
    cJSON *size = cJSON_AddObjectToObject(p, "size");
    cJSON_AddNumberToObject(size, "height", side);
    cJSON_AddNumberToObject(size, "width", side);
    cJSON_AddBoolToObject(p, "do_center_crop", 0);
    cJSON_AddNumberToObject(p, "resample", 3);
    cJSON_AddBoolToObject(p, "do_rescale", 1);
    cJSON_AddNumberToObject(p, "rescale_factor", 1.0 / 255);
    cJSON_AddBoolToObject(p, "do_normalize", 1);
    cJSON_AddItemToObject(p, "image_mean", cJSON_CreateFloatArray((float[]){0.5f, 0.5f, 0.5f}, 3));
    cJSON_AddItemToObject(p, "image_std", cJSON_CreateFloatArray((float[]){0.5f, 0.5f, 0.5f}, 3));
    if (!rc) rc = write_json(o->out_dir, "preprocessor_config.json", p);
    else cJSON_Delete(p);
    if (!rc) rc = pl_clip_write_word_tokenizer(o->out_dir, captions, n_captions);
    return rc;
}

static int copy_file(const char *from_dir, const char *to_dir, const char *name) {
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s/%s", from_dir, name);
    snprintf(b, sizeof b, "%s/%s", to_dir, name);
    size_t len;
    char *s = pl_read_file(a, &len);
    if (!s) return PL_ERR_IO;
    int rc = pl_write_file_atomic(b, s, len);
    free(s);
    return rc;
}

/* ---- batches ------------------------------------------------------------------------------------------ */
typedef struct {
    pl_clip *m;
    pl_tokenizer *tok;
    const pl_fmnist *d;
    int32_t caption_ids[PL_FMNIST_CLASSES][16][24]; /* [label][template] ids */
    int caption_n[PL_FMNIST_CLASSES][16];
    float *pixels;   /* batch x 3 x S x S */
} trainer;

/* images idx[0..n) of d -> the model's pixel values (gray replicated, the model's own preprocessing) */
static int images_to_pixels(trainer *tr, const pl_fmnist *d, const int32_t *idx, int n) {
    int S = tr->m->vision.image_size, hw = d->h * d->w;
    pl_image img = {d->w, d->h, pl_malloc((size_t)hw * 3)};
    if (!img.rgb) return PL_ERR_NOMEM;
    int rc = PL_OK;
    for (int i = 0; i < n && !rc; i++) {
        const uint8_t *g = d->pixels + (size_t)idx[i] * hw;
        for (int k = 0; k < hw; k++) img.rgb[3 * k] = img.rgb[3 * k + 1] = img.rgb[3 * k + 2] = g[k];
        int h, w;
        rc = pl_image_preprocess(&tr->m->prep, &img, tr->pixels + (size_t)i * 3 * S * S, &h, &w);
    }
    pl_image_free(&img);
    return rc;
}

static pl_tensor *patches_of(trainer *tr, pl_ctx *ctx, int n) {
    const pl_tower *v = &tr->m->vision;
    pl_tensor *p = pl_new_3d(ctx, PL_F32, 3 * v->patch_size * v->patch_size, v->n_patches, n);
    if (p) vit_unfold(tr->pixels, n, v->image_size, v->patch_size, pl_f32(p));
    return p;
}

/* one step on pairs idx[0..n) with captions from random templates: loss, gradients, AdamW */
static int step(trainer *tr, const pl_clip_train_opts *o, const int32_t *idx, int n, int64_t t, float lr, uint64_t *rng,
                double *loss_out) {
    pl_clip *m = tr->m;
    pl_ctx *ctx = m->step;
    pl_ctx_reset(ctx);
    int rc = images_to_pixels(tr, tr->d, idx, n);
    const int32_t **rows = pl_malloc((size_t)n * sizeof *rows);
    int *n_ids = pl_malloc((size_t)n * sizeof *n_ids);
    if (!rows || !n_ids) rc = PL_ERR_NOMEM;
    for (int i = 0; i < n && !rc; i++) {
        int k = tr->d->labels[idx[i]], tpl = (int)(pl_splitmix64(rng) % (uint64_t)pl_clip_n_templates());
        rows[i] = tr->caption_ids[k][tpl];
        n_ids[i] = tr->caption_n[k][tpl];
    }
    pl_tensor *ids = NULL, *at = NULL, *loss = NULL;
    if (!rc) rc = pl_clip_text_inputs(ctx, m, rows, n_ids, n, &ids, &at);
    free(rows);
    free(n_ids);
    if (!rc) loss = pl_contrastive_loss(ctx, pl_clip_image_features(ctx, m, patches_of(tr, ctx, n)),
                                        pl_clip_text_features(ctx, m, ids, at), m->logit_scale_t, m->logit_bias_t, o->siglip);
    pl_graph *g = rc ? NULL : pl_graph_build(ctx, loss, true);
    if (!g) return rc ? rc : PL_ERR_ARG;
    pl_graph_forward(ctx, g);
    for (int i = 0; i < m->n_params; i++) memset(m->params[i].t->grad->data, 0, pl_nbytes(m->params[i].t->grad));
    pl_graph_backward(ctx, g);
    *loss_out = pl_f32(loss)[0];
    pl_adamw opt = {0.9f, 0.98f, 1e-6f, o->weight_decay};
    pl_adamw none = {0.9f, 0.98f, 1e-6f, 0};
    for (int i = 0; i < m->n_params; i++) {
        pl_clip_param *p = &m->params[i];
        bool decay = p->t->n_dims == 2 && !strstr(p->name, "embedding"); /* no decay on norms, biases, embeddings, t, b */
        pl_adamw_step(decay ? &opt : &none, t, lr, pl_nelements(p->t), pl_f32(p->t), pl_f32(p->t->grad), p->m, p->v);
    }
    float *ls = pl_f32(m->logit_scale_t);
    if (*ls > logf(100.0f)) *ls = logf(100.0f); /* CLIP's clamp of the temperature */
    return isfinite(*loss_out) ? PL_OK : pl_error(PL_ERR_ARG, "the loss is not finite at step %lld", (long long)t);
}

/* zero-shot accuracy on images idx[0..n) of d: the nearest of the ten prompts (the first template) */
static int zero_shot(trainer *tr, const pl_fmnist *d, const int32_t *idx, int n, double *acc) {
    pl_clip *m = tr->m;
    int D = m->dim, correct = 0, rc, chunk = 256;
    float txt[PL_FMNIST_CLASSES * 1024], logits[PL_FMNIST_CLASSES];
    if (D > 1024) return pl_error(PL_ERR_ARG, "embedding size %d too large for the evaluation", D);
    const int32_t *rows[PL_FMNIST_CLASSES];
    int n_ids[PL_FMNIST_CLASSES];
    for (int k = 0; k < PL_FMNIST_CLASSES; k++) { rows[k] = tr->caption_ids[k][0]; n_ids[k] = tr->caption_n[k][0]; }
    rc = pl_clip_embed_texts(m, rows, n_ids, PL_FMNIST_CLASSES, txt);
    float *img = pl_malloc((size_t)chunk * D * sizeof(float));
    if (!img) return PL_ERR_NOMEM;
    for (int i0 = 0; i0 < n && !rc; i0 += chunk) {
        int nb = PL_MIN(chunk, n - i0);
        rc = images_to_pixels(tr, d, idx + i0, nb);
        if (!rc) rc = pl_clip_embed_images(m, tr->pixels, nb, img);
        for (int i = 0; i < nb && !rc; i++) {
            pl_clip_logits(m, img + (size_t)i * D, 1, txt, PL_FMNIST_CLASSES, logits);
            int best = 0;
            for (int k = 1; k < PL_FMNIST_CLASSES; k++) if (logits[k] > logits[best]) best = k;
            correct += best == d->labels[idx[i0 + i]];
        }
    }
    free(img);
    *acc = n ? (double)correct / n : 0;
    return rc;
}

/* ---- the run --------------------------------------------------------------------------------------------- */
static void defaults(pl_clip_train_opts *o) {
    if (!o->data) o->data = PL_FMNIST_DEFAULT_DIR;
    if (!o->width) o->width = 64;
    if (!o->layers) o->layers = 3;
    if (!o->heads) o->heads = 4;
    if (!o->text_width) o->text_width = o->siglip ? o->width : 64;
    if (!o->text_layers) o->text_layers = 2;
    if (!o->dim) o->dim = 64;
    if (!o->patch) o->patch = 7;
    if (!o->batch) o->batch = 256;
    if (!o->epochs) o->epochs = 5;
    if (!o->eval_every) o->eval_every = 100;
    if (!o->n_val) o->n_val = 5000;
    if (!o->lr) o->lr = 1e-3f;
    if (!o->seed) o->seed = 1;
}

static int tokenize_captions(trainer *tr) {
    for (int k = 0; k < PL_FMNIST_CLASSES; k++)
        for (int tpl = 0; tpl < pl_clip_n_templates(); tpl++) {
            char *c = pl_clip_caption(tpl, pl_fmnist_label(k));
            if (!c) return PL_ERR_NOMEM;
            int n = pl_tokenize(tr->tok, c, strlen(c), tr->caption_ids[k][tpl], 24, true);
            free(c);
            if (n < 1 || n > 24 || n > tr->m->text.hp.n_pos)
                return pl_error(PL_ERR_ARG, "a caption has %d tokens, more than the model's %d positions", n, tr->m->text.hp.n_pos);
            tr->caption_n[k][tpl] = n;
        }
    return PL_OK;
}

static int prepare_dir(pl_clip_train_opts *o, const pl_fmnist *d) {
    if (mkdir(o->out_dir, 0755) && errno != EEXIST)
        return pl_error(PL_ERR_IO, "cannot create %s: %s", o->out_dir, strerror(errno));
    if (o->init) {
        int rc = PL_OK;
        const char *files[] = {"config.json", "preprocessor_config.json", "tokenizer.json"};
        for (int i = 0; i < 3 && !rc; i++) rc = copy_file(o->init, o->out_dir, files[i]);
        return rc;
    }
    int nc = PL_FMNIST_CLASSES * pl_clip_n_templates(), k = 0;
    char **caps = pl_calloc((size_t)nc, sizeof *caps);
    if (!caps) return PL_ERR_NOMEM;
    for (int c = 0; c < PL_FMNIST_CLASSES; c++)
        for (int t = 0; t < pl_clip_n_templates(); t++) caps[k++] = pl_clip_caption(t, pl_fmnist_label(c));
    int rc = PL_OK;
    for (int i = 0; i < nc; i++) if (!caps[i]) rc = PL_ERR_NOMEM;
    if (!rc) rc = pl_clip_write_word_tokenizer(o->out_dir, (const char *const *)caps, nc);
    pl_tokenizer *tok = rc ? NULL : pl_tokenizer_load(o->out_dir);
    if (!rc && !tok) rc = PL_ERR_FORMAT;
    if (!rc) rc = write_new_model(o, d->h, pl_tokenizer_n_vocab(tok), (const char *const *)caps, nc);
    pl_tokenizer_free(tok);
    for (int i = 0; i < nc; i++) free(caps[i]);
    free(caps);
    return rc;
}

static int write_accuracy(const char *dir, const double (*rows)[3], int n) {
    char path[1200];
    snprintf(path, sizeof path, "%s/accuracy.csv", dir);
    size_t cap = 64 + (size_t)n * 64, len = 0;
    char *s = pl_malloc(cap);
    if (!s) return PL_ERR_NOMEM;
    len += (size_t)snprintf(s, cap, "step,epoch,val_zero_shot_accuracy\n");
    for (int i = 0; i < n; i++) len += (size_t)snprintf(s + len, cap - len, "%.0f,%.3f,%.4f\n", rows[i][0], rows[i][1], rows[i][2]);
    int rc = pl_write_file_atomic(path, s, len);
    free(s);
    return rc;
}

int pl_clip_train(const pl_clip_train_opts *opts, pl_clip_train_result *r) {
    pl_clip_train_opts o = *opts;
    defaults(&o);
    *r = (pl_clip_train_result){0};
    if (!o.out_dir) return pl_error(PL_ERR_ARG, "no output directory (-o DIR)");
    pl_fmnist train = {0}, test = {0};
    int rc = pl_fmnist_load(o.data, true, &train);
    if (!rc) rc = pl_fmnist_load(o.data, false, &test);
    if (!rc && train.n <= o.n_val + o.batch) rc = pl_error(PL_ERR_ARG, "%d training images: fewer than --val %d + a batch", train.n, o.n_val);
    if (!rc) rc = prepare_dir(&o, &train);
    trainer *tr = rc ? NULL : pl_calloc(1, sizeof *tr);
    if (!rc && !tr) rc = PL_ERR_NOMEM;
    if (!rc) {
        tr->d = &train;
        tr->m = pl_clip_load_train(o.init ? o.init : o.out_dir, o.threads, !o.init, o.seed);
        tr->tok = tr->m ? pl_tokenizer_load(o.out_dir) : NULL;
        rc = tr->m && tr->tok ? PL_OK : PL_ERR_FORMAT;
    }
    if (!rc && (tr->m->kind == PL_DUAL_SIGLIP) != o.siglip)
        rc = pl_error(PL_ERR_ARG, "--loss %s on a %s model: start from a model of that kind", o.siglip ? "siglip" : "clip",
                      o.siglip ? "CLIP" : "SigLIP");
    if (!rc) rc = tokenize_captions(tr);
    int S = rc ? 0 : tr->m->vision.image_size;
    if (!rc && !(tr->pixels = pl_malloc((size_t)PL_MAX(o.batch, 256) * 3 * S * S * sizeof(float)))) rc = PL_ERR_NOMEM;
    int n_train = train.n - o.n_val, steps_per_epoch = n_train / o.batch;
    int64_t total = (int64_t)steps_per_epoch * o.epochs;
    if (o.max_steps > 0 && o.max_steps < total) total = o.max_steps;
    int32_t *order = rc ? NULL : pl_malloc((size_t)train.n * sizeof *order);
    int32_t *val_idx = rc ? NULL : pl_malloc((size_t)o.n_val * sizeof *val_idx), *test_idx = rc ? NULL : pl_malloc((size_t)test.n * sizeof *test_idx);
    double (*acc_rows)[3] = rc ? NULL : pl_calloc((size_t)(total / o.eval_every + 2), sizeof *acc_rows);
    if (!rc && (!order || !val_idx || !test_idx || !acc_rows)) rc = PL_ERR_NOMEM;
    for (int i = 0; !rc && i < o.n_val; i++) val_idx[i] = n_train + i; /* the last n_val training images */
    for (int i = 0; !rc && i < test.n; i++) test_idx[i] = i;
    pl_history hist = {0};
    int n_acc = 0;
    uint64_t rng = o.seed * 0x9E3779B97F4A7C15ull;
    double t0 = pl_time_s(), ema = NAN;
    for (int64_t t = 0; !rc && t < total; t++) {
        int e = (int)(t / steps_per_epoch), s = (int)(t % steps_per_epoch);
        if (s == 0) pl_epoch_order(order, n_train, o.seed, e);
        float lr = pl_lr_schedule(t, PL_MIN(200, total / 10), total, o.lr, o.lr * 0.01f);
        double loss;
        rc = step(tr, &o, order + (size_t)s * o.batch, o.batch, t + 1, lr, &rng, &loss);
        if (rc) break;
        ema = isnan(ema) ? loss : 0.95 * ema + 0.05 * loss;
        pl_hist_add(&hist, (pl_hist_row){t + 1, loss, NAN, lr, (t + 1) * o.batch / (pl_time_s() - t0)});
        r->final_loss = ema;
        if ((t + 1) % o.eval_every == 0 || t + 1 == total) {
            rc = zero_shot(tr, &train, val_idx, o.n_val, &r->val_acc);
            acc_rows[n_acc][0] = (double)(t + 1); acc_rows[n_acc][1] = (double)(t + 1) / steps_per_epoch; acc_rows[n_acc++][2] = r->val_acc;
            if (!o.quiet)
                fprintf(stderr, "step %lld/%lld  epoch %.2f  loss %.4f  t %.3f  val zero-shot %.2f%%  %.0f pairs/s\n", (long long)t + 1,
                        (long long)total, (double)(t + 1) / steps_per_epoch, ema, pl_f32(tr->m->logit_scale_t)[0],
                        100 * r->val_acc, (t + 1) * o.batch / (pl_time_s() - t0));
        }
        r->steps = (int)(t + 1);
    }
    if (!rc) rc = zero_shot(tr, &test, test_idx, o.n_test > 0 ? PL_MIN(o.n_test, test.n) : test.n, &r->test_acc);
    r->seconds = pl_time_s() - t0;
    if (!rc) rc = pl_clip_save_weights(tr->m, o.out_dir);
    if (!rc) rc = pl_hist_write(o.out_dir, &hist, o.siglip ? "sigmoid loss" : "nats (CLIP loss)");
    if (!rc) rc = write_accuracy(o.out_dir, acc_rows, n_acc);
    pl_hist_free(&hist);
    free(order); free(val_idx); free(test_idx); free(acc_rows);
    if (tr) { pl_tokenizer_free(tr->tok); pl_clip_free(tr->m); free(tr->pixels); free(tr); }
    pl_fmnist_free(&train);
    pl_fmnist_free(&test);
    return rc;
}
