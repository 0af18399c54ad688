/* Token statistics (tokenize.h): density per file and encode throughput, computed through the public
 * tokenizer API for plinth tokenize --stats / --bench. */
#include "tasks/tokenize.h"

#include "core/common.h"

#include <stdlib.h>
#include <string.h>

int pl_tokenize_all(const pl_tokenizer *tok, const char *s, size_t n, bool special, int32_t **ids, int *cap) {
    int k = pl_tokenize(tok, s, n, *ids, *cap, special);
    if (k > *cap) {
        int32_t *p = realloc(*ids, (size_t)k * sizeof *p);
        if (!p) return pl_error(PL_ERR_NOMEM, "out of memory encoding %zu bytes", n);
        *ids = p; *cap = k;
        k = pl_tokenize(tok, s, n, *ids, *cap, special);
    }
    return k;
}

static size_t count_chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static const char *base_name(const char *p) { const char *s = strrchr(p, '/'); return s ? s + 1 : p; }

int pl_token_density_run(const pl_tokenizer *tok, char *const *files, int nf, pl_token_density *out) {
    int32_t *ids = NULL;
    int cap = 0, rc = PL_OK, en = 0;
    for (int i = 0; i < nf && !rc; i++) {
        size_t n;
        char *s = pl_read_file(files[i], &n);
        if (!s) { rc = PL_ERR_IO; break; }
        int k = pl_tokenize_all(tok, s, n, false, &ids, &cap);
        out[i] = (pl_token_density){.file = files[i], .chars = count_chars(s, n), .bytes = n, .tokens = k};
        free(s);
        if (k < 0) { rc = k; break; }
        out[i].per100 = out[i].chars ? 100.0 * k / (double)out[i].chars : 0;
        if (!strcmp(base_name(files[i]), "en.txt")) en = i;
    }
    for (int i = 0; i < nf && !rc; i++) out[i].vs_en = out[en].per100 > 0 ? out[i].per100 / out[en].per100 : 0;
    free(ids);
    return rc;
}

/* every line of s[0..n) */
static int encode_lines(const pl_tokenizer *tok, const char *s, size_t n, int32_t **ids, int *cap, long *ntok) {
    for (size_t i = 0; i < n;) {
        const char *e = memchr(s + i, '\n', n - i);
        size_t l = e ? (size_t)(e - s - i) + 1 : n - i;
        int k = pl_tokenize_all(tok, s + i, l, false, ids, cap);
        if (k < 0) return k;
        *ntok += k;
        i += l;
    }
    return PL_OK;
}

int pl_tokenize_speed_run(const pl_tokenizer *tok, char *const *files, int nf, pl_tokenize_speed *out) {
    int32_t *ids = NULL;
    int cap = 0, rc = PL_OK;
    *out = (pl_tokenize_speed){0};
    double t0 = pl_time_s();
    for (int f = 0; f < nf && !rc; f++) {
        size_t n;
        char *s = pl_read_file(files[f], &n);
        if (!s) { rc = PL_ERR_IO; break; }
        rc = encode_lines(tok, s, n, &ids, &cap, &out->tokens);
        out->bytes += n;
        free(s);
    }
    out->seconds = pl_time_s() - t0;
    free(ids);
    return rc;
}
