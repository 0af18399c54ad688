/* Tokenizer building blocks: a growable byte buffer, open-addressing hash maps (string -> id, id pair ->
 * merge), and the UTF-8 / Unicode-class helpers the pipeline shares (lossy decoding, whitespace,
 * punctuation). Part of src/tokenizer; see tokenizer.h. */
#include "tokenizer/tokenizer.h"

#include <utf8proc.h>

int tk_buf_put(tk_buf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = pl_realloc(b->p, cap);
        if (!p) return PL_ERR_NOMEM;
        b->p = p; b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return PL_OK;
}

int tk_buf_putc(tk_buf *b, char c) { return tk_buf_put(b, &c, 1); }

/* FNV-1a: short keys dominate (BPE words), and it is good enough with a power-of-two table. */
uint32_t tk_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) { h ^= (uint8_t)s[i]; h *= 16777619u; }
    return h ? h : 1;
}

static int strmap_grow(tk_strmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    tk_slot *s = pl_calloc(cap, sizeof *s);
    if (!s) return PL_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].hash) continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (s[j].hash) j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s; m->cap = cap;
    return PL_OK;
}

int tk_strmap_put(tk_strmap *m, const char *key, size_t len, int32_t val) {
    if ((m->n + 1) * 4 > m->cap * 3 && strmap_grow(m)) return PL_ERR_NOMEM;
    uint32_t h = tk_hash(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].hash) {
        tk_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && !memcmp(s->key, key, len)) { s->val = val; return PL_OK; }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j] = (tk_slot){key, (uint32_t)len, h, val};
    m->n++;
    return PL_OK;
}

int32_t tk_strmap_get(const tk_strmap *m, const char *key, size_t len) {
    if (!m->cap) return -1;
    uint32_t h = tk_hash(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].hash) {
        const tk_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && !memcmp(s->key, key, len)) return s->val;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

void tk_strmap_free(tk_strmap *m) { free(m->slots); memset(m, 0, sizeof *m); }

static inline uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }
static inline size_t pair_hash(uint64_t k) { k ^= k >> 33; k *= 0xff51afd7ed558ccdULL; k ^= k >> 33; return (size_t)k; }

static int pairmap_grow(tk_pairmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    tk_pairslot *s = pl_calloc(cap, sizeof *s);
    if (!s) return PL_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key) continue;
        size_t j = pair_hash(m->slots[i].key) & (cap - 1);
        while (s[j].key) j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s; m->cap = cap;
    return PL_OK;
}

/* The first (lowest-rank) merge of a pair wins, as in HF's loader. */
int tk_pairmap_put(tk_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id) {
    if ((m->n + 1) * 2 > m->cap && pairmap_grow(m)) return PL_ERR_NOMEM;
    uint64_t k = pair_key(a, b);
    size_t j = pair_hash(k) & (m->cap - 1);
    while (m->slots[j].key) {
        if (m->slots[j].key == k) return PL_OK;
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j] = (tk_pairslot){k, rank, id};
    m->n++;
    return PL_OK;
}

const tk_pairslot *tk_pairmap_get(const tk_pairmap *m, int32_t a, int32_t b) {
    if (!m->cap) return NULL;
    uint64_t k = pair_key(a, b);
    size_t j = pair_hash(k) & (m->cap - 1);
    while (m->slots[j].key) {
        if (m->slots[j].key == k) return &m->slots[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

void tk_pairmap_free(tk_pairmap *m) { free(m->slots); memset(m, 0, sizeof *m); }

/* ---- UTF-8 ---------------------------------------------------------------------------------------- */
int tk_utf8_decode(const char *s, size_t n, int32_t *cp) {
    const uint8_t *u = (const uint8_t *)s;
    uint8_t c = u[0];
    if (c < 0x80) { *cp = c; return 1; }
    int len; int32_t v; uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        uint8_t d = u[i];
        if (d < lo || d > hi) return 0;
        lo = 0x80; hi = 0xBF;
        v = v << 6 | (d & 0x3F);
    }
    *cp = v;
    return len;
}

int tk_utf8_encode(int32_t cp, char out[4]) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12); out[1] = (char)(0x80 | (cp >> 6 & 0x3F)); out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18); out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Bytes of the longest valid prefix of an (invalid) sequence at s: the "maximal subpart" that one U+FFFD
 * replaces. Always >= 1. */
static size_t utf8_maximal_subpart(const uint8_t *u, size_t n) {
    uint8_t c = u[0]; int len; uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 1;
    size_t i = 1;
    while (i < (size_t)len && i < n && u[i] >= lo && u[i] <= hi) { i++; lo = 0x80; hi = 0xBF; }
    return i;
}

int tk_utf8_lossy(tk_buf *out, const char *s, size_t n) {
    size_t i = 0, run = 0;
    while (i < n) {
        int32_t cp;
        int l = tk_utf8_decode(s + i, n - i, &cp);
        if (l) { i += l; continue; }
        if (tk_buf_put(out, s + run, i - run)) return PL_ERR_NOMEM;
        if (tk_buf_put(out, "\xEF\xBF\xBD", 3)) return PL_ERR_NOMEM;
        i += utf8_maximal_subpart((const uint8_t *)s + i, n - i);
        run = i;
    }
    return tk_buf_put(out, s + run, n - run);
}

size_t tk_utf8_complete_prefix(const char *s, size_t n) {
    /* Look back at most 3 bytes for a lead byte whose sequence is still open and valid so far. */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        const uint8_t *u = (const uint8_t *)s + n - back;
        if ((*u & 0xC0) == 0x80) continue;
        if (*u < 0xC2 || *u > 0xF4) return n;
        size_t need = *u >= 0xF0 ? 4 : *u >= 0xE0 ? 3 : 2;
        if (back < need && utf8_maximal_subpart(u, back) == back) return n - back;
        return n;
    }
    return n;
}

bool tk_is_whitespace(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

bool tk_is_punct(int32_t c) {
    if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}
