/* Token statistics of a tokenizer over text files (the task behind plinth tokenize --stats and --bench):
 * token density per file against English, and encode throughput. The CLI lists the files and prints. */
#ifndef PL_TASKS_TOKENIZE_H
#define PL_TASKS_TOKENIZE_H

#include "plinth.h"

/* Encode s[0..n) into *ids (grown as needed, *cap entries; caller frees). The count, or a negative status. */
int pl_tokenize_all(const pl_tokenizer *tok, const char *s, size_t n, bool special, int32_t **ids, int *cap);

typedef struct {
    const char *file;
    size_t chars, bytes;   /* UTF-8 characters and bytes of the file */
    int tokens;            /* without special tokens */
    double per100;         /* tokens per 100 characters */
    double vs_en;          /* per100 over that of en.txt (else of the first file) */
} pl_token_density;

/* out[nf]: one row per file. PL_OK or a negative status + message (a file that cannot be read). */
int pl_token_density_run(const pl_tokenizer *tok, char *const *files, int nf, pl_token_density *out);

typedef struct { size_t bytes; long tokens; double seconds; } pl_tokenize_speed;
/* Encode the files line by line on one thread. PL_OK or a negative status + message. */
int pl_tokenize_speed_run(const pl_tokenizer *tok, char *const *files, int nf, pl_tokenize_speed *out);

#endif
