/* Fine-tuning examples from JSONL (finetune_data.h): parse, render, tokenize, mark the completion. */
#include "tasks/finetune_data.h"
#include "core/common.h"

#include <cjson/cJSON.h>
#include <string.h>

/* text -> ids (add_special: the tokenizer's BOS etc.), malloc'd; the count or a negative status */
static int encode(const pl_tokenizer *tok, const char *s, bool add_special, int32_t **out) {
    size_t len = strlen(s);
    int cap = (int)len + 16;
    *out = pl_malloc((size_t)cap * sizeof **out);
    if (!*out) return PL_ERR_NOMEM;
    int n = pl_tokenize(tok, s, len, *out, cap, add_special);
    if (n < 0 || n > cap) { free(*out); *out = NULL; return n < 0 ? n : pl_error(PL_ERR_ARG, "tokenizer overflow"); }
    return n;
}

/* the prompt text and the completion text of one JSON line (both malloc'd) */
static int render(const cJSON *j, const pl_chat_template *tmpl, char **prompt, char **completion) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt"), *c = cJSON_GetObjectItemCaseSensitive(j, "completion");
    pl_chat_message m[64];
    int n = 0;
    if (cJSON_IsArray(msgs)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, msgs) {
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "role"), *t = cJSON_GetObjectItemCaseSensitive(it, "content");
            if (!cJSON_IsString(r) || !cJSON_IsString(t)) return pl_error(PL_ERR_FORMAT, "a message without a string role and content");
            if (n == 64) return pl_error(PL_ERR_FORMAT, "more than 64 messages");
            m[n++] = (pl_chat_message){r->valuestring, t->valuestring};
        }
        if (n < 2 || strcmp(m[n - 1].role, "assistant"))
            return pl_error(PL_ERR_FORMAT, "the conversation must end with an assistant message (the completion)");
    } else if (cJSON_IsString(p) && cJSON_IsString(c)) {
        m[n++] = (pl_chat_message){"user", p->valuestring};
        m[n++] = (pl_chat_message){"assistant", c->valuestring};
    } else {
        return pl_error(PL_ERR_FORMAT, "neither \"messages\" nor string \"prompt\" and \"completion\" fields");
    }
    if (!tmpl) { /* plain text: the user turns' contents, then the answer */
        size_t len = 1;
        for (int i = 0; i < n - 1; i++) len += strlen(m[i].content) + 1;
        *prompt = pl_malloc(len);
        if (!*prompt) return PL_ERR_NOMEM;
        (*prompt)[0] = 0;
        for (int i = 0; i < n - 1; i++) { strcat(*prompt, m[i].content); if (i + 2 < n) strcat(*prompt, "\n"); }
        *completion = pl_strdup(m[n - 1].content);
        return *completion ? PL_OK : PL_ERR_NOMEM;
    }
    char *head = pl_chat_render(tmpl, m, n - 1, true), *all = pl_chat_render(tmpl, m, n, false);
    int rc = PL_OK;
    if (!head || !all) rc = PL_ERR_FORMAT;
    else if (strncmp(all, head, strlen(head))) rc = pl_error(PL_ERR_FORMAT, "the chat template's rendering of the answer does not extend the prompt's");
    if (!rc) { *prompt = head; *completion = pl_strdup(all + strlen(head)); head = NULL; rc = *completion ? PL_OK : PL_ERR_NOMEM; }
    free(head);
    free(all);
    return rc;
}

/* one example: ids = prompt + completion (+ EOS without a template); targets on the completion */
static int example(const pl_tokenizer *tok, const pl_chat_template *tmpl, const char *prompt, const char *completion, int ctx,
                   pl_ft_data *d) {
    int32_t *a = NULL, *b = NULL;
    int na = encode(tok, prompt, !tmpl, &a), nb = na < 0 ? -1 : encode(tok, completion, false, &b);
    if (na < 0 || nb < 0) { free(a); free(b); return na < 0 ? na : nb; }
    int32_t eos = pl_tokenizer_eos(tok);
    int n = na + nb + (!tmpl && eos >= 0), first = na; /* the first completion token */
    pl_ft_example e = {pl_malloc((size_t)n * sizeof(int32_t)), pl_malloc((size_t)n * sizeof(int32_t)), n};
    if (!e.ids || !e.targets) { free(a); free(b); free(e.ids); free(e.targets); return PL_ERR_NOMEM; }
    memcpy(e.ids, a, (size_t)na * sizeof *a);
    memcpy(e.ids + na, b, (size_t)nb * sizeof *b);
    if (!tmpl && eos >= 0) e.ids[n - 1] = eos;
    free(a); free(b);
    if (n > ctx) { e.n = ctx; d->n_cut++; }
    int learn = 0;
    for (int t = 0; t < e.n; t++) { /* position t predicts token t+1 (of the whole example, past a cut too) */
        e.targets[t] = t + 1 < n && t + 1 >= first ? e.ids[t + 1] : -1;
        learn += e.targets[t] >= 0;
    }
    if (!learn) { free(e.ids); free(e.targets); d->n_skipped++; return PL_OK; }
    d->ex[d->n++] = e;
    return PL_OK;
}

int pl_ft_data_load(const char *path, const pl_tokenizer *tok, const pl_chat_template *tmpl, int ctx, pl_ft_data *d) {
    memset(d, 0, sizeof *d);
    size_t len;
    char *s = pl_read_file(path, &len);
    if (!s) return PL_ERR_IO;
    int lines = 1;
    for (size_t i = 0; i < len; i++) lines += s[i] == '\n';
    d->ex = pl_calloc((size_t)lines, sizeof *d->ex);
    int rc = d->ex ? PL_OK : PL_ERR_NOMEM, line = 0;
    for (char *p = s, *nl; !rc && p < s + len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(s + len - p));
        if (!nl) nl = s + len;
        *nl = 0;
        line++;
        char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (!*q) continue;
        if (!pl_utf8_valid(p, (size_t)(nl - p))) { rc = pl_error(PL_ERR_FORMAT, "%s:%d: not UTF-8 text", path, line); break; }
        cJSON *j = cJSON_Parse(p);
        char *prompt = NULL, *completion = NULL;
        if (!j || !cJSON_IsObject(j)) rc = pl_error(PL_ERR_FORMAT, "%s:%d: not a JSON object", path, line);
        else if ((rc = render(j, tmpl, &prompt, &completion))) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", pl_last_error());
            rc = pl_error(rc, "%s:%d: %s", path, line, msg);
        } else rc = example(tok, tmpl, prompt, completion, ctx, d);
        free(prompt); free(completion);
        cJSON_Delete(j);
    }
    free(s);
    if (!rc && !d->n) rc = pl_error(PL_ERR_ARG, "%s: no example to learn from (%d skipped)", path, d->n_skipped);
    if (rc) pl_ft_data_free(d);
    return rc;
}

void pl_ft_data_free(pl_ft_data *d) {
    for (int i = 0; d->ex && i < d->n; i++) { free(d->ex[i].ids); free(d->ex[i].targets); }
    free(d->ex);
    memset(d, 0, sizeof *d);
}
