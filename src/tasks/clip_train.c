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
static int write_new_model(const pl_clip_train_opts *o, int side, int n_pos, int n_vocab_words, const char *const *captions,
                           int n_captions) {
    bool sg = o->siglip;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToObject(c, "architectures", cJSON_CreateStringArray((const char *[]){sg ? "SiglipModel" : "CLIPModel"}, 1));
    cJSON_AddStringToObject(c, "model_type", sg ? "siglip" : "clip");
    cJSON *t = tower_config(o->text_width, o->text_layers, o->heads, sg);
    cJSON_AddNumberToObject(t, "vocab_size", n_vocab_words);
    cJSON_AddNumberToObject(t, "max_position_embeddings", n_pos);
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
/* tokenized texts: ids[i][0 .. n[i]) */
typedef struct { int n; int32_t **ids; int *n_ids; } text_set;

static void text_set_free(text_set *t) {
    for (int i = 0; i < t->n && t->ids; i++) free(t->ids[i]);
    free(t->ids);
    free(t->n_ids);
    *t = (text_set){0};
}

/* the images of a run: Fashion-MNIST's arrays, or the files of image-caption pairs */
typedef struct { const pl_fmnist *fm; const pl_clip_pairs *pr; } image_set;

typedef struct {
    pl_clip *m;
    pl_tokenizer *tok;
    image_set train;
    int32_t caption_ids[PL_FMNIST_CLASSES][16][24]; /* Fashion-MNIST: [label][template] ids */
    int caption_n[PL_FMNIST_CLASSES][16];
    text_set pair_caps;  /* pairs: the training file's distinct captions, tokenized */
    float *pixels;   /* batch x 3 x S x S */
} trainer;

/* images idx[0..n) of a set -> the model's pixel values (the model's own preprocessing; gray replicated) */
static int images_to_pixels(trainer *tr, image_set set, const int32_t *idx, int n) {
    int S = tr->m->vision.image_size, rc = PL_OK;
    float *out = tr->pixels;
    if (set.pr) {
        for (int i = 0; i < n && !rc; i++) {
            pl_image img;
            int h, w;
            rc = pl_image_load(set.pr->paths[idx[i]], &img);
            if (!rc) rc = pl_image_preprocess(&tr->m->prep, &img, out + (size_t)i * 3 * S * S, &h, &w);
            pl_image_free(&img);
        }
        return rc;
    }
    const pl_fmnist *d = set.fm;
    int hw = d->h * d->w;
    pl_image img = {d->w, d->h, pl_malloc((size_t)hw * 3)};
    if (!img.rgb) return PL_ERR_NOMEM;
    for (int i = 0; i < n && !rc; i++) {
        const uint8_t *g = d->pixels + (size_t)idx[i] * hw;
        for (int k = 0; k < hw; k++) img.rgb[3 * k] = img.rgb[3 * k + 1] = img.rgb[3 * k + 2] = g[k];
        int h, w;
        rc = pl_image_preprocess(&tr->m->prep, &img, out + (size_t)i * 3 * S * S, &h, &w);
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
    int rc = images_to_pixels(tr, tr->train, idx, n);
    const int32_t **rows = pl_malloc((size_t)n * sizeof *rows);
    int *n_ids = pl_malloc((size_t)n * sizeof *n_ids);
    if (!rows || !n_ids) rc = PL_ERR_NOMEM;
    for (int i = 0; i < n && !rc; i++) {
        if (tr->train.pr) { /* the pair's own caption */
            int c = tr->train.pr->caption[idx[i]];
            rows[i] = tr->pair_caps.ids[c];
            n_ids[i] = tr->pair_caps.n_ids[c];
            continue;
        }
        int k = tr->train.fm->labels[idx[i]], tpl = (int)(pl_splitmix64(rng) % (uint64_t)pl_clip_n_templates());
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

/* Zero-shot accuracy on images idx[0..n) of a set: how often the nearest of the prompts (no classifier head) is
 * label[i], the image's own (Fashion-MNIST: the ten "a photo of a {label}."; pairs: candidate captions) */
static int zero_shot(trainer *tr, image_set set, const int32_t *idx, const int *label, int n, const text_set *prompts,
                     double *acc) {
    pl_clip *m = tr->m;
    int D = m->dim, P = prompts->n, rc = PL_OK, chunk = 256;
    double correct = 0;
    float *txt = pl_malloc((size_t)P * D * sizeof(float)), *img = pl_malloc((size_t)chunk * D * sizeof(float));
    float *logits = pl_malloc((size_t)P * sizeof(float));
    if (!txt || !img || !logits) rc = PL_ERR_NOMEM;
    for (int p0 = 0; p0 < P && !rc; p0 += chunk)
        rc = pl_clip_embed_texts(m, (const int32_t *const *)prompts->ids + p0, prompts->n_ids + p0, PL_MIN(chunk, P - p0),
                                 txt + (size_t)p0 * D);
    for (int i0 = 0; i0 < n && !rc; i0 += chunk) {
        int nb = PL_MIN(chunk, n - i0);
        rc = images_to_pixels(tr, set, idx + i0, nb);
        if (!rc) rc = pl_clip_embed_images(m, tr->pixels, nb, img);
        for (int i = 0; i < nb && !rc; i++) {
            pl_clip_logits(m, img + (size_t)i * D, 1, txt, P, logits);
            int best = 0, ties = 0;
            for (int k = 1; k < P; k++) if (logits[k] > logits[best]) best = k;
            for (int k = 0; k < P; k++) ties += logits[k] == logits[best];
            /* a tie at the top is broken at random: its expected credit (a collapsed model scores chance, not the
             * share of images whose answer happens to come first) */
            if (logits[label[i0 + i]] == logits[best]) correct += 1.0 / ties;
        }
    }
    free(txt); free(img); free(logits);
    *acc = n ? correct / n : 0;
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
    if (!o->batch) o->batch = 256;
    if (!o->epochs) o->epochs = 5;
    if (!o->eval_every) o->eval_every = 100;
    if (!o->lr) o->lr = 1e-3f;
    if (!o->seed) o->seed = 1;
}

/* the run's data: Fashion-MNIST's two splits, or image-caption pairs for training and validation */
typedef struct {
    bool pairs;
    pl_fmnist fm_train, fm_test;
    pl_clip_pairs pr_train, pr_val;
} run_data;

static void run_data_free(run_data *d) {
    pl_fmnist_free(&d->fm_train);
    pl_fmnist_free(&d->fm_test);
    pl_clip_pairs_free(&d->pr_train);
    pl_clip_pairs_free(&d->pr_val);
}

static int load_data(pl_clip_train_opts *o, run_data *d) {
    struct stat sb;
    char tpath[1200], vpath[1200];
    const char *train = NULL, *val = o->val_data;
    size_t n = strlen(o->data);
    if (n > 6 && !strcmp(o->data + n - 6, ".jsonl")) train = o->data;
    else {
        snprintf(tpath, sizeof tpath, "%s/train.jsonl", o->data);
        snprintf(vpath, sizeof vpath, "%s/heldout.jsonl", o->data);
        if (!stat(tpath, &sb)) train = tpath;
        if (train && !val && !stat(vpath, &sb)) val = vpath;
    }
    int rc;
    if (!train) { /* Fashion-MNIST */
        if (o->val_data) return pl_error(PL_ERR_ARG, "--val-data goes with image-caption pairs (-d PAIRS.jsonl)");
        if (!o->n_val) o->n_val = 5000;
        rc = pl_fmnist_load(o->data, true, &d->fm_train);
        if (!rc) rc = pl_fmnist_load(o->data, false, &d->fm_test);
        if (!rc && d->fm_train.n <= o->n_val + o->batch)
            rc = pl_error(PL_ERR_ARG, "%d training images: fewer than --val %d + a batch", d->fm_train.n, o->n_val);
        return rc;
    }
    d->pairs = true;
    rc = pl_clip_pairs_load(train, &d->pr_train);
    if (!rc && val) rc = pl_clip_pairs_load(val, &d->pr_val);
    else if (!rc) { /* the last n_val pairs of the file */
        if (!o->n_val) o->n_val = PL_MAX(1, d->pr_train.n / 5);
        if (d->pr_train.n <= o->n_val) rc = pl_error(PL_ERR_ARG, "%s: %d pairs, not more than --val %d", train, d->pr_train.n, o->n_val);
        if (!rc) rc = pl_clip_pairs_split(&d->pr_train, o->n_val, &d->pr_val);
    }
    if (!rc) o->n_val = d->pr_val.n;
    if (!rc && d->pr_train.n < o->batch)
        rc = pl_error(PL_ERR_ARG, "%s: %d training pairs, fewer than a batch (--batch %d)", train, d->pr_train.n, o->batch);
    return rc;
}

/* texts -> ids with the run's tokenizer; an error when one needs more positions than the text tower has */
static int tokenize_texts(trainer *tr, char *const *texts, int n, text_set *out) {
    int cap = tr->m->text.hp.n_pos;
    *out = (text_set){n, pl_calloc((size_t)n, sizeof *out->ids), pl_calloc((size_t)n, sizeof *out->n_ids)};
    int32_t *buf = pl_malloc((size_t)(cap + 1) * sizeof *buf);
    int rc = out->ids && out->n_ids && buf ? PL_OK : PL_ERR_NOMEM;
    for (int i = 0; i < n && !rc; i++) {
        int k = pl_tokenize(tr->tok, texts[i], strlen(texts[i]), buf, cap + 1, true);
        if (k < 0) rc = k;
        else if (k < 1 || k > cap)
            rc = pl_error(PL_ERR_ARG, "the caption \"%.60s\" has %d tokens, more than the model's %d positions", texts[i], k, cap);
        else if (!(out->ids[i] = pl_malloc((size_t)k * sizeof(int32_t)))) rc = PL_ERR_NOMEM;
        else { memcpy(out->ids[i], buf, (size_t)k * sizeof(int32_t)); out->n_ids[i] = k; }
    }
    free(buf);
    return rc;
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

/* a new model's patch size: given, or 7 or 8 or 4 where it divides the side */
static int pick_patch(pl_clip_train_opts *o, int side) {
    if (!o->patch) o->patch = side % 7 == 0 ? 7 : side % 8 == 0 ? 8 : side % 4 == 0 ? 4 : 0;
    if (!o->patch || side % o->patch || o->patch > side)
        return pl_error(PL_ERR_ARG, "the images are %d pixels a side: give a --patch that divides it", side);
    return PL_OK;
}

/* the training captions of a new model (its tokenizer's words): Fashion-MNIST's templates, or the pairs' captions */
static char **new_model_captions(const run_data *d, int *n) {
    int nc = d->pairs ? d->pr_train.n_captions + d->pr_val.n_captions : PL_FMNIST_CLASSES * pl_clip_n_templates(), k = 0;
    char **caps = pl_calloc((size_t)nc, sizeof *caps);
    if (!caps) return NULL;
    bool ok = true;
    if (d->pairs)
        for (int i = 0; i < nc; i++) {
            const char *c = i < d->pr_train.n_captions ? d->pr_train.captions[i] : d->pr_val.captions[i - d->pr_train.n_captions];
            if ((caps[i] = pl_malloc(strlen(c) + 1))) strcpy(caps[i], c);
            ok = ok && caps[i];
        }
    else
        for (int c = 0; c < PL_FMNIST_CLASSES; c++)
            for (int t = 0; t < pl_clip_n_templates(); t++) ok = (caps[k++] = pl_clip_caption(t, pl_fmnist_label(c))) && ok;
    if (!ok) {
        for (int i = 0; i < nc; i++) free(caps[i]);
        free(caps);
        return NULL;
    }
    *n = nc;
    return caps;
}

static int prepare_dir(pl_clip_train_opts *o, const run_data *d) {
    if (mkdir(o->out_dir, 0755) && errno != EEXIST)
        return pl_error(PL_ERR_IO, "cannot create %s: %s", o->out_dir, strerror(errno));
    if (o->init) {
        int rc = PL_OK;
        const char *files[] = {"config.json", "preprocessor_config.json", "tokenizer.json"};
        for (int i = 0; i < 3 && !rc; i++) rc = copy_file(o->init, o->out_dir, files[i]);
        return rc;
    }
    int side = d->fm_train.h, rc = PL_OK;
    if (d->pairs) { /* the first image's shorter side */
        pl_image img;
        rc = pl_image_load(d->pr_train.paths[0], &img);
        side = rc ? 0 : PL_MIN(img.w, img.h);
        pl_image_free(&img);
    }
    if (!rc) rc = pick_patch(o, side);
    if (rc) return rc;
    int nc = 0;
    char **caps = new_model_captions(d, &nc);
    if (!caps) return PL_ERR_NOMEM;
    rc = pl_clip_write_word_tokenizer(o->out_dir, (const char *const *)caps, nc);
    pl_tokenizer *tok = rc ? NULL : pl_tokenizer_load(o->out_dir);
    if (!rc && !tok) rc = PL_ERR_FORMAT;
    int n_pos = 16; /* positions: the longest caption's ids, at least 16 */
    int32_t ids[1024];
    for (int i = 0; i < nc && !rc; i++) {
        int k = pl_tokenize(tok, caps[i], strlen(caps[i]), ids, 1024, true);
        if (k < 0) rc = k;
        else if (k > 1024) rc = pl_error(PL_ERR_ARG, "the caption \"%.60s\" has %d tokens (at most 1024)", caps[i], k);
        else n_pos = PL_MAX(n_pos, k);
    }
    if (!rc) rc = write_new_model(o, side, n_pos, pl_tokenizer_n_vocab(tok), (const char *const *)caps, nc);
    pl_tokenizer_free(tok);
    for (int i = 0; i < nc; i++) free(caps[i]);
    free(caps);
    return rc;
}

static int write_accuracy(const char *dir, const double (*rows)[3], int n, bool pairs) {
    char path[1200];
    snprintf(path, sizeof path, "%s/accuracy.csv", dir);
    size_t cap = 64 + (size_t)n * 64, len = 0;
    char *s = pl_malloc(cap);
    if (!s) return PL_ERR_NOMEM;
    len += (size_t)snprintf(s, cap, "step,epoch,%s\n", pairs ? "val_caption_retrieval_top1" : "val_zero_shot_accuracy");
    for (int i = 0; i < n; i++) len += (size_t)snprintf(s + len, cap - len, "%.0f,%.3f,%.4f\n", rows[i][0], rows[i][1], rows[i][2]);
    int rc = pl_write_file_atomic(path, s, len);
    free(s);
    return rc;
}

/* What validation and the final test compare: the images, their indices, each one's right prompt, the prompts.
 * Fashion-MNIST: held-out training images and the test split against "a photo of a {label}."; pairs: the
 * validation pairs against their distinct captions (val), and against those and every training caption (all). */
typedef struct {
    image_set set;
    int32_t *idx;
    int *label, n;
    text_set prompts;
} eval_set;

static void eval_set_free(eval_set *e) {
    free(e->idx);
    free(e->label);
    text_set_free(&e->prompts);
}

static int fmnist_eval(trainer *tr, const pl_fmnist *d, int first, int n, eval_set *e) {
    *e = (eval_set){.set = {.fm = d}, .n = n, .idx = pl_malloc((size_t)n * sizeof(int32_t)), .label = pl_malloc((size_t)n * sizeof(int))};
    e->prompts = (text_set){PL_FMNIST_CLASSES, pl_calloc(PL_FMNIST_CLASSES, sizeof(int32_t *)), pl_calloc(PL_FMNIST_CLASSES, sizeof(int))};
    if (!e->idx || !e->label || !e->prompts.ids || !e->prompts.n_ids) return PL_ERR_NOMEM;
    for (int i = 0; i < n; i++) { e->idx[i] = first + i; e->label[i] = d->labels[first + i]; }
    for (int k = 0; k < PL_FMNIST_CLASSES; k++) {
        if (!(e->prompts.ids[k] = pl_malloc(24 * sizeof(int32_t)))) return PL_ERR_NOMEM;
        memcpy(e->prompts.ids[k], tr->caption_ids[k][0], 24 * sizeof(int32_t));
        e->prompts.n_ids[k] = tr->caption_n[k][0];
    }
    return PL_OK;
}

/* the validation pairs against their captions, then (with_train) every training caption not among them too */
static int pairs_eval(trainer *tr, const pl_clip_pairs *val, const pl_clip_pairs *train, bool with_train, eval_set *e) {
    int n = val->n, nc = val->n_captions;
    char **texts = pl_malloc((size_t)(nc + (with_train ? train->n_captions : 0)) * sizeof *texts);
    *e = (eval_set){.set = {.pr = val}, .n = n, .idx = pl_malloc((size_t)n * sizeof(int32_t)), .label = pl_malloc((size_t)n * sizeof(int))};
    if (!texts || !e->idx || !e->label) { free(texts); return PL_ERR_NOMEM; }
    for (int i = 0; i < n; i++) { e->idx[i] = i; e->label[i] = val->caption[i]; }
    for (int i = 0; i < nc; i++) texts[i] = val->captions[i];
    for (int i = 0; with_train && i < train->n_captions; i++) {
        bool seen = false;
        for (int j = 0; j < val->n_captions && !seen; j++) seen = !strcmp(train->captions[i], val->captions[j]);
        if (!seen) texts[nc++] = train->captions[i];
    }
    int rc = tokenize_texts(tr, texts, nc, &e->prompts);
    free(texts);
    return rc;
}

int pl_clip_train(const pl_clip_train_opts *opts, pl_clip_train_result *r) {
    pl_clip_train_opts o = *opts;
    defaults(&o);
    *r = (pl_clip_train_result){0};
    if (!o.out_dir) return pl_error(PL_ERR_ARG, "no output directory (-o DIR)");
    run_data d = {0};
    int rc = load_data(&o, &d);
    if (!rc) rc = prepare_dir(&o, &d);
    trainer *tr = rc ? NULL : pl_calloc(1, sizeof *tr);
    if (!rc && !tr) rc = PL_ERR_NOMEM;
    if (!rc) {
        tr->train = d.pairs ? (image_set){.pr = &d.pr_train} : (image_set){.fm = &d.fm_train};
        tr->m = pl_clip_load_train(o.init ? o.init : o.out_dir, o.threads, !o.init, o.seed);
        tr->tok = tr->m ? pl_tokenizer_load(o.out_dir) : NULL;
        rc = tr->m && tr->tok ? PL_OK : PL_ERR_FORMAT;
    }
    if (!rc && (tr->m->kind == PL_DUAL_SIGLIP) != o.siglip)
        rc = pl_error(PL_ERR_ARG, "--loss %s on a %s model: start from a model of that kind", o.siglip ? "siglip" : "clip",
                      o.siglip ? "CLIP" : "SigLIP");
    if (!rc) rc = d.pairs ? tokenize_texts(tr, d.pr_train.captions, d.pr_train.n_captions, &tr->pair_caps) : tokenize_captions(tr);
    eval_set val = {0}, test = {0};
    int n_train = d.pairs ? d.pr_train.n : d.fm_train.n - o.n_val;
    if (!rc) rc = d.pairs ? pairs_eval(tr, &d.pr_val, &d.pr_train, false, &val) : fmnist_eval(tr, &d.fm_train, n_train, o.n_val, &val);
    if (!rc) rc = d.pairs ? pairs_eval(tr, &d.pr_val, &d.pr_train, true, &test)
                          : fmnist_eval(tr, &d.fm_test, 0, o.n_test > 0 ? PL_MIN(o.n_test, d.fm_test.n) : d.fm_test.n, &test);
    int S = rc ? 0 : tr->m->vision.image_size;
    if (!rc && !(tr->pixels = pl_malloc((size_t)PL_MAX(o.batch, 256) * 3 * S * S * sizeof(float)))) rc = PL_ERR_NOMEM;
    int steps_per_epoch = n_train / o.batch;
    int64_t total = (int64_t)steps_per_epoch * o.epochs;
    if (o.max_steps > 0 && o.max_steps < total) total = o.max_steps;
    int32_t *order = rc ? NULL : pl_malloc((size_t)n_train * sizeof *order);
    double (*acc_rows)[3] = rc ? NULL : pl_calloc((size_t)(total / o.eval_every + 2), sizeof *acc_rows);
    if (!rc && (!order || !acc_rows)) rc = PL_ERR_NOMEM;
    pl_history hist = {0};
    int n_acc = 0;
    uint64_t rng = o.seed * 0x9E3779B97F4A7C15ull;
    double t0 = pl_time_s(), ema = NAN;
    bool tty = isatty(fileno(stderr));
    for (int64_t t = 0; !rc && t < total; t++) {
        int e = (int)(t / steps_per_epoch), s = (int)(t % steps_per_epoch);
        if (s == 0) pl_epoch_order(order, n_train, o.seed, e);
        float lr = pl_lr_schedule(t, PL_MIN(200, total / 10), total, o.lr, o.lr * 0.01f);
        double loss;
        rc = step(tr, &o, order + (size_t)s * o.batch, o.batch, t + 1, lr, &rng, &loss);
        if (rc) break;
        ema = isnan(ema) ? loss : 0.95 * ema + 0.05 * loss;
        pl_hist_row row = {t + 1, loss, NAN, lr, (t + 1) * o.batch / (pl_time_s() - t0)};
        pl_hist_add(&hist, row);
        if (!o.quiet && tty) /* the bar on a terminal (its rate: pairs/s); the validation lines below everywhere */
            pl_progress_print(stderr, tty, &row, total, (pl_time_s() - t0) / (double)(t + 1) * (double)(total - t - 1));
        r->final_loss = ema;
        if ((t + 1) % o.eval_every == 0 || t + 1 == total) {
            rc = zero_shot(tr, val.set, val.idx, val.label, val.n, &val.prompts, &r->val_acc);
            acc_rows[n_acc][0] = (double)(t + 1); acc_rows[n_acc][1] = (double)(t + 1) / steps_per_epoch; acc_rows[n_acc++][2] = r->val_acc;
            if (!o.quiet)
                fprintf(stderr, "%sstep %lld/%lld  epoch %.2f  loss %.4f  t %.3f  val %s %.2f%%  %.0f pairs/s\n",
                        tty && t + 1 < total ? "\n" : "", (long long)t + 1, (long long)total, (double)(t + 1) / steps_per_epoch, ema, pl_f32(tr->m->logit_scale_t)[0],
                        d.pairs ? "caption top-1" : "zero-shot", 100 * r->val_acc, (t + 1) * o.batch / (pl_time_s() - t0));
        }
        r->steps = (int)(t + 1);
    }
    if (!rc) rc = zero_shot(tr, test.set, test.idx, test.label, test.n, &test.prompts, d.pairs ? &r->all_acc : &r->test_acc);
    r->pairs = d.pairs;
    r->n_val_captions = val.prompts.n;
    r->n_all_captions = test.prompts.n;
    if (d.pairs) r->test_acc = r->val_acc;
    r->seconds = pl_time_s() - t0;
    if (!rc) rc = pl_clip_save_weights(tr->m, o.out_dir);
    if (!rc) rc = pl_hist_write(o.out_dir, &hist, o.siglip ? "sigmoid loss" : "nats (CLIP loss)");
    if (!rc) rc = write_accuracy(o.out_dir, acc_rows, n_acc, d.pairs);
    pl_hist_free(&hist);
    free(order); free(acc_rows);
    eval_set_free(&val);
    eval_set_free(&test);
    if (tr) { pl_tokenizer_free(tr->tok); pl_clip_free(tr->m); free(tr->pixels); text_set_free(&tr->pair_caps); free(tr); }
    run_data_free(&d);
    return rc;
}
