/* The tokenizer driver and public API: load (tokenizer.json, a directory holding one, or GGUF), then
 * encode the way HF's Tokenizer::encode does: invalid UTF-8 -> U+FFFD, split off added tokens matched on
 * raw text, normalize each remaining part, split off added tokens matched on normalized text,
 * pre-tokenize, run the model on each piece, and add the post-processor's special tokens. Decoding and the
 * streaming decoder live here too (the decoders themselves are in decode.c). */
#include "tokenizer/tokenizer.h"

#include "io/hfconfig.h"

#include <sys/stat.h>
#include <utf8proc.h>

int tk_ids_push(tk_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        int cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = pl_realloc(ids->v, (size_t)cap * sizeof *v);
        if (!v) return PL_ERR_NOMEM;
        ids->v = v; ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return PL_OK;
}

int tk_add_added(pl_tokenizer *t, const char *content, size_t len, int32_t id, bool special, bool lstrip,
                 bool rstrip, bool single_word, bool normalized) {
    if (!len || id < 0) return pl_error(PL_ERR_FORMAT, "tokenizer: added token with empty content or bad id");
    tk_added *a = pl_realloc(t->added, (size_t)(t->n_added + 1) * sizeof *a);
    if (!a) return PL_ERR_NOMEM;
    t->added = a;
    char *c = pl_malloc(len + 1);
    if (!c) return PL_ERR_NOMEM;
    memcpy(c, content, len); c[len] = 0;
    a[t->n_added++] = (tk_added){c, (uint32_t)len, id, special, lstrip, rstrip, single_word, normalized};
    return PL_OK;
}

static int added_cmp(const void *x, const void *y) {
    const tk_added *a = x, *b = y;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Build the id -> string table for decoding, sort added tokens for longest-first matching. */
int tk_finish(pl_tokenizer *t) {
    tk_model *m = &t->model;
    if (m->kind == TK_MODEL_BPE && tk_bpe_prepare(m)) return pl_error(PL_ERR_NOMEM, "tokenizer: out of memory");
    if (m->kind != TK_MODEL_BPE) {
        char name[8];
        for (int b = 0; b < 256; b++) {
            snprintf(name, sizeof name, "<0x%02X>", b);
            m->byte_ids[b] = tk_strmap_get(&m->vocab, name, 6);
        }
    }
    t->n_total = m->n_vocab;
    for (int i = 0; i < t->n_added; i++) t->n_total = PL_MAX(t->n_total, t->added[i].id + 1);
    t->id_str = pl_calloc((size_t)t->n_total + 1, sizeof *t->id_str);
    t->id_len = pl_calloc((size_t)t->n_total + 1, sizeof *t->id_len);
    t->id_special = pl_calloc((size_t)t->n_total + 1, sizeof *t->id_special);
    if (!t->id_str || !t->id_len || !t->id_special) return PL_ERR_NOMEM;
    for (int i = 0; i < m->n_vocab; i++) { t->id_str[i] = m->tokens[i]; t->id_len[i] = m->token_len[i]; }
    for (int i = 0; i < t->n_added; i++) {
        tk_added *a = &t->added[i];
        t->id_str[a->id] = a->content; t->id_len[a->id] = a->len;
        t->id_special[a->id] = a->special;
    }
    if (t->n_added) qsort(t->added, (size_t)t->n_added, sizeof *t->added, added_cmp);
    for (int i = 0; i < t->n_added; i++) t->added_fb[(uint8_t)t->added[i].content[0]] |= t->added[i].normalized ? 2 : 1;
    return PL_OK;
}

/* ---- loading ----------------------------------------------------------------------------------------- */
static bool has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int32_t id_of(const pl_tokenizer *t, const char *s) {
    if (!s) return -1;
    size_t n = strlen(s);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && !memcmp(t->added[i].content, s, n)) return t->added[i].id;
    return tk_strmap_get(&t->model.vocab, s, n);
}

/* The tokenizer_config.json of a model directory (dir): its chat template and model_max_length, kept for
 * pl_tokenizer_save_hf, and its BOS/EOS/PAD tokens where the post-processor names none (a tokenizer that
 * adds no BOS still has one). Encoding is unchanged. A missing or malformed config is passed over here:
 * the callers that need its contents (chat, eval) read it themselves and report it. */
static void keep_hf_config(pl_tokenizer *t, const char *dir) {
    pl_hf_tokenizer_config tc;
    if (pl_hf_tokenizer_config_load(dir, &tc) != PL_OK) { pl_clear_error(); return; }
    t->chat_template = tc.chat_template;
    tc.chat_template = NULL;
    t->model_max_length = tc.model_max_length;
    if (t->bos_id < 0) t->bos_id = id_of(t, tc.bos_token);
    if (t->eos_id < 0) t->eos_id = id_of(t, tc.eos_token);
    if (t->pad_id < 0) t->pad_id = id_of(t, tc.pad_token);
    pl_hf_tokenizer_config_free(&tc);
}

/* A file named tokenizer.json is a model directory's: its tokenizer_config.json lies beside it. */
static void keep_hf_config_beside(pl_tokenizer *t, const char *path) {
    const char *base = strrchr(path, '/');
    if (strcmp(base ? base + 1 : path, "tokenizer.json")) return;
    char dir[4096];
    int n = base ? (int)PL_MIN(base - path, (ptrdiff_t)sizeof dir - 1) : 0;
    snprintf(dir, sizeof dir, "%.*s", n, path);
    keep_hf_config(t, n ? dir : base ? "/" : ".");
}

pl_tokenizer *pl_tokenizer_load(const char *path) {
    if (!path) return pl_error_null(PL_ERR_ARG, "tokenizer: no path");
    pl_tokenizer *t = pl_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->bos_id = t->eos_id = t->pad_id = -1;
    t->model.unk_id = -1;
    t->model_max_length = -1;
    struct stat st;
    int rc;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(path) + 32;
        char *p = pl_malloc(n);
        if (!p) { free(t); return NULL; }
        snprintf(p, n, "%s/tokenizer.json", path);
        size_t len; char *json = pl_read_file(p, &len);
        free(p);
        rc = json ? tk_load_json(t, json, len) : PL_ERR_IO;
        free(json);
        if (!rc) keep_hf_config(t, path);
    } else if (has_suffix(path, ".gguf")) {
        rc = tk_load_gguf(t, path);
    } else {
        size_t len; char *data = pl_read_file(path, &len);
        if (data && len >= 4 && !memcmp(data, "GGUF", 4)) { free(data); data = NULL; rc = tk_load_gguf(t, path); }
        else { rc = data ? tk_load_json(t, data, len) : PL_ERR_IO; free(data); }
        if (!rc) keep_hf_config_beside(t, path);
    }
    if (!rc) rc = tk_finish(t);
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", pl_last_error());
        pl_tokenizer_free(t);
        return pl_error_null(rc, "%s", msg[0] ? msg : "tokenizer: could not load");
    }
    return t;
}

void tk_model_free(tk_model *m) {
    for (int i = 0; i < m->n_vocab; i++) {
        free(m->tokens ? m->tokens[i] : NULL);
        free(m->btokens ? m->btokens[i] : NULL);
    }
    free(m->tokens); free(m->token_len); free(m->btokens); free(m->btoken_len);
    tk_strmap_free(&m->vocab); tk_strmap_free(&m->bvocab); tk_pairmap_free(&m->merges);
    free(m->scores); free(m->uscores); free(m->prefix); free(m->suffix); free(m->score_rank);
}

void pl_tokenizer_free(pl_tokenizer *t) {
    if (!t) return;
    tk_model_free(&t->model);
    if (t->norm) { tk_norm_free(t->norm); free(t->norm); }
    if (t->pre) { tk_pre_free(t->pre); free(t->pre); }
    if (t->dec) { tk_dec_free(t->dec); free(t->dec); }
    free(t->post.pre); free(t->post.post);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    free(t->id_str); free(t->id_len); free(t->id_special);
    free(t->chat_template);
    free(t);
}

/* ---- encoding ---------------------------------------------------------------------------------------- */
typedef struct {
    const pl_tokenizer *t;
    tk_pieces ps, scratch;
    tk_bpe_work *bw;
    tk_ids out;
} enc_ctx;

static int model_piece(enc_ctx *c, const char *s, size_t len) {
    const tk_model *m = &c->t->model;
    switch (m->kind) {
    case TK_MODEL_BPE: return tk_bpe_encode(m, c->bw, s, len, &c->out);
    case TK_MODEL_UNIGRAM: return tk_unigram_encode(m, s, len, &c->out);
    case TK_MODEL_WORDPIECE: return tk_wordpiece_encode(m, s, len, &c->out);
    }
    return PL_ERR_UNSUPPORTED;
}

static int encode_normalized_text(enc_ctx *c, const char *s, size_t len, bool first) {
    if (!len) return PL_OK;
    tk_pieces_clear(&c->ps);
    int rc = tk_pieces_add(&c->ps, s, len, first);
    if (!rc && c->t->pre) rc = tk_pretokenize(c->t->pre, &c->ps, &c->scratch);
    for (int i = 0; !rc && i < c->ps.n; i++) rc = model_piece(c, c->ps.text.p + c->ps.p[i].start, c->ps.p[i].len);
    return rc;
}

static bool is_word_cp(int32_t cp) {
    if (cp == '_') return true;
    utf8proc_category_t k = utf8proc_category(cp);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_NO) || k == UTF8PROC_CATEGORY_PC;
}

static bool word_before(const char *s, size_t at) {
    if (!at) return false;
    size_t k = at - 1;
    while (k > 0 && ((uint8_t)s[k] & 0xC0) == 0x80) k--;
    int32_t cp; return tk_utf8_decode(s + k, at - k, &cp) && is_word_cp(cp);
}

static bool word_after(const char *s, size_t len, size_t at) {
    int32_t cp; return at < len && tk_utf8_decode(s + at, len - at, &cp) && is_word_cp(cp);
}

typedef int (*gap_fn)(enc_ctx *c, const char *s, size_t len, bool first);

/* Split s on the added tokens of one kind (flag 1: matched on raw text, 2: on normalized text), leftmost
 * then longest, honouring single_word / lstrip / rstrip; gaps go to `gap`, tokens straight to the output. */
static int split_added(enc_ctx *c, const char *s, size_t len, bool first, int flag, gap_fn gap) {
    const pl_tokenizer *t = c->t;
    size_t seg = 0, i = 0;
    while (i < len) {
        if (!(t->added_fb[(uint8_t)s[i]] & flag)) { i++; continue; }
        const tk_added *best = NULL;
        for (int k = 0; k < t->n_added; k++) {   /* sorted longest first */
            const tk_added *a = &t->added[k];
            if ((a->normalized ? 2 : 1) != flag || a->len > len - i || memcmp(s + i, a->content, a->len)) continue;
            best = a; break;
        }
        if (!best) { i++; continue; }
        size_t ms = i, me = i + best->len;
        if (best->single_word && (word_before(s, ms) || word_after(s, len, me))) { i = me; continue; }
        if (best->lstrip) {
            size_t k = ms;
            while (k > seg) {
                size_t p = k - 1;
                while (p > seg && ((uint8_t)s[p] & 0xC0) == 0x80) p--;
                int32_t cp;
                if (!tk_utf8_decode(s + p, k - p, &cp) || !tk_is_whitespace(cp)) break;
                k = p;
            }
            ms = k;
        }
        if (best->rstrip) {
            int32_t cp; int l;
            while (me < len && (l = tk_utf8_decode(s + me, len - me, &cp)) && tk_is_whitespace(cp)) me += l;
        }
        int rc = gap(c, s + seg, ms - seg, first && seg == 0);
        if (!rc) rc = tk_ids_push(&c->out, best->id);
        if (rc) return rc;
        seg = i = me;
    }
    return gap(c, s + seg, len - seg, first && seg == 0);
}

static int gap_normalized(enc_ctx *c, const char *s, size_t len, bool first) {
    return split_added(c, s, len, first, 2, encode_normalized_text);
}

static int gap_raw(enc_ctx *c, const char *s, size_t len, bool first) {
    if (!len) return PL_OK;
    if (!c->t->norm) return gap_normalized(c, s, len, first);
    tk_buf nb = {0};
    int rc = tk_normalize(c->t->norm, s, len, &nb);
    if (!rc) rc = gap_normalized(c, nb.p ? nb.p : "", nb.n, first);
    free(nb.p);
    return rc;
}

int pl_tokenize(const pl_tokenizer *tok, const char *text, size_t len, int32_t *ids, int cap, bool add_special) {
    if (!tok || (!text && len) || cap < 0 || (cap > 0 && !ids)) return pl_error(PL_ERR_ARG, "pl_tokenize: bad arguments");
    if (len > (size_t)INT32_MAX / 4) return pl_error(PL_ERR_ARG, "pl_tokenize: text too long");
    tk_buf clean = {0};
    int rc = tk_utf8_lossy(&clean, text ? text : "", len);
    enc_ctx c = {.t = tok};
    if (!rc) {
        c.bw = tk_bpe_work_new(clean.n > 4096);
        if (!c.bw) rc = PL_ERR_NOMEM;
    }
    if (!rc && add_special)
        for (int i = 0; i < tok->post.n_pre && !rc; i++) rc = tk_ids_push(&c.out, tok->post.pre[i]);
    if (!rc) rc = split_added(&c, clean.p, clean.n, true, 1, gap_raw);
    if (!rc && add_special)
        for (int i = 0; i < tok->post.n_post && !rc; i++) rc = tk_ids_push(&c.out, tok->post.post[i]);
    int n = c.out.n;
    if (!rc && ids && n > 0 && cap > 0) memcpy(ids, c.out.v, (size_t)PL_MIN(n, cap) * sizeof *ids);
    free(clean.p); free(c.out.v);
    tk_pieces_free(&c.ps); tk_pieces_free(&c.scratch);
    tk_bpe_work_free(c.bw);
    if (rc == PL_ERR_NOMEM) pl_error(rc, "pl_tokenize: out of memory");
    return rc ? rc : n;
}

/* ---- decoding ---------------------------------------------------------------------------------------- */
int pl_detokenize(const pl_tokenizer *tok, const int32_t *ids, int n, char *out, size_t cap, bool skip_special) {
    if (!tok || n < 0 || (n && !ids) || (cap && !out)) return pl_error(PL_ERR_ARG, "pl_detokenize: bad arguments");
    tk_buf b = {0};
    int rc = tk_decode_tokens(tok, ids, n, skip_special, &b);
    if (!rc && b.n > (size_t)INT32_MAX) rc = pl_error(PL_ERR_ARG, "pl_detokenize: text too long");
    if (!rc && cap) {
        size_t k = PL_MIN(b.n, cap - 1);
        memcpy(out, b.p, k);
        out[k] = 0;
    }
    int r = rc ? rc : (int)b.n;
    free(b.p);
    return r;
}

int pl_tokenizer_n_vocab(const pl_tokenizer *tok) { return tok ? tok->n_total : 0; }
int32_t pl_tokenizer_bos(const pl_tokenizer *tok) { return tok ? tok->bos_id : -1; }
int32_t pl_tokenizer_eos(const pl_tokenizer *tok) { return tok ? tok->eos_id : -1; }

int32_t pl_tokenizer_token_id(const pl_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    size_t n = strlen(token);
    for (int i = 0; i < tok->n_added; i++)
        if (tok->added[i].len == n && !memcmp(tok->added[i].content, token, n)) return tok->added[i].id;
    return tk_strmap_get(&tok->model.vocab, token, n);
}

const char *pl_tokenizer_token_str(const pl_tokenizer *tok, int32_t id, size_t *len) {
    if (!tok || id < 0 || id >= tok->n_total || !tok->id_str[id]) return NULL;
    if (len) *len = tok->id_len[id];
    return tok->id_str[id];
}

bool pl_tokenizer_is_special(const pl_tokenizer *tok, int32_t id) {
    return tok && id >= 0 && id < tok->n_total && tok->id_special[id];
}

/* ---- streaming decoder ------------------------------------------------------------------------------- */
/* Keeps a window of ids that starts at the last token already emitted: the window decodes to the emitted
 * prefix + new text; new text is released unless it ends in U+FFFD from an incomplete character (an open UTF-8
 * sequence that later tokens may complete). A U+FFFD that no later token can change is released at once and
 * special tokens that decode to nothing never enter, so the window stays a few tokens long. */
struct pl_detok_stream {
    const pl_tokenizer *tok;
    bool skip_special;
    tk_ids win;
    size_t prefix_len;      /* bytes of decode(win[0 .. prefix_ids)) */
    int prefix_ids;
    tk_buf text, outb;
};

pl_detok_stream *pl_detok_stream_new(const pl_tokenizer *tok, bool skip_special) {
    if (!tok) return pl_error_null(PL_ERR_ARG, "pl_detok_stream_new: no tokenizer");
    pl_detok_stream *s = pl_calloc(1, sizeof *s);
    if (s) { s->tok = tok; s->skip_special = skip_special; }
    return s;
}

static const char *stream_emit(pl_detok_stream *s, size_t *len, bool final) {
    s->text.n = 0;
    if (tk_decode_tokens(s->tok, s->win.v, s->win.n, s->skip_special, &s->text)) { s->win.n--; return NULL; }
    s->outb.n = 0;
    if (tk_buf_put(&s->outb, "", 0)) return NULL;
    bool held = s->text.n >= 3 && !memcmp(s->text.p + s->text.n - 3, "\xEF\xBF\xBD", 3) &&
                tk_decode_tail_open(s->tok, s->win.v, s->win.n, s->skip_special);
    if (s->text.n > s->prefix_len && (final || !held)) {
        if (tk_buf_put(&s->outb, s->text.p + s->prefix_len, s->text.n - s->prefix_len)) return NULL;
        /* New window: the ids after the old prefix, whose decoding is now the prefix. */
        int drop = s->prefix_ids;
        memmove(s->win.v, s->win.v + drop, (size_t)(s->win.n - drop) * sizeof *s->win.v);
        s->win.n -= drop;
        s->prefix_ids = s->win.n;
        s->text.n = 0;
        if (tk_decode_tokens(s->tok, s->win.v, s->win.n, s->skip_special, &s->text)) return NULL;
        s->prefix_len = s->text.n;
    }
    if (len) *len = s->outb.n;
    return s->outb.p;
}

const char *pl_detok_stream_step(pl_detok_stream *s, int32_t id, size_t *len) {
    if (!s) return pl_error_null(PL_ERR_ARG, "pl_detok_stream_step: no stream");
    if (s->skip_special && pl_tokenizer_is_special(s->tok, id)) {   /* decodes to nothing: keep the window short */
        if (len) *len = 0;
        return "";
    }
    if (tk_ids_push(&s->win, id)) return NULL;
    return stream_emit(s, len, false);
}

const char *pl_detok_stream_flush(pl_detok_stream *s, size_t *len) {
    if (!s) return pl_error_null(PL_ERR_ARG, "pl_detok_stream_flush: no stream");
    return stream_emit(s, len, true);
}

void pl_detok_stream_free(pl_detok_stream *s) {
    if (!s) return;
    free(s->win.v); free(s->text.p); free(s->outb.p);
    free(s);
}
