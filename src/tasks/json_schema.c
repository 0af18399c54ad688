/* JSON Schema -> byte-level pushdown automaton -> a mask over the vocabulary. The schema is compiled into a tree
 * of nodes (object with ordered properties, array, string, number, integer, literals for enum / const / boolean
 * / null, or any value); the state is a stack of frames, one per open value. A frame that may end but need not
 * (a number: "12" or "123"?) gives a byte it cannot take back to its parent. The mask tries each token's text
 * on a copy of the state, only for tokens whose first byte can come next. */
#include "tasks/json_schema.h"

#include "core/common.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { JN_ANY, JN_OBJECT, JN_ARRAY, JN_STRING, JN_NUMBER, JN_INTEGER, JN_LITERALS };
/* frame kinds: a node's kind, plus a free-form object (of any keys and values) */
enum { F_ANY = JN_ANY, F_OBJ = JN_OBJECT, F_ARR = JN_ARRAY, F_STR = JN_STRING, F_NUM = JN_NUMBER,
       F_INT = JN_INTEGER, F_LIT = JN_LITERALS, F_FREEOBJ };

#define MAX_LITERALS 64

typedef struct pl_json_node {
    int kind;
    int n_props;                    /* object: properties in schema order */
    char **key_lit;                 /* "\"key\":" (the first) or ",\"key\":" */
    struct pl_json_node **props;
    struct pl_json_node *items;     /* array */
    int min_items, max_items;       /* max -1: none */
    int min_len, max_len;           /* string, in code points; max -1: none */
    int n_lit;                      /* literals: compact JSON texts */
    char **lits;
} jnode;

struct pl_json_schema {
    jnode *root;
    jnode any;                      /* the node of free-form values */
    jnode str_any;                  /* free-form object keys */
    jnode **all; int n_all, cap_all;
};

struct pl_json_vocab {
    int n_vocab;
    char *text; size_t *off; size_t *len;  /* each token's text */
    int32_t *by_byte;                      /* token ids ordered by first byte */
    int start[257];                        /* by_byte[start[b] .. start[b+1]) begin with byte b */
};

/* ---------------------------------------------------------------------------------------------- compiling -- */

static jnode *node_new(pl_json_schema *s, int kind) {
    if (s->n_all == s->cap_all) {
        int cap = s->cap_all ? 2 * s->cap_all : 16;
        jnode **p = pl_realloc(s->all, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        s->all = p; s->cap_all = cap;
    }
    jnode *n = pl_calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->max_items = n->max_len = -1;
    s->all[s->n_all++] = n;
    return n;
}

static const char *const unsupported[] = {
    "anyOf", "oneOf", "allOf", "not", "$ref", "pattern", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "patternProperties", "if", "then", "else", "uniqueItems", "minProperties",
    "maxProperties", "prefixItems", "dependentRequired", "dependentSchemas", "contains", "propertyNames",
    "unevaluatedProperties", NULL};

static int lit_add(jnode *n, const cJSON *v) {
    if (n->n_lit >= MAX_LITERALS) return pl_error(PL_ERR_UNSUPPORTED, "json schema: more than %d enum values", MAX_LITERALS);
    char *t = cJSON_PrintUnformatted(v);
    if (!t) return PL_ERR_NOMEM;
    char **p = pl_realloc(n->lits, (size_t)(n->n_lit + 1) * sizeof *p);
    if (!p) { cJSON_free(t); return PL_ERR_NOMEM; }
    n->lits = p;
    n->lits[n->n_lit] = pl_strdup(t);
    cJSON_free(t);
    return n->lits[n->n_lit++] ? PL_OK : PL_ERR_NOMEM;
}

static int int_of(const cJSON *j, const char *key, int dflt, bool *bad) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v) return dflt;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e6 || v->valuedouble != floor(v->valuedouble)) {
        *bad = true;
        pl_error(PL_ERR_ARG, "json schema: '%s' must be a non-negative integer", key);
        return dflt;
    }
    return (int)v->valuedouble;
}

static jnode *compile(pl_json_schema *s, const cJSON *j, int depth);

static jnode *compile_object(pl_json_schema *s, const cJSON *j, int depth) {
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(j, "properties");
    if (!props) { /* an object of any keys and values */
        jnode *n = node_new(s, JN_ANY);
        if (n) n->kind = F_FREEOBJ;
        return n;
    }
    if (!cJSON_IsObject(props)) return pl_error_null(PL_ERR_ARG, "json schema: 'properties' must be an object");
    jnode *n = node_new(s, JN_OBJECT);
    if (!n) return NULL;
    int count = cJSON_GetArraySize(props);
    n->key_lit = pl_calloc((size_t)(count ? count : 1), sizeof *n->key_lit);
    n->props = pl_calloc((size_t)(count ? count : 1), sizeof *n->props);
    if (!n->key_lit || !n->props) return NULL;
    const cJSON *p;
    cJSON_ArrayForEach(p, props) {
        cJSON *key = cJSON_CreateString(p->string);
        char *kt = key ? cJSON_PrintUnformatted(key) : NULL;
        cJSON_Delete(key);
        if (!kt) return NULL;
        size_t kl = strlen(kt);
        char *lit = pl_malloc(kl + 3);
        if (!lit) { cJSON_free(kt); return NULL; }
        snprintf(lit, kl + 3, "%s%s:", n->n_props ? "," : "", kt);
        cJSON_free(kt);
        n->key_lit[n->n_props] = lit;
        if (!(n->props[n->n_props] = compile(s, p, depth + 1))) { n->n_props++; return NULL; }
        n->n_props++;
    }
    return n;
}

static jnode *compile(pl_json_schema *s, const cJSON *j, int depth) {
    if (depth > PL_JSON_MAX_DEPTH - 4) return pl_error_null(PL_ERR_UNSUPPORTED, "json schema: nested too deeply");
    if (cJSON_IsTrue(j)) return &s->any;
    if (!cJSON_IsObject(j)) return pl_error_null(PL_ERR_ARG, "json schema: a schema must be an object");
    for (int i = 0; unsupported[i]; i++)
        if (cJSON_GetObjectItemCaseSensitive(j, unsupported[i]))
            return pl_error_null(PL_ERR_UNSUPPORTED, "json schema: the keyword '%s' is not supported (docs/serve.md)", unsupported[i]);
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(j, "enum"), *cn = cJSON_GetObjectItemCaseSensitive(j, "const");
    if (en || cn) {
        if (en && (!cJSON_IsArray(en) || cJSON_GetArraySize(en) == 0))
            return pl_error_null(PL_ERR_ARG, "json schema: 'enum' must be a non-empty array");
        jnode *n = node_new(s, JN_LITERALS);
        if (!n) return NULL;
        if (cn) { if (lit_add(n, cn)) return NULL; }
        else { const cJSON *v; cJSON_ArrayForEach(v, en) if (lit_add(n, v)) return NULL; }
        return n;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!type) {
        if (cJSON_GetObjectItemCaseSensitive(j, "properties")) return compile_object(s, j, depth);
        return &s->any;
    }
    if (!cJSON_IsString(type))
        return pl_error_null(PL_ERR_UNSUPPORTED, "json schema: 'type' must be one string (a list of types is not supported)");
    const char *t = type->valuestring;
    bool bad = false;
    if (!strcmp(t, "object")) return compile_object(s, j, depth);
    if (!strcmp(t, "array")) {
        jnode *n = node_new(s, JN_ARRAY);
        if (!n) return NULL;
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, "items");
        n->items = it ? compile(s, it, depth + 1) : &s->any;
        n->min_items = int_of(j, "minItems", 0, &bad);
        n->max_items = int_of(j, "maxItems", -1, &bad);
        if (n->max_items >= 0 && n->max_items < n->min_items) return pl_error_null(PL_ERR_ARG, "json schema: maxItems < minItems");
        return !n->items || bad ? NULL : n;
    }
    if (!strcmp(t, "string")) {
        jnode *n = node_new(s, JN_STRING);
        if (!n) return NULL;
        n->min_len = int_of(j, "minLength", 0, &bad);
        n->max_len = int_of(j, "maxLength", -1, &bad);
        if (n->max_len >= 0 && n->max_len < n->min_len) return pl_error_null(PL_ERR_ARG, "json schema: maxLength < minLength");
        return bad ? NULL : n;
    }
    if (!strcmp(t, "number")) return node_new(s, JN_NUMBER);
    if (!strcmp(t, "integer")) return node_new(s, JN_INTEGER);
    if (!strcmp(t, "boolean") || !strcmp(t, "null")) {
        jnode *n = node_new(s, JN_LITERALS);
        if (!n) return NULL;
        cJSON *a = !strcmp(t, "null") ? cJSON_CreateNull() : cJSON_CreateTrue(), *b = cJSON_CreateFalse();
        int rc = lit_add(n, a);
        if (!rc && strcmp(t, "null")) rc = lit_add(n, b);
        cJSON_Delete(a); cJSON_Delete(b);
        return rc ? NULL : n;
    }
    return pl_error_null(PL_ERR_ARG, "json schema: unknown type '%s'", t);
}

pl_json_schema *pl_json_schema_new(const char *schema_json) {
    pl_json_schema *s = pl_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->any.kind = JN_ANY;
    s->str_any.kind = JN_STRING;
    s->str_any.max_len = -1;
    s->any.max_items = -1;
    if (!schema_json) { /* json_object: an object of anything */
        jnode *n = node_new(s, JN_ANY);
        if (!n) { pl_json_schema_free(s); return NULL; }
        n->kind = F_FREEOBJ;
        s->root = n;
        return s;
    }
    cJSON *j = cJSON_Parse(schema_json);
    if (!j) { pl_json_schema_free(s); return pl_error_null(PL_ERR_ARG, "json schema: not valid JSON"); }
    s->root = compile(s, j, 0);
    cJSON_Delete(j);
    if (!s->root) { if (!pl_last_error()[0]) pl_error(PL_ERR_NOMEM, "json schema: out of memory"); pl_json_schema_free(s); return NULL; }
    return s;
}

void pl_json_schema_free(pl_json_schema *s) {
    if (!s) return;
    for (int i = 0; i < s->n_all; i++) {
        jnode *n = s->all[i];
        for (int k = 0; k < n->n_props; k++) free(n->key_lit[k]);
        for (int k = 0; k < n->n_lit; k++) free(n->lits[k]);
        free(n->key_lit); free(n->props); free(n->lits); free(n);
    }
    free(s->all);
    free(s);
}

/* ---------------------------------------------------------------------------------------------- the automaton -- */

static char *g_tfn[] = {"true", "false", "null"};
static const jnode g_true_false_null = {.kind = JN_LITERALS, .n_lit = 3, .lits = g_tfn};

enum { R_TAKE, R_DONE, R_REJECT, R_POP_RETRY, R_PUSH_RETRY, R_PUSH };

static void frame_set(pl_json_frame *f, const jnode *n) {
    memset(f, 0, sizeof *f);
    f->node = n;
    f->kind = (uint8_t)n->kind;
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int step_number(pl_json_frame *f, unsigned char c) {
    bool integer = f->kind == F_INT;
    /* phases: 0 start, 1 after '-', 2 a lone leading 0, 3 integer digits, 4 after '.', 5 fraction digits,
     * 6 after 'e', 7 after the exponent's sign, 8 exponent digits. j counts digits of the current part. */
    switch (f->phase) {
    case 0: if (c == '-') { f->phase = 1; return R_TAKE; } /* fallthrough */
    case 1:
        if (c == '0') { f->phase = 2; return R_TAKE; }
        if (is_digit(c)) { f->phase = 3; f->j = 1; return R_TAKE; }
        return R_REJECT;
    case 3: if (is_digit(c)) { if (f->j >= 15) return R_REJECT; f->j++; return R_TAKE; } /* fallthrough */
    case 2:
        if (!integer && c == '.') { f->phase = 4; f->j = 0; return R_TAKE; }
        if (!integer && (c == 'e' || c == 'E')) { f->phase = 6; return R_TAKE; }
        return R_POP_RETRY;
    case 4: if (is_digit(c)) { f->phase = 5; f->j = 1; return R_TAKE; } return R_REJECT;
    case 5:
        if (is_digit(c)) { if (f->j >= 12) return R_REJECT; f->j++; return R_TAKE; }
        if (c == 'e' || c == 'E') { f->phase = 6; return R_TAKE; }
        return R_POP_RETRY;
    case 6: if (c == '+' || c == '-') { f->phase = 7; return R_TAKE; } /* fallthrough */
    case 7: if (is_digit(c)) { f->phase = 8; f->j = 1; return R_TAKE; } return R_REJECT;
    case 8: if (is_digit(c)) { if (f->j >= 3) return R_REJECT; f->j++; return R_TAKE; } return R_POP_RETRY;
    }
    return R_REJECT;
}
static bool number_can_end(const pl_json_frame *f) { return f->phase == 2 || f->phase == 3 || f->phase == 5 || f->phase == 8; }

static int step_string(pl_json_frame *f, unsigned char c) {
    const jnode *n = f->node;
    /* phases: 0 before the opening quote, 1 inside (j: continuation bytes still due in a UTF-8 sequence),
     * 2 after a backslash, 3 in \uXXXX (j hex digits read) */
    switch (f->phase) {
    case 0: if (c == '"') { f->phase = 1; f->j = 0; return R_TAKE; } return R_REJECT;
    case 1:
        if (f->j) { if ((c & 0xC0) != 0x80) return R_REJECT; f->j--; return R_TAKE; }
        if (c == '"') return f->i >= n->min_len ? R_DONE : R_REJECT;
        if (c < 0x20 || (c >= 0x80 && c < 0xC2) || c > 0xF4) return R_REJECT; /* control, stray or invalid UTF-8 */
        if (n->max_len >= 0 && f->i >= n->max_len) return R_REJECT;
        f->i++; /* a code point */
        if (c >= 0xC0) f->j = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
        if (c == '\\') f->phase = 2;
        return R_TAKE;
    case 2:
        if (c == 'u') { f->phase = 3; f->j = 0; return R_TAKE; }
        if (c && strchr("\"\\/bfnrt", c)) { f->phase = 1; return R_TAKE; }
        return R_REJECT;
    case 3:
        if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return R_REJECT;
        if (++f->j == 4) { f->phase = 1; f->j = 0; }
        return R_TAKE;
    }
    return R_REJECT;
}

static bool literal_full(const pl_json_frame *f) {
    for (int k = 0; k < f->node->n_lit; k++)
        if ((f->alive >> k & 1) && (int)strlen(f->node->lits[k]) == f->i) return true;
    return false;
}
static int step_literal(pl_json_frame *f, unsigned char c) {
    const jnode *n = f->node;
    if (!f->phase) { f->phase = 1; f->alive = n->n_lit >= 64 ? ~0ull : (1ull << n->n_lit) - 1; }
    uint64_t alive = 0;
    bool longer = false;
    for (int k = 0; k < n->n_lit; k++) {
        if (!(f->alive >> k & 1)) continue;
        size_t len = strlen(n->lits[k]);
        if ((size_t)f->i < len && (unsigned char)n->lits[k][f->i] == c) {
            alive |= 1ull << k;
            if ((size_t)f->i + 1 < len) longer = true;
        }
    }
    if (!alive) return literal_full(f) ? R_POP_RETRY : R_REJECT;
    f->alive = alive;
    f->i++;
    return longer ? R_TAKE : R_DONE;
}

/* one byte into the innermost frame; *child receives a frame to push for R_PUSH / R_PUSH_RETRY */
static int step(const pl_json_schema *s, pl_json_frame *f, unsigned char c, pl_json_frame *child, int depth) {
    bool room = depth < PL_JSON_MAX_DEPTH - 1;
    switch (f->kind) {
    case F_ANY: /* the first byte decides what the value is; that frame then takes the byte */
        if (c == '{' && room) { frame_set(f, &s->any); f->kind = F_FREEOBJ; }
        else if (c == '[' && room) { frame_set(f, &s->any); f->kind = F_ARR; }
        else if (c == '"') frame_set(f, &s->str_any);
        else if (c == '-' || is_digit(c)) { frame_set(f, &s->any); f->kind = F_NUM; }
        else if (c == 't' || c == 'f' || c == 'n') frame_set(f, &g_true_false_null);
        else return R_REJECT;
        return step(s, f, c, child, depth);
    case F_NUM: case F_INT: return step_number(f, c);
    case F_STR: return step_string(f, c);
    case F_LIT: return step_literal(f, c);
    case F_OBJ: {
        const jnode *n = f->node;
        /* phases: 0 before '{', 1 in property i's key text (j bytes matched), 2 in its value, 3 before '}' */
        if (f->phase == 0) {
            if (c != '{') return R_REJECT;
            f->phase = n->n_props ? 1 : 3;
            return R_TAKE;
        }
        if (f->phase == 1) {
            const char *k = n->key_lit[f->i];
            if ((unsigned char)k[f->j] != c) return R_REJECT;
            if (k[++f->j]) return R_TAKE;
            f->phase = 2;
            frame_set(child, n->props[f->i]);
            return R_PUSH;
        }
        if (f->phase == 3) return c == '}' ? R_DONE : R_REJECT;
        return R_REJECT;
    }
    case F_FREEOBJ:
        /* phases: 0 before '{', 1 after '{', 2 in a key, 3 before ':', 4 in a value, 5 after a value,
         * 6 after ',' */
        switch (f->phase) {
        case 0: if (c != '{') return R_REJECT; f->phase = 1; return R_TAKE;
        case 1: if (c == '}') return R_DONE; /* fallthrough */
        case 6:
            if (c != '"') return R_REJECT;
            f->phase = 2;
            frame_set(child, &s->str_any);
            child->phase = 1;
            return R_PUSH;
        case 3:
            if (c != ':') return R_REJECT;
            f->phase = 4;
            frame_set(child, &s->any);
            return R_PUSH;
        case 5:
            if (c == '}') return R_DONE;
            if (c == ',') { f->phase = 6; return R_TAKE; }
            return R_REJECT;
        }
        return R_REJECT;
    case F_ARR: {
        const jnode *n = f->node;
        const jnode *items = n == &s->any ? &s->any : n->items;
        int max = n == &s->any ? -1 : n->max_items, min = n == &s->any ? 0 : n->min_items;
        /* phases: 0 before '[', 1 after '[', 2 in an item, 3 after an item, 4 after ',' */
        switch (f->phase) {
        case 0: if (c != '[') return R_REJECT; f->phase = 1; return R_TAKE;
        case 1: if (c == ']') return min == 0 ? R_DONE : R_REJECT;
            if (max == 0) return R_REJECT; /* fallthrough */
        case 4:
            f->phase = 2;
            frame_set(child, items);
            return R_PUSH_RETRY;
        case 3:
            if (c == ']') return f->i >= min ? R_DONE : R_REJECT;
            if (c == ',' && (max < 0 || f->i < max)) { f->phase = 4; return R_TAKE; }
            return R_REJECT;
        }
        return R_REJECT;
    }
    }
    return R_TAKE;
}

/* the innermost frame ended: its parent moves on */
static void child_done(pl_json_frame *p) {
    switch (p->kind) {
    case F_OBJ: p->i++; p->j = 0; p->phase = p->i < p->node->n_props ? 1 : 3; break;
    case F_FREEOBJ: p->phase = p->phase == 2 ? 3 : 5; break;
    case F_ARR: p->i++; p->phase = 3; break;
    }
}

void pl_json_state_init(pl_json_state *st, const pl_json_schema *s) {
    st->schema = s;
    st->depth = 1;
    st->started = false;
    frame_set(&st->f[0], s->root);
}

void pl_json_state_copy(pl_json_state *dst, const pl_json_state *src) {
    dst->schema = src->schema;
    dst->depth = src->depth;
    dst->started = src->started;
    memcpy(dst->f, src->f, (size_t)src->depth * sizeof src->f[0]);
}

static bool feed_byte(pl_json_state *st, unsigned char c) {
    for (;;) {
        if (st->depth == 0) return false;
        pl_json_frame *f = &st->f[st->depth - 1], child;
        int r = step(st->schema, f, c, &child, st->depth);
        switch (r) {
        case R_TAKE: return true;
        case R_REJECT: return false;
        case R_DONE:
            st->depth--;
            if (st->depth) child_done(&st->f[st->depth - 1]);
            return true;
        case R_POP_RETRY:
            st->depth--;
            if (st->depth) child_done(&st->f[st->depth - 1]);
            continue;
        case R_PUSH:
            if (st->depth >= PL_JSON_MAX_DEPTH) return false;
            st->f[st->depth++] = child;
            return true;
        case R_PUSH_RETRY:
            if (st->depth >= PL_JSON_MAX_DEPTH) return false;
            st->f[st->depth++] = child;
            continue;
        }
    }
}

bool pl_json_feed(pl_json_state *st, const char *bytes, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!feed_byte(st, (unsigned char)bytes[i])) return false;
    if (n) st->started = true;
    return true;
}

bool pl_json_can_end(const pl_json_state *st) {
    if (st->depth == 0) return true;
    if (st->depth > 1) return false;
    const pl_json_frame *f = &st->f[0];
    if (f->kind == F_NUM || f->kind == F_INT) return number_can_end(f);
    if (f->kind == F_LIT) return f->phase && literal_full(f);
    return false;
}

/* ---------------------------------------------------------------------------------------------- the mask -- */

pl_json_vocab *pl_json_vocab_new(const pl_tokenizer *tok, int n_vocab) {
    pl_json_vocab *v = pl_calloc(1, sizeof *v);
    if (!v) return NULL;
    v->n_vocab = n_vocab;
    v->off = pl_calloc((size_t)n_vocab, sizeof *v->off);
    v->len = pl_calloc((size_t)n_vocab, sizeof *v->len);
    v->by_byte = pl_malloc((size_t)n_vocab * sizeof *v->by_byte);
    size_t cap = (size_t)n_vocab * 8 + 64, used = 0;
    v->text = pl_malloc(cap);
    if (!v->off || !v->len || !v->by_byte || !v->text) { pl_json_vocab_free(v); return NULL; }
    int ntok = pl_tokenizer_n_vocab(tok);
    char buf[512];
    for (int32_t id = 0; id < n_vocab; id++) {
        int len = id < ntok ? pl_detokenize(tok, &id, 1, buf, sizeof buf, true) : 0;
        if (len < 0 || len >= (int)sizeof buf) len = 0; /* unusable in JSON output */
        if (used + (size_t)len + 1 > cap) {
            cap = (used + (size_t)len + 1) * 2;
            char *p = pl_realloc(v->text, cap);
            if (!p) { pl_json_vocab_free(v); return NULL; }
            v->text = p;
        }
        memcpy(v->text + used, buf, (size_t)len);
        v->text[used + (size_t)len] = 0;
        v->off[id] = used; v->len[id] = (size_t)len;
        used += (size_t)len + 1;
    }
    pl_clear_error();
    /* counting sort by first byte; empty texts (special tokens) go nowhere */
    int count[257] = {0};
    for (int id = 0; id < n_vocab; id++) if (v->len[id]) count[(unsigned char)v->text[v->off[id]]]++;
    v->start[0] = 0;
    for (int b = 0; b < 256; b++) v->start[b + 1] = v->start[b] + count[b];
    int fill[256];
    memcpy(fill, v->start, sizeof fill);
    for (int id = 0; id < n_vocab; id++) if (v->len[id]) v->by_byte[fill[(unsigned char)v->text[v->off[id]]]++] = id;
    return v;
}

void pl_json_vocab_free(pl_json_vocab *v) {
    if (!v) return;
    free(v->text); free(v->off); free(v->len); free(v->by_byte); free(v);
}

const char *pl_json_vocab_text(const pl_json_vocab *v, int32_t id, size_t *len) {
    if (id < 0 || id >= v->n_vocab) { *len = 0; return ""; }
    *len = v->len[id];
    return v->text + v->off[id];
}

void pl_json_mask(const pl_json_vocab *v, const pl_json_state *st, float *logits, int32_t eos) {
    unsigned char *ok = pl_calloc((size_t)v->n_vocab, 1);
    if (!ok) return;
    pl_json_state t;
    for (int b = 0; b < 256; b++) {
        if (v->start[b] == v->start[b + 1]) continue;
        pl_json_state_copy(&t, st);
        unsigned char c = (unsigned char)b;
        if (!feed_byte(&t, c)) continue; /* no token starting with this byte can come */
        for (int k = v->start[b]; k < v->start[b + 1]; k++) {
            int32_t id = v->by_byte[k];
            pl_json_state_copy(&t, st);
            if (pl_json_feed(&t, v->text + v->off[id], v->len[id])) ok[id] = 1;
        }
    }
    bool can_end = pl_json_can_end(st);
    if (eos >= 0 && eos < v->n_vocab) ok[eos] = can_end;
    bool any = false;
    for (int id = 0; id < v->n_vocab && !any; id++) any = ok[id];
    if (!any && eos >= 0 && eos < v->n_vocab) ok[eos] = 1; /* nothing can continue: end rather than emit garbage */
    for (int id = 0; id < v->n_vocab; id++) if (!ok[id]) logits[id] = -INFINITY;
    free(ok);
}
