/* The chunker (chunk.h): the text becomes pieces (paragraphs; sentences of a paragraph too long for a chunk;
 * runs of words of a sentence too long), each with its token count, then pieces are packed greedily into chunks,
 * each new chunk starting with the previous one's last pieces that fit in the overlap. */
#include "rag/chunk.h"

#include "core/common.h"

#include <ctype.h>
#include <string.h>

typedef struct { size_t s, e; int tokens; } piece;
typedef struct { piece *v; int n, cap; const pl_tokenizer *tok; const char *text; int max; } pieces;

static int count(const pieces *ps, size_t s, size_t e) {
    int n = pl_tokenize(ps->tok, ps->text + s, e - s, NULL, 0, false);
    return n < 0 ? 0 : n;
}

static int push(pieces *ps, size_t s, size_t e, int tokens) {
    while (s < e && isspace((unsigned char)ps->text[s])) s++;
    while (e > s && isspace((unsigned char)ps->text[e - 1])) e--;
    if (s == e) return PL_OK;
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 64;
        piece *v = pl_realloc(ps->v, (size_t)cap * sizeof *v);
        if (!v) return PL_ERR_NOMEM;
        ps->v = v; ps->cap = cap;
    }
    ps->v[ps->n++] = (piece){s, e, tokens >= 0 ? tokens : count(ps, s, e)};
    return PL_OK;
}

/* a sentence over the limit: runs of words, each under it */
static int add_words(pieces *ps, size_t s, size_t e) {
    size_t run = s;
    int tokens = 0, rc = PL_OK;
    for (size_t i = s; i < e && !rc;) {
        size_t j = i;
        while (j < e && !isspace((unsigned char)ps->text[j])) j++;
        while (j < e && isspace((unsigned char)ps->text[j])) j++;
        int t = count(ps, i, j);
        if (tokens + t > ps->max && tokens > 0) { rc = push(ps, run, i, tokens); run = i; tokens = 0; }
        if (t > ps->max) { /* one "word" over the limit (a long run of symbols): cut by bytes at a UTF-8 boundary */
            size_t cut = i + (j - i) / 2;
            while (cut > i && ((unsigned char)ps->text[cut] & 0xC0) == 0x80) cut--;
            if (cut > i) { rc = add_words(ps, i, cut); if (!rc) rc = add_words(ps, cut, j); run = j; i = j; continue; }
        }
        tokens += t;
        i = j;
    }
    return rc ? rc : push(ps, run, e, tokens);
}

static bool sentence_end(const char *t, size_t i, size_t e) {
    return t[i] == '\n' || ((t[i] == '.' || t[i] == '!' || t[i] == '?') && (i + 1 == e || isspace((unsigned char)t[i + 1])));
}

/* a paragraph over the limit: its sentences (or lines), the ones still over it as runs of words */
static int add_sentences(pieces *ps, size_t s, size_t e) {
    int rc = PL_OK;
    for (size_t i = s, start = s; i < e && !rc; i++) {
        if (!sentence_end(ps->text, i, e) && i + 1 < e) continue;
        int t = count(ps, start, i + 1);
        rc = t > ps->max ? add_words(ps, start, i + 1) : push(ps, start, i + 1, t);
        start = i + 1;
    }
    return rc;
}

static int split(pieces *ps, size_t len) {
    int rc = PL_OK;
    for (size_t s = 0; s < len && !rc;) {
        const char *blank = NULL;
        for (const char *p = ps->text + s; (p = memchr(p, '\n', ps->text + len - p)); p++) {
            const char *q = p + 1;
            while (q < ps->text + len && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
            if (q < ps->text + len && *q == '\n') { blank = p; break; }
        }
        size_t e = blank ? (size_t)(blank - ps->text) : len;
        int t = count(ps, s, e);
        rc = t > ps->max ? add_sentences(ps, s, e) : push(ps, s, e, t);
        s = blank ? e + 1 : len;
    }
    return rc;
}

/* A forward scan of the text: the line at pos, and the last markdown heading line ("# ...") that starts before it */
typedef struct { size_t pos; int line; size_t head_start, head_len; bool has_head; } cursor;

static void advance(const char *t, size_t to, cursor *c) {
    for (; c->pos < to; c->pos++) {
        if (c->pos == 0 || t[c->pos - 1] == '\n') {
            if (t[c->pos] == '#') {
                const char *nl = memchr(t + c->pos, '\n', to - c->pos);
                c->head_start = c->pos;
                c->head_len = nl ? (size_t)(nl - t) - c->pos : to - c->pos;
                c->has_head = true;
            }
        }
        c->line += t[c->pos] == '\n';
    }
}

int pl_chunk_text(const pl_tokenizer *tok, const char *text, size_t len, const pl_chunk_params *p, pl_chunk **out, int *n) {
    int max = p && p->max_tokens > 0 ? p->max_tokens : 200, overlap = p && p->overlap >= 0 ? p->overlap : 40;
    if (overlap >= max) overlap = max / 2;
    pieces ps = {.tok = tok, .text = text, .max = max};
    *out = NULL; *n = 0;
    int rc = split(&ps, len);
    pl_chunk *c = rc ? NULL : pl_calloc((size_t)(ps.n ? ps.n : 1), sizeof *c);
    if (!rc && !c) rc = PL_ERR_NOMEM;
    cursor at_s = {.line = 1}, at_e = {.line = 1}; /* chunk starts and ends both move forward: a scan each */
    int k = 0;
    for (int first = 0; !rc && first < ps.n;) {
        int last = first, tokens = ps.v[first].tokens;
        while (last + 1 < ps.n && tokens + ps.v[last + 1].tokens <= max) tokens += ps.v[++last].tokens;
        pl_chunk *ck = &c[k++];
        ck->start = ps.v[first].s; ck->end = ps.v[last].e; ck->n_tokens = tokens;
        advance(text, ck->start, &at_s);
        advance(text, ck->end - 1, &at_e);
        ck->line_first = at_s.line;
        ck->line_last = at_e.line;
        ck->head_start = at_s.head_start;
        ck->head_len = at_s.has_head ? at_s.head_len : 0;
        if (last + 1 >= ps.n) break;
        int next = last + 1, back = 0; /* the next chunk starts with the pieces of this one's end that fit the overlap */
        while (next - 1 > first && back + ps.v[next - 1].tokens <= overlap) back += ps.v[--next].tokens;
        first = next;
    }
    free(ps.v);
    if (rc) { free(c); return rc; }
    *out = c; *n = k;
    return PL_OK;
}
