/* Data for contrastive training (plinth clip train): Fashion-MNIST read from its IDX files (gzipped, as Debian's
 * dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist), its labels turned into captions
 * through several templates; image-caption pairs listed in a JSONL file; the synthetic scenes (shapes x colours x
 * positions, some combinations held out) that plinth draws itself; and a word-level tokenizer.json (WordPiece over
 * whole words, [CLS] text [SEP]) that a model trained from scratch on those captions uses. */
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

/* Image-caption pairs: a JSONL file, one {"image": PATH, "caption": TEXT} object a line ("text" for "caption" also
 * read; blank lines skipped), PATH relative to the file's directory unless absolute. The images are read when
 * used. */
typedef struct {
    int n;              /* pairs */
    char **paths;       /* n image paths, resolved */
    int *caption;       /* n: each pair's caption, an index into captions */
    char **captions;    /* the distinct captions, in order of first appearance */
    int n_captions;
} pl_clip_pairs;

/* PL_OK or a status + message naming the file and the line (unreadable, not JSON, no image or caption, empty) */
int pl_clip_pairs_load(const char *jsonl, pl_clip_pairs *p);
void pl_clip_pairs_free(pl_clip_pairs *p);
/* moves the last n_tail pairs of p into tail (its own captions; p keeps its caption list). PL_OK or a status. */
int pl_clip_pairs_split(pl_clip_pairs *p, int n_tail, pl_clip_pairs *tail);

/* The synthetic scenes: side x side RGB images of one shape (circle, square, triangle, cross) in one colour (red,
 * green, blue, yellow, purple) in one quadrant (top left, ...), size, place and shade jittered, on a noisy light
 * background, captioned "a red circle at the top left."; per_combo images of each of the 80 combinations. The
 * 16 combinations whose shape + colour + position indices sum to a multiple of 5 are held out: every shape-colour,
 * shape-position and colour-position pair is still seen in training, never the held-out triple. Writes
 * dir/images/scene_NNNNN.png, dir/train.jsonl and dir/heldout.jsonl (pl_clip_pairs_load reads them). */
typedef struct { int train, heldout, combos, heldout_combos; } pl_clip_scenes_stats;
int pl_clip_scenes_write(const char *dir, int per_combo, int side, uint64_t seed, pl_clip_scenes_stats *st);

/* dir/tokenizer.json: a WordPiece tokenizer of whole words (lowercased, BERT pre-tokenizer) over the words of
 * texts; ids 0 [PAD], 1 [UNK], 2 [MASK], 3 [CLS], 4 [SEP], then the words. PL_OK or a status. */
int pl_clip_write_word_tokenizer(const char *dir, const char *const *texts, int n);

#endif
