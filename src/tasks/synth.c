/* Synthetic training data (synth.h): the template file, its rendering, the teacher's answers and the filters. */
#include "tasks/synth.h"
#include "tasks/bundle.h"
#include "tasks/generate.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

pl_synth_opts pl_synth_default_opts(void) {
    return (pl_synth_opts){.n = 100, .seed = 42, .temperature = 0.9f, .top_p = 0.95f, .max_tokens = 120};
}

/* ---- the template ------------------------------------------------------------------------------------------ */
typedef struct { const char *name; const cJSON *values; int n; } slot;
typedef struct {
    cJSON *root;
    const char *instruction, *system, *ex_prompt, *ex_completion, *label_slot, *label_question;
    slot slots[16];
    int n_slots, min_chars, max_chars, label_index;
    bool allow_cut;           /* keep answers the token budget cut off */
    const cJSON *forbid;
} tmpl;

static int slot_index(const tmpl *t, const char *name, size_t len) {
    for (int i = 0; i < t->n_slots; i++)
        if (strlen(t->slots[i].name) == len && !memcmp(t->slots[i].name, name, len)) return i;
    return -1;
}

typedef struct { char *p; size_t n, cap; } buf;
static bool put(buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

/* fmt with {slot} -> its chosen value, {output} -> output ({{ and }}: braces). check: only validate the names. */
static char *render(const tmpl *t, const char *fmt, const int *choice, const char *output, const char *where) {
    buf b = {0};
    put(&b, "", 0);
    for (const char *s = fmt; *s;) {
        if ((s[0] == '{' && s[1] == '{') || (s[0] == '}' && s[1] == '}')) { put(&b, s, 1); s += 2; continue; }
        if (*s != '{') { const char *e = strchr(s, '{'); size_t n = e ? (size_t)(e - s) : strlen(s); put(&b, s, n); s += n; continue; }
        const char *e = strchr(s, '}');
        if (!e) { free(b.p); return pl_error_null(PL_ERR_FORMAT, "template %s: '{' without '}'", where); }
        size_t len = (size_t)(e - s - 1);
        int k = slot_index(t, s + 1, len);
        if (k >= 0) put(&b, choice ? cJSON_GetArrayItem(t->slots[k].values, choice[k])->valuestring : "", choice ? strlen(cJSON_GetArrayItem(t->slots[k].values, choice[k])->valuestring) : 0);
        else if (len == 6 && !memcmp(s + 1, "output", 6) && output) put(&b, output, strlen(output));
        else {
            pl_error(PL_ERR_FORMAT, "template %s: {%.*s} is not a slot%s", where, (int)len, s + 1, output ? " or {output}" : "");
            free(b.p);
            return NULL;
        }
        s = e + 1;
    }
    return b.p;
}

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int load_template(const char *path, tmpl *t) {
    char *js = pl_read_file(path, NULL);
    if (!js) return PL_ERR_IO;
    t->root = cJSON_Parse(js);
    free(js);
    if (!t->root || !cJSON_IsObject(t->root)) return pl_error(PL_ERR_FORMAT, "%s: not a JSON object", path);
    const cJSON *slots = cJSON_GetObjectItemCaseSensitive(t->root, "slots"), *ex = cJSON_GetObjectItemCaseSensitive(t->root, "example"),
                *check = cJSON_GetObjectItemCaseSensitive(t->root, "check");
    t->instruction = str_of(t->root, "instruction");
    t->system = str_of(t->root, "system");
    t->ex_prompt = str_of(ex, "prompt");
    t->ex_completion = str_of(ex, "completion");
    if (!t->instruction || !t->ex_prompt || !t->ex_completion)
        return pl_error(PL_ERR_FORMAT, "%s: \"instruction\" and \"example\": {\"prompt\", \"completion\"} (strings) are needed", path);
    const cJSON *s;
    cJSON_ArrayForEach(s, slots) {
        if (t->n_slots == 16) return pl_error(PL_ERR_FORMAT, "%s: at most 16 slots", path);
        int n = cJSON_GetArraySize(s);
        if (!cJSON_IsArray(s) || n < 1) return pl_error(PL_ERR_FORMAT, "%s: slot \"%s\" needs a non-empty list of strings", path, s->string);
        for (int i = 0; i < n; i++)
            if (!cJSON_IsString(cJSON_GetArrayItem(s, i))) return pl_error(PL_ERR_FORMAT, "%s: slot \"%s\": value %d is not a string", path, s->string, i);
        t->slots[t->n_slots++] = (slot){s->string, s, n};
    }
    const cJSON *mn = cJSON_GetObjectItemCaseSensitive(check, "min_chars"), *mx = cJSON_GetObjectItemCaseSensitive(check, "max_chars"),
                *label = cJSON_GetObjectItemCaseSensitive(check, "label");
    t->min_chars = cJSON_IsNumber(mn) ? mn->valueint : 1;
    t->max_chars = cJSON_IsNumber(mx) ? mx->valueint : 1 << 30;
    t->forbid = cJSON_GetObjectItemCaseSensitive(check, "must_not_contain");
    t->allow_cut = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(check, "allow_cut"));
    t->label_slot = str_of(label, "slot");
    t->label_question = str_of(label, "question");
    t->label_index = t->label_slot ? slot_index(t, t->label_slot, strlen(t->label_slot)) : -1;
    if (label && (t->label_index < 0 || !t->label_question))
        return pl_error(PL_ERR_FORMAT, "%s: check.label needs \"slot\" (one of the slots) and \"question\"", path);
    /* every placeholder names a slot (or {output} where an answer exists) */
    const char *const fmts[][2] = {{t->instruction, NULL}, {t->ex_prompt, "x"}, {t->ex_completion, "x"}, {t->system, NULL},
                                   {t->label_question, "x"}};
    const char *names[] = {"instruction", "example.prompt", "example.completion", "system", "check.label.question"};
    for (int i = 0; i < 5; i++) {
        if (!fmts[i][0]) continue;
        char *r = render(t, fmts[i][0], NULL, fmts[i][1], names[i]);
        if (!r) return PL_ERR_FORMAT;
        free(r);
    }
    return PL_OK;
}

/* ---- the teacher ------------------------------------------------------------------------------------------ */
static void collect(const char *text, size_t len, void *ud) { put(ud, text, len); }

/* the teacher's answer to `user` (its chat template when it has one), trimmed; malloc'd */
static char *ask(pl_bundle *b, const char *system, const char *user, pl_gen_opts *go, bool *cut) {
    pl_chat_message msgs[2];
    int n = 0;
    if (system) msgs[n++] = (pl_chat_message){"system", system};
    msgs[n++] = (pl_chat_message){"user", user};
    char *prompt = b->chat ? pl_chat_render(b->chat, msgs, n, true) : NULL;
    buf out = {0};
    put(&out, "", 0);
    pl_gen_stats gs = {0};
    int rc = pl_generate(b->llm, b->tok, prompt ? prompt : user, go, collect, &out, NULL, &gs);
    free(prompt);
    if (cut) *cut = gs.stop == PL_GEN_STOP_LENGTH || gs.stop == PL_GEN_STOP_CONTEXT; /* not finished: cut off */
    if (rc) { free(out.p); return NULL; }
    char *s = out.p, *e = s + out.n; /* trim whitespace and one pair of enclosing quotes */
    while (s < e && isspace((unsigned char)*s)) s++;
    while (e > s && isspace((unsigned char)e[-1])) e--;
    if (e - s >= 2 && *s == '"' && e[-1] == '"') s++, e--;
    memmove(out.p, s, (size_t)(e - s));
    out.p[e - s] = 0;
    return out.p;
}

static uint64_t norm_hash(const char *s) { /* lower case, whitespace runs as one space */
    uint64_t h = 1469598103934665603ull;
    bool space = false;
    for (; *s; s++) {
        if (isspace((unsigned char)*s)) { space = true; continue; }
        if (space) h = (h ^ ' ') * 1099511628211ull, space = false;
        h = (h ^ (unsigned char)tolower((unsigned char)*s)) * 1099511628211ull;
    }
    return h;
}

static bool contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    if (!n) return false;
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return true;
    return false;
}

/* the value of slot k that the reply names first (as a whole word, any case), or -1 */
static int named_value(const tmpl *t, int k, const char *reply) {
    int best = -1;
    size_t at = (size_t)-1;
    for (int v = 0; v < t->slots[k].n; v++) {
        const char *val = cJSON_GetArrayItem(t->slots[k].values, v)->valuestring;
        size_t n = strlen(val);
        for (const char *p = reply; n && *p; p++) {
            if (strncasecmp(p, val, n) || (p > reply && isalnum((unsigned char)p[-1])) || isalnum((unsigned char)p[n])) continue;
            if ((size_t)(p - reply) < at) at = (size_t)(p - reply), best = v;
            break;
        }
    }
    return best;
}

int pl_synth(const pl_synth_opts *o, pl_synth_stats *st) {
    memset(st, 0, sizeof *st);
    if (!o->teacher || !o->template_path || !o->out_path) return pl_error(PL_ERR_ARG, "a teacher, a template and an output file are needed");
    if (o->n < 1) return pl_error(PL_ERR_ARG, "-n %d: at least one example", o->n);
    tmpl t = {0};
    int rc = load_template(o->template_path, &t);
    pl_bundle *b = rc ? NULL : pl_bundle_open(o->teacher, &(pl_bundle_params){.n_ctx = o->n_ctx, .n_threads = o->threads});
    if (!rc && !b) rc = PL_ERR_FORMAT;
    const int max_attempts = o->max_attempts > 0 ? o->max_attempts : 4 * o->n;
    const bool tty = isatty(2);
    uint64_t *seen = rc ? NULL : pl_calloc((size_t)o->n, sizeof *seen);
    buf lines = {0};
    if (!rc && (!seen || !put(&lines, "", 0))) rc = PL_ERR_NOMEM;
    for (int a = 0; !rc && st->kept < o->n && a < max_attempts; a++) {
        if (o->interrupt && *o->interrupt) { rc = pl_error(PL_ERR_INTERRUPTED, "interrupted: %d examples kept", st->kept); break; }
        st->attempts++;
        uint64_t r = pl_hash64(o->seed ^ pl_hash64((uint64_t)a + 1));
        int choice[16];
        for (int k = 0; k < t.n_slots; k++) choice[k] = (int)((r = pl_hash64(r)) % (uint64_t)t.slots[k].n);
        char *instr = render(&t, t.instruction, choice, NULL, "instruction"), *sys = t.system ? render(&t, t.system, choice, NULL, "system") : NULL;
        pl_gen_opts go = pl_bundle_gen_opts(b, true);
        go.n_predict = o->max_tokens > 0 ? o->max_tokens : 120;
        go.sampling = pl_sampler_default_params();
        go.sampling.temperature = o->temperature;
        go.sampling.top_p = o->top_p;
        go.sampling.seed = pl_hash64(r);
        go.interrupt = o->interrupt;
        bool cut = false;
        char *answer = instr ? ask(b, sys, instr, &go, &cut) : NULL;
        if (!answer) { free(instr); free(sys); rc = pl_last_error()[0] ? PL_ERR_ARG : PL_ERR_NOMEM; break; }
        size_t len = strlen(answer);
        const char *why = !len ? "empty" : (int)len < t.min_chars ? "short" : (int)len > t.max_chars || (cut && !t.allow_cut) ? "long" : NULL;
        uint64_t h = norm_hash(answer);
        for (int i = 0; !why && i < st->kept; i++) if (seen[i] == h) why = "duplicate";
        const cJSON *f;
        cJSON_ArrayForEach(f, t.forbid) {
            char *ff = !why && cJSON_IsString(f) ? render(&t, f->valuestring, choice, NULL, "check.must_not_contain") : NULL;
            if (ff && contains_ci(answer, ff)) why = "forbidden";
            free(ff);
        }
        if (!why && t.label_index >= 0) { /* the teacher labels its own answer: it must name the slot's value */
            char *q = render(&t, t.label_question, choice, answer, "check.label.question");
            pl_gen_opts g0 = pl_bundle_gen_opts(b, true);
            g0.n_predict = 12;
            g0.sampling = pl_sampler_default_params();
            g0.sampling.temperature = 0;
            char *reply = q ? ask(b, NULL, q, &g0, NULL) : NULL;
            if (!reply || named_value(&t, t.label_index, reply) != choice[t.label_index]) why = "mislabelled";
            free(q); free(reply);
        }
        if (why) {
            switch (why[0]) {
            case 'e': st->empty++; break;
            case 's': st->too_short++; break;
            case 'l': st->too_long++; break;
            case 'd': st->duplicate++; break;
            case 'f': st->forbidden++; break;
            default: st->mislabelled++;
            }
        } else {
            char *p = render(&t, t.ex_prompt, choice, answer, "example.prompt"), *c = render(&t, t.ex_completion, choice, answer, "example.completion");
            cJSON *j = cJSON_CreateObject(), *m = cJSON_CreateObject(), *sl = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "prompt", p ? p : "");
            cJSON_AddStringToObject(j, "completion", c ? c : "");
            for (int k = 0; k < t.n_slots; k++)
                cJSON_AddStringToObject(sl, t.slots[k].name, cJSON_GetArrayItem(t.slots[k].values, choice[k])->valuestring);
            cJSON_AddStringToObject(m, "template", o->template_path);
            cJSON_AddStringToObject(m, "teacher", o->teacher);
            cJSON_AddNumberToObject(m, "seed", (double)o->seed);
            cJSON_AddNumberToObject(m, "attempt", a);
            cJSON_AddItemToObject(m, "slots", sl);
            cJSON_AddNumberToObject(m, "temperature", (double)(int)(o->temperature * 1000 + 0.5f) / 1000);
            cJSON_AddNumberToObject(m, "top_p", (double)(int)(o->top_p * 1000 + 0.5f) / 1000);
            cJSON_AddBoolToObject(m, "teacher_label_checked", t.label_index >= 0);
            cJSON_AddStringToObject(m, "output", answer);
            cJSON_AddItemToObject(j, "synth", m);
            char *line = cJSON_PrintUnformatted(j);
            if (!line || !put(&lines, line, strlen(line)) || !put(&lines, "\n", 1)) rc = PL_ERR_NOMEM;
            free(line);
            cJSON_Delete(j);
            free(p); free(c);
            seen[st->kept++] = h;
        }
        if (!o->quiet && tty)
            fprintf(stderr, "\rsynth: %d kept of %d answers (%d duplicate, %d length, %d forbidden, %d mislabelled)", st->kept,
                    st->attempts, st->duplicate, st->too_short + st->too_long + st->empty, st->forbidden, st->mislabelled);
        free(instr); free(sys); free(answer);
    }
    if (!o->quiet && tty && st->attempts) fprintf(stderr, "\n");
    if ((!rc || rc == PL_ERR_INTERRUPTED) && lines.p) {
        int w = pl_write_file_atomic(o->out_path, lines.p, lines.n);
        if (!rc) rc = w;
        if (!rc && st->kept < o->n)
            rc = pl_error(PL_ERR_ARG, "only %d of %d examples passed the checks in %d answers (written to %s): loosen the checks or raise --max-attempts",
                          st->kept, o->n, st->attempts, o->out_path);
    }
    free(lines.p);
    free(seen);
    pl_bundle_free(b);
    cJSON_Delete(t.root);
    return rc;
}
