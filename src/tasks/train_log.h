/* What a training run shows and keeps of itself, shared by `plinth train` and `plinth finetune`: the loss history
 * (loss.csv, and loss.svg as a line chart of train and validation loss), read back on --resume, and the one-line
 * progress bar (step, loss, validation loss, learning rate, tokens/s, ETA). */
#ifndef PL_TASKS_TRAIN_LOG_H
#define PL_TASKS_TRAIN_LOG_H

#include "plinth.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct { double step, train, val, lr, tps; } pl_hist_row; /* val: NAN when not measured */
typedef struct { pl_hist_row *v; int n, cap; } pl_history;

void pl_hist_add(pl_history *h, pl_hist_row r);
void pl_hist_free(pl_history *h);
/* dir/loss.csv and dir/loss.svg (unit: the loss's, e.g. "nats/byte"), each written atomically */
int pl_hist_write(const char *dir, const pl_history *h, const char *unit);
/* the rows of dir/loss.csv up to step upto (a missing file: none) */
void pl_hist_read(const char *dir, pl_history *h, int64_t upto);
/* order[0..n): a permutation of 0..n-1 for epoch e, seeded by (seed, e): a resumed run sees the same batches */
void pl_epoch_order(int32_t *order, int n, uint64_t seed, int64_t e);
/* the progress line of step (1-based) of steps; on a terminal it rewrites itself */
void pl_progress_print(FILE *f, bool tty, const pl_hist_row *r, int64_t steps, double eta_s);

#endif
