/* Loader for tokenizers stored in GGUF metadata (tokenizer.ggml.*): "gpt2" (byte-level BPE with merges,
 * pre-tokenizer chosen by tokenizer.ggml.pre), "llama" (SentencePiece BPE with scores and byte fallback)
 * and "bert" (WordPiece). It builds the same pipeline a Hugging Face tokenizer.json for that model
 * describes, so encoding and decoding run through the same code as JSON-loaded tokenizers. */
#include "tokenizer/tokenizer.h"

#include "io/gguf.h"

#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define LLAMA3_RE "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_RE "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

static tk_pre *pre_new(tk_pre_kind kind, const char *re) {
    tk_pre *p = pl_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->kind = kind;
    if (re && kind == TK_PRE_SPLIT && !(p->re_src = pl_strdup(re))) { free(p); return NULL; }
    if (re && !(p->re = tk_regex_compile(re, strlen(re)))) { free(p->re_src); free(p); return NULL; }
    return p;
}

/* Move *src into dst[i] (the Sequence item arrays hold structs, not pointers). */
static void pre_take(tk_pre *dst, tk_pre *src) { *dst = *src; free(src); }

static int gpt2_pre(pl_tokenizer *t, const char *pre) {
    tk_pre *seq = pl_calloc(1, sizeof *seq);
    if (!seq) return PL_ERR_NOMEM;
    seq->kind = TK_PRE_SEQUENCE;
    seq->items = pl_calloc(2, sizeof *seq->items);
    t->pre = seq;
    if (!seq->items) return PL_ERR_NOMEM;
    tk_pre *a = NULL, *b = NULL;
    if (!pre || !strcmp(pre, "gpt2") || !strcmp(pre, "default")) {
        a = pre_new(TK_PRE_BYTELEVEL, GPT2_RE);
    } else if (!strcmp(pre, "smollm")) {   /* SmolLM's tokenizer.json: Digits(individual) + ByteLevel */
        a = pre_new(TK_PRE_DIGITS, NULL);
        if (a) a->individual_digits = true;
        b = pre_new(TK_PRE_BYTELEVEL, GPT2_RE);
    } else if (!strcmp(pre, "llama3") || !strcmp(pre, "llama-bpe") || !strcmp(pre, "qwen2")) {
        a = pre_new(TK_PRE_SPLIT, strcmp(pre, "qwen2") ? LLAMA3_RE : QWEN2_RE);
        if (a) a->behavior = TK_SPLIT_ISOLATED;
        b = pre_new(TK_PRE_BYTELEVEL, NULL);
        t->model.ignore_merges = strcmp(pre, "qwen2") != 0;
    } else {
        return pl_error(PL_ERR_UNSUPPORTED, "gguf tokenizer: tokenizer.ggml.pre '%s' is not supported", pre);
    }
    if (!a || (pre && strcmp(pre, "gpt2") && strcmp(pre, "default") && !b)) { free(a); free(b); return PL_ERR_NOMEM; }
    pre_take(&seq->items[seq->n_items++], a);
    if (b) pre_take(&seq->items[seq->n_items++], b);
    return PL_OK;
}

static int load_vocab(pl_tokenizer *t, const pl_gguf *g, const char *model) {
    tk_model *m = &t->model;
    int64_t ki = pl_gguf_find_key(g, "tokenizer.ggml.tokens");
    int64_t n = ki >= 0 ? pl_gguf_arr_n(g, ki) : -1;
    if (n <= 0 || n > 10000000 || pl_gguf_arr_type(g, ki) != PL_GGUF_STR)
        return pl_error(PL_ERR_FORMAT, "gguf tokenizer: tokenizer.ggml.tokens missing or not a string array");
    m->n_vocab = (int)n;
    m->tokens = pl_calloc((size_t)n + 1, sizeof *m->tokens);
    m->token_len = pl_calloc((size_t)n + 1, sizeof *m->token_len);
    if (!m->tokens || !m->token_len) return PL_ERR_NOMEM;
    bool bert = !strcmp(model, "bert");
    for (int64_t i = 0; i < n; i++) {
        size_t len; const char *s = pl_gguf_arr_str(g, ki, i, &len);
        if (!s) return pl_error(PL_ERR_FORMAT, "gguf tokenizer: token %lld unreadable", (long long)i);
        tk_buf b = {0};
        /* llama.cpp's BERT conversion marks word starts with U+2581 and drops "##": undo it. */
        if (bert && len >= 3 && !memcmp(s, "\xE2\x96\x81", 3)) { if (tk_buf_put(&b, s + 3, len - 3)) return PL_ERR_NOMEM; }
        else if (bert && !(len >= 2 && s[0] == '[' && s[len - 1] == ']')) {
            if (tk_buf_put(&b, "##", 2) || tk_buf_put(&b, s, len)) return PL_ERR_NOMEM;
        } else if (tk_buf_put(&b, s, len)) return PL_ERR_NOMEM;
        m->tokens[i] = b.p; m->token_len[i] = (uint32_t)b.n;
    }
    for (int64_t i = n - 1; i >= 0; i--)
        if (tk_strmap_put(&m->vocab, m->tokens[i], m->token_len[i], (int32_t)i)) return PL_ERR_NOMEM;
    int64_t si = pl_gguf_find_key(g, "tokenizer.ggml.scores");
    if (si >= 0 && pl_gguf_arr_n(g, si) == n && pl_gguf_arr_type(g, si) == PL_GGUF_F32) {
        m->scores = pl_malloc((size_t)n * sizeof *m->scores);
        if (!m->scores) return PL_ERR_NOMEM;
        memcpy(m->scores, pl_gguf_arr_data(g, si), (size_t)n * sizeof *m->scores);
    }
    return PL_OK;
}

static int load_merges(tk_model *m, const pl_gguf *g, int64_t ki) {
    int64_t n = pl_gguf_arr_n(g, ki);
    if (pl_gguf_arr_type(g, ki) != PL_GGUF_STR) return pl_error(PL_ERR_FORMAT, "gguf tokenizer: merges are not strings");
    tk_buf ab = {0};
    for (int64_t r = 0; r < n; r++) {
        size_t len; const char *s = pl_gguf_arr_str(g, ki, r, &len);
        const char *sp = s ? memchr(s, ' ', len) : NULL;
        if (!sp) { free(ab.p); return pl_error(PL_ERR_FORMAT, "gguf tokenizer: merge %lld has no space", (long long)r); }
        size_t la = (size_t)(sp - s), lb = len - la - 1;
        ab.n = 0;
        if (tk_buf_put(&ab, s, la) || tk_buf_put(&ab, sp + 1, lb)) { free(ab.p); return PL_ERR_NOMEM; }
        int32_t a = tk_strmap_get(&m->vocab, s, la), b = tk_strmap_get(&m->vocab, sp + 1, lb);
        int32_t id = tk_strmap_get(&m->vocab, ab.p, ab.n);
        if (a < 0 || b < 0 || id < 0) { free(ab.p); return pl_error(PL_ERR_FORMAT, "gguf tokenizer: merge %lld uses unknown tokens", (long long)r); }
        if (tk_pairmap_put(&m->merges, a, b, (int32_t)r, id)) { free(ab.p); return PL_ERR_NOMEM; }
    }
    free(ab.p);
    return PL_OK;
}

static const float *g_scores;   /* qsort context (load time only, single call chain) */
static int score_cmp(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    if (g_scores[a] != g_scores[b]) return g_scores[a] > g_scores[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

static int score_ranks(tk_model *m) {
    if (!m->scores) return pl_error(PL_ERR_FORMAT, "gguf tokenizer: llama vocabulary without merges or scores");
    int32_t *order = pl_malloc((size_t)m->n_vocab * sizeof *order);
    m->score_rank = pl_malloc((size_t)m->n_vocab * sizeof *m->score_rank);
    if (!order || !m->score_rank) { free(order); return PL_ERR_NOMEM; }
    for (int i = 0; i < m->n_vocab; i++) order[i] = i;
    g_scores = m->scores;
    qsort(order, (size_t)m->n_vocab, sizeof *order, score_cmp);
    for (int i = 0; i < m->n_vocab; i++) m->score_rank[order[i]] = i;
    free(order);
    m->merges_by_score = true;
    return PL_OK;
}

static tk_dec *dec_seq(int n) {
    tk_dec *d = pl_calloc(1, sizeof *d);
    if (!d) return NULL;
    d->kind = TK_DEC_SEQUENCE;
    d->items = pl_calloc((size_t)n, sizeof *d->items);
    if (!d->items) { free(d); return NULL; }
    d->n_items = n;
    return d;
}

static int setup_llama(pl_tokenizer *t, const pl_gguf *g) {
    tk_model *m = &t->model;
    m->byte_fallback = m->fuse_unk = true;
    bool prefix = pl_gguf_get_int(g, "tokenizer.ggml.add_space_prefix", 1) != 0;
    /* As transformers builds a GGUF "llama" vocabulary (LlamaTokenizer): no normalizer, Metaspace with
     * prepend_scheme "first" and no split. Unlike a Prepend("\u2581") normalizer (and llama.cpp), it adds
     * no U+2581 to text that already starts with a space ("  x" -> "\u2581\u2581x", not three). */
    t->pre = pre_new(TK_PRE_METASPACE, NULL);
    if (!t->pre || !(t->pre->str = pl_strdup("\xE2\x96\x81"))) return PL_ERR_NOMEM;
    t->pre->str_len = 3;
    t->pre->prepend = prefix ? TK_PREPEND_FIRST : TK_PREPEND_NEVER;
    t->pre->split = false;
    if (!(t->dec = dec_seq(prefix ? 4 : 3))) return PL_ERR_NOMEM;
    t->dec->items[0] = (tk_dec){.kind = TK_DEC_REPLACE, .a = pl_strdup("\xE2\x96\x81"), .b = pl_strdup(" ")};
    t->dec->items[1] = (tk_dec){.kind = TK_DEC_BYTEFALLBACK};
    t->dec->items[2] = (tk_dec){.kind = TK_DEC_FUSE};
    if (prefix) t->dec->items[3] = (tk_dec){.kind = TK_DEC_STRIP, .a = pl_strdup(" "), .start = 1};
    int64_t mi = pl_gguf_find_key(g, "tokenizer.ggml.merges");
    return mi >= 0 ? load_merges(m, g, mi) : score_ranks(m);
}

static int setup_bert(pl_tokenizer *t, const pl_gguf *g) {
    tk_model *m = &t->model;
    m->kind = TK_MODEL_WORDPIECE;
    m->prefix = pl_strdup("##");
    m->max_input_chars = 100;
    t->norm = pl_calloc(1, sizeof *t->norm);
    t->pre = pl_calloc(1, sizeof *t->pre);
    t->dec = pl_calloc(1, sizeof *t->dec);
    if (!t->norm || !t->pre || !t->dec || !m->prefix) return PL_ERR_NOMEM;
    *t->norm = (tk_norm){.kind = TK_NORM_BERT, .clean_text = true, .chinese = true, .strip_accents = true, .lowercase = true};
    t->pre->kind = TK_PRE_BERT;
    *t->dec = (tk_dec){.kind = TK_DEC_WORDPIECE, .a = pl_strdup("##"), .cleanup = true};
    (void)g;
    return PL_OK;
}

static int add_specials(pl_tokenizer *t, const pl_gguf *g) {
    int64_t ti = pl_gguf_find_key(g, "tokenizer.ggml.token_type");
    if (ti < 0) return PL_OK;
    if (pl_gguf_arr_n(g, ti) != t->model.n_vocab || pl_gguf_arr_type(g, ti) != PL_GGUF_I32)
        return pl_error(PL_ERR_FORMAT, "gguf tokenizer: token_type has the wrong length or type");
    const int32_t *tt = pl_gguf_arr_data(g, ti);
    for (int i = 0; i < t->model.n_vocab; i++) {
        /* The unknown token ("<unk>") is matched whole in text too, as special: transformers registers it
         * as the unk special token and llama.cpp treats UNKNOWN like CONTROL when splitting out specials. */
        if (tt[i] != TT_CONTROL && tt[i] != TT_USER && tt[i] != TT_UNKNOWN) continue;
        if (!t->model.token_len[i]) continue;
        int rc = tk_add_added(t, t->model.tokens[i], t->model.token_len[i], i, tt[i] != TT_USER, false, false, false, false);
        if (rc) return rc;
    }
    return PL_OK;
}

/* What pl_tokenizer_save_hf writes to tokenizer_config.json besides the tokens: the chat template and the
 * model's context length (transformers' model_max_length). */
static int keep_config(pl_tokenizer *t, const pl_gguf *g) {
    size_t len;
    const char *tmpl = pl_gguf_get_str(g, "tokenizer.chat_template", &len);
    if (tmpl) {
        if (!(t->chat_template = pl_malloc(len + 1))) return PL_ERR_NOMEM;
        memcpy(t->chat_template, tmpl, len);
        t->chat_template[len] = 0;
    }
    const char *arch = pl_gguf_get_str(g, "general.architecture", NULL);
    if (arch && strlen(arch) < 200) {
        char key[256];
        snprintf(key, sizeof key, "%s.context_length", arch);
        int64_t n = pl_gguf_get_int(g, key, -1);
        t->model_max_length = n > 0 ? n : -1;
    }
    return PL_OK;
}

static int32_t get_id(const pl_tokenizer *t, const pl_gguf *g, const char *key) {
    int64_t v = pl_gguf_get_int(g, key, -1);
    return v >= 0 && v < t->model.n_vocab ? (int32_t)v : -1;
}

int tk_load_gguf(pl_tokenizer *t, const char *path) {
    pl_gguf *g = pl_gguf_open(path);
    if (!g) return PL_ERR_FORMAT;
    int rc = PL_OK;
    const char *model = pl_gguf_get_str(g, "tokenizer.ggml.model", NULL);
    if (!model) rc = pl_error(PL_ERR_FORMAT, "gguf tokenizer: %s has no tokenizer.ggml.model", path);
    else if (strcmp(model, "gpt2") && strcmp(model, "llama") && strcmp(model, "bert"))
        rc = pl_error(PL_ERR_UNSUPPORTED, "gguf tokenizer: tokenizer.ggml.model '%s' is not supported", model);
    if (!rc) rc = load_vocab(t, g, model);
    tk_model *m = &t->model;
    if (!rc) {
        m->unk_id = get_id(t, g, "tokenizer.ggml.unknown_token_id");
        t->bos_id = get_id(t, g, "tokenizer.ggml.bos_token_id");
        t->eos_id = get_id(t, g, "tokenizer.ggml.eos_token_id");
        t->pad_id = get_id(t, g, "tokenizer.ggml.padding_token_id");
    }
    bool add_bos = false, add_eos = false;
    if (!rc && !strcmp(model, "gpt2")) {
        m->kind = TK_MODEL_BPE;
        m->byte_level = true;
        m->unk_id = -1;   /* byte-level BPE covers every byte */
        rc = gpt2_pre(t, pl_gguf_get_str(g, "tokenizer.ggml.pre", NULL));
        if (!rc) rc = (t->dec = pl_calloc(1, sizeof *t->dec)) ? PL_OK : PL_ERR_NOMEM;
        if (!rc) t->dec->kind = TK_DEC_BYTELEVEL;
        int64_t mi = pl_gguf_find_key(g, "tokenizer.ggml.merges");
        if (!rc) rc = mi >= 0 ? load_merges(m, g, mi) : pl_error(PL_ERR_FORMAT, "gguf tokenizer: gpt2 model without merges");
        add_bos = pl_gguf_get_int(g, "tokenizer.ggml.add_bos_token", 0) != 0;
    } else if (!rc && !strcmp(model, "llama")) {
        m->kind = TK_MODEL_BPE;
        rc = setup_llama(t, g);
        add_bos = pl_gguf_get_int(g, "tokenizer.ggml.add_bos_token", 1) != 0;
    } else if (!rc) {
        rc = setup_bert(t, g);
        int32_t cls = get_id(t, g, "tokenizer.ggml.cls_token_id"), sep = get_id(t, g, "tokenizer.ggml.seperator_token_id");
        t->bos_id = cls >= 0 ? cls : t->bos_id;
        t->eos_id = sep >= 0 ? sep : t->eos_id;
        add_bos = add_eos = true;
    }
    if (!rc) add_eos = pl_gguf_get_int(g, "tokenizer.ggml.add_eos_token", add_eos) != 0;
    if (!rc) rc = add_specials(t, g);
    if (!rc) rc = keep_config(t, g);
    if (!rc && add_bos && t->bos_id >= 0) {
        rc = (t->post.pre = pl_malloc(sizeof(int32_t))) ? PL_OK : PL_ERR_NOMEM;
        if (!rc) t->post.pre[t->post.n_pre++] = t->bos_id;
    }
    if (!rc && add_eos && t->eos_id >= 0) {
        rc = (t->post.post = pl_malloc(sizeof(int32_t))) ? PL_OK : PL_ERR_NOMEM;
        if (!rc) t->post.post[t->post.n_post++] = t->eos_id;
    }
    pl_gguf_close(g);
    if (rc == PL_ERR_NOMEM) pl_error(rc, "gguf tokenizer: out of memory");
    return rc;
}
