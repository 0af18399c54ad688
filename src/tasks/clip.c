/* plinth clip's work (tasks/clip.h): images from files through the model's preprocessing, texts through its
 * tokenizer, both through the model in batches, and zero-shot probabilities from the logits. */
#include "tasks/clip.h"

#include <math.h>

enum { IMAGE_BATCH = 16, TEXT_BATCH = 64 };

pl_clip_task *pl_clip_task_open(const char *path, int n_threads) {
    pl_clip_task *t = pl_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->model = pl_clip_load(path, n_threads > 0 ? n_threads : 2);
    t->tok = t->model ? pl_tokenizer_load(path) : NULL;
    if (t->tok && pl_tokenizer_n_vocab(t->tok) > t->model->text.n_vocab) {
        pl_error(PL_ERR_FORMAT, "%s: the tokenizer's %d tokens exceed the model's vocabulary of %d", path,
                 pl_tokenizer_n_vocab(t->tok), t->model->text.n_vocab);
        pl_tokenizer_free(t->tok);
        t->tok = NULL;
    }
    if (!t->tok) { pl_clip_task_close(t); return NULL; }
    return t;
}

void pl_clip_task_close(pl_clip_task *t) {
    if (!t) return;
    pl_clip_free(t->model);
    pl_tokenizer_free(t->tok);
    free(t);
}

int pl_clip_task_dim(const pl_clip_task *t) { return t->model->dim; }

int pl_clip_task_embed_images(pl_clip_task *t, const char *const *paths, int n, float *out) {
    if (n <= 0) return pl_error(PL_ERR_ARG, "no images to embed");
    int S = t->model->vision.image_size, rc = PL_OK;
    size_t per = (size_t)3 * S * S;
    float *px = pl_malloc(per * IMAGE_BATCH * sizeof(float));
    if (!px) return PL_ERR_NOMEM;
    for (int i0 = 0; i0 < n && !rc; i0 += IMAGE_BATCH) {
        int nb = PL_MIN(IMAGE_BATCH, n - i0);
        for (int i = 0; i < nb && !rc; i++) {
            pl_image img;
            int h, w;
            rc = pl_image_load(paths[i0 + i], &img);
            if (!rc) rc = pl_image_preprocess(&t->model->prep, &img, px + i * per, &h, &w);
            pl_image_free(&img);
        }
        if (!rc) rc = pl_clip_embed_images(t->model, px, nb, out + (size_t)i0 * t->model->dim);
    }
    free(px);
    return rc;
}

/* ids of a text (room for the model's positions) cut to the model's positions, its last id (the end-of-text
 * token) kept */
static int tokenize(pl_clip_task *t, const char *text, int32_t *ids) {
    int max = t->model->text.hp.n_pos, n = pl_tokenize(t->tok, text, strlen(text), NULL, 0, true);
    if (n < 0) return n;
    if (n == 0) return pl_error(PL_ERR_ARG, "the text '%s' has no tokens", text);
    int32_t *all = pl_malloc((size_t)n * sizeof *all);
    if (!all) return PL_ERR_NOMEM;
    n = pl_tokenize(t->tok, text, strlen(text), all, n, true);
    if (n > max) { all[max - 1] = all[n - 1]; n = max; }
    if (n > 0) memcpy(ids, all, (size_t)n * sizeof *ids);
    free(all);
    return n;
}

int pl_clip_task_embed_texts(pl_clip_task *t, const char *const *texts, int n, float *out) {
    if (n <= 0) return pl_error(PL_ERR_ARG, "no texts to embed");
    int cap = t->model->text.hp.n_pos, rc = PL_OK;
    int32_t *buf = pl_malloc((size_t)TEXT_BATCH * cap * sizeof(int32_t));
    if (!buf) return PL_ERR_NOMEM;
    for (int i0 = 0; i0 < n && !rc; i0 += TEXT_BATCH) {
        int nb = PL_MIN(TEXT_BATCH, n - i0), n_ids[TEXT_BATCH];
        const int32_t *rows[TEXT_BATCH];
        for (int i = 0; i < nb && !rc; i++) {
            rows[i] = buf + (size_t)i * cap;
            n_ids[i] = tokenize(t, texts[i0 + i], buf + (size_t)i * cap);
            if (n_ids[i] < 0) rc = n_ids[i];
        }
        if (!rc) rc = pl_clip_embed_texts(t->model, rows, n_ids, nb, out + (size_t)i0 * t->model->dim);
    }
    free(buf);
    return rc;
}

int pl_clip_parse_labels(const char *list, char ***labels, int *n) {
    *labels = NULL;
    *n = 0;
    if (!list) return pl_error(PL_ERR_ARG, "no labels given");
    int cap = 1;
    for (const char *p = list; *p; p++) cap += *p == ',';
    char **v = pl_calloc((size_t)cap, sizeof *v);
    if (!v) return PL_ERR_NOMEM;
    const char *s = list;
    for (int i = 0; i < cap; i++) {
        const char *e = strchr(s, ',');
        if (!e) e = s + strlen(s);
        const char *a = s, *b = e;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        if (a == b) {
            pl_clip_free_labels(v, i);
            return pl_error(PL_ERR_ARG, cap == 1 ? "the label list is empty" : "label %d of the list is empty", i + 1);
        }
        v[i] = pl_malloc((size_t)(b - a) + 1);
        if (!v[i]) { pl_clip_free_labels(v, i); return PL_ERR_NOMEM; }
        memcpy(v[i], a, (size_t)(b - a));
        v[i][b - a] = 0;
        s = *e ? e + 1 : e;
    }
    *labels = v;
    *n = cap;
    return PL_OK;
}

void pl_clip_free_labels(char **labels, int n) {
    for (int i = 0; i < n; i++) free(labels[i]);
    free(labels);
}

/* the template with "{}" replaced by the label */
static char *prompt(const char *tmpl, const char *label) {
    const char *at = strstr(tmpl, "{}");
    size_t n = strlen(tmpl) - 2 + strlen(label) + 1;
    char *s = pl_malloc(n);
    if (s) snprintf(s, n, "%.*s%s%s", (int)(at - tmpl), tmpl, label, at + 2);
    return s;
}

static void probabilities(const pl_clip *m, float *logits, int n_img, int n_lab) {
    for (int i = 0; i < n_img; i++) {
        float *r = logits + (size_t)i * n_lab;
        if (m->kind == PL_DUAL_SIGLIP) {
            for (int j = 0; j < n_lab; j++) r[j] = 1.0f / (1.0f + expf(-r[j]));
            continue;
        }
        float mx = r[0];
        double sum = 0;
        for (int j = 1; j < n_lab; j++) mx = fmaxf(mx, r[j]);
        for (int j = 0; j < n_lab; j++) sum += r[j] = expf(r[j] - mx);
        for (int j = 0; j < n_lab; j++) r[j] = (float)(r[j] / sum);
    }
}

int pl_clip_classify(pl_clip_task *t, const char *const *images, int n_img, char *const *labels, int n_labels,
                     const char *tmpl, float *probs) {
    if (!tmpl) tmpl = "a photo of a {}.";
    if (!strstr(tmpl, "{}") || strstr(strstr(tmpl, "{}") + 2, "{}"))
        return pl_error(PL_ERR_ARG, "the template '%s' must hold \"{}\" once, where the label goes", tmpl);
    if (n_labels <= 0) return pl_error(PL_ERR_ARG, "no labels given");
    if (n_img <= 0) return pl_error(PL_ERR_ARG, "no images given");
    int D = t->model->dim, rc = PL_OK;
    char **prompts = pl_calloc((size_t)n_labels, sizeof *prompts);
    float *te = pl_malloc((size_t)n_labels * D * sizeof(float)), *ie = pl_malloc((size_t)n_img * D * sizeof(float));
    if (!prompts || !te || !ie) rc = PL_ERR_NOMEM;
    for (int j = 0; j < n_labels && !rc; j++)
        if (!(prompts[j] = prompt(tmpl, labels[j]))) rc = PL_ERR_NOMEM;
    if (!rc) rc = pl_clip_task_embed_texts(t, (const char *const *)prompts, n_labels, te);
    if (!rc) rc = pl_clip_task_embed_images(t, images, n_img, ie);
    if (!rc) {
        pl_clip_logits(t->model, ie, n_img, te, n_labels, probs);
        probabilities(t->model, probs, n_img, n_labels);
    }
    for (int j = 0; prompts && j < n_labels; j++) free(prompts[j]);
    free(prompts);
    free(te);
    free(ie);
    return rc;
}
