/* The importance matrix: for every weight matrix W of a model, the sum over calibration tokens of x_j^2, where x is
 * the activation row W multiplies (one value per input column j), and the number of rows summed. Quantizers weight
 * the rounding error of column j by in_sum2[j] / count (E[x_j^2]): the expected squared error of W x is
 * sum_j dW_j^2 E[x_j^2] when activations are uncorrelated. Files are llama.cpp's GGUF imatrix format
 * (general.type = "imatrix"; tensors NAME.in_sum2 and NAME.counts), so either tool reads the other's.
 * The task behind `plinth imatrix` and `plinth quantize --imatrix`; see docs/imatrix.md. */
#ifndef PL_TASKS_IMATRIX_H
#define PL_TASKS_IMATRIX_H

#include "models/llm.h"
#include "tasks/perplexity.h"

typedef struct pl_imatrix pl_imatrix;

pl_imatrix *pl_imatrix_new(void);
void pl_imatrix_free(pl_imatrix *im);

/* Add one activation row set: x holds n rows of ncols floats (row stride ld floats) that multiplied weight `name`. */
int pl_imatrix_add(pl_imatrix *im, const char *name, const float *x, int64_t ncols, int64_t n, int64_t ld);

/* Run the model over a text exactly as pl_perplexity does (chunks of o->n_ctx from an empty cache; o->all_logits
 * is forced on, so the output matrix sees every position) and collect every matmul over a named weight.
 * on_chunk / res as pl_perplexity's. PL_OK or a negative status + message. */
int pl_imatrix_collect(pl_imatrix *im, pl_llm *m, const pl_tokenizer *tok, const char *text, size_t len,
                       const pl_ppl_opts *o, pl_ppl_chunk_fn on_chunk, void *ud, pl_ppl_result *res);

/* Written atomically; datasets = the text files named in imatrix.datasets (may be NULL). */
int pl_imatrix_save(const pl_imatrix *im, const char *path, const char *const *datasets, int n_datasets);
/* NULL + message (not a GGUF file, not an imatrix, mismatched sums and counts, a non-f32 or non-finite entry). */
pl_imatrix *pl_imatrix_load(const char *path);

int pl_imatrix_n_entries(const pl_imatrix *im);
int pl_imatrix_n_chunks(const pl_imatrix *im);   /* imatrix.chunk_count (collected or read) */
/* Entry i: its weight name, ncols, and the number of rows summed (NULL if i is out of range). */
const char *pl_imatrix_entry(const pl_imatrix *im, int i, int64_t *ncols, double *count);
/* The most activation rows any entry summed (0 when empty). */
double pl_imatrix_max_count(const pl_imatrix *im);
/* The per-column importance E[x_j^2] = in_sum2[j] / count of weight `name`, if the entry exists with exactly
 * ncols columns and a positive count; else NULL. Owned by im. */
const float *pl_imatrix_get(const pl_imatrix *im, const char *name, int64_t ncols);

#endif
