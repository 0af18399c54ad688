/* Eval task files (JSONL via cJSON), few-shot splits, prompt building for zero-shot / few-shot /
 * chain-of-thought, and answer extraction + grading of generated text. Model-free: the eval runner feeds
 * these prompts to a model and scores choices by log-likelihood of prompt + continuation. */
#include "tasks/evaltask.h"

#include "core/common.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>

/* ------------------------------------------------------------------------ parsing ---- */

static void item_free(pl_eval_item *it) {
    free(it->question);
    for (int i = 0; i < it->n_choices; i++) free(it->choices[i]);
    free(it->choices);
    free(it->answer);
}

void pl_eval_task_free(pl_eval_task *t) {
    if (!t) return;
    for (int i = 0; i < t->n_items; i++) item_free(&t->items[i]);
    free(t->items);
    free(t);
}

/* Fill `it` from one parsed line; 0 or a pl_status with the message set. */
static int item_from_json(pl_eval_item *it, const cJSON *o, const char *name, int line, int *kind) {
    if (!cJSON_IsObject(o)) return pl_error(PL_ERR_FORMAT, "%s:%d: expected a JSON object", name, line);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "question");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "choices");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "answer");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "split");
    if (!cJSON_IsString(q)) return pl_error(PL_ERR_FORMAT, "%s:%d: missing string field \"question\"", name, line);
    if (!a) return pl_error(PL_ERR_FORMAT, "%s:%d: missing field \"answer\"", name, line);
    if (sp && !(cJSON_IsString(sp) && (!strcmp(sp->valuestring, "train") || !strcmp(sp->valuestring, "test"))))
        return pl_error(PL_ERR_FORMAT, "%s:%d: \"split\" must be \"train\" or \"test\"", name, line);
    it->line = line;
    it->train = sp && !strcmp(sp->valuestring, "train");
    if (!(it->question = pl_strdup(q->valuestring))) return PL_ERR_NOMEM;
    int k = c ? PL_EVAL_CHOICE : PL_EVAL_FREE;
    if (*kind >= 0 && k != *kind)
        return pl_error(PL_ERR_FORMAT, "%s:%d: this line is %s but earlier lines are %s; a task holds one kind",
                        name, line, k == PL_EVAL_CHOICE ? "multiple-choice" : "free-answer",
                        *kind == PL_EVAL_CHOICE ? "multiple-choice" : "free-answer");
    *kind = k;
    if (k == PL_EVAL_CHOICE) {
        int n = cJSON_IsArray(c) ? cJSON_GetArraySize(c) : -1;
        if (n < 2) return pl_error(PL_ERR_FORMAT, "%s:%d: \"choices\" must be an array of at least 2 strings", name, line);
        if (!(it->choices = pl_calloc((size_t)n, sizeof *it->choices))) return PL_ERR_NOMEM;
        for (const cJSON *ci = c->child; ci; ci = ci->next) {
            if (!cJSON_IsString(ci))
                return pl_error(PL_ERR_FORMAT, "%s:%d: choice %d is not a string", name, line, it->n_choices);
            if (!(it->choices[it->n_choices++] = pl_strdup(ci->valuestring))) return PL_ERR_NOMEM;
        }
        if (!cJSON_IsNumber(a) || a->valuedouble != floor(a->valuedouble))
            return pl_error(PL_ERR_FORMAT, "%s:%d: \"answer\" must be the index of the right choice", name, line);
        if (a->valuedouble < 0 || a->valuedouble >= n)
            return pl_error(PL_ERR_FORMAT, "%s:%d: answer index %g out of range (%d choices)", name, line,
                            a->valuedouble, n);
        it->answer_index = (int)a->valuedouble;
        it->answer = pl_strdup(it->choices[it->answer_index]);
    } else if (cJSON_IsString(a)) {
        it->answer = pl_strdup(a->valuestring);
    } else if (cJSON_IsNumber(a)) { /* "answer": 42 is as good as "42" */
        char buf[64];
        snprintf(buf, sizeof buf, "%.15g", a->valuedouble);
        it->answer = pl_strdup(buf);
    } else {
        return pl_error(PL_ERR_FORMAT, "%s:%d: \"answer\" must be a string (or a number)", name, line);
    }
    return it->answer ? 0 : PL_ERR_NOMEM;
}

pl_eval_task *pl_eval_task_parse(const char *text, size_t len, const char *name) {
    if (!name) name = "task";
    if (!pl_utf8_valid(text, len)) return pl_error_null(PL_ERR_FORMAT, "%s: not valid UTF-8", name);
    pl_eval_task *t = pl_calloc(1, sizeof *t);
    if (!t) return NULL;
    int kind = -1, cap = 0, line = 0;
    for (size_t pos = 0; pos < len;) {
        const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + 1;
        line++;
        size_t j = 0;
        while (j < n && isspace((unsigned char)s[j])) j++;
        if (j == n) continue; /* blank line */
        cJSON *o = cJSON_ParseWithLength(s, n);
        if (!o) { pl_eval_task_free(t); return pl_error_null(PL_ERR_FORMAT, "%s:%d: not valid JSON", name, line); }
        if (t->n_items == cap) {
            cap = cap ? 2 * cap : 64;
            pl_eval_item *p = pl_realloc(t->items, (size_t)cap * sizeof *p);
            if (!p) { cJSON_Delete(o); pl_eval_task_free(t); return NULL; }
            t->items = p;
        }
        pl_eval_item *it = &t->items[t->n_items++];
        memset(it, 0, sizeof *it);
        int rc = item_from_json(it, o, name, line, &kind);
        cJSON_Delete(o);
        if (rc) { pl_eval_task_free(t); return NULL; }
        t->has_train |= it->train;
    }
    if (t->n_items == 0) { pl_eval_task_free(t); return pl_error_null(PL_ERR_FORMAT, "%s: empty task file", name); }
    t->kind = (pl_eval_kind)kind;
    return t;
}

pl_eval_task *pl_eval_task_load(const char *path) {
    size_t len;
    char *text = pl_read_file(path, &len);
    if (!text) return NULL;
    pl_eval_task *t = pl_eval_task_parse(text, len, path);
    free(text);
    return t;
}

/* -------------------------------------------------------------------------- split ---- */

void pl_eval_split_free(pl_eval_split *s) {
    free(s->shots);
    free(s->test);
    memset(s, 0, sizeof *s);
}

int pl_eval_task_split(const pl_eval_task *t, int k, pl_eval_split *out) {
    memset(out, 0, sizeof *out);
    if (k < 0) return pl_error(PL_ERR_ARG, "number of shots must be >= 0 (got %d)", k);
    int pool = 0;
    for (int i = 0; i < t->n_items; i++) pool += t->has_train ? t->items[i].train : 1;
    if (k > pool || (!t->has_train && k >= pool))
        return pl_error(PL_ERR_ARG, "asked for %d shots but the task has %d %s", k, t->has_train ? pool : pool - 1,
                        t->has_train ? "training examples (\"split\": \"train\")" : "lines to spare");
    out->shots = pl_calloc((size_t)(k ? k : 1), sizeof *out->shots);
    out->test = pl_calloc((size_t)t->n_items, sizeof *out->test);
    if (!out->shots || !out->test) { pl_eval_split_free(out); return PL_ERR_NOMEM; }
    for (int i = 0; i < t->n_items; i++) {
        const pl_eval_item *it = &t->items[i];
        bool shot_pool = t->has_train ? it->train : true;
        if (shot_pool && out->n_shots < k) out->shots[out->n_shots++] = it;
        else if (!it->train) out->test[out->n_test++] = it;
    }
    if (out->n_test == 0) {
        pl_eval_split_free(out);
        return pl_error(PL_ERR_ARG, "the task has nothing left to score after taking %d shots", k);
    }
    return 0;
}

/* ------------------------------------------------------------------------ prompts ---- */

typedef struct { char *s; size_t len, cap; bool oom; } sbuf;

static void sb_add(sbuf *b, const char *s) {
    size_t n = strlen(s);
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = pl_realloc(b->s, cap);
        if (!p) { b->oom = true; return; }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

static char *sb_done(sbuf *b) {
    if (b->oom) { free(b->s); return NULL; }
    if (!b->s) sb_add(b, "");
    return b->s;
}

int pl_eval_mode_parse(const char *s) {
    if (s && (!strcmp(s, "zero-shot") || !strcmp(s, "zero"))) return PL_EVAL_ZERO_SHOT;
    if (s && (!strcmp(s, "few-shot") || !strcmp(s, "few"))) return PL_EVAL_FEW_SHOT;
    if (s && !strcmp(s, "cot")) return PL_EVAL_COT;
    return pl_error(PL_ERR_ARG, "unknown eval mode '%s' (choices: zero-shot, few-shot, cot)", s ? s : "");
}

const char *pl_eval_mode_name(pl_eval_mode m) {
    return m == PL_EVAL_FEW_SHOT ? "few-shot" : m == PL_EVAL_COT ? "cot" : "zero-shot";
}

static void add_question(sbuf *b, const pl_eval_item *it, pl_eval_mode mode) {
    sb_add(b, "Question: ");
    sb_add(b, it->question);
    sb_add(b, "\n");
    if (mode == PL_EVAL_COT && it->n_choices > 0) { /* the model must name a choice in its own words */
        sb_add(b, "Choices:");
        for (int i = 0; i < it->n_choices; i++) {
            char tag[8];
            snprintf(tag, sizeof tag, " (%c) ", 'A' + (i % 26));
            sb_add(b, tag);
            sb_add(b, it->choices[i]);
        }
        sb_add(b, "\n");
    }
    sb_add(b, "Answer:");
}

char *pl_eval_prompt(const pl_eval_task *t, const pl_eval_item *const *shots, int n_shots,
                     const pl_eval_item *item, pl_eval_mode mode) {
    sbuf b = { 0 };
    if (mode == PL_EVAL_ZERO_SHOT) n_shots = 0;
    if (mode == PL_EVAL_COT)
        sb_add(&b, "Answer each question. Think step by step, then finish with \"The answer is X.\" where X is "
                   "the final answer.\n\n");
    for (int i = 0; i < n_shots; i++) {
        add_question(&b, shots[i], mode);
        sb_add(&b, mode == PL_EVAL_COT ? " The answer is " : " ");
        sb_add(&b, shots[i]->answer);
        sb_add(&b, mode == PL_EVAL_COT ? ".\n\n" : "\n\n");
    }
    add_question(&b, item, mode);
    if (mode == PL_EVAL_COT) sb_add(&b, " Let's think step by step.");
    (void)t;
    return sb_done(&b);
}

char *pl_eval_continuation(const pl_eval_item *item, int i) {
    if (i < 0 || i >= item->n_choices) return pl_error_null(PL_ERR_ARG, "choice %d out of range", i);
    sbuf b = { 0 };
    sb_add(&b, " ");
    sb_add(&b, item->choices[i]);
    return sb_done(&b);
}

const char *const *pl_eval_stop_strings(pl_eval_mode mode, int *n) {
    static const char *const direct[] = { "\n\n", "\nQuestion:" };
    static const char *const cot[] = { "\nQuestion:" }; /* reasoning may contain blank lines */
    *n = mode == PL_EVAL_COT ? 1 : 2;
    return mode == PL_EVAL_COT ? cot : direct;
}

/* --------------------------------------------------------------------- extraction ---- */

char *pl_eval_normalize(const char *s) {
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    while (n && isspace((unsigned char)*s)) { s++; n--; }
    if (n && s[n - 1] == '.') n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    char *out = pl_malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        bool digit_comma = s[i] == ',' && i > 0 && i + 1 < n && isdigit((unsigned char)s[i - 1]) &&
                           isdigit((unsigned char)s[i + 1]);
        if (!digit_comma) out[o++] = (char)tolower((unsigned char)s[i]);
    }
    out[o] = 0;
    return out;
}

/* Find a number in [p, end): [-]digits[,digits]*[.digits]; a '-' counts only at or after `begin`. */
static bool next_number(const char *begin, const char *p, const char *end, const char **start, const char **stop) {
    for (; p < end; p++) {
        if (!isdigit((unsigned char)*p)) continue;
        const char *s = p > begin && p[-1] == '-' ? p - 1 : p;
        const char *e = p;
        while (e < end && (isdigit((unsigned char)*e) || (*e == ',' && e + 1 < end && isdigit((unsigned char)e[1]))))
            e++;
        if (e + 1 < end && *e == '.' && isdigit((unsigned char)e[1]))
            for (e++; e < end && isdigit((unsigned char)*e);) e++;
        *start = s;
        *stop = e;
        return true;
    }
    return false;
}

static char *dup_range(const char *s, const char *e) {
    char *tmp = pl_malloc((size_t)(e - s) + 1);
    if (!tmp) return NULL;
    memcpy(tmp, s, (size_t)(e - s));
    tmp[e - s] = 0;
    char *out = pl_eval_normalize(tmp);
    free(tmp);
    return out;
}

/* Last case-insensitive "answer is" in text, or NULL. */
static const char *last_answer_is(const char *text) {
    const char *last = NULL;
    for (const char *p = text; *p; p++)
        if (strncasecmp(p, "answer is", 9) == 0) last = p;
    return last;
}

char *pl_eval_extract(const char *g, bool numeric) {
    const char *end = g + strlen(g);
    const char *s, *e;
    const char *ai = last_answer_is(g);
    if (ai) {
        const char *p = ai + 9;
        while (p < end && (isspace((unsigned char)*p) || *p == ':')) p++;
        const char *q = p; /* to the end of the sentence: newline, or '.' not inside a number */
        while (q < end && *q != '\n' && !(*q == '.' && (q + 1 == end || isspace((unsigned char)q[1])))) q++;
        if (numeric && next_number(p, p, q, &s, &e)) return dup_range(s, e);
        if (!numeric && q > p) return dup_range(p, q);
    }
    if (numeric) {
        const char *ls = NULL, *le = NULL;
        for (const char *p = g; next_number(g, p, end, &s, &e); p = e) { ls = s; le = e; }
        if (ls) return dup_range(ls, le);
    }
    while (g < end && isspace((unsigned char)*g)) g++;
    const char *nl = memchr(g, '\n', (size_t)(end - g));
    return dup_range(g, nl ? nl : end);
}

bool pl_eval_is_numeric(const char *a) {
    char *n = pl_eval_normalize(a);
    if (!n) return false;
    const char *c = n + (n[0] == '-');
    bool ok = isdigit((unsigned char)*c);
    while (isdigit((unsigned char)*c)) c++;
    if (ok && c[0] == '.' && isdigit((unsigned char)c[1]))
        for (c++; isdigit((unsigned char)*c);) c++;
    ok = ok && *c == 0;
    free(n);
    return ok;
}

/* Which choice does extracted text `x` name: exact text, a letter "b" / "(b)" / "b)", or the only choice
 * mentioned as a whole word. -1 if none or ambiguous. */
static int match_choice(const pl_eval_item *it, const char *x) {
    int found = -1, n_found = 0;
    for (int i = 0; i < it->n_choices; i++) {
        char *c = pl_eval_normalize(it->choices[i]);
        if (!c) return -1;
        bool eq = strcmp(c, x) == 0;
        size_t cl = strlen(c);
        bool mentioned = false;
        for (const char *p = strstr(x, c); p && cl; p = strstr(p + 1, c)) {
            bool left = p == x || !isalnum((unsigned char)p[-1]);
            bool right = !isalnum((unsigned char)p[cl]);
            if (left && right) { mentioned = true; break; }
        }
        free(c);
        if (eq) return i;
        if (mentioned) { found = i; n_found++; }
    }
    const char *l = x;
    if (*l == '(') l++;
    if (l[0] >= 'a' && l[0] < 'a' + it->n_choices && (l[1] == 0 || l[1] == ')' || l[1] == '.'))
        return l[0] - 'a';
    return n_found == 1 ? found : -1;
}

bool pl_eval_check(const pl_eval_item *it, const char *generated) {
    bool numeric = it->n_choices == 0 && pl_eval_is_numeric(it->answer);
    char *x = pl_eval_extract(generated, numeric);
    if (!x) return false;
    bool ok;
    if (it->n_choices > 0) {
        ok = match_choice(it, x) == it->answer_index;
    } else if (numeric) {
        char *gold = pl_eval_normalize(it->answer);
        ok = gold && x[0] && fabs(strtod(x, NULL) - strtod(gold, NULL)) <= 1e-9 * fmax(1.0, fabs(strtod(gold, NULL)));
        free(gold);
    } else {
        char *gold = pl_eval_normalize(it->answer);
        ok = gold && strcmp(gold, x) == 0;
        free(gold);
    }
    free(x);
    return ok;
}
