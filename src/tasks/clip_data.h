/* Data for contrastive training (plinth clip train): Fashion-MNIST read from its IDX files (gzipped, as Debian's
 * dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist), its labels turned into captions
 * through several templates, and a word-level tokenizer.json (WordPiece over whole words, [CLS] text [SEP]) that
 * a model trained from scratch on those captions uses. */
#ifndef PL_TASKS_CLIP_DATA_H
#define PL_TASKS_CLIP_DATA_H

#include <stdbool.h>
#include <stdint.h>

#define PL_FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define PL_FMNIST_CLASSES 10

typedef struct {
    int n, h, w;
    uint8_t *pixels;   /* n x h x w, gray */
    uint8_t *labels;   /* n, 0 .. 9 */
} pl_fmnist;

/* dir's train-* or t10k-* files (.gz or not). PL_OK or a status + message (missing, truncated, not IDX). */
int pl_fmnist_load(const char *dir, bool train, pl_fmnist *d);
void pl_fmnist_free(pl_fmnist *d);
const char *pl_fmnist_label(int k);          /* "t-shirt", "trouser", ... */

/* caption templates ("a photo of a {}."), the first of them the zero-shot prompt */
int pl_clip_n_templates(void);
const char *pl_clip_template(int i);
/* caption i of label text: the template with "{}" replaced; malloc'd */
char *pl_clip_caption(int template_i, const char *label);

/* dir/tokenizer.json: a WordPiece tokenizer of whole words (lowercased, BERT pre-tokenizer) over the words of
 * texts; ids 0 [PAD], 1 [UNK], 2 [MASK], 3 [CLS], 4 [SEP], then the words. PL_OK or a status. */
int pl_clip_write_word_tokenizer(const char *dir, const char *const *texts, int n);

#endif
