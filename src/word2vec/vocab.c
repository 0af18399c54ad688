/* Word2Vec's vocabulary: tokenizing the text (lower-cased words, or a model's subword tokens), counting,
 * --min-count, the most-frequent-first ordering (ties: first seen first, as gensim), and the corpus as ids with
 * sentence boundaries at blank lines. The trainer (train.c) reads only ids and counts from here. */
#include "word2vec/vocab.h"

#include "core/common.h"

#include <utf8proc.h>

/* ---- string map -------------------------------------------------------------------------------- */
uint32_t w2v_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int strmap_grow(w2v_strmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    w2v_slot *s = pl_calloc(cap, sizeof *s);
    if (!s) return PL_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key) continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (s[j].key) j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
    return PL_OK;
}

int w2v_strmap_put(w2v_strmap *m, const char *key, int32_t val) {
    if ((m->n + 1) * 4 > m->cap * 3 && strmap_grow(m)) return PL_ERR_NOMEM;
    uint32_t h = w2v_hash(key, strlen(key));
    size_t j = h & (m->cap - 1);
    for (; m->slots[j].key; j = (j + 1) & (m->cap - 1))
        if (m->slots[j].hash == h && !strcmp(m->slots[j].key, key)) { m->slots[j].val = val; return PL_OK; }
    m->slots[j] = (w2v_slot){key, h, val};
    m->n++;
    return PL_OK;
}

int32_t w2v_strmap_get(const w2v_strmap *m, const char *key) {
    if (!m->cap) return -1;
    uint32_t h = w2v_hash(key, strlen(key));
    for (size_t j = h & (m->cap - 1); m->slots[j].key; j = (j + 1) & (m->cap - 1))
        if (m->slots[j].hash == h && !strcmp(m->slots[j].key, key)) return m->slots[j].val;
    return -1;
}

void w2v_strmap_free(w2v_strmap *m) { free(m->slots); *m = (w2v_strmap){0}; }

/* ---- the counting pass --------------------------------------------------------------------------- */
/* Strings live in blocks that never move, so the map's keys stay valid while it grows. */
typedef struct pool_block { struct pool_block *next; size_t used, cap; char data[]; } pool_block;

typedef struct {
    w2v_strmap map;           /* word -> provisional id (order of first sight) */
    char **word;              /* (n) provisional id -> string */
    int64_t *count;           /* (n) */
    int32_t n, cap;
    int32_t *stream;          /* provisional ids in text order; -1 ends a paragraph */
    int64_t len, stream_cap;
    pool_block *pool;
} counter;

static char *pool_copy(counter *c, const char *s, size_t n) {
    if (!c->pool || c->pool->used + n + 1 > c->pool->cap) {
        size_t cap = PL_MAX((size_t)1 << 16, n + 1);
        pool_block *b = pl_malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = c->pool, b->used = 0, b->cap = cap;
        c->pool = b;
    }
    char *p = c->pool->data + c->pool->used;
    memcpy(p, s, n);
    p[n] = 0;
    c->pool->used += n + 1;
    return p;
}

static int stream_push(counter *c, int32_t id) {
    if (c->len == c->stream_cap) {
        int64_t cap = c->stream_cap ? c->stream_cap * 2 : 1 << 16;
        int32_t *s = pl_realloc(c->stream, (size_t)cap * sizeof *s);
        if (!s) return PL_ERR_NOMEM;
        c->stream = s, c->stream_cap = cap;
    }
    c->stream[c->len++] = id;
    return PL_OK;
}

/* The provisional id of word s[0..n), added on first sight; -1 on out-of-memory. */
static int32_t counter_intern(counter *c, const char *s, size_t n) {
    char tmp[256];
    if (n < sizeof tmp) {
        memcpy(tmp, s, n);
        tmp[n] = 0;
        int32_t id = w2v_strmap_get(&c->map, tmp);
        if (id >= 0) return id;
    }
    if (c->n == c->cap) {
        int32_t cap = c->cap ? c->cap * 2 : 1024;
        char **w = pl_realloc(c->word, (size_t)cap * sizeof *w);
        if (!w) return -1;
        c->word = w;
        int64_t *k = pl_realloc(c->count, (size_t)cap * sizeof *k);
        if (!k) return -1;
        c->count = k, c->cap = cap;
    }
    char *key = pool_copy(c, s, n);
    if (!key) return -1;
    if (n >= sizeof tmp) { int32_t id = w2v_strmap_get(&c->map, key); if (id >= 0) return id; }
    if (w2v_strmap_put(&c->map, key, c->n)) return -1;
    c->word[c->n] = key;
    c->count[c->n] = 0;
    return c->n++;
}

static int count_word(counter *c, const char *s, size_t n) {
    int32_t id = counter_intern(c, s, n);
    if (id < 0) return PL_ERR_NOMEM;
    c->count[id]++;
    return stream_push(c, id);
}

static void counter_free(counter *c) {
    w2v_strmap_free(&c->map);
    free(c->word);
    free(c->count);
    free(c->stream);
    for (pool_block *b = c->pool, *nx; b; b = nx) { nx = b->next; free(b); }
}

/* ---- tokenizing ----------------------------------------------------------------------------------- */
static int32_t cp_at(const char *s, size_t len, size_t i, int *n) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
    *n = k > 0 ? (int)k : 1;
    return k > 0 ? cp : -1;
}

static bool is_word_cp(int32_t cp) {
    if (cp < 128) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
    utf8proc_category_t k = utf8proc_category(cp);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_NO; /* letters, marks, numbers */
}

static bool is_apostrophe(int32_t cp) { return cp == '\'' || cp == 0x2019; }

/* Does a blank line start at the '\n' at s[i]? (spaces, tabs and CRs, then another '\n') */
static bool blank_line_at(const char *s, size_t len, size_t i) {
    for (i++; i < len; i++) {
        if (s[i] == '\n') return true;
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    }
    return false;
}

static int append_lower(char *w, size_t *n, size_t cap, int32_t cp) {
    if (cp < 128) { if (*n + 1 > cap) return 0; w[(*n)++] = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp); return 1; }
    utf8proc_uint8_t b[4];
    utf8proc_ssize_t k = utf8proc_encode_char(utf8proc_tolower(cp), b);
    if (*n + (size_t)k > cap) return 0;
    memcpy(w + *n, b, (size_t)k);
    *n += (size_t)k;
    return 1;
}

/* Lower-cased words: runs of letters, marks and digits, joined across an apostrophe between two of them
 * ("don't", "elizabeth's"; ’ is read as '). Words longer than 200 bytes are cut there. */
static int tokenize_words(counter *c, const char *s, size_t len) {
    char w[256];
    size_t i = 0;
    while (i < len) {
        int k;
        int32_t cp = cp_at(s, len, i, &k);
        if (cp == '\n' && blank_line_at(s, len, i)) {
            int rc = stream_push(c, -1);
            if (rc) return rc;
            i++;
            while (i < len && s[i] != '\n') i++; /* skip to the blank line's own newline */
            continue;
        }
        if (!is_word_cp(cp)) { i += k; continue; }
        size_t n = 0;
        for (;;) {
            if (n + 4 < 200) append_lower(w, &n, sizeof w, cp);
            i += k;
            if (i >= len) break;
            cp = cp_at(s, len, i, &k);
            if (is_word_cp(cp)) continue;
            if (!is_apostrophe(cp) || i + k >= len) break;
            int k2;
            int32_t nx = cp_at(s, len, i + k, &k2);
            if (!is_word_cp(nx)) break;
            if (n + 1 < 200) w[n++] = '\'';
            i += k;
            cp = nx, k = k2;
        }
        int rc = count_word(c, w, n);
        if (rc) return rc;
    }
    return PL_OK;
}

/* A token's string is a usable word unless it is empty or holds whitespace or control bytes (the vectors
 * file separates words with spaces). */
static bool usable_token(const char *s, size_t n) {
    if (!n) return false;
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] <= ' ' || s[i] == 0x7f) return false;
    return true;
}

/* One paragraph through the model's tokenizer. Its line breaks are read as spaces (hard-wrapped text breaks
 * lines mid-sentence) and its ends trimmed, so no newline token stands between two words. */
static int tokenize_paragraph(counter *c, const pl_tokenizer *tok, const char *para, size_t n, int32_t *map,
                              int32_t **ids, int *cap) {
    while (n && (*para == ' ' || *para == '\t' || *para == '\n' || *para == '\r')) para++, n--;
    while (n && (para[n - 1] == ' ' || para[n - 1] == '\t' || para[n - 1] == '\n' || para[n - 1] == '\r')) n--;
    if (!n) return PL_OK;
    char *s = pl_malloc(n);
    if (!s) return PL_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) s[i] = para[i] == '\n' || para[i] == '\r' ? ' ' : para[i];
    int rc = PL_OK, m = pl_tokenize(tok, s, n, *ids, *cap, false);
    if (m > *cap) {
        int32_t *p = pl_realloc(*ids, (size_t)m * sizeof *p);
        if (!p) { free(s); return PL_ERR_NOMEM; }
        *ids = p, *cap = m;
        m = pl_tokenize(tok, s, n, *ids, *cap, false);
    }
    free(s);
    if (m < 0) return m;
    int n_vocab = pl_tokenizer_n_vocab(tok);
    for (int j = 0; !rc && j < m; j++) {
        int32_t t = (*ids)[j];
        if (t < 0 || t >= n_vocab) continue;
        if (map[t] == -1) {
            size_t len = 0;
            const char *str = pl_tokenizer_token_str(tok, t, &len);
            if (!str || pl_tokenizer_is_special(tok, t) || !usable_token(str, len)) map[t] = -2;
            else if ((map[t] = counter_intern(c, str, len)) < 0) return PL_ERR_NOMEM;
        }
        if (map[t] < 0) continue;
        c->count[map[t]]++;
        rc = stream_push(c, map[t]);
    }
    return rc ? rc : stream_push(c, -1);
}

/* A model's subword tokens, paragraph by paragraph; the words are the vocabulary's strings ("▁the", "##ing"). */
static int tokenize_model(counter *c, const pl_tokenizer *tok, const char *s, size_t len) {
    int n_vocab = pl_tokenizer_n_vocab(tok);
    int32_t *map = pl_malloc((size_t)PL_MAX(n_vocab, 1) * sizeof *map), *ids = NULL;
    if (!map) return PL_ERR_NOMEM;
    for (int i = 0; i < n_vocab; i++) map[i] = -1;
    int cap = 0, rc = PL_OK;
    size_t start = 0;
    for (size_t i = 0; i <= len && !rc; i++) {
        if (i < len && !(s[i] == '\n' && blank_line_at(s, len, i))) continue;
        if (i > start) rc = tokenize_paragraph(c, tok, s + start, i - start, map, &ids, &cap);
        while (i < len && s[i] != '\n') i++;
        if (i < len) { i++; while (i < len && s[i] != '\n') i++; }
        start = i + 1;
    }
    free(map);
    free(ids);
    return rc;
}

/* ---- the vocabulary and the corpus ---------------------------------------------------------------- */
typedef struct { int64_t count; int32_t id; } ranked;

static int by_count(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void sort_by_count(int32_t *order, int32_t n, const int64_t *count, ranked *tmp) {
    for (int32_t i = 0; i < n; i++) tmp[i] = (ranked){count[order[i]], order[i]};
    qsort(tmp, (size_t)n, sizeof *tmp, by_count);
    for (int32_t i = 0; i < n; i++) order[i] = tmp[i].id;
}

static int make_vocab(counter *c, int min_count, pl_w2v_vocab *v, int32_t **remap_out) {
    int32_t *order = pl_malloc((size_t)PL_MAX(c->n, 1) * sizeof *order);
    int32_t *remap = pl_malloc((size_t)PL_MAX(c->n, 1) * sizeof *remap);
    if (!order || !remap) { free(order); free(remap); return PL_ERR_NOMEM; }
    int32_t n = 0, best = 0;
    for (int32_t i = 0; i < c->n; i++) {
        remap[i] = -1;
        if (c->count[i] > c->count[best]) best = i;
        if (c->count[i] >= min_count) order[n++] = i;
    }
    if (!n) {
        int rc = pl_error(PL_ERR_ARG, "no word occurs --min-count %d times: the vocabulary is empty (%d distinct "
                          "words; the most frequent, '%s', occurs %lld times)", min_count, c->n, c->word[best],
                          (long long)c->count[best]);
        free(order); free(remap);
        return rc;
    }
    ranked *tmp = pl_malloc((size_t)n * sizeof *tmp);
    if (!tmp) { free(order); free(remap); return PL_ERR_NOMEM; }
    sort_by_count(order, n, c->count, tmp);
    free(tmp);
    v->words = pl_calloc((size_t)n, sizeof *v->words);
    v->counts = pl_malloc((size_t)n * sizeof *v->counts);
    if (!v->words || !v->counts) { free(order); free(remap); return PL_ERR_NOMEM; }
    v->n = n;
    for (int32_t r = 0; r < n; r++) {
        int32_t i = order[r];
        remap[i] = r;
        if (!(v->words[r] = pl_strdup(c->word[i]))) { free(order); free(remap); return PL_ERR_NOMEM; }
        v->counts[r] = c->count[i];
        v->total += c->count[i];
        if (w2v_strmap_put(&v->map, v->words[r], r)) { free(order); free(remap); return PL_ERR_NOMEM; }
    }
    free(order);
    *remap_out = remap;
    return PL_OK;
}

static int make_corpus(const counter *c, const int32_t *remap, int64_t total, pl_w2v_corpus *k) {
    k->ids = pl_malloc((size_t)PL_MAX(total, 1) * sizeof *k->ids);
    int64_t cap_s = total / 2 + 2; /* grows below if needed */
    k->sent = pl_malloc((size_t)cap_s * sizeof *k->sent);
    if (!k->ids || !k->sent) return PL_ERR_NOMEM;
    int64_t n = 0, start = 0;
    for (int64_t i = 0; i <= c->len; i++) {
        int32_t p = i < c->len ? c->stream[i] : -1;
        if (p >= 0 && remap[p] >= 0) k->ids[n++] = remap[p];
        if ((p < 0 || n - start == PL_W2V_MAX_SENTENCE) && n > start) {
            if (k->n_sent + 2 > cap_s) {
                cap_s *= 2;
                int64_t *s = pl_realloc(k->sent, (size_t)cap_s * sizeof *s);
                if (!s) return PL_ERR_NOMEM;
                k->sent = s;
            }
            k->sent[k->n_sent++] = start;
            start = n;
        }
    }
    k->sent[k->n_sent] = n;
    k->n_tokens = n;
    return PL_OK;
}

int pl_w2v_build(const char *text, size_t len, const pl_tokenizer *tok, int min_count, pl_w2v_vocab *vocab,
                 pl_w2v_corpus *corpus) {
    *vocab = (pl_w2v_vocab){0};
    *corpus = (pl_w2v_corpus){0};
    if (!len) return pl_error(PL_ERR_FORMAT, "the text is empty");
    const char *nul = memchr(text, 0, len);
    if (nul) return pl_error(PL_ERR_FORMAT, "binary data, not text (a NUL byte at offset %zu)", (size_t)(nul - text));
    if (!pl_utf8_valid(text, len)) return pl_error(PL_ERR_FORMAT, "not UTF-8 text (binary data?)");
    counter c = {0};
    int rc = tok ? tokenize_model(&c, tok, text, len) : tokenize_words(&c, text, len);
    int32_t *remap = NULL;
    if (!rc && !c.n) rc = pl_error(PL_ERR_FORMAT, "no words in the text");
    if (!rc) rc = make_vocab(&c, PL_MAX(min_count, 1), vocab, &remap);
    if (!rc) {
        for (int32_t i = 0; i < c.n; i++) corpus->raw_tokens += c.count[i];
        corpus->raw_types = c.n;
        rc = make_corpus(&c, remap, vocab->total, corpus);
    }
    free(remap);
    counter_free(&c);
    if (rc) { pl_w2v_vocab_free(vocab); pl_w2v_corpus_free(corpus); }
    return rc;
}

void pl_w2v_vocab_free(pl_w2v_vocab *v) {
    for (int32_t i = 0; v->words && i < v->n; i++) free(v->words[i]);
    free(v->words);
    free(v->counts);
    w2v_strmap_free(&v->map);
    *v = (pl_w2v_vocab){0};
}

void pl_w2v_corpus_free(pl_w2v_corpus *c) {
    free(c->ids);
    free(c->sent);
    *c = (pl_w2v_corpus){0};
}

bool pl_w2v_lower(const char *s, char *out, size_t cap) {
    size_t len = strlen(s), n = 0;
    for (size_t i = 0; i < len;) {
        int k;
        int32_t cp = cp_at(s, len, i, &k);
        if (cp < 0) { if (n + 1 >= cap) return false; out[n++] = s[i]; i++; continue; }
        if (!append_lower(out, &n, cap - 1, cp)) return false;
        i += k;
    }
    out[n] = 0;
    return true;
}
