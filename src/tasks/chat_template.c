/* Chat template families rendered by hand (no Jinja): one small function per family that writes exactly what
 * the family's published Jinja template writes, plus detection of the family from a template string.
 * Used by the chat task and the server's /v1/chat/completions; checked against transformers in
 * tests/unit/test_chat_template.c. */
#include "tasks/chat_template.h"

#include "core/common.h"

#include <ctype.h>

struct pl_chat_template {
    pl_chat_family family;
    char *default_system; /* ChatML templates that add a system turn when there is none; else NULL */
    char *bos, *eos;
};

static const char *const g_names[PL_CHAT_COUNT] = { "chatml", "llama3", "llama2", "mistral", "gemma", "zephyr" };
static const char *const g_bos[PL_CHAT_COUNT] = { "", "<|begin_of_text|>", "<s>", "<s>", "<bos>", "<s>" };
static const char *const g_eos[PL_CHAT_COUNT] = { "<|im_end|>", "<|eot_id|>", "</s>", "</s>", "<eos>", "</s>" };
#define CHOICES "chatml, llama3, llama2, mistral, gemma, zephyr"

/* ---------------------------------------------------------------- a growing string ---- */

typedef struct { char *s; size_t len, cap; bool oom; } strbuf;

static void sb_addn(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = pl_realloc(b->s, cap);
        if (!p) { b->oom = true; return; }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}
static void sb_add(strbuf *b, const char *s) { sb_addn(b, s, strlen(s)); }

/* Python's str.strip() / Jinja's trim, for ASCII whitespace. */
static void sb_add_trimmed(strbuf *b, const char *s) {
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    while (n && isspace((unsigned char)*s)) { s++; n--; }
    sb_addn(b, s, n);
}

static char *sb_finish(strbuf *b) {
    if (b->oom) { free(b->s); return NULL; }
    if (!b->s) sb_add(b, "");
    return b->s;
}

/* ----------------------------------------------------------------------- families ---- */

static bool is_role(const pl_chat_message *m, const char *role) { return m->role && strcmp(m->role, role) == 0; }
static const char *content_of(const pl_chat_message *m) { return m->content ? m->content : ""; }
static const char *role_of(const pl_chat_message *m) { return m->role ? m->role : ""; }

/* Llama-2, Mistral and Gemma insist on user, assistant, user, ... after an optional leading system message. */
static int check_alternating(const pl_chat_template *t, const pl_chat_message *m, int n) {
    for (int i = 0; i < n; i++)
        if (is_role(&m[i], "user") != (i % 2 == 0))
            return pl_error(PL_ERR_ARG, "chat template '%s': conversation roles must alternate user/assistant/"
                            "user/... (message %d has role '%s')", g_names[t->family], i, role_of(&m[i]));
    return 0;
}

static void render_chatml(const pl_chat_template *t, strbuf *b, const pl_chat_message *m, int n, bool gen) {
    if (n > 0 && t->default_system && !is_role(&m[0], "system")) {
        sb_add(b, "<|im_start|>system\n");
        sb_add(b, t->default_system);
        sb_add(b, "<|im_end|>\n");
    }
    for (int i = 0; i < n; i++) {
        sb_add(b, "<|im_start|>");
        sb_add(b, role_of(&m[i]));
        sb_add(b, "\n");
        sb_add(b, content_of(&m[i]));
        sb_add(b, "<|im_end|>\n");
    }
    if (gen) sb_add(b, "<|im_start|>assistant\n");
}

static void render_llama3(const pl_chat_template *t, strbuf *b, const pl_chat_message *m, int n, bool gen) {
    for (int i = 0; i < n; i++) {
        if (i == 0) sb_add(b, t->bos);
        sb_add(b, "<|start_header_id|>");
        sb_add(b, role_of(&m[i]));
        sb_add(b, "<|end_header_id|>\n\n");
        sb_add_trimmed(b, content_of(&m[i]));
        sb_add(b, "<|eot_id|>");
    }
    if (gen) sb_add(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static int render_llama2(const pl_chat_template *t, strbuf *b, const pl_chat_message *m, int n) {
    const char *sys = n > 0 && is_role(&m[0], "system") ? content_of(&m[0]) : NULL;
    if (sys) { m++; n--; }
    if (check_alternating(t, m, n)) return -1;
    for (int i = 0; i < n; i++) {
        strbuf c = { 0 }; /* the template strips the whole turn, system block included */
        if (i == 0 && sys) { sb_add(&c, "<<SYS>>\n"); sb_add(&c, sys); sb_add(&c, "\n<</SYS>>\n\n"); }
        sb_add(&c, content_of(&m[i]));
        char *turn = sb_finish(&c);
        if (!turn) { b->oom = true; return -1; }
        if (is_role(&m[i], "user")) {
            sb_add(b, t->bos);
            sb_add(b, "[INST] ");
            sb_add_trimmed(b, turn);
            sb_add(b, " [/INST]");
        } else if (is_role(&m[i], "assistant")) {
            sb_add(b, " ");
            sb_add_trimmed(b, turn);
            sb_add(b, " ");
            sb_add(b, t->eos);
        }
        free(turn);
    }
    return 0;
}

/* Mistral's template has no system role (transformers raises); plinth folds it into the first user turn the
 * way Mistral's later templates do, "system\n\nuser". */
static int render_mistral(const pl_chat_template *t, strbuf *b, const pl_chat_message *m, int n) {
    const char *sys = n > 0 && is_role(&m[0], "system") ? content_of(&m[0]) : NULL;
    if (sys) { m++; n--; }
    if (check_alternating(t, m, n)) return -1;
    sb_add(b, t->bos);
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], "user")) {
            sb_add(b, "[INST] ");
            if (i == 0 && sys) { sb_add(b, sys); sb_add(b, "\n\n"); }
            sb_add(b, content_of(&m[i]));
            sb_add(b, " [/INST]");
        } else {
            sb_add(b, content_of(&m[i]));
            sb_add(b, t->eos);
        }
    }
    return 0;
}

static int render_gemma(const pl_chat_template *t, strbuf *b, const pl_chat_message *m, int n, bool gen) {
    const char *sys = n > 0 && is_role(&m[0], "system") ? content_of(&m[0]) : NULL;
    if (sys) { m++; n--; }
    if (check_alternating(t, m, n)) return -1;
    sb_add(b, t->bos);
    for (int i = 0; i < n; i++) {
        sb_add(b, "<start_of_turn>");
        sb_add(b, is_role(&m[i], "assistant") ? "model" : role_of(&m[i]));
        sb_add(b, "\n");
        if (i == 0 && sys) { sb_add(b, sys); sb_add(b, "\n\n"); }
        sb_add_trimmed(b, content_of(&m[i]));
        sb_add(b, "<end_of_turn>\n");
    }
    if (gen) sb_add(b, "<start_of_turn>model\n");
    return 0;
}

static void render_zephyr(const pl_chat_template *t, strbuf *b, const pl_chat_message *m, int n, bool gen) {
    for (int i = 0; i < n; i++) {
        if (is_role(&m[i], "user") || is_role(&m[i], "system") || is_role(&m[i], "assistant")) {
            sb_add(b, "<|");
            sb_add(b, m[i].role);
            sb_add(b, "|>\n");
            sb_add(b, content_of(&m[i]));
            sb_add(b, t->eos);
            sb_add(b, "\n");
        }
        if (i == n - 1 && gen) sb_add(b, "<|assistant|>\n");
    }
}

char *pl_chat_render(const pl_chat_template *t, const pl_chat_message *m, int n, bool gen) {
    if (!t || n < 0 || (n > 0 && !m)) return pl_error_null(PL_ERR_ARG, "chat render: bad arguments");
    strbuf b = { 0 };
    int rc = 0;
    switch (t->family) {
    case PL_CHAT_CHATML: render_chatml(t, &b, m, n, gen); break;
    case PL_CHAT_LLAMA3: render_llama3(t, &b, m, n, gen); break;
    case PL_CHAT_LLAMA2: rc = render_llama2(t, &b, m, n); break;
    case PL_CHAT_MISTRAL: rc = render_mistral(t, &b, m, n); break;
    case PL_CHAT_GEMMA: rc = render_gemma(t, &b, m, n, gen); break;
    case PL_CHAT_ZEPHYR: render_zephyr(t, &b, m, n, gen); break;
    default: rc = -1; pl_error(PL_ERR_ARG, "chat render: bad family");
    }
    if (rc) { free(b.s); return NULL; }
    return sb_finish(&b);
}

/* ------------------------------------------------------------- making templates ---- */

static pl_chat_template *template_new(pl_chat_family f) {
    pl_chat_template *t = pl_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->family = f;
    t->bos = pl_strdup(g_bos[f]);
    t->eos = pl_strdup(g_eos[f]);
    if (!t->bos || !t->eos) { pl_chat_template_free(t); return NULL; }
    return t;
}

void pl_chat_template_free(pl_chat_template *t) {
    if (!t) return;
    free(t->default_system);
    free(t->bos);
    free(t->eos);
    free(t);
}

pl_chat_template *pl_chat_template_by_name(const char *name) {
    static const struct { const char *alias; pl_chat_family f; } aliases[] = {
        { "llama-3", PL_CHAT_LLAMA3 }, { "llama-2", PL_CHAT_LLAMA2 }, { "gemma3", PL_CHAT_GEMMA },
    };
    if (!name) name = "";
    for (int f = 0; f < PL_CHAT_COUNT; f++)
        if (strcmp(name, g_names[f]) == 0) return template_new((pl_chat_family)f);
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(name, aliases[i].alias) == 0) return template_new(aliases[i].f);
    return pl_error_null(PL_ERR_ARG, "unknown chat template '%s' (choices: " CHOICES ")", name);
}

/* A ChatML template's built-in system message: the literal text between "<|im_start|>system\n" and
 * "<|im_end|>" inside one Jinja string (no quotes, no {{ }}, so it is not the message's own content).
 * The newline may be a real one or the two characters \n (Jinja string escape). */
static char *chatml_default_system(const char *jinja) {
    static const char head[] = "<|im_start|>system";
    for (const char *p = strstr(jinja, head); p; p = strstr(p + 1, head)) {
        const char *s = p + sizeof head - 1;
        if (*s == '\n') s++;
        else if (s[0] == '\\' && s[1] == 'n') s += 2;
        else continue;
        const char *e = strstr(s, "<|im_end|>");
        if (!e || e == s) continue;
        size_t n = (size_t)(e - s);
        bool literal = true;
        for (size_t i = 0; i < n && literal; i++)
            literal = s[i] != '\'' && s[i] != '"' && s[i] != '{' && s[i] != '}' && s[i] != '\\';
        if (!literal) continue;
        char *out = pl_malloc(n + 1);
        if (out) { memcpy(out, s, n); out[n] = 0; }
        return out;
    }
    return NULL;
}

pl_chat_template *pl_chat_template_detect(const char *jinja) {
    if (!jinja || !*jinja)
        return pl_error_null(PL_ERR_ARG, "the model has no chat template; choose one with --chat-template NAME "
                             "(" CHOICES ")");
    int f = -1;
    if (strstr(jinja, "<|im_start|>")) f = PL_CHAT_CHATML;
    else if (strstr(jinja, "<|start_header_id|>")) f = PL_CHAT_LLAMA3;
    else if (strstr(jinja, "<start_of_turn>")) f = PL_CHAT_GEMMA;
    else if (strstr(jinja, "<<SYS>>") && strstr(jinja, "[INST]")) f = PL_CHAT_LLAMA2;
    else if (strstr(jinja, "[INST]")) f = PL_CHAT_MISTRAL;
    else if (strstr(jinja, "<|user|>") && strstr(jinja, "<|assistant|>") && !strstr(jinja, "<|end|>"))
        f = PL_CHAT_ZEPHYR; /* Phi-3 shares the role tags but closes turns with <|end|> */
    if (f < 0)
        return pl_error_null(PL_ERR_UNSUPPORTED, "unrecognized chat template (known families: " CHOICES
                             "); choose one with --chat-template NAME");
    pl_chat_template *t = template_new((pl_chat_family)f);
    if (t && f == PL_CHAT_CHATML) t->default_system = chatml_default_system(jinja);
    return t;
}

pl_chat_family pl_chat_template_family(const pl_chat_template *t) { return t->family; }
const char *pl_chat_template_name(const pl_chat_template *t) { return g_names[t->family]; }
const char *pl_chat_template_default_system(const pl_chat_template *t) { return t->default_system; }

int pl_chat_template_set_tokens(pl_chat_template *t, const char *bos, const char *eos) {
    char *nb = bos ? pl_strdup(bos) : NULL, *ne = eos ? pl_strdup(eos) : NULL;
    if ((bos && !nb) || (eos && !ne)) { free(nb); free(ne); return PL_ERR_NOMEM; }
    if (nb) { free(t->bos); t->bos = nb; }
    if (ne) { free(t->eos); t->eos = ne; }
    return 0;
}

const char *pl_chat_template_end_of_turn(const pl_chat_template *t) {
    switch (t->family) {
    case PL_CHAT_CHATML: return "<|im_end|>";
    case PL_CHAT_LLAMA3: return "<|eot_id|>";
    case PL_CHAT_GEMMA: return "<end_of_turn>";
    default: return t->eos;
    }
}
