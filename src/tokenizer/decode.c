/* Decoders: ids -> token strings -> text, as HF's decode_chain does it: every decoder maps a list of
 * strings to a list of strings (ByteLevel, Metaspace, WordPiece, ByteFallback, Fuse, Strip, Replace, BPE,
 * Sequence), and the result is concatenated. Invalid UTF-8 produced by bytes is replaced by U+FFFD. */
#include "tokenizer/tokenizer.h"

/* A list of strings in one buffer: string i is text.p[off[i] .. off[i + 1]) (the last ends at text.n). Only the
 * last string grows, which is all a decoder step does (start a string, append to it), so a decoding costs a
 * few allocations however many tokens it has. */
typedef struct { tk_buf text; size_t *off; int n, cap; } tk_strs;

static tk_buf *strs_add(tk_strs *l) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        size_t *off = pl_realloc(l->off, (size_t)cap * sizeof *off);
        if (!off) return NULL;
        l->off = off; l->cap = cap;
    }
    if (tk_buf_put(&l->text, "", 0)) return NULL;
    l->off[l->n++] = l->text.n;
    return &l->text;
}

static tk_buf strs_at(const tk_strs *l, int i) {   /* a view: not to be grown or freed */
    size_t a = l->off[i], b = i + 1 < l->n ? l->off[i + 1] : l->text.n;
    return (tk_buf){l->text.p + a, b - a, 0};
}

static void strs_free(tk_strs *l) {
    free(l->text.p); free(l->off);
    memset(l, 0, sizeof *l);
}

static bool starts_with(const tk_buf *b, const char *p, size_t n) { return b->n >= n && !memcmp(b->p, p, n); }

static int put_replaced(tk_buf *o, const char *s, size_t n, const char *a, const char *b) {
    size_t al = strlen(a), bl = strlen(b), run = 0;
    for (size_t i = 0; al && i + al <= n;) {
        if (!memcmp(s + i, a, al)) {
            if (tk_buf_put(o, s + run, i - run) || tk_buf_put(o, b, bl)) return PL_ERR_NOMEM;
            i += al; run = i;
        } else i++;
    }
    return tk_buf_put(o, s + run, n - run);
}

/* BERT's clean_up_tokenization, applied to each token by the WordPiece decoder: rewrites the list's last string. */
static int wp_cleanup(tk_strs *l) {
    static const char *pairs[][2] = {{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
                                     {" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"},
                                     {" 've", "'ve"}, {" 're", "'re"}};
    size_t start = l->off[l->n - 1];
    tk_buf o = {0};
    int rc = PL_OK;
    for (size_t k = 0; k < PL_ARRAY_LEN(pairs) && !rc; k++) {
        o.n = 0;
        rc = put_replaced(&o, l->text.p + start, l->text.n - start, pairs[k][0], pairs[k][1]);
        l->text.n = start;
        if (!rc) rc = tk_buf_put(&l->text, o.p, o.n);
    }
    free(o.p);
    return rc;
}

static int byte_token(const tk_buf *t) {   /* "<0xNN>" -> NN, else -1 */
    if (t->n != 6 || memcmp(t->p, "<0x", 3) || t->p[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = t->p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static int flush_bytes(tk_strs *out, tk_buf *bytes) {
    if (!bytes->n) return PL_OK;
    tk_buf *o = strs_add(out);
    if (!o) return PL_ERR_NOMEM;
    int rc = PL_OK;
    if (pl_utf8_valid(bytes->p, bytes->n)) rc = tk_buf_put(o, bytes->p, bytes->n);
    else for (size_t i = 0; i < bytes->n && !rc; i++) rc = tk_buf_put(o, "\xEF\xBF\xBD", 3);
    bytes->n = 0;
    return rc;
}

static int dec_apply(const tk_dec *d, tk_strs *in, tk_strs *out) {
    int rc = PL_OK;
    switch (d->kind) {
    case TK_DEC_SEQUENCE: {
        tk_strs cur = *in; memset(in, 0, sizeof *in);
        for (int k = 0; k < d->n_items && !rc; k++) {
            tk_strs next = {0};
            rc = dec_apply(&d->items[k], &cur, &next);
            strs_free(&cur);
            cur = next;
        }
        *out = cur;
        return rc;
    }
    case TK_DEC_BYTELEVEL: {
        tk_buf raw = {0};
        for (int i = 0; i < in->n && !rc; i++) {
            size_t keep = raw.n;
            tk_buf t = strs_at(in, i);
            if (!tk_bytelevel_to_bytes(t.p, t.n, &raw)) { raw.n = keep; rc = tk_buf_put(&raw, t.p, t.n); }
        }
        tk_buf *o = rc ? NULL : strs_add(out);
        if (!rc) rc = o ? tk_utf8_lossy(o, raw.p ? raw.p : "", raw.n) : PL_ERR_NOMEM;
        free(raw.p);
        return rc;
    }
    case TK_DEC_BYTEFALLBACK: {
        tk_buf bytes = {0};
        for (int i = 0; i < in->n && !rc; i++) {
            tk_buf t = strs_at(in, i);
            int b = byte_token(&t);
            if (b >= 0) { rc = tk_buf_putc(&bytes, (char)b); continue; }
            if ((rc = flush_bytes(out, &bytes))) break;
            tk_buf *o = strs_add(out);
            rc = o ? tk_buf_put(o, t.p, t.n) : PL_ERR_NOMEM;
        }
        if (!rc) rc = flush_bytes(out, &bytes);
        free(bytes.p);
        return rc;
    }
    case TK_DEC_FUSE: {
        tk_buf *o = strs_add(out);
        for (int i = 0; o && i < in->n && !rc; i++) { tk_buf t = strs_at(in, i); rc = tk_buf_put(o, t.p, t.n); }
        return o ? rc : PL_ERR_NOMEM;
    }
    default: break;
    }
    /* The rest map each token on its own. */
    for (int i = 0; i < in->n && !rc; i++) {
        tk_buf tv = strs_at(in, i), *t = &tv, *o = strs_add(out);
        if (!o) return PL_ERR_NOMEM;
        switch (d->kind) {
        case TK_DEC_METASPACE: {
            size_t rl = strlen(d->a);
            for (size_t j = 0; j < t->n && !rc;) {
                if (rl && j + rl <= t->n && !memcmp(t->p + j, d->a, rl)) {
                    if (!(i == 0 && d->prepend != TK_PREPEND_NEVER)) rc = tk_buf_putc(o, ' ');
                    j += rl;
                } else rc = tk_buf_putc(o, t->p[j++]);
            }
            break;
        }
        case TK_DEC_WORDPIECE: {
            size_t pl = strlen(d->a);
            if (i > 0 && starts_with(t, d->a, pl)) rc = tk_buf_put(o, t->p + pl, t->n - pl);
            else if (i > 0) { rc = tk_buf_putc(o, ' '); if (!rc) rc = tk_buf_put(o, t->p, t->n); }
            else rc = tk_buf_put(o, t->p, t->n);
            if (!rc && d->cleanup) rc = wp_cleanup(out);
            break;
        }
        case TK_DEC_STRIP: {
            size_t cl = strlen(d->a), a = 0, b = t->n;
            for (int k = 0; cl && k < d->start && a + cl <= b && !memcmp(t->p + a, d->a, cl); k++) a += cl;
            for (int k = 0; cl && k < d->stop && b >= a + cl && !memcmp(t->p + b - cl, d->a, cl); k++) b -= cl;
            rc = tk_buf_put(o, t->p + a, b - a);
            break;
        }
        case TK_DEC_REPLACE: rc = put_replaced(o, t->p, t->n, d->a, d->b); break;
        case TK_DEC_BPE: rc = put_replaced(o, t->p, t->n, d->a, i == in->n - 1 ? "" : " "); break;
        default: rc = pl_error(PL_ERR_UNSUPPORTED, "tokenizer: unsupported decoder");
        }
    }
    return rc;
}

int tk_decode_tokens(const pl_tokenizer *t, const int32_t *ids, int n, bool skip_special, tk_buf *out) {
    tk_strs in = {0}, res = {0};
    int rc = PL_OK;
    for (int i = 0; i < n && !rc; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_total || !t->id_str[id]) {
            rc = pl_error(PL_ERR_ARG, "tokenizer: id %d is not in the vocabulary", (int)id);
            break;
        }
        if (skip_special && t->id_special[id]) continue;
        tk_buf *b = strs_add(&in);
        rc = b ? tk_buf_put(b, t->id_str[id], t->id_len[id]) : PL_ERR_NOMEM;
    }
    if (!rc && t->dec) rc = dec_apply(t->dec, &in, &res);
    else if (!rc) { res = in; memset(&in, 0, sizeof in); }
    for (int i = 0; i < res.n && !rc; i++) {
        if (!t->dec && i > 0 && tk_buf_putc(out, ' ')) rc = PL_ERR_NOMEM;
        tk_buf r = strs_at(&res, i);
        if (!rc) rc = tk_buf_put(out, r.p, r.n);
    }
    if (!rc && !out->p) rc = tk_buf_put(out, "", 0);
    strs_free(&in); strs_free(&res);
    return rc;
}

/* Does decoder d (or a step of its sequence) turn tokens into raw bytes of this kind? */
static bool dec_has(const tk_dec *d, tk_dec_kind kind) {
    if (!d) return false;
    if (d->kind == kind) return true;
    for (int k = 0; k < d->n_items; k++) if (dec_has(&d->items[k], kind)) return true;
    return false;
}

/* Token id's string as the decoder sees it; *skipped when it is a special token left out of the decoding. */
static const char *kept_token(const pl_tokenizer *t, int32_t id, bool skip_special, tk_buf *view, bool *skipped) {
    *skipped = false;
    if (id < 0 || id >= t->n_total || !t->id_str[id]) return NULL;
    if (skip_special && t->id_special[id]) { *skipped = true; return NULL; }
    view->p = (char *)t->id_str[id]; view->n = t->id_len[id];
    return view->p;
}

/* True when the bytes that ids end in are an open UTF-8 sequence (valid so far, not complete), so a trailing
 * U+FFFD in their decoding may still become a character once more tokens arrive. A run of byte-fallback
 * tokens decodes as a whole (any invalid byte makes every byte U+FFFD), so there the run must be valid up to
 * its open tail; byte-level decoding replaces each invalid stretch on its own, so only the last bytes count. */
bool tk_decode_tail_open(const pl_tokenizer *t, const int32_t *ids, int n, bool skip_special) {
    bool fallback = dec_has(t->dec, TK_DEC_BYTEFALLBACK), bytelevel = !fallback && dec_has(t->dec, TK_DEC_BYTELEVEL);
    if (!fallback && !bytelevel) return false;
    int i = n;                      /* walk back to where the bytes that matter start */
    for (size_t seen = 0; i > 0 && (fallback || seen < 8); i--) {
        tk_buf v; bool skipped;
        if (!kept_token(t, ids[i - 1], skip_special, &v, &skipped)) { if (skipped) continue; break; }
        if (fallback && byte_token(&v) < 0) break;
        seen += v.n;
    }
    tk_buf bytes = {0};
    int rc = PL_OK;
    for (; i < n && !rc; i++) {
        tk_buf v; bool skipped;
        if (!kept_token(t, ids[i], skip_special, &v, &skipped)) continue;
        size_t keep = bytes.n;
        if (fallback) rc = tk_buf_putc(&bytes, (char)byte_token(&v));
        else if (!tk_bytelevel_to_bytes(v.p, v.n, &bytes)) { bytes.n = keep; rc = tk_buf_put(&bytes, v.p, v.n); }
    }
    size_t head = rc ? bytes.n : tk_utf8_complete_prefix(bytes.p, bytes.n);
    bool open = head < bytes.n && (bytelevel || pl_utf8_valid(bytes.p, head));
    free(bytes.p);
    return open;
}

void tk_dec_free(tk_dec *d) {
    if (!d) return;
    free(d->a); free(d->b);
    for (int i = 0; i < d->n_items; i++) tk_dec_free(&d->items[i]);
    free(d->items);
}
