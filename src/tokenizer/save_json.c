/* pl_tokenizer_save_hf: a loaded tokenizer (from a tokenizer.json or from GGUF tokenizer.ggml.* metadata)
 * written back as the Hugging Face files transformers loads as is: tokenizer.json (the pipeline of
 * tokenizer.h, component by component: the inverse of load_json.c), tokenizer_config.json and
 * special_tokens_map.json. GGUF "llama" vocabularies that merge by score get explicit merges in score order.
 * The layout of the files is in docs/formats.md. */
#include "tokenizer/tokenizer.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

/* Building a document: every helper records the first failure in *rc and then does nothing, so the
 * builders read as straight lists of fields and check once at the end. */
static cJSON *put(cJSON *parent, const char *key, cJSON *v, int *rc) {
    if (*rc || !parent || !v) {
        cJSON_Delete(v);
        if (!*rc) *rc = PL_ERR_NOMEM;
        return NULL;
    }
    if (!(key ? cJSON_AddItemToObject(parent, key, v) : cJSON_AddItemToArray(parent, v))) {
        cJSON_Delete(v);
        *rc = PL_ERR_NOMEM;
        return NULL;
    }
    return v;
}

/* A token as a JSON string: JSON holds only valid UTF-8 without NUL, so anything else is refused. */
static bool tok_ok(const char *s, size_t n, int *rc) {
    if (*rc) return false;
    if (!s || memchr(s, 0, n) || !pl_utf8_valid(s, n)) {
        *rc = pl_error(PL_ERR_UNSUPPORTED, "pl_tokenizer_save_hf: token '%.40s' is not valid UTF-8 text, which "
                       "tokenizer.json cannot hold", s ? s : "(none)");
        return false;
    }
    return true;
}

static cJSON *tok_str(const char *s, size_t n, int *rc) { return tok_ok(s, n, rc) ? cJSON_CreateString(s) : NULL; }

static void put_str(cJSON *o, const char *k, const char *s, int *rc) {
    put(o, k, s ? tok_str(s, strlen(s), rc) : cJSON_CreateNull(), rc);
}
static void put_bool(cJSON *o, const char *k, bool b, int *rc) { put(o, k, cJSON_CreateBool(b), rc); }
static void put_num(cJSON *o, const char *k, double v, int *rc) { put(o, k, cJSON_CreateNumber(v), rc); }
/* A score, printed so that it reads back as the same double (cJSON's own printing may drop the last bit). */
static void put_exact(cJSON *o, const char *k, double v, int *rc) {
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    put(o, k, isfinite(v) ? cJSON_CreateRaw(buf) : NULL, rc);
}
static cJSON *put_obj(cJSON *o, const char *k, int *rc) { return put(o, k, cJSON_CreateObject(), rc); }
static cJSON *put_arr(cJSON *o, const char *k, int *rc) { return put(o, k, cJSON_CreateArray(), rc); }

static cJSON *typed(cJSON *parent, const char *key, const char *type, int *rc) {
    cJSON *o = put(parent, key, cJSON_CreateObject(), rc);
    put_str(o, "type", type, rc);
    return o;
}

/* {"String": s} or {"Regex": src} */
static void put_pattern(cJSON *o, const char *str, const char *re_src, int *rc) {
    cJSON *p = put_obj(o, "pattern", rc);
    if (str) put_str(p, "String", str, rc);
    else if (re_src) put_str(p, "Regex", re_src, rc);
    else if (!*rc) *rc = pl_error(PL_ERR_UNSUPPORTED, "pl_tokenizer_save_hf: a regex pattern without its source");
}

static const char *behavior_name(tk_split_behavior b) {
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    return names[b];
}

static const char *prepend_name(tk_prepend_scheme p) {
    return p == TK_PREPEND_NEVER ? "never" : p == TK_PREPEND_FIRST ? "first" : "always";
}

/* ---- normalizer, pre-tokenizer, decoder ----------------------------------------------------------------- */
static void norm_json(cJSON *parent, const char *key, const tk_norm *n, int *rc) {
    static const char *simple[] = {[TK_NORM_NFC] = "NFC", [TK_NORM_NFD] = "NFD", [TK_NORM_NFKC] = "NFKC",
                                   [TK_NORM_NFKD] = "NFKD", [TK_NORM_LOWERCASE] = "Lowercase",
                                   [TK_NORM_STRIP_ACCENTS] = "StripAccents"};
    cJSON *o;
    switch (n->kind) {
    case TK_NORM_NFC: case TK_NORM_NFD: case TK_NORM_NFKC: case TK_NORM_NFKD: case TK_NORM_LOWERCASE:
    case TK_NORM_STRIP_ACCENTS:
        typed(parent, key, simple[n->kind], rc);
        return;
    case TK_NORM_PREPEND:
        put_str(typed(parent, key, "Prepend", rc), "prepend", n->a, rc);
        return;
    case TK_NORM_REPLACE:
        o = typed(parent, key, "Replace", rc);
        put_pattern(o, n->a, n->re_src, rc);
        put_str(o, "content", n->b ? n->b : "", rc);
        return;
    case TK_NORM_BERT:
        o = typed(parent, key, "BertNormalizer", rc);
        put_bool(o, "clean_text", n->clean_text, rc);
        put_bool(o, "handle_chinese_chars", n->chinese, rc);
        put_bool(o, "strip_accents", n->strip_accents, rc);
        put_bool(o, "lowercase", n->lowercase, rc);
        return;
    case TK_NORM_STRIP:
        o = typed(parent, key, "Strip", rc);
        put_bool(o, "strip_left", n->left, rc);
        put_bool(o, "strip_right", n->right, rc);
        return;
    case TK_NORM_SEQUENCE: {
        cJSON *items = put_arr(typed(parent, key, "Sequence", rc), "normalizers", rc);
        for (int i = 0; i < n->n_items; i++) norm_json(items, NULL, &n->items[i], rc);
        return;
    }
    }
}

static void pre_json(cJSON *parent, const char *key, const tk_pre *p, int *rc) {
    cJSON *o;
    switch (p->kind) {
    case TK_PRE_BYTELEVEL:   /* use_regex: the GPT-2 regex, which is all load_json.c compiles for it */
        o = typed(parent, key, "ByteLevel", rc);
        put_bool(o, "add_prefix_space", p->add_prefix_space, rc);
        put_bool(o, "trim_offsets", true, rc);
        put_bool(o, "use_regex", p->re != NULL, rc);
        return;
    case TK_PRE_SPLIT:
        o = typed(parent, key, "Split", rc);
        put_pattern(o, p->str, p->re_src, rc);
        put_str(o, "behavior", behavior_name(p->behavior), rc);
        put_bool(o, "invert", p->invert, rc);
        return;
    case TK_PRE_METASPACE:
        o = typed(parent, key, "Metaspace", rc);
        put_str(o, "replacement", p->str, rc);
        put_str(o, "prepend_scheme", prepend_name(p->prepend), rc);
        put_bool(o, "split", p->split, rc);
        return;
    case TK_PRE_WHITESPACE: typed(parent, key, "Whitespace", rc); return;
    case TK_PRE_WHITESPACE_SPLIT: typed(parent, key, "WhitespaceSplit", rc); return;
    case TK_PRE_BERT: typed(parent, key, "BertPreTokenizer", rc); return;
    case TK_PRE_DIGITS: put_bool(typed(parent, key, "Digits", rc), "individual_digits", p->individual_digits, rc); return;
    case TK_PRE_PUNCT: put_str(typed(parent, key, "Punctuation", rc), "behavior", behavior_name(p->behavior), rc); return;
    case TK_PRE_SEQUENCE: {
        cJSON *items = put_arr(typed(parent, key, "Sequence", rc), "pretokenizers", rc);
        for (int i = 0; i < p->n_items; i++) pre_json(items, NULL, &p->items[i], rc);
        return;
    }
    }
}

static void dec_json(cJSON *parent, const char *key, const tk_dec *d, int *rc) {
    cJSON *o;
    switch (d->kind) {
    case TK_DEC_BYTELEVEL:
        o = typed(parent, key, "ByteLevel", rc);
        put_bool(o, "add_prefix_space", true, rc);
        put_bool(o, "trim_offsets", true, rc);
        put_bool(o, "use_regex", true, rc);
        return;
    case TK_DEC_METASPACE:
        o = typed(parent, key, "Metaspace", rc);
        put_str(o, "replacement", d->a, rc);
        put_str(o, "prepend_scheme", prepend_name(d->prepend), rc);
        put_bool(o, "split", true, rc);
        return;
    case TK_DEC_WORDPIECE:
        o = typed(parent, key, "WordPiece", rc);
        put_str(o, "prefix", d->a, rc);
        put_bool(o, "cleanup", d->cleanup, rc);
        return;
    case TK_DEC_BYTEFALLBACK: typed(parent, key, "ByteFallback", rc); return;
    case TK_DEC_FUSE: typed(parent, key, "Fuse", rc); return;
    case TK_DEC_STRIP:
        o = typed(parent, key, "Strip", rc);
        put_str(o, "content", d->a, rc);
        put_num(o, "start", d->start, rc);
        put_num(o, "stop", d->stop, rc);
        return;
    case TK_DEC_REPLACE:
        o = typed(parent, key, "Replace", rc);
        put_pattern(o, d->a, NULL, rc);
        put_str(o, "content", d->b ? d->b : "", rc);
        return;
    case TK_DEC_BPE: put_str(typed(parent, key, "BPEDecoder", rc), "suffix", d->a, rc); return;
    case TK_DEC_SEQUENCE: {
        cJSON *items = put_arr(typed(parent, key, "Sequence", rc), "decoders", rc);
        for (int i = 0; i < d->n_items; i++) dec_json(items, NULL, &d->items[i], rc);
        return;
    }
    }
}

/* ---- model ----------------------------------------------------------------------------------------------- */
/* An id's vocabulary entry, or NULL for a hole or a string an earlier id already holds (a JSON vocab maps
 * each string to one id; lookups give the lowest, as the loaders do). */
static const char *vocab_entry(const tk_model *m, int id) {
    if (!m->tokens[id] || tk_strmap_get(&m->vocab, m->tokens[id], m->token_len[id]) != id) return NULL;
    return m->tokens[id];
}

static void put_dict_vocab(cJSON *o, const tk_model *m, int *rc) {
    cJSON *v = put_obj(o, "vocab", rc);
    for (int id = 0; id < m->n_vocab && !*rc; id++) {
        const char *s = vocab_entry(m, id);
        if (s && tok_ok(s, m->token_len[id], rc)) put_num(v, s, id, rc);
    }
}

static void put_merge(cJSON *arr, const tk_model *m, int32_t a, int32_t b, int *rc) {
    cJSON *e = put(arr, NULL, cJSON_CreateArray(), rc);
    put(e, NULL, tok_str(m->tokens[a], m->token_len[a], rc), rc);
    put(e, NULL, tok_str(m->tokens[b], m->token_len[b], rc), rc);
}

static int slot_rank_cmp(const void *x, const void *y) {
    const tk_pairslot *a = *(const tk_pairslot *const *)x, *b = *(const tk_pairslot *const *)y;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

/* Merges from the file: the pair map's entries in rank order. */
static void put_rank_merges(cJSON *arr, const tk_model *m, int *rc) {
    const tk_pairslot **v = m->merges.n ? pl_malloc(m->merges.n * sizeof *v) : NULL;
    if (m->merges.n && !v) { *rc = PL_ERR_NOMEM; return; }
    size_t n = 0;
    for (size_t i = 0; i < m->merges.cap; i++)
        if (m->merges.slots[i].key) v[n++] = &m->merges.slots[i];
    if (n) qsort(v, n, sizeof *v, slot_rank_cmp);
    for (size_t i = 0; i < n && !*rc; i++) {
        uint64_t k = v[i]->key - 1;   /* tk_util.c: key = (a << 32 | b) + 1 */
        put_merge(arr, m, (int32_t)(k >> 32), (int32_t)(uint32_t)k, rc);
    }
    free(v);
}

/* A GGUF "llama" vocabulary without merges merges the pair whose joined string is the best-scoring token
 * (bpe.c). As explicit merges: every token in score order, each split of it into two vocabulary tokens
 * (longer left part first, as transformers' generate_merges orders them). */
static void put_score_merges(cJSON *arr, const tk_model *m, int *rc) {
    int32_t *order = pl_malloc((size_t)m->n_vocab * sizeof *order);
    if (!order) { *rc = PL_ERR_NOMEM; return; }
    for (int i = 0; i < m->n_vocab; i++) order[m->score_rank[i]] = i;
    for (int r = 0; r < m->n_vocab && !*rc; r++) {
        int32_t t = order[r];
        const char *s = vocab_entry(m, t);
        if (!s) continue;
        for (int k = (int)m->token_len[t] - 1; k > 0 && !*rc; k--) {
            if (((uint8_t)s[k] & 0xC0) == 0x80) continue;   /* not a character boundary */
            int32_t a = tk_strmap_get(&m->vocab, s, (size_t)k);
            int32_t b = tk_strmap_get(&m->vocab, s + k, m->token_len[t] - (size_t)k);
            if (a >= 0 && b >= 0) put_merge(arr, m, a, b, rc);
        }
    }
    free(order);
}

static const char *id_token(const pl_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_total ? t->id_str[id] : NULL;
}

static void model_json(cJSON *root, const pl_tokenizer *t, int *rc) {
    const tk_model *m = &t->model;
    cJSON *o = put_obj(root, "model", rc);
    const char *unk = m->unk_id >= 0 && m->unk_id < m->n_vocab ? m->tokens[m->unk_id] : NULL;
    switch (m->kind) {
    case TK_MODEL_BPE:
        put_str(o, "type", "BPE", rc);
        put(o, "dropout", cJSON_CreateNull(), rc);
        put_str(o, "unk_token", unk, rc);
        put_str(o, "continuing_subword_prefix", m->prefix, rc);
        put_str(o, "end_of_word_suffix", m->suffix, rc);
        put_bool(o, "fuse_unk", m->fuse_unk, rc);
        put_bool(o, "byte_fallback", m->byte_fallback, rc);
        put_bool(o, "ignore_merges", m->ignore_merges, rc);
        put_dict_vocab(o, m, rc);
        cJSON *merges = put_arr(o, "merges", rc);
        if (m->merges_by_score) put_score_merges(merges, m, rc);
        else put_rank_merges(merges, m, rc);
        return;
    case TK_MODEL_UNIGRAM: {
        put_str(o, "type", "Unigram", rc);
        put(o, "unk_id", m->unk_id >= 0 ? cJSON_CreateNumber(m->unk_id) : cJSON_CreateNull(), rc);
        cJSON *v = put_arr(o, "vocab", rc);
        for (int id = 0; id < m->n_vocab && !*rc; id++) {
            cJSON *e = put(v, NULL, cJSON_CreateArray(), rc);
            put(e, NULL, tok_str(m->tokens[id], m->token_len[id], rc), rc);
            put_exact(e, NULL, m->uscores[id], rc);
        }
        put_bool(o, "byte_fallback", m->byte_fallback, rc);
        return;
    }
    case TK_MODEL_WORDPIECE:
        put_str(o, "type", "WordPiece", rc);
        put_str(o, "unk_token", unk ? unk : "[UNK]", rc);
        put_str(o, "continuing_subword_prefix", m->prefix ? m->prefix : "##", rc);
        put_num(o, "max_input_chars_per_word", m->max_input_chars, rc);
        put_dict_vocab(o, m, rc);
        return;
    }
}

/* ---- post-processor: what add_special adds, as a template ------------------------------------------------ */
static void put_special(cJSON *seq, cJSON *specials, const pl_tokenizer *t, int32_t id, int type_id, int *rc) {
    const char *s = id_token(t, id);
    if (!s) {
        if (!*rc) *rc = pl_error(PL_ERR_FORMAT, "pl_tokenizer_save_hf: post-processor id %d has no token", id);
        return;
    }
    cJSON *st = put_obj(put_obj(seq, NULL, rc), "SpecialToken", rc);
    put_str(st, "id", s, rc);
    put_num(st, "type_id", type_id, rc);
    if (*rc || cJSON_GetObjectItemCaseSensitive(specials, s)) return;
    cJSON *e = put_obj(specials, s, rc);
    put_str(e, "id", s, rc);
    put_num(put_arr(e, "ids", rc), NULL, id, rc);
    put_str(put_arr(e, "tokens", rc), NULL, s, rc);
}

static void put_sequence(cJSON *seq, const char *name, int type_id, int *rc) {
    cJSON *s = put_obj(put_obj(seq, NULL, rc), "Sequence", rc);
    put_str(s, "id", name, rc);
    put_num(s, "type_id", type_id, rc);
}

/* single: PRE $A POST. pair (plinth never encodes pairs; written for transformers): BERT's
 * "[CLS] $A [SEP] $B:1 [SEP]:1" for WordPiece, else Llama's "<s> $A </s> <s> $B </s>" pattern. */
static void template_json(cJSON *parent, const char *key, const pl_tokenizer *t, int *rc) {
    const tk_post *p = &t->post;
    cJSON *o = typed(parent, key, "TemplateProcessing", rc);
    cJSON *single = put_arr(o, "single", rc), *pair = put_arr(o, "pair", rc);
    cJSON *specials = cJSON_CreateObject();   /* added to o last, to keep HF's field order */
    for (int i = 0; i < p->n_pre; i++) put_special(single, specials, t, p->pre[i], 0, rc);
    put_sequence(single, "A", 0, rc);
    for (int i = 0; i < p->n_post; i++) put_special(single, specials, t, p->post[i], 0, rc);
    for (int i = 0; i < p->n_pre; i++) put_special(pair, specials, t, p->pre[i], 0, rc);
    put_sequence(pair, "A", 0, rc);
    for (int i = 0; i < p->n_post; i++) put_special(pair, specials, t, p->post[i], 0, rc);
    if (t->model.kind != TK_MODEL_WORDPIECE)
        for (int i = 0; i < p->n_pre; i++) put_special(pair, specials, t, p->pre[i], 1, rc);
    put_sequence(pair, "B", 1, rc);
    for (int i = 0; i < p->n_post; i++) put_special(pair, specials, t, p->post[i], 1, rc);
    put(o, "special_tokens", specials, rc);
}

static void post_json(cJSON *root, const pl_tokenizer *t, int *rc) {
    bool tmpl = t->post.n_pre || t->post.n_post, bytelevel = t->model.byte_level;
    if (!tmpl && !bytelevel) { put(root, "post_processor", cJSON_CreateNull(), rc); return; }
    cJSON *parent = root;
    const char *key = "post_processor";
    if (tmpl && bytelevel) {
        parent = put_arr(typed(root, key, "Sequence", rc), "processors", rc);
        key = NULL;
    }
    if (bytelevel) {   /* offsets only: byte-level tokenizers trim nothing from them */
        cJSON *o = typed(parent, key, "ByteLevel", rc);
        put_bool(o, "add_prefix_space", true, rc);
        put_bool(o, "trim_offsets", false, rc);
        put_bool(o, "use_regex", true, rc);
    }
    if (tmpl) template_json(parent, key, t, rc);
}

/* ---- tokenizer.json ---------------------------------------------------------------------------------------- */
static int added_id_cmp(const void *x, const void *y) {
    const tk_added *a = *(const tk_added *const *)x, *b = *(const tk_added *const *)y;
    return (a->id > b->id) - (a->id < b->id);
}

/* The added tokens in id order (t->added is sorted for matching); caller frees. */
static const tk_added **added_by_id(const pl_tokenizer *t, int *rc) {
    const tk_added **v = pl_malloc(((size_t)t->n_added + 1) * sizeof *v);
    if (!v) { *rc = PL_ERR_NOMEM; return NULL; }
    for (int i = 0; i < t->n_added; i++) v[i] = &t->added[i];
    if (t->n_added) qsort(v, (size_t)t->n_added, sizeof *v, added_id_cmp);
    return v;
}

static void put_added_fields(cJSON *o, const tk_added *a, bool with_id, int *rc) {
    if (with_id) put_num(o, "id", a->id, rc);
    put(o, "content", tok_str(a->content, a->len, rc), rc);
    put_bool(o, "single_word", a->single_word, rc);
    put_bool(o, "lstrip", a->lstrip, rc);
    put_bool(o, "rstrip", a->rstrip, rc);
    put_bool(o, "normalized", a->normalized, rc);
    put_bool(o, "special", a->special, rc);
}

static char *tokenizer_json(const pl_tokenizer *t, const tk_added **added, int *rc) {
    cJSON *root = cJSON_CreateObject();
    if (!root) { *rc = PL_ERR_NOMEM; return NULL; }
    put_str(root, "version", "1.0", rc);
    put(root, "truncation", cJSON_CreateNull(), rc);
    put(root, "padding", cJSON_CreateNull(), rc);
    cJSON *arr = put_arr(root, "added_tokens", rc);
    for (int i = 0; i < t->n_added; i++) put_added_fields(put_obj(arr, NULL, rc), added[i], true, rc);
    if (t->norm) norm_json(root, "normalizer", t->norm, rc);
    else put(root, "normalizer", cJSON_CreateNull(), rc);
    if (t->pre) pre_json(root, "pre_tokenizer", t->pre, rc);
    else put(root, "pre_tokenizer", cJSON_CreateNull(), rc);
    post_json(root, t, rc);
    if (t->dec) dec_json(root, "decoder", t->dec, rc);
    else put(root, "decoder", cJSON_CreateNull(), rc);
    model_json(root, t, rc);
    char *s = *rc ? NULL : cJSON_PrintBuffered(root, 1 << 22, true);
    if (!*rc && !s) *rc = PL_ERR_NOMEM;
    cJSON_Delete(root);
    return s;
}

/* ---- tokenizer_config.json, special_tokens_map.json -------------------------------------------------------- */
typedef struct { const char *name; int32_t id; } special_role;

/* The named special tokens: BOS/EOS/UNK/PAD, and BERT's CLS/SEP/MASK for WordPiece. */
static int special_roles(const pl_tokenizer *t, special_role *r) {
    int n = 0;
    r[n++] = (special_role){"bos_token", t->bos_id};
    r[n++] = (special_role){"eos_token", t->eos_id};
    r[n++] = (special_role){"unk_token", t->model.unk_id};
    r[n++] = (special_role){"pad_token", t->pad_id};
    if (t->model.kind == TK_MODEL_WORDPIECE) {
        r[n++] = (special_role){"cls_token", t->bos_id};
        r[n++] = (special_role){"sep_token", t->eos_id};
        r[n++] = (special_role){"mask_token", tk_strmap_get(&t->model.vocab, "[MASK]", 6)};
    }
    return n;
}

static char *print_doc(cJSON *root, int *rc) {
    char *s = *rc ? NULL : cJSON_Print(root);
    if (!*rc && !s) *rc = PL_ERR_NOMEM;
    cJSON_Delete(root);
    return s;
}

static char *config_json(const pl_tokenizer *t, const tk_added **added, int *rc) {
    cJSON *root = cJSON_CreateObject();
    if (!root) { *rc = PL_ERR_NOMEM; return NULL; }
    const tk_post *p = &t->post;
    put_bool(root, "add_bos_token", p->n_pre > 0 && p->pre[0] == t->bos_id, rc);
    put_bool(root, "add_eos_token", p->n_post > 0 && p->post[p->n_post - 1] == t->eos_id, rc);
    cJSON *dec = put_obj(root, "added_tokens_decoder", rc);
    for (int i = 0; i < t->n_added; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", added[i]->id);
        put_added_fields(put_obj(dec, id, rc), added[i], false, rc);
    }
    special_role roles[8];
    int nr = special_roles(t, roles);
    for (int i = 0; i < nr; i++) {
        const char *s = id_token(t, roles[i].id);
        if (s) put_str(root, roles[i].name, s, rc);
    }
    if (t->chat_template) put_str(root, "chat_template", t->chat_template, rc);
    /* the decoder already did any cleanup tokenizers does; transformers must not do its own on top */
    put_bool(root, "clean_up_tokenization_spaces", false, rc);
    if (t->model_max_length > 0) put_num(root, "model_max_length", (double)t->model_max_length, rc);
    put_str(root, "tokenizer_class", "PreTrainedTokenizerFast", rc);
    return print_doc(root, rc);
}

static char *special_map_json(const pl_tokenizer *t, int *rc) {
    cJSON *root = cJSON_CreateObject();
    if (!root) { *rc = PL_ERR_NOMEM; return NULL; }
    special_role roles[8];
    int nr = special_roles(t, roles);
    for (int i = 0; i < nr; i++) {
        const char *s = id_token(t, roles[i].id);
        if (s) put_str(root, roles[i].name, s, rc);
    }
    return print_doc(root, rc);
}

/* ---- writing ----------------------------------------------------------------------------------------------- */
int pl_tokenizer_save_hf(const pl_tokenizer *tok, const char *dir) {
    if (!tok || !dir || !*dir) return pl_error(PL_ERR_ARG, "pl_tokenizer_save_hf: no tokenizer or directory");
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return pl_error(PL_ERR_IO, "pl_tokenizer_save_hf: '%s' is not an existing directory", dir);
    int rc = PL_OK;
    const tk_added **added = added_by_id(tok, &rc);
    static const char *names[3] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"};
    char *docs[3] = {0};
    if (!rc) docs[0] = tokenizer_json(tok, added, &rc);
    if (!rc) docs[1] = config_json(tok, added, &rc);
    if (!rc) docs[2] = special_map_json(tok, &rc);
    free(added);
    if (rc == PL_ERR_NOMEM) pl_error(rc, "pl_tokenizer_save_hf: out of memory");
    /* All three documents exist before the first file is written; each file is replaced atomically, and
     * if one cannot be written the ones this call wrote are removed again, so the directory never holds
     * a tokenizer.json beside another tokenizer's config. */
    size_t plen = strlen(dir) + 32;
    char *path = rc ? NULL : pl_malloc(plen);
    if (!rc && !path) rc = PL_ERR_NOMEM;
    int written = 0;
    for (int i = 0; i < 3 && !rc; i++) {
        snprintf(path, plen, "%s/%s", dir, names[i]);
        rc = pl_write_file_atomic(path, docs[i], strlen(docs[i]));
        if (!rc) written++;
    }
    if (rc && path) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", pl_last_error());
        for (int i = 0; i < written; i++) {
            snprintf(path, plen, "%s/%s", dir, names[i]);
            unlink(path);
        }
        pl_error(rc, "pl_tokenizer_save_hf: %s", msg);
    }
    free(path);
    for (int i = 0; i < 3; i++) cJSON_free(docs[i]);
    return rc;
}
