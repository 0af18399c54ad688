/* Zero-shot image classification and image / text embeddings with a CLIP or SigLIP model (models/clip.h) and its
 * tokenizer: image files are decoded and preprocessed as the model's preprocessor_config.json says (io/image.h),
 * labels become prompts through a template ("a photo of a {}."), and each image gets a probability per label
 * (softmax over the labels for CLIP, an independent sigmoid per label for SigLIP, as transformers' zero-shot
 * pipeline gives them). The task behind `plinth clip`. */
#ifndef PL_TASKS_CLIP_H
#define PL_TASKS_CLIP_H

#include "models/clip.h"
#include "plinth.h"

typedef struct {
    pl_clip *model;
    pl_tokenizer *tok;
} pl_clip_task;

/* NULL + pl_last_error() */
pl_clip_task *pl_clip_task_open(const char *path, int n_threads);
void pl_clip_task_close(pl_clip_task *t);
int pl_clip_task_dim(const pl_clip_task *t);

/* n image files -> out (n x dim, unit vectors). An unreadable image is an error naming it. */
int pl_clip_task_embed_images(pl_clip_task *t, const char *const *paths, int n, float *out);
/* n texts -> out (n x dim). A text longer than the model's positions is cut, keeping its closing special token. */
int pl_clip_task_embed_texts(pl_clip_task *t, const char *const *texts, int n, float *out);

/* "cat, dog,car" -> labels (trimmed, malloc'd, *n of them); an empty list or an empty label is an error */
int pl_clip_parse_labels(const char *list, char ***labels, int *n);
void pl_clip_free_labels(char **labels, int n);
/* n_img images x n_labels labels -> probs (n_img x n_labels); tmpl must hold one "{}" (NULL: "a photo of a {}.") */
int pl_clip_classify(pl_clip_task *t, const char *const *images, int n_img, char *const *labels, int n_labels,
                     const char *tmpl, float *probs);

#endif
