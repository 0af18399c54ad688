/* Normalizers (the first stage of the HF pipeline): Unicode forms via utf8proc, Lowercase, StripAccents,
 * Prepend, Replace, Strip, BertNormalizer and Sequence. Each maps a valid UTF-8 string to a new one. */
#include "tokenizer/tokenizer.h"

#include <utf8proc.h>

static int norm_unicode_run(int options, const char *s, size_t len, tk_buf *out);

/* HF's normalization tables predate some Unicode additions; code points whose decomposition is newer
 * than those tables stay unchanged there, so they stay unchanged here (found by the golden corpus). */
static const char *const k_frozen[] = {"\xE3\x8B\xBF" /* U+32FF SQUARE ERA NAME REIWA, Unicode 12.1 */};

static int norm_unicode(int options, const char *s, size_t len, tk_buf *out) {
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < PL_ARRAY_LEN(k_frozen); k++) {
            size_t fl = strlen(k_frozen[k]);
            if (i + fl <= len && !memcmp(s + i, k_frozen[k], fl)) {
                int rc = norm_unicode_run(options, s + run, i - run, out);
                if (rc || (rc = tk_buf_put(out, s + i, fl))) return rc;
                run = i + fl; i += fl - 1;
                break;
            }
        }
    }
    return norm_unicode_run(options, s + run, len - run, out);
}

static int norm_unicode_run(int options, const char *s, size_t len, tk_buf *out) {
    if (!len) return PL_OK;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &dst,
                                      (utf8proc_option_t)(options | UTF8PROC_STABLE));
    if (n < 0) return pl_error(PL_ERR_FORMAT, "tokenizer: unicode normalization failed: %s", utf8proc_errmsg(n));
    int rc = tk_buf_put(out, dst, (size_t)n);
    free(dst);
    return rc;
}

/* Rust's char::to_lowercase: the simple mapping, except U+0130 which lowercases to two chars. */
static int put_lower(tk_buf *out, int32_t cp) {
    if (cp == 0x130) return tk_buf_put(out, "i\xCC\x87", 3);
    char e[4];
    return tk_buf_put(out, e, tk_utf8_encode(utf8proc_tolower(cp), e));
}

static bool is_chinese(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Walk code points of valid UTF-8; for each, f decides what to write. */
typedef int (*cp_fn)(const tk_norm *n, int32_t cp, const char *raw, int l, tk_buf *out);

static int map_cps(const tk_norm *n, const char *s, size_t len, tk_buf *out, cp_fn f) {
    for (size_t i = 0; i < len;) {
        int32_t cp;
        int l = tk_utf8_decode(s + i, len - i, &cp);
        if (!l) return pl_error(PL_ERR_FORMAT, "tokenizer: invalid UTF-8 reached the normalizer");
        int rc = f(n, cp, s + i, l, out);
        if (rc) return rc;
        i += l;
    }
    return PL_OK;
}

static int cp_lower(const tk_norm *n, int32_t cp, const char *raw, int l, tk_buf *out) {
    (void)n; (void)raw; (void)l;
    return put_lower(out, cp);
}

static int cp_strip_mn(const tk_norm *n, int32_t cp, const char *raw, int l, tk_buf *out) {
    (void)n; (void)cp;
    return utf8proc_category(cp) == UTF8PROC_CATEGORY_MN ? PL_OK : tk_buf_put(out, raw, l);
}

/* BertNormalizer's clean_text + handle_chinese_chars step. */
static int cp_bert_clean(const tk_norm *n, int32_t cp, const char *raw, int l, tk_buf *out) {
    if (n->clean_text) {
        if (cp == 0 || cp == 0xFFFD) return PL_OK;
        if (cp != '\t' && cp != '\n' && cp != '\r') {
            utf8proc_category_t k = utf8proc_category(cp);
            if (k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CS ||
                k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CN) {
                if (!tk_is_whitespace(cp)) return PL_OK;
            }
        }
        if (tk_is_whitespace(cp)) return tk_buf_putc(out, ' ');
    }
    if (n->chinese && is_chinese(cp)) {
        if (tk_buf_putc(out, ' ') || tk_buf_put(out, raw, l)) return PL_ERR_NOMEM;
        return tk_buf_putc(out, ' ');
    }
    return tk_buf_put(out, raw, l);
}

static int norm_replace(const tk_norm *n, const char *s, size_t len, tk_buf *out) {
    size_t blen = strlen(n->b);
    if (!n->re) {
        size_t alen = strlen(n->a);
        if (!alen) return tk_buf_put(out, s, len);
        size_t i = 0, run = 0;
        while (i + alen <= len) {
            if (!memcmp(s + i, n->a, alen)) {
                if (tk_buf_put(out, s + run, i - run) || tk_buf_put(out, n->b, blen)) return PL_ERR_NOMEM;
                i += alen; run = i;
            } else i++;
        }
        return tk_buf_put(out, s + run, len - run);
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(n->re, NULL);
    if (!md) return pl_error(PL_ERR_NOMEM, "tokenizer: out of memory");
    size_t pos = 0, run = 0; int rc = PL_OK;
    while (pos <= len) {
        int r = pcre2_match(n->re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (r < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if ((rc = tk_buf_put(out, s + run, ov[0] - run)) || (rc = tk_buf_put(out, n->b, blen))) break;
        run = ov[1];
        if (ov[1] == ov[0]) {   /* empty match: step over one character */
            if (ov[1] >= len) break;
            int32_t cp; int l = tk_utf8_decode(s + ov[1], len - ov[1], &cp);
            if ((rc = tk_buf_put(out, s + ov[1], l ? l : 1))) break;
            run = pos = ov[1] + (l ? l : 1);
        } else pos = ov[1];
    }
    pcre2_match_data_free(md);
    return rc ? rc : tk_buf_put(out, s + run, len - run);
}

static int norm_strip(const tk_norm *n, const char *s, size_t len, tk_buf *out) {
    size_t a = 0, b = len;
    while (n->left && a < b) {
        int32_t cp; int l = tk_utf8_decode(s + a, b - a, &cp);
        if (!l || !tk_is_whitespace(cp)) break;
        a += l;
    }
    while (n->right && b > a) {
        size_t k = b - 1;
        while (k > a && ((uint8_t)s[k] & 0xC0) == 0x80) k--;
        int32_t cp; int l = tk_utf8_decode(s + k, b - k, &cp);
        if (!l || !tk_is_whitespace(cp)) break;
        b = k;
    }
    return tk_buf_put(out, s + a, b - a);
}

static int norm_bert(const tk_norm *n, const char *s, size_t len, tk_buf *out) {
    tk_buf a = {0}, b = {0};
    int rc = map_cps(n, s, len, &a, cp_bert_clean);
    if (!rc && n->strip_accents) {
        if (!(rc = norm_unicode(UTF8PROC_DECOMPOSE, a.p ? a.p : "", a.n, &b))) {
            a.n = 0;
            rc = map_cps(n, b.p ? b.p : "", b.n, &a, cp_strip_mn);
        }
    }
    if (!rc) rc = n->lowercase ? map_cps(n, a.p ? a.p : "", a.n, out, cp_lower) : tk_buf_put(out, a.p, a.n);
    free(a.p); free(b.p);
    return rc;
}

int tk_normalize(const tk_norm *n, const char *s, size_t len, tk_buf *out) {
    switch (n->kind) {
    case TK_NORM_NFC: return norm_unicode(UTF8PROC_COMPOSE, s, len, out);
    case TK_NORM_NFD: return norm_unicode(UTF8PROC_DECOMPOSE, s, len, out);
    case TK_NORM_NFKC: return norm_unicode(UTF8PROC_COMPOSE | UTF8PROC_COMPAT, s, len, out);
    case TK_NORM_NFKD: return norm_unicode(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, s, len, out);
    case TK_NORM_LOWERCASE: return map_cps(n, s, len, out, cp_lower);
    case TK_NORM_STRIP_ACCENTS: return map_cps(n, s, len, out, cp_strip_mn);
    case TK_NORM_PREPEND:
        /* HF prepends only to non-empty strings. */
        if (len && tk_buf_put(out, n->a, strlen(n->a))) return PL_ERR_NOMEM;
        return tk_buf_put(out, s, len);
    case TK_NORM_REPLACE: return norm_replace(n, s, len, out);
    case TK_NORM_STRIP: return norm_strip(n, s, len, out);
    case TK_NORM_BERT: return norm_bert(n, s, len, out);
    case TK_NORM_SEQUENCE: {
        tk_buf cur = {0};
        int rc = tk_buf_put(&cur, s, len);
        for (int i = 0; !rc && i < n->n_items; i++) {
            tk_buf next = {0};
            rc = tk_normalize(&n->items[i], cur.p, cur.n, &next);
            if (!rc && !next.p) rc = tk_buf_put(&next, "", 0);
            free(cur.p);
            cur = next;
        }
        if (!rc) rc = tk_buf_put(out, cur.p, cur.n);
        free(cur.p);
        return rc;
    }
    }
    return pl_error(PL_ERR_UNSUPPORTED, "tokenizer: unknown normalizer");
}

void tk_norm_free(tk_norm *n) {
    if (!n) return;
    free(n->a); free(n->b); free(n->re_src);
    if (n->re) pcre2_code_free(n->re);
    for (int i = 0; i < n->n_items; i++) tk_norm_free(&n->items[i]);
    free(n->items);
}
