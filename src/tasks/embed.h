/* Sentence embeddings: an encoder (models/encoder.h) with its tokenizer (pl_embedder, public in plinth.h) turns
 * texts into unit vectors. Texts are tokenized (cut to the encoder's max_seq_length, keeping the closing special
 * tokens, as sentence-transformers does), sorted by length and run in batches of sentences packed end to end.
 * The task behind `plinth embed`, `plinth rag` and the server's /v1/embeddings. */
#ifndef PL_TASKS_EMBED_H
#define PL_TASKS_EMBED_H

#include "models/encoder.h"
#include "plinth.h"

struct pl_embedder {
    pl_encoder *enc;
    pl_tokenizer *tok;
    char *name;               /* the model directory's last component */
    int n_closing;            /* special tokens the tokenizer adds after a text (kept when a text is cut) */
};

typedef struct {
    int batch;                /* sentences per forward pass (0: 32) */
    /* called after each batch with the texts done so far (NULL: none) */
    void (*progress)(int done, int total, void *ud);
    void *ud;
} pl_embed_opts;

typedef struct {
    int n_truncated;          /* texts cut to the encoder's max_tokens */
    int64_t n_tokens;         /* tokens run, specials included */
} pl_embed_stats;

/* n texts (lens[i] bytes each; lens NULL: NUL-terminated) -> out, n * dim floats. stats may be NULL.
 * PL_OK or a negative status + message. */
int pl_embed_texts_ex(pl_embedder *e, const char *const *texts, const size_t *lens, int n, float *out,
                      const pl_embed_opts *o, pl_embed_stats *stats);
/* The same for n sequences of token ids (lens[i] each, taken as they are: no special tokens added; a longer one is
 * cut as a text would be). An id outside the vocabulary or an empty sequence: PL_ERR_ARG + message. */
int pl_embed_ids_ex(pl_embedder *e, const int32_t *const *ids, const int *lens, int n, float *out,
                    const pl_embed_opts *o, pl_embed_stats *stats);
/* The ids the encoder runs for text: *ids malloc'd, *n their count, *truncated whether the text was cut. */
int pl_embed_tokenize(const pl_embedder *e, const char *text, size_t len, int32_t **ids, int *n, bool *truncated);

#endif
