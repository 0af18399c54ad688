/* Pre-tokenizers: split normalized text into pieces the model encodes one by one (ByteLevel, Split,
 * Metaspace, Whitespace, WhitespaceSplit, BertPreTokenizer, Digits, Punctuation, Sequence). Splitting
 * follows HF's NormalizedString::split: matches and gaps alternate, then the delimiter behaviour decides
 * what is kept and what is glued; empty pieces are dropped. Regexes are PCRE2 with UTF + UCP. */
#include "tokenizer/tokenizer.h"

#include <utf8proc.h>

int tk_pieces_add(tk_pieces *ps, const char *s, size_t len, bool first) {
    if (!len) return PL_OK;
    if (ps->n == ps->cap) {
        int cap = ps->cap ? ps->cap * 2 : 16;
        tk_piece *p = pl_realloc(ps->p, (size_t)cap * sizeof *p);
        if (!p) return PL_ERR_NOMEM;
        ps->p = p; ps->cap = cap;
    }
    ps->p[ps->n++] = (tk_piece){(uint32_t)ps->text.n, (uint32_t)len, first};
    return tk_buf_put(&ps->text, s, len);
}

void tk_pieces_clear(tk_pieces *ps) { ps->n = 0; ps->text.n = 0; }
void tk_pieces_free(tk_pieces *ps) { free(ps->p); free(ps->text.p); memset(ps, 0, sizeof *ps); }

pcre2_code *tk_regex_compile(const char *pattern, size_t len) {
    int err; PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return pl_error_null(PL_ERR_FORMAT, "tokenizer: bad regex at %zu: %s", (size_t)off, (char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* optional: falls back to the interpreter */
    return re;
}

/* ---- matches -> pieces ----------------------------------------------------------------------------- */
typedef struct { uint32_t a, b; bool m; } tk_range;
typedef struct { tk_range *r; int n, cap; } tk_ranges;

static int ranges_add(tk_ranges *rs, size_t a, size_t b, bool m) {
    if (rs->n == rs->cap) {
        int cap = rs->cap ? rs->cap * 2 : 32;
        tk_range *r = pl_realloc(rs->r, (size_t)cap * sizeof *r);
        if (!r) return PL_ERR_NOMEM;
        rs->r = r; rs->cap = cap;
    }
    rs->r[rs->n++] = (tk_range){(uint32_t)a, (uint32_t)b, m};
    return PL_OK;
}

/* Apply the delimiter behaviour to the alternating match/gap ranges of s and add the pieces to out. */
static int split_apply(const char *s, bool first, tk_ranges *rs, tk_split_behavior bh, bool invert, tk_pieces *out) {
    tk_range *r = rs->r; int n = rs->n, k = 0;
    if (invert) for (int i = 0; i < n; i++) r[i].m = !r[i].m;
    switch (bh) {
    case TK_SPLIT_ISOLATED: k = n; break;
    case TK_SPLIT_REMOVED:
        for (int i = 0; i < n; i++) if (!r[i].m) r[k++] = r[i];
        break;
    case TK_SPLIT_CONTIGUOUS:
        for (int i = 0; i < n; i++) {
            if (k && r[i].m && r[k - 1].m) r[k - 1].b = r[i].b;
            else r[k++] = r[i];
        }
        break;
    case TK_SPLIT_MERGED_PREV: {
        bool prev = false;
        for (int i = 0; i < n; i++) {
            bool m = r[i].m;
            if (m && !prev && k) r[k - 1].b = r[i].b;
            else { r[k] = r[i]; r[k++].m = false; }
            prev = m;
        }
        break;
    }
    case TK_SPLIT_MERGED_NEXT: {
        bool prev = false; int w = n;   /* walk backwards, writing from the end */
        for (int i = n - 1; i >= 0; i--) {
            bool m = r[i].m;
            if (m && !prev && w < n) r[w].a = r[i].a;
            else { r[--w] = r[i]; r[w].m = false; }
            prev = m;
        }
        for (int i = w; i < n; i++) r[k++] = r[i];
        break;
    }
    }
    for (int i = 0; i < k; i++) {
        int rc = tk_pieces_add(out, s + r[i].a, r[i].b - r[i].a, first && r[i].a == 0);
        if (rc) return rc;
    }
    return PL_OK;
}

static int ranges_regex(tk_ranges *rs, const pcre2_code *re, const char *s, size_t len, pcre2_match_data *md) {
    size_t pos = 0, prev = 0;
    while (pos < len) {
        int r = pcre2_match(re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (r < 0) {
            if (r == PCRE2_ERROR_NOMATCH) break;
            return pl_error(PL_ERR_FORMAT, "tokenizer: regex match failed (%d)", r);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[0] > prev && ranges_add(rs, prev, ov[0], false)) return PL_ERR_NOMEM;
        if (ranges_add(rs, ov[0], ov[1], true)) return PL_ERR_NOMEM;
        prev = ov[1];
        if (ov[1] > ov[0]) pos = ov[1];
        else {   /* empty match: move on by one character */
            pos = ov[1] + 1;
            while (pos < len && ((uint8_t)s[pos] & 0xC0) == 0x80) pos++;
        }
    }
    if (prev < len && ranges_add(rs, prev, len, false)) return PL_ERR_NOMEM;
    return PL_OK;
}

static int ranges_string(tk_ranges *rs, const char *pat, size_t plen, const char *s, size_t len) {
    size_t prev = 0;
    if (plen) {
        for (size_t i = 0; i + plen <= len;) {
            if (!memcmp(s + i, pat, plen)) {
                if (i > prev && ranges_add(rs, prev, i, false)) return PL_ERR_NOMEM;
                if (ranges_add(rs, i, i + plen, true)) return PL_ERR_NOMEM;
                i += plen; prev = i;
            } else i++;
        }
    }
    if (prev < len && ranges_add(rs, prev, len, false)) return PL_ERR_NOMEM;
    return PL_OK;
}

typedef bool (*cp_pred)(int32_t cp);
static bool pred_numeric(int32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* Each character satisfying the predicate is its own match (as HF's char patterns). */
static int ranges_pred(tk_ranges *rs, cp_pred f, const char *s, size_t len) {
    size_t prev = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp; int l = tk_utf8_decode(s + i, len - i, &cp);
        if (!l) { cp = 0xFFFD; l = 1; }
        if (f(cp)) {
            if (i > prev && ranges_add(rs, prev, i, false)) return PL_ERR_NOMEM;
            if (ranges_add(rs, i, i + l, true)) return PL_ERR_NOMEM;
            prev = i + l;
        }
        i += l;
    }
    if (prev < len && ranges_add(rs, prev, len, false)) return PL_ERR_NOMEM;
    return PL_OK;
}

/* ---- one pre-tokenizer over every piece ------------------------------------------------------------ */
typedef struct { tk_ranges rs; tk_buf tmp; pcre2_match_data *md; } tk_work;

static int pre_piece(const tk_pre *pre, const char *s, size_t len, bool first, tk_pieces *out, tk_work *w) {
    w->rs.n = 0;
    int rc = PL_OK;
    switch (pre->kind) {
    case TK_PRE_BYTELEVEL:
        if (pre->add_prefix_space && (len == 0 || s[0] != ' ')) {
            w->tmp.n = 0;
            if (tk_buf_putc(&w->tmp, ' ') || tk_buf_put(&w->tmp, s, len)) return PL_ERR_NOMEM;
            s = w->tmp.p; len = w->tmp.n;
        }
        if (!pre->re) return tk_pieces_add(out, s, len, first);
        rc = ranges_regex(&w->rs, pre->re, s, len, w->md);
        return rc ? rc : split_apply(s, first, &w->rs, TK_SPLIT_ISOLATED, false, out);
    case TK_PRE_SPLIT:
        rc = pre->re ? ranges_regex(&w->rs, pre->re, s, len, w->md) : ranges_string(&w->rs, pre->str, pre->str_len, s, len);
        return rc ? rc : split_apply(s, first, &w->rs, pre->behavior, pre->invert, out);
    case TK_PRE_WHITESPACE:
        rc = ranges_regex(&w->rs, pre->re, s, len, w->md);
        return rc ? rc : split_apply(s, first, &w->rs, TK_SPLIT_REMOVED, true, out);
    case TK_PRE_WHITESPACE_SPLIT:
        rc = ranges_pred(&w->rs, tk_is_whitespace, s, len);
        return rc ? rc : split_apply(s, first, &w->rs, TK_SPLIT_REMOVED, false, out);
    case TK_PRE_DIGITS:
        rc = ranges_pred(&w->rs, pred_numeric, s, len);
        return rc ? rc : split_apply(s, first, &w->rs, pre->individual_digits ? TK_SPLIT_ISOLATED : TK_SPLIT_CONTIGUOUS,
                                     false, out);
    case TK_PRE_PUNCT:
        rc = ranges_pred(&w->rs, tk_is_punct, s, len);
        return rc ? rc : split_apply(s, first, &w->rs, pre->behavior, false, out);
    case TK_PRE_BERT: {
        tk_pieces mid = {0};
        rc = ranges_pred(&w->rs, tk_is_whitespace, s, len);
        if (!rc) rc = split_apply(s, first, &w->rs, TK_SPLIT_REMOVED, false, &mid);
        for (int i = 0; !rc && i < mid.n; i++) {
            w->rs.n = 0;
            const char *ps = mid.text.p + mid.p[i].start;
            rc = ranges_pred(&w->rs, tk_is_punct, ps, mid.p[i].len);
            if (!rc) rc = split_apply(ps, mid.p[i].first, &w->rs, TK_SPLIT_ISOLATED, false, out);
        }
        tk_pieces_free(&mid);
        return rc;
    }
    case TK_PRE_METASPACE: {
        w->tmp.n = 0;
        bool prepend = pre->prepend == TK_PREPEND_ALWAYS || (pre->prepend == TK_PREPEND_FIRST && first);
        /* HF checks after replacing spaces: a leading space already gives the replacement. */
        if (prepend && !(len && s[0] == ' ') && !(len >= pre->str_len && !memcmp(s, pre->str, pre->str_len)))
            if (tk_buf_put(&w->tmp, pre->str, pre->str_len)) return PL_ERR_NOMEM;
        for (size_t i = 0; i < len; i++) {
            rc = s[i] == ' ' ? tk_buf_put(&w->tmp, pre->str, pre->str_len) : tk_buf_putc(&w->tmp, s[i]);
            if (rc) return rc;
        }
        const char *t = w->tmp.p ? w->tmp.p : "";
        if (!pre->split) return tk_pieces_add(out, t, w->tmp.n, first);
        rc = ranges_string(&w->rs, pre->str, pre->str_len, t, w->tmp.n);
        return rc ? rc : split_apply(t, first, &w->rs, TK_SPLIT_MERGED_NEXT, false, out);
    }
    case TK_PRE_SEQUENCE:
        break;
    }
    return pl_error(PL_ERR_UNSUPPORTED, "tokenizer: unsupported pre-tokenizer");
}

static int pre_step(const tk_pre *pre, tk_pieces *ps, tk_pieces *scratch, tk_work *w) {
    if (pre->kind == TK_PRE_SEQUENCE) {
        for (int i = 0; i < pre->n_items; i++) {
            int rc = pre_step(&pre->items[i], ps, scratch, w);
            if (rc) return rc;
        }
        return PL_OK;
    }
    tk_pieces_clear(scratch);
    for (int i = 0; i < ps->n; i++) {
        int rc = pre_piece(pre, ps->text.p + ps->p[i].start, ps->p[i].len, ps->p[i].first, scratch, w);
        if (rc) return rc;
    }
    tk_pieces t = *ps; *ps = *scratch; *scratch = t;
    return PL_OK;
}

int tk_pretokenize(const tk_pre *pre, tk_pieces *ps, tk_pieces *scratch) {
    tk_work w = {0};
    w.md = pcre2_match_data_create(8, NULL);
    if (!w.md) return pl_error(PL_ERR_NOMEM, "tokenizer: out of memory");
    int rc = pre_step(pre, ps, scratch, &w);
    pcre2_match_data_free(w.md);
    free(w.rs.r); free(w.tmp.p);
    return rc;
}

bool tk_pre_has_bytelevel(const tk_pre *p) {
    if (!p) return false;
    if (p->kind == TK_PRE_BYTELEVEL) return true;
    for (int i = 0; i < p->n_items; i++) if (tk_pre_has_bytelevel(&p->items[i])) return true;
    return false;
}

void tk_pre_free(tk_pre *p) {
    if (!p) return;
    if (p->re) pcre2_code_free(p->re);
    free(p->str); free(p->re_src);
    for (int i = 0; i < p->n_items; i++) tk_pre_free(&p->items[i]);
    free(p->items);
}
