/* Image search with a CLIP / SigLIP model (plinth clip index / search): image files embedded into the retrieval
 * store of the RAG commands (rag/store.h: one SQLite file; each image a "file" of one chunk whose text is its path
 * and whose vector is its embedding, the model recorded with a probe vector), then found by a text ("a red car") or
 * by another image, nearest by cosine (exact search over all vectors). */
#ifndef PL_TASKS_CLIP_SEARCH_H
#define PL_TASKS_CLIP_SEARCH_H

#include "tasks/clip.h"

typedef struct { int added, unchanged, failed; } pl_clip_index_stats;
typedef struct { char *path; float score; } pl_clip_hit;

/* Index every image file under the paths (directories walked; .png .jpg .jpeg .bmp .gif) into db_path, created if
 * missing; a file whose bytes did not change is skipped; an unreadable image is reported on stderr and counted. A
 * database made with another model is refused. */
int pl_clip_index(pl_clip_task *t, const char *model_path, const char *db_path, const char *const *paths, int n,
                  pl_clip_index_stats *st);
/* The k images nearest to text (or, text NULL, to the image at image_path): hits[0 .. *n_out), best first;
 * free with pl_clip_hits_free */
int pl_clip_search(pl_clip_task *t, const char *db_path, const char *text, const char *image_path, int k,
                   pl_clip_hit *hits, int *n_out);
void pl_clip_hits_free(pl_clip_hit *hits, int n);

#endif
