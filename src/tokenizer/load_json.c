/* Loader for Hugging Face tokenizer.json (cJSON): model (BPE, Unigram, WordPiece), normalizer,
 * pre-tokenizer, post-processor, decoder and added tokens, into the plain structs of tokenizer.h.
 * Anything it does not know is an error naming the component, never a silent approximation. */
#include "tokenizer/tokenizer.h"

#include <cjson/cJSON.h>

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static bool jbool(const cJSON *o, const char *k, bool def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}
static double jnum(const cJSON *o, const char *k, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}
static const cJSON *jget(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }
static char *dup_or_null(const char *s) { return s ? pl_strdup(s) : NULL; }

/* A {"String": s} or {"Regex": r} pattern. */
static int parse_pattern(const cJSON *p, char **str, pcre2_code **re, char **re_src) {
    const char *s = jstr(p, "String"), *r = jstr(p, "Regex");
    if (s) { *str = pl_strdup(s); return *str ? PL_OK : PL_ERR_NOMEM; }
    if (r) {
        if (!(*re_src = pl_strdup(r))) return PL_ERR_NOMEM;
        *re = tk_regex_compile(r, strlen(r));
        return *re ? PL_OK : PL_ERR_FORMAT;
    }
    return pl_error(PL_ERR_FORMAT, "tokenizer.json: pattern is neither String nor Regex");
}

/* ---- model --------------------------------------------------------------------------------------------- */
static int vocab_set(tk_model *m, const char *tok, int64_t id) {
    if (id < 0 || id >= m->n_vocab) return pl_error(PL_ERR_FORMAT, "tokenizer.json: vocab id %lld out of range", (long long)id);
    if (m->tokens[id]) return pl_error(PL_ERR_FORMAT, "tokenizer.json: vocab id %lld used twice", (long long)id);
    m->tokens[id] = pl_strdup(tok);
    if (!m->tokens[id]) return PL_ERR_NOMEM;
    m->token_len[id] = (uint32_t)strlen(tok);
    return tk_strmap_put(&m->vocab, m->tokens[id], m->token_len[id], (int32_t)id);
}

static int alloc_vocab(tk_model *m, int n) {
    m->n_vocab = n;
    m->tokens = pl_calloc((size_t)n + 1, sizeof *m->tokens);
    m->token_len = pl_calloc((size_t)n + 1, sizeof *m->token_len);
    return m->tokens && m->token_len ? PL_OK : PL_ERR_NOMEM;
}

static int load_dict_vocab(tk_model *m, const cJSON *vocab) {
    if (!cJSON_IsObject(vocab)) return pl_error(PL_ERR_FORMAT, "tokenizer.json: model.vocab is not an object");
    int64_t max_id = -1;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 1e8)
            return pl_error(PL_ERR_FORMAT, "tokenizer.json: bad vocab id for '%s'", e->string ? e->string : "?");
        max_id = PL_MAX(max_id, (int64_t)e->valuedouble);
    }
    if (alloc_vocab(m, (int)(max_id + 1))) return PL_ERR_NOMEM;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int rc = vocab_set(m, e->string, (int64_t)e->valuedouble);
        if (rc) return rc;
    }
    return PL_OK;
}

static int load_merges(tk_model *m, const cJSON *merges) {
    if (!merges) return PL_OK;
    if (!cJSON_IsArray(merges)) return pl_error(PL_ERR_FORMAT, "tokenizer.json: model.merges is not an array");
    tk_buf a = {0}, b = {0}, ab = {0};
    int rank = 0, rc = PL_OK;
    size_t plen = m->prefix ? strlen(m->prefix) : 0;
    for (const cJSON *e = merges->child; e && !rc; e = e->next, rank++) {
        a.n = b.n = ab.n = 0;
        if (cJSON_IsString(e)) {
            const char *sp = strchr(e->valuestring, ' ');
            if (!sp) { rc = pl_error(PL_ERR_FORMAT, "tokenizer.json: merge '%s' has no space", e->valuestring); break; }
            rc = tk_buf_put(&a, e->valuestring, (size_t)(sp - e->valuestring)) || tk_buf_put(&b, sp + 1, strlen(sp + 1));
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) && cJSON_IsString(e->child->next)) {
            rc = tk_buf_put(&a, e->child->valuestring, strlen(e->child->valuestring)) ||
                 tk_buf_put(&b, e->child->next->valuestring, strlen(e->child->next->valuestring));
        } else { rc = pl_error(PL_ERR_FORMAT, "tokenizer.json: bad merge entry %d", rank); break; }
        if (rc) { rc = PL_ERR_NOMEM; break; }
        /* With a continuing-subword prefix, "a ##b" merges into "ab". */
        size_t skip = (plen && b.n >= plen && !memcmp(b.p, m->prefix, plen)) ? plen : 0;
        if (tk_buf_put(&ab, a.p, a.n) || tk_buf_put(&ab, b.p + skip, b.n - skip)) { rc = PL_ERR_NOMEM; break; }
        int32_t ia = tk_strmap_get(&m->vocab, a.p, a.n), ib = tk_strmap_get(&m->vocab, b.p, b.n);
        int32_t iab = tk_strmap_get(&m->vocab, ab.p, ab.n);
        if (ia < 0 || ib < 0 || iab < 0) {
            rc = pl_error(PL_ERR_FORMAT, "tokenizer.json: merge %d ('%s' '%s') uses a token not in the vocab", rank, a.p, b.p);
            break;
        }
        rc = tk_pairmap_put(&m->merges, ia, ib, rank, iab);
    }
    free(a.p); free(b.p); free(ab.p);
    return rc;
}

static int load_model(pl_tokenizer *t, const cJSON *jm) {
    tk_model *m = &t->model;
    const char *type = jstr(jm, "type");
    const cJSON *vocab = jget(jm, "vocab");
    if (!type) {   /* old files omit the type: guess from the fields */
        type = jget(jm, "merges") ? "BPE" : cJSON_IsArray(vocab) ? "Unigram" : "WordPiece";
    }
    int rc;
    if (!strcmp(type, "BPE")) {
        m->kind = TK_MODEL_BPE;
        m->prefix = dup_or_null(jstr(jm, "continuing_subword_prefix"));
        m->suffix = dup_or_null(jstr(jm, "end_of_word_suffix"));
        if (m->prefix && !*m->prefix) { free(m->prefix); m->prefix = NULL; }
        if (m->suffix && !*m->suffix) { free(m->suffix); m->suffix = NULL; }
        m->fuse_unk = jbool(jm, "fuse_unk", false);
        m->byte_fallback = jbool(jm, "byte_fallback", false);
        m->ignore_merges = jbool(jm, "ignore_merges", false);
        if ((rc = load_dict_vocab(m, vocab)) || (rc = load_merges(m, jget(jm, "merges")))) return rc;
        const char *unk = jstr(jm, "unk_token");
        m->unk_id = unk ? tk_strmap_get(&m->vocab, unk, strlen(unk)) : -1;
        if (jnum(jm, "dropout", 0) > 0) return pl_error(PL_ERR_UNSUPPORTED, "tokenizer.json: BPE dropout is not supported");
        return PL_OK;
    }
    if (!strcmp(type, "WordPiece")) {
        m->kind = TK_MODEL_WORDPIECE;
        const char *p = jstr(jm, "continuing_subword_prefix");
        m->prefix = pl_strdup(p ? p : "##");
        m->max_input_chars = (int)jnum(jm, "max_input_chars_per_word", 100);
        if ((rc = load_dict_vocab(m, vocab))) return rc;
        const char *unk = jstr(jm, "unk_token");
        m->unk_id = tk_strmap_get(&m->vocab, unk ? unk : "[UNK]", strlen(unk ? unk : "[UNK]"));
        return PL_OK;
    }
    if (!strcmp(type, "Unigram")) {
        m->kind = TK_MODEL_UNIGRAM;
        if (!cJSON_IsArray(vocab)) return pl_error(PL_ERR_FORMAT, "tokenizer.json: unigram vocab is not an array");
        int n = cJSON_GetArraySize(vocab);
        if ((rc = alloc_vocab(m, n))) return rc;
        m->uscores = pl_calloc((size_t)n + 1, sizeof *m->uscores);
        if (!m->uscores) return PL_ERR_NOMEM;
        m->min_score = 1e300;
        int id = 0;
        for (const cJSON *e = vocab->child; e; e = e->next, id++) {
            if (!cJSON_IsArray(e) || !cJSON_IsString(e->child) || !cJSON_IsNumber(e->child->next))
                return pl_error(PL_ERR_FORMAT, "tokenizer.json: bad unigram vocab entry %d", id);
            if ((rc = vocab_set(m, e->child->valuestring, id))) return rc;
            m->uscores[id] = e->child->next->valuedouble;
            m->min_score = PL_MIN(m->min_score, m->uscores[id]);
            m->max_piece_bytes = PL_MAX(m->max_piece_bytes, (int)m->token_len[id]);
        }
        m->unk_id = (int32_t)jnum(jm, "unk_id", -1);
        if (m->unk_id >= n) return pl_error(PL_ERR_FORMAT, "tokenizer.json: unk_id out of range");
        m->byte_fallback = jbool(jm, "byte_fallback", false);
        return PL_OK;
    }
    return pl_error(PL_ERR_UNSUPPORTED, "tokenizer.json: model type '%s' is not supported", type);
}

/* ---- normalizer ---------------------------------------------------------------------------------------- */
static int load_norm(tk_norm *n, const cJSON *j) {
    const char *type = jstr(j, "type");
    if (!type) return pl_error(PL_ERR_FORMAT, "tokenizer.json: normalizer without type");
    static const struct { const char *name; tk_norm_kind kind; } simple[] = {
        {"NFC", TK_NORM_NFC}, {"NFD", TK_NORM_NFD}, {"NFKC", TK_NORM_NFKC}, {"NFKD", TK_NORM_NFKD},
        {"Lowercase", TK_NORM_LOWERCASE}, {"StripAccents", TK_NORM_STRIP_ACCENTS}};
    for (size_t i = 0; i < PL_ARRAY_LEN(simple); i++)
        if (!strcmp(type, simple[i].name)) { n->kind = simple[i].kind; return PL_OK; }
    if (!strcmp(type, "Prepend")) {
        n->kind = TK_NORM_PREPEND; n->a = dup_or_null(jstr(j, "prepend"));
        return n->a ? PL_OK : pl_error(PL_ERR_FORMAT, "tokenizer.json: Prepend without 'prepend'");
    }
    if (!strcmp(type, "Replace")) {
        n->kind = TK_NORM_REPLACE;
        const char *c = jstr(j, "content");
        n->b = pl_strdup(c ? c : "");
        return parse_pattern(jget(j, "pattern"), &n->a, &n->re, &n->re_src);
    }
    if (!strcmp(type, "Strip")) {
        n->kind = TK_NORM_STRIP; n->left = jbool(j, "strip_left", true); n->right = jbool(j, "strip_right", true);
        return PL_OK;
    }
    if (!strcmp(type, "BertNormalizer")) {
        n->kind = TK_NORM_BERT;
        n->clean_text = jbool(j, "clean_text", true);
        n->chinese = jbool(j, "handle_chinese_chars", true);
        n->lowercase = jbool(j, "lowercase", true);
        n->strip_accents = jbool(j, "strip_accents", n->lowercase);   /* null: follows lowercase */
        return PL_OK;
    }
    if (!strcmp(type, "Sequence")) {
        n->kind = TK_NORM_SEQUENCE;
        const cJSON *items = jget(j, "normalizers");
        int cnt = cJSON_GetArraySize(items);
        n->items = pl_calloc((size_t)cnt + 1, sizeof *n->items);
        if (!n->items) return PL_ERR_NOMEM;
        for (const cJSON *e = items ? items->child : NULL; e; e = e->next) {
            int rc = load_norm(&n->items[n->n_items++], e);
            if (rc) return rc;
        }
        return PL_OK;
    }
    return pl_error(PL_ERR_UNSUPPORTED, "tokenizer.json: normalizer '%s' is not supported", type);
}

/* ---- pre-tokenizer ------------------------------------------------------------------------------------- */
#define GPT2_REGEX "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

static int parse_behavior(const char *s, tk_split_behavior *b) {
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++) if (s && !strcmp(s, names[i])) { *b = (tk_split_behavior)i; return PL_OK; }
    return pl_error(PL_ERR_FORMAT, "tokenizer.json: unknown split behavior '%s'", s ? s : "(none)");
}

static tk_prepend_scheme parse_prepend(const cJSON *j) {
    const char *s = jstr(j, "prepend_scheme");
    if (s) return !strcmp(s, "never") ? TK_PREPEND_NEVER : !strcmp(s, "first") ? TK_PREPEND_FIRST : TK_PREPEND_ALWAYS;
    return jbool(j, "add_prefix_space", true) ? TK_PREPEND_ALWAYS : TK_PREPEND_NEVER;
}

static int load_pre(tk_pre *p, const cJSON *j) {
    const char *type = jstr(j, "type");
    if (!type) return pl_error(PL_ERR_FORMAT, "tokenizer.json: pre_tokenizer without type");
    if (!strcmp(type, "ByteLevel")) {
        p->kind = TK_PRE_BYTELEVEL;
        p->add_prefix_space = jbool(j, "add_prefix_space", true);
        if (jbool(j, "use_regex", true) && !(p->re = tk_regex_compile(GPT2_REGEX, strlen(GPT2_REGEX)))) return PL_ERR_FORMAT;
        return PL_OK;
    }
    if (!strcmp(type, "Split")) {
        p->kind = TK_PRE_SPLIT;
        p->invert = jbool(j, "invert", false);
        int rc = parse_behavior(jstr(j, "behavior"), &p->behavior);
        if (!rc) rc = parse_pattern(jget(j, "pattern"), &p->str, &p->re, &p->re_src);
        if (!rc && p->str) p->str_len = strlen(p->str);
        return rc;
    }
    if (!strcmp(type, "Metaspace")) {
        p->kind = TK_PRE_METASPACE;
        const char *r = jstr(j, "replacement");
        p->str = pl_strdup(r ? r : "\xE2\x96\x81");
        if (!p->str) return PL_ERR_NOMEM;
        p->str_len = strlen(p->str);
        p->prepend = parse_prepend(j);
        p->split = jbool(j, "split", true);
        return PL_OK;
    }
    if (!strcmp(type, "Whitespace")) {
        p->kind = TK_PRE_WHITESPACE;
        return (p->re = tk_regex_compile("\\w+|[^\\w\\s]+", 14)) ? PL_OK : PL_ERR_FORMAT;
    }
    if (!strcmp(type, "WhitespaceSplit")) { p->kind = TK_PRE_WHITESPACE_SPLIT; return PL_OK; }
    if (!strcmp(type, "BertPreTokenizer")) { p->kind = TK_PRE_BERT; return PL_OK; }
    if (!strcmp(type, "Digits")) { p->kind = TK_PRE_DIGITS; p->individual_digits = jbool(j, "individual_digits", false); return PL_OK; }
    if (!strcmp(type, "Punctuation")) {
        p->kind = TK_PRE_PUNCT;
        p->behavior = TK_SPLIT_ISOLATED;
        const char *b = jstr(j, "behavior");
        return b ? parse_behavior(b, &p->behavior) : PL_OK;
    }
    if (!strcmp(type, "Sequence")) {
        p->kind = TK_PRE_SEQUENCE;
        const cJSON *items = jget(j, "pretokenizers");
        int cnt = cJSON_GetArraySize(items);
        p->items = pl_calloc((size_t)cnt + 1, sizeof *p->items);
        if (!p->items) return PL_ERR_NOMEM;
        for (const cJSON *e = items ? items->child : NULL; e; e = e->next) {
            int rc = load_pre(&p->items[p->n_items++], e);
            if (rc) return rc;
        }
        return PL_OK;
    }
    return pl_error(PL_ERR_UNSUPPORTED, "tokenizer.json: pre_tokenizer '%s' is not supported", type);
}

/* ---- decoder ------------------------------------------------------------------------------------------- */
static int load_dec(tk_dec *d, const cJSON *j) {
    const char *type = jstr(j, "type");
    if (!type) return pl_error(PL_ERR_FORMAT, "tokenizer.json: decoder without type");
    if (!strcmp(type, "ByteLevel")) { d->kind = TK_DEC_BYTELEVEL; return PL_OK; }
    if (!strcmp(type, "ByteFallback")) { d->kind = TK_DEC_BYTEFALLBACK; return PL_OK; }
    if (!strcmp(type, "Fuse")) { d->kind = TK_DEC_FUSE; return PL_OK; }
    if (!strcmp(type, "Metaspace")) {
        d->kind = TK_DEC_METASPACE;
        const char *r = jstr(j, "replacement");
        d->a = pl_strdup(r ? r : "\xE2\x96\x81");
        d->prepend = parse_prepend(j);
        return d->a ? PL_OK : PL_ERR_NOMEM;
    }
    if (!strcmp(type, "WordPiece")) {
        d->kind = TK_DEC_WORDPIECE;
        const char *p = jstr(j, "prefix");
        d->a = pl_strdup(p ? p : "##");
        d->cleanup = jbool(j, "cleanup", true);
        return d->a ? PL_OK : PL_ERR_NOMEM;
    }
    if (!strcmp(type, "Strip")) {
        d->kind = TK_DEC_STRIP;
        const char *c = jstr(j, "content");
        d->a = pl_strdup(c ? c : " ");
        d->start = (int)jnum(j, "start", 0); d->stop = (int)jnum(j, "stop", 0);
        return d->a ? PL_OK : PL_ERR_NOMEM;
    }
    if (!strcmp(type, "Replace")) {
        d->kind = TK_DEC_REPLACE;
        const char *c = jstr(j, "content"), *s = jstr(jget(j, "pattern"), "String");
        if (!s) return pl_error(PL_ERR_UNSUPPORTED, "tokenizer.json: Replace decoder needs a String pattern");
        d->a = pl_strdup(s); d->b = pl_strdup(c ? c : "");
        return d->a && d->b ? PL_OK : PL_ERR_NOMEM;
    }
    if (!strcmp(type, "BPEDecoder")) {
        d->kind = TK_DEC_BPE;
        const char *s = jstr(j, "suffix");
        d->a = pl_strdup(s ? s : "</w>");
        return d->a ? PL_OK : PL_ERR_NOMEM;
    }
    if (!strcmp(type, "Sequence")) {
        d->kind = TK_DEC_SEQUENCE;
        const cJSON *items = jget(j, "decoders");
        int cnt = cJSON_GetArraySize(items);
        d->items = pl_calloc((size_t)cnt + 1, sizeof *d->items);
        if (!d->items) return PL_ERR_NOMEM;
        for (const cJSON *e = items ? items->child : NULL; e; e = e->next) {
            int rc = load_dec(&d->items[d->n_items++], e);
            if (rc) return rc;
        }
        return PL_OK;
    }
    return pl_error(PL_ERR_UNSUPPORTED, "tokenizer.json: decoder '%s' is not supported", type);
}

/* ---- post-processor ------------------------------------------------------------------------------------ */
static int push_id(int32_t **v, int *n, int32_t id) {
    int32_t *p = pl_realloc(*v, (size_t)(*n + 1) * sizeof *p);
    if (!p) return PL_ERR_NOMEM;
    *v = p; p[(*n)++] = id;
    return PL_OK;
}

static int load_post(pl_tokenizer *t, const cJSON *j) {
    const char *type = jstr(j, "type");
    if (!type) return pl_error(PL_ERR_FORMAT, "tokenizer.json: post_processor without type");
    if (!strcmp(type, "ByteLevel")) return PL_OK;
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        const cJSON *cls = jget(j, "cls"), *sep = jget(j, "sep");
        if (cJSON_GetArraySize(cls) != 2 || cJSON_GetArraySize(sep) != 2 || !cJSON_IsNumber(cls->child->next) ||
            !cJSON_IsNumber(sep->child->next))
            return pl_error(PL_ERR_FORMAT, "tokenizer.json: %s needs cls and sep pairs", type);
        if (push_id(&t->post.pre, &t->post.n_pre, (int32_t)cls->child->next->valuedouble)) return PL_ERR_NOMEM;
        return push_id(&t->post.post, &t->post.n_post, (int32_t)sep->child->next->valuedouble);
    }
    if (!strcmp(type, "TemplateProcessing")) {
        const cJSON *single = jget(j, "single"), *specials = jget(j, "special_tokens");
        bool after = false;
        for (const cJSON *e = single ? single->child : NULL; e; e = e->next) {
            if (jget(e, "Sequence")) { after = true; continue; }
            const char *name = jstr(jget(e, "SpecialToken"), "id");
            const cJSON *ids = jget(jget(specials, name ? name : ""), "ids");
            if (!name || !cJSON_IsArray(ids)) return pl_error(PL_ERR_FORMAT, "tokenizer.json: template special token '%s' has no ids", name ? name : "?");
            for (const cJSON *i = ids->child; i; i = i->next) {
                int rc = after ? push_id(&t->post.post, &t->post.n_post, (int32_t)i->valuedouble)
                               : push_id(&t->post.pre, &t->post.n_pre, (int32_t)i->valuedouble);
                if (rc) return rc;
            }
        }
        return PL_OK;
    }
    if (!strcmp(type, "Sequence")) {
        const cJSON *items = jget(j, "processors");
        for (const cJSON *e = items ? items->child : NULL; e; e = e->next) {
            int rc = load_post(t, e);
            if (rc) return rc;
        }
        return PL_OK;
    }
    return pl_error(PL_ERR_UNSUPPORTED, "tokenizer.json: post_processor '%s' is not supported", type);
}

/* ---- the file ------------------------------------------------------------------------------------------ */
static int load_added(pl_tokenizer *t, const cJSON *arr) {
    for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next) {
        const char *c = jstr(e, "content");
        double id = jnum(e, "id", -1);
        if (!c || id < 0 || id > 1e8) return pl_error(PL_ERR_FORMAT, "tokenizer.json: bad added token");
        bool special = jbool(e, "special", false);
        int rc = tk_add_added(t, c, strlen(c), (int32_t)id, special, jbool(e, "lstrip", false), jbool(e, "rstrip", false),
                              jbool(e, "single_word", false), jbool(e, "normalized", !special));
        if (rc) return rc;
    }
    return PL_OK;
}

int tk_load_json(pl_tokenizer *t, const char *json, size_t len) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return pl_error(PL_ERR_FORMAT, "tokenizer.json: not valid JSON");
    int rc = PL_OK;
    const cJSON *model = jget(root, "model");
    if (!cJSON_IsObject(model)) rc = pl_error(PL_ERR_FORMAT, "tokenizer.json: no model");
    if (!rc) rc = load_model(t, model);
    const cJSON *n = jget(root, "normalizer"), *p = jget(root, "pre_tokenizer"), *d = jget(root, "decoder");
    const cJSON *pp = jget(root, "post_processor");
    if (!rc && cJSON_IsObject(n)) rc = (t->norm = pl_calloc(1, sizeof *t->norm)) ? load_norm(t->norm, n) : PL_ERR_NOMEM;
    if (!rc && cJSON_IsObject(p)) rc = (t->pre = pl_calloc(1, sizeof *t->pre)) ? load_pre(t->pre, p) : PL_ERR_NOMEM;
    if (!rc && cJSON_IsObject(d)) rc = (t->dec = pl_calloc(1, sizeof *t->dec)) ? load_dec(t->dec, d) : PL_ERR_NOMEM;
    if (!rc && cJSON_IsObject(pp)) rc = load_post(t, pp);
    if (!rc) rc = load_added(t, jget(root, "added_tokens"));
    if (!rc) {
        t->model.byte_level = tk_pre_has_bytelevel(t->pre);
        if (t->post.n_pre) t->bos_id = t->post.pre[0];
        if (t->post.n_post) t->eos_id = t->post.post[t->post.n_post - 1];
    }
    cJSON_Delete(root);
    if (rc == PL_ERR_NOMEM) pl_error(rc, "tokenizer.json: out of memory");
    return rc;
}
