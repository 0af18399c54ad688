/* Shared internals: error reporting, allocation helpers, small macros. Every module includes this.
 * Errors from outside input go through pl_error(), which keeps a per-thread message for pl_last_error(). */
#ifndef PL_COMMON_H
#define PL_COMMON_H

#include "plinth.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Leave a printf-style message for pl_last_error(); returns `status` so callers can `return pl_error(...)`. */
int pl_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* As pl_error, but returns NULL, for functions that return pointers. */
void *pl_error_null(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pl_clear_error(void);

/* malloc/calloc/realloc that leave an error message on failure (return NULL). */
void *pl_malloc(size_t n);
void *pl_calloc(size_t n, size_t size);
void *pl_realloc(void *p, size_t n);
char *pl_strdup(const char *s);

/* Read a whole file into a NUL-terminated buffer (*len excludes the NUL). NULL + message on failure. */
char *pl_read_file(const char *path, size_t *len);
/* Write a file atomically: write PATH.tmp.PID, fsync, rename over PATH. Nothing is left under PATH on failure. */
int pl_write_file_atomic(const char *path, const void *data, size_t len);

/* Buffers allocated through a list that frees them all at once (a model's f32 copies of its file's weights). */
typedef struct { void **v; int n, cap; } pl_owned;
void *pl_owned_alloc(pl_owned *o, size_t bytes); /* NULL + error when out of memory */
void pl_owned_free(pl_owned *o);

/* A growable list of strings it owns. */
typedef struct { char **v; int n, cap; } pl_strlist;
int pl_strlist_add(pl_strlist *l, const char *s); /* a copy of s; PL_ERR_NOMEM */
void pl_strlist_free(pl_strlist *l);
/* The names in a directory, hidden ones (a leading '.') left out, in byte order, appended to out: PL_OK, or
 * PL_ERR_IO + message when it cannot be read (PL_ERR_NOMEM). */
int pl_dir_names(const char *dir, pl_strlist *out);

/* Valid UTF-8? (rejects overlongs, surrogates, > U+10FFFF) */
int pl_utf8_valid(const char *s, size_t len);

#define PL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define PL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PL_UNUSED(x) (void)(x)

double pl_time_s(void); /* monotonic seconds */

/* splitmix64 (Steele et al.): pl_mix64 its finalizer, pl_splitmix64 the generator on state *s, pl_hash64(x) the
 * generator's next number from state x (a well-mixed hash: seeds, keys of batches, shuffles) */
static inline uint64_t pl_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline uint64_t pl_splitmix64(uint64_t *s) { return pl_mix64(*s += 0x9e3779b97f4a7c15ull); }
static inline uint64_t pl_hash64(uint64_t x) { return pl_splitmix64(&x); }

#endif
