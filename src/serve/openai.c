/* The OpenAI routes: /v1/models, /v1/chat/completions, /v1/completions (whole replies and server-sent events),
 * /v1/embeddings, /tokenize and /detokenize. Each turns the request's JSON into a job for the model's scheduler
 * (tasks/scheduler.h: the same sampler, detokenizer and stop strings as `plinth run` / `chat`) and the job's
 * output into OpenAI's JSON; every client mistake becomes a 4xx with OpenAI's error shape. */
#include "serve/http.h"

#include "core/common.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CHOICES 8
#define MAX_STOPS 4
#define MAX_BIAS 300

const char *const srv_route_names[SRV_ROUTE_COUNT] = {
    "/", "/health", "/v1/models", "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/tokenize",
    "/detokenize", "/metrics", "other"};

/* ------------------------------------------------------------------------------------------------ replies -- */

void srv_reply_json(srv_reply *r, int status, char *json_text) {
    r->status = status;
    r->body = json_text;
    r->len = json_text ? strlen(json_text) : 0;
    r->ctype = "application/json";
}

static char *error_json(const char *type, const char *param, const char *code, const char *msg) {
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    if (param) cJSON_AddStringToObject(e, "param", param); else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code); else cJSON_AddNullToObject(e, "code");
    char *t = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return t;
}

void srv_reply_error(srv_reply *r, int status, const char *type, const char *param, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(r->body);
    srv_reply_json(r, status, error_json(type, param, code, msg));
}

static void bad_request(srv_reply *r, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bad_request(srv_reply *r, const char *param, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    srv_reply_error(r, 400, "invalid_request_error", param, NULL, "%s", msg);
}

static char *print_free(cJSON *j) {
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return t;
}

/* ------------------------------------------------------------------------------------------------ models -- */

void srv_route_models(srv *s, srv_reply *r) {
    cJSON *root = cJSON_CreateObject(), *data;
    cJSON_AddStringToObject(root, "object", "list");
    data = cJSON_AddArrayToObject(root, "data");
    for (int i = 0; i < s->n_models; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", s->models[i].name);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", (double)(long long)s->t_start);
        cJSON_AddStringToObject(m, "owned_by", "plinth");
        cJSON_AddNumberToObject(m, "context_length", s->models[i].n_ctx);
        cJSON_AddItemToArray(data, m);
    }
    for (int i = 0; i < s->n_embedders; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", s->embedders[i].name);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", (double)(long long)s->t_start);
        cJSON_AddStringToObject(m, "owned_by", "plinth");
        cJSON_AddNumberToObject(m, "context_length", pl_embedder_max_tokens(s->embedders[i].e));
        cJSON_AddNumberToObject(m, "dimensions", pl_embedder_dim(s->embedders[i].e));
        cJSON_AddItemToArray(data, m);
    }
    srv_reply_json(r, 200, print_free(root));
}

/* the model a request names (NULL + 404 reply when unknown; the first model when it names none) */
static srv_model *find_model(srv *s, const cJSON *j, srv_reply *r) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (m && !cJSON_IsNull(m) && !cJSON_IsString(m)) { bad_request(r, "model", "'model' must be a string"); return NULL; }
    if (!s->n_models) {
        srv_reply_error(r, 404, "invalid_request_error", "model", "model_not_found",
                        "no text generation model is loaded (this server was started with --embed-model only)");
        return NULL;
    }
    if (!m || cJSON_IsNull(m)) return &s->models[0];
    for (int i = 0; i < s->n_models; i++)
        if (!strcmp(m->valuestring, s->models[i].name) || !strcmp(m->valuestring, s->models[i].stem)) return &s->models[i];
    for (int i = 0; i < s->n_embedders; i++)
        if (!strcmp(m->valuestring, s->embedders[i].name)) {
            bad_request(r, "model", "'%s' is an embedding model: it answers /v1/embeddings only", m->valuestring);
            return NULL;
        }
    srv_reply_error(r, 404, "invalid_request_error", "model", "model_not_found",
                    "The model '%s' does not exist; GET /v1/models lists the %d loaded", m->valuestring, s->n_models);
    return NULL;
}

static cJSON *parse_body(const char *body, size_t len, srv_reply *r) {
    cJSON *j = len ? cJSON_ParseWithLength(body, len) : NULL;
    if (!j) { bad_request(r, NULL, "the request body is not valid JSON"); return NULL; }
    if (!cJSON_IsObject(j)) { cJSON_Delete(j); bad_request(r, NULL, "the request body must be a JSON object"); return NULL; }
    return j;
}

/* ------------------------------------------------------------------------------------------------ parameters -- */

/* an optional number in [lo, hi]: true if absent or good; false with a 400 reply */
static bool opt_number(const cJSON *j, const char *key, double lo, double hi, double *out, srv_reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) { bad_request(r, key, "'%s' must be a number", key); return false; }
    if (v->valuedouble < lo || v->valuedouble > hi) {
        bad_request(r, key, "'%s' must be between %g and %g (got %g)", key, lo, hi, v->valuedouble);
        return false;
    }
    *out = v->valuedouble;
    return true;
}
static bool opt_int(const cJSON *j, const char *key, double lo, double hi, long long *out, srv_reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
        bad_request(r, key, "'%s' must be an integer", key);
        return false;
    }
    if (v->valuedouble < lo || v->valuedouble > hi) {
        bad_request(r, key, "'%s' must be between %.0f and %.0f (got %.0f)", key, lo, hi, v->valuedouble);
        return false;
    }
    *out = (long long)v->valuedouble;
    return true;
}
static bool opt_bool(const cJSON *j, const char *key, bool *out, srv_reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) return true;
    if (!cJSON_IsBool(v)) { bad_request(r, key, "'%s' must be true or false", key); return false; }
    *out = cJSON_IsTrue(v);
    return true;
}

typedef struct {
    srv_model *model;
    bool chat, stream, include_usage, logprobs;
    int top_logprobs, n;
    char *prompt;                   /* rendered */
    pl_sched_job job;
    const char *stops[MAX_STOPS + 1];
    int n_stops;
    pl_logit_bias bias[MAX_BIAS];
    char *schema_text;              /* response_format's schema (NULL with json_object) */
    bool json;
} gen_req;

static void gen_req_free(gen_req *g) {
    free(g->prompt);
    free(g->schema_text);
}

/* messages -> the rendered prompt; false with a 400 reply */
static bool render_messages(const srv_model *m, const cJSON *msgs, gen_req *g, srv_reply *r) {
    if (!msgs) { bad_request(r, "messages", "'messages' is required"); return false; }
    if (!cJSON_IsArray(msgs)) { bad_request(r, "messages", "'messages' must be an array of {role, content} objects"); return false; }
    int n = cJSON_GetArraySize(msgs);
    if (n == 0) { bad_request(r, "messages", "'messages' is empty"); return false; }
    if (!m->b->chat) {
        bad_request(r, "model", "the model '%s' has no chat template; use /v1/completions", m->name);
        return false;
    }
    pl_chat_message *v = pl_calloc((size_t)n, sizeof *v);
    char **owned = pl_calloc((size_t)n, sizeof *owned);
    bool ok = v && owned;
    int i = 0;
    const cJSON *msg;
    char param[64];
    cJSON_ArrayForEach(msg, msgs) {
        if (!ok) break;
        snprintf(param, sizeof param, "messages[%d]", i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role"), *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (!cJSON_IsObject(msg) || !cJSON_IsString(role)) {
            bad_request(r, param, "%s must be an object with a string 'role'", param); ok = false; break;
        }
        const char *ro = role->valuestring;
        if (!strcmp(ro, "developer")) ro = "system";
        if (strcmp(ro, "system") && strcmp(ro, "user") && strcmp(ro, "assistant")) {
            bad_request(r, param, "%s has the unknown role '%s' (system, developer, user or assistant)", param, role->valuestring);
            ok = false; break;
        }
        const char *text = NULL;
        if (cJSON_IsString(content)) text = content->valuestring;
        else if ((!content || cJSON_IsNull(content)) && !strcmp(ro, "assistant")) text = "";
        else if (cJSON_IsArray(content)) { /* parts: only text ones */
            size_t len = 0;
            const cJSON *part;
            cJSON_ArrayForEach(part, content) {
                const cJSON *ty = cJSON_GetObjectItemCaseSensitive(part, "type"), *tx = cJSON_GetObjectItemCaseSensitive(part, "text");
                if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "text") || !cJSON_IsString(tx)) {
                    bad_request(r, param, "%s: only text content parts are supported", param); ok = false; break;
                }
                len += strlen(tx->valuestring);
            }
            if (!ok) break;
            owned[i] = pl_malloc(len + 1);
            if (!owned[i]) { ok = false; break; }
            owned[i][0] = 0;
            cJSON_ArrayForEach(part, content) strcat(owned[i], cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring);
            text = owned[i];
        } else {
            bad_request(r, param, "%s.content must be a string or an array of text parts", param); ok = false; break;
        }
        v[i].role = ro;
        v[i].content = text;
        i++;
    }
    if (ok) {
        g->prompt = pl_chat_render(m->b->chat, v, n, true);
        if (!g->prompt) { bad_request(r, "messages", "%s", pl_last_error()); ok = false; }
    } else if (!r->body) srv_reply_error(r, 500, "server_error", NULL, NULL, "out of memory");
    for (int k = 0; k < n && owned; k++) free(owned[k]);
    free(owned); free(v);
    return ok;
}

static atomic_ullong g_seed_counter = 0x5eed;

/* the request's JSON -> g; false with a 4xx reply */
static bool parse_gen(srv *s, const cJSON *j, bool chat, gen_req *g, srv_reply *r) {
    memset(g, 0, sizeof *g);
    g->chat = chat;
    if (!(g->model = find_model(s, j, r))) return false;
    if (chat) { if (!render_messages(g->model, cJSON_GetObjectItemCaseSensitive(j, "messages"), g, r)) return false; }
    else {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt");
        if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0))) p = cJSON_GetArrayItem(p, 0);
        if (!p) { bad_request(r, "prompt", "'prompt' is required"); return false; }
        if (!cJSON_IsString(p)) { bad_request(r, "prompt", "'prompt' must be a string (token arrays and batches of prompts are not supported)"); return false; }
        if (!(g->prompt = pl_strdup(p->valuestring))) return false;
    }
    pl_gen_opts o = pl_bundle_gen_opts(g->model->b, chat);
    pl_sampler_params sp = pl_sampler_default_params();
    /* temperature 1 and top_p 1 are OpenAI's defaults; top_k 40 and min_p 0.05 llama.cpp's server's (they cut a
     * tail that carries almost no probability, and spare sorting the whole vocabulary every token) */
    sp.temperature = 1; sp.top_p = 1; sp.top_k = 40; sp.min_p = 0.05f;
    sp.seed = pl_hash64(atomic_fetch_add(&g_seed_counter, 1) ^ (uint64_t)time(NULL) << 20);
    double v;
    long long iv;
    v = sp.temperature; if (!opt_number(j, "temperature", 0, 2, &v, r)) return false; sp.temperature = (float)v;
    v = sp.top_p; if (!opt_number(j, "top_p", 0, 1, &v, r)) return false; sp.top_p = (float)v;
    v = 0; if (!opt_number(j, "presence_penalty", -2, 2, &v, r)) return false; sp.presence_penalty = (float)v;
    v = 0; if (!opt_number(j, "frequency_penalty", -2, 2, &v, r)) return false; sp.frequency_penalty = (float)v;
    iv = -1; if (!opt_int(j, "top_k", 0, 1e9, &iv, r)) return false; if (iv >= 0) sp.top_k = (int)iv;
    v = sp.min_p; if (!opt_number(j, "min_p", 0, 1, &v, r)) return false; sp.min_p = (float)v;
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(j, "seed");
    if (seed && !cJSON_IsNull(seed)) {
        if (!cJSON_IsNumber(seed) || seed->valuedouble != floor(seed->valuedouble) || fabs(seed->valuedouble) > 9.007e15) {
            bad_request(r, "seed", "'seed' must be an integer"); return false;
        }
        sp.seed = (uint64_t)(int64_t)seed->valuedouble;
    }
    long long max_tokens = 0, n = 1;
    const char *mt_key = cJSON_GetObjectItemCaseSensitive(j, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    if (!opt_int(j, mt_key, 1, 1e9, &max_tokens, r)) return false;
    if (!opt_int(j, "n", 1, MAX_CHOICES, &n, r)) return false;
    g->n = (int)n;
    if (!opt_bool(j, "stream", &g->stream, r)) return false;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) { bad_request(r, "stream_options", "'stream_options' must be an object"); return false; }
        if (!opt_bool(so, "include_usage", &g->include_usage, r)) return false;
    }
    /* logprobs: chat has a boolean and top_logprobs; completions an integer (the alternatives wanted) */
    g->job.top_logprobs = -1;
    if (chat) {
        long long top = 0;
        if (!opt_bool(j, "logprobs", &g->logprobs, r) || !opt_int(j, "top_logprobs", 0, PL_SCHED_MAX_TOP, &top, r)) return false;
        if (top && !g->logprobs) { bad_request(r, "top_logprobs", "'top_logprobs' needs 'logprobs': true"); return false; }
        if (g->logprobs) g->job.top_logprobs = (int)top;
    } else {
        long long lp = -1;
        if (!opt_int(j, "logprobs", 0, 5, &lp, r)) return false;
        if (lp >= 0) { g->logprobs = true; g->job.top_logprobs = (int)lp; }
        const cJSON *echo = cJSON_GetObjectItemCaseSensitive(j, "echo");
        if (cJSON_IsTrue(echo)) { bad_request(r, "echo", "'echo' is not supported"); return false; }
    }
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(j, "stop");
    if (cJSON_IsString(stop)) g->stops[g->n_stops++] = stop->valuestring;
    else if (cJSON_IsArray(stop)) {
        if (cJSON_GetArraySize(stop) > MAX_STOPS) { bad_request(r, "stop", "at most %d stop strings", MAX_STOPS); return false; }
        const cJSON *e;
        cJSON_ArrayForEach(e, stop) {
            if (!cJSON_IsString(e)) { bad_request(r, "stop", "'stop' must be a string or an array of strings"); return false; }
            g->stops[g->n_stops++] = e->valuestring;
        }
    } else if (stop && !cJSON_IsNull(stop)) { bad_request(r, "stop", "'stop' must be a string or an array of strings"); return false; }
    for (int i = 0; i < o.n_stops && g->n_stops <= MAX_STOPS; i++) g->stops[g->n_stops++] = o.stops[i];
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(j, "logit_bias");
    if (lb && !cJSON_IsNull(lb)) {
        if (!cJSON_IsObject(lb)) { bad_request(r, "logit_bias", "'logit_bias' must be an object of token id -> bias"); return false; }
        const cJSON *e;
        int V = pl_llm_n_vocab(g->model->b->llm);
        cJSON_ArrayForEach(e, lb) {
            char *end;
            long id = strtol(e->string, &end, 10);
            if (*end || end == e->string || id < 0 || id >= V) { bad_request(r, "logit_bias", "logit_bias: '%s' is not a token id of this model (0..%d)", e->string, V - 1); return false; }
            if (!cJSON_IsNumber(e) || e->valuedouble < -100 || e->valuedouble > 100) { bad_request(r, "logit_bias", "logit_bias: each bias must be a number in [-100, 100]"); return false; }
            if (sp.n_logit_bias >= MAX_BIAS) { bad_request(r, "logit_bias", "logit_bias: at most %d tokens", MAX_BIAS); return false; }
            /* -100 bans the token, as OpenAI documents */
            g->bias[sp.n_logit_bias++] = (pl_logit_bias){(int32_t)id, e->valuedouble <= -100 ? -INFINITY : (float)e->valuedouble};
        }
        sp.logit_bias = g->bias;
    }
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(j, "response_format");
    if (rf && !cJSON_IsNull(rf)) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (!cJSON_IsObject(rf) || !cJSON_IsString(ty)) { bad_request(r, "response_format", "'response_format' must be an object with a 'type'"); return false; }
        if (!strcmp(ty->valuestring, "json_object")) g->json = true;
        else if (!strcmp(ty->valuestring, "json_schema")) {
            const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
            const cJSON *sc = js ? cJSON_GetObjectItemCaseSensitive(js, "schema") : NULL;
            if (!cJSON_IsObject(sc)) { bad_request(r, "response_format", "response_format.json_schema.schema must be an object"); return false; }
            g->json = true;
            g->schema_text = cJSON_PrintUnformatted(sc);
            pl_json_schema *probe = pl_json_schema_new(g->schema_text);
            if (!probe) { bad_request(r, "response_format", "%s", pl_last_error()); return false; }
            pl_json_schema_free(probe);
        } else if (strcmp(ty->valuestring, "text")) {
            bad_request(r, "response_format", "response_format.type must be text, json_object or json_schema"); return false;
        }
    }
    g->job.prompt = g->prompt;
    g->job.add_special = o.add_special;
    g->job.n_predict = (int)max_tokens;
    g->job.sampling = sp;
    g->job.stops = g->stops;
    g->job.n_stops = g->n_stops;
    return true;
}

/* submit the n choices (seeds seed, seed+1, ...); false with a reply */
static bool submit_all(gen_req *g, pl_sched_req **reqs, srv_reply *r) {
    for (int i = 0; i < g->n; i++) {
        pl_sched_job job = g->job;
        job.sampling.seed = g->job.sampling.seed + (uint64_t)i;
        if (g->json && !(job.json = pl_json_schema_new(g->schema_text))) {
            srv_reply_error(r, 500, "server_error", NULL, NULL, "%s", pl_last_error());
            for (int k = 0; k < i; k++) pl_sched_release(reqs[k]);
            return false;
        }
        int st;
        reqs[i] = pl_sched_submit(g->model->sched, &job, &st);
        if (!reqs[i]) {
            for (int k = 0; k < i; k++) pl_sched_release(reqs[k]);
            if (st == PL_SCHED_ERR_BUSY) {
                srv_reply_error(r, 503, "server_error", NULL, "overloaded", "%s", pl_last_error());
                r->retry_after = 1;
            } else if (st == PL_ERR_ARG) {
                bool ctx = strstr(pl_last_error(), "context") != NULL;
                srv_reply_error(r, 400, "invalid_request_error", g->chat ? "messages" : "prompt",
                                ctx ? "context_length_exceeded" : NULL, "%s", pl_last_error());
            } else srv_reply_error(r, 500, "server_error", NULL, NULL, "%s", pl_last_error());
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------------------------------ output -- */

static const char *finish_reason(pl_gen_stop s) {
    return s == PL_GEN_STOP_EOS || s == PL_GEN_STOP_STRING ? "stop" : "length";
}

static cJSON *bytes_array(const char *p, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((unsigned char)p[i]));
    return a;
}

/* a token's text alone (for the alternatives, which were not generated) */
static char *token_text(const pl_bundle *b, int32_t id, size_t *len) {
    char buf[512];
    int n = pl_detokenize(b->tok, &id, 1, buf, sizeof buf, false);
    if (n < 0 || n >= (int)sizeof buf) n = 0;
    char *t = pl_malloc((size_t)n + 1);
    if (t) { memcpy(t, buf, (size_t)n); t[n] = 0; }
    *len = t ? (size_t)n : 0;
    return t;
}

/* chat logprobs entries of toks into content (an array) */
static void chat_logprobs_add(cJSON *content, const pl_bundle *b, const pl_sched_token *toks, int n, const char *tok_text) {
    for (int i = 0; i < n; i++) {
        const pl_sched_token *t = &toks[i];
        cJSON *e = cJSON_CreateObject();
        char *s = pl_malloc(t->text_len + 1);
        if (s) { memcpy(s, tok_text + t->text_off, t->text_len); s[t->text_len] = 0; }
        cJSON_AddStringToObject(e, "token", s ? s : "");
        cJSON_AddNumberToObject(e, "logprob", t->logprob);
        cJSON_AddItemToObject(e, "bytes", bytes_array(tok_text + t->text_off, t->text_len));
        free(s);
        cJSON *top = cJSON_AddArrayToObject(e, "top_logprobs");
        for (int k = 0; k < t->n_top; k++) {
            size_t len;
            char *a = token_text(b, t->top_id[k], &len);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "token", a ? a : "");
            cJSON_AddNumberToObject(o, "logprob", t->top_logprob[k]);
            cJSON_AddItemToObject(o, "bytes", bytes_array(a ? a : "", len));
            free(a);
            cJSON_AddItemToArray(top, o);
        }
        cJSON_AddItemToArray(content, e);
    }
}

/* completions' (legacy) logprobs: parallel arrays */
static cJSON *legacy_logprobs(const pl_bundle *b, const pl_sched_token *toks, int n, const char *tok_text, size_t base) {
    cJSON *lp = cJSON_CreateObject();
    cJSON *tk = cJSON_AddArrayToObject(lp, "tokens"), *tl = cJSON_AddArrayToObject(lp, "token_logprobs"),
          *tp = cJSON_AddArrayToObject(lp, "top_logprobs"), *off = cJSON_AddArrayToObject(lp, "text_offset");
    for (int i = 0; i < n; i++) {
        const pl_sched_token *t = &toks[i];
        char *s = pl_malloc(t->text_len + 1);
        if (s) { memcpy(s, tok_text + t->text_off, t->text_len); s[t->text_len] = 0; }
        cJSON_AddItemToArray(tk, cJSON_CreateString(s ? s : ""));
        free(s);
        cJSON_AddItemToArray(tl, cJSON_CreateNumber(t->logprob));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(base + t->text_off)));
        cJSON *o = cJSON_CreateObject();
        for (int k = 0; k < t->n_top; k++) {
            size_t len;
            char *a = token_text(b, t->top_id[k], &len);
            if (a && !cJSON_GetObjectItemCaseSensitive(o, a)) cJSON_AddNumberToObject(o, a, t->top_logprob[k]);
            free(a);
        }
        cJSON_AddItemToArray(tp, o);
    }
    return lp;
}

static void make_id(char *id, size_t cap, bool chat) {
    static atomic_ullong counter = 1;
    uint64_t x = pl_hash64(atomic_fetch_add(&counter, 1) ^ (uint64_t)time(NULL) << 24);
    snprintf(id, cap, "%s-%016llx", chat ? "chatcmpl" : "cmpl", (unsigned long long)x);
}

static cJSON *usage_json(int prompt, int completion, int cached) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", completion);
    cJSON_AddNumberToObject(u, "total_tokens", prompt + completion);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", cached);
    return u;
}

static cJSON *envelope(const char *id, const char *object, time_t created, const char *model) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)(long long)created);
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "system_fingerprint", "plinth-" PL_VERSION);
    return root;
}

/* -------------------------------------------------------------------------------------- whole replies -- */

typedef struct {
    char *text; size_t n_text;
    pl_sched_token *toks; int n_toks;
    char *tok_text;
    pl_sched_update last;
} collected;

static void collect(collected *c, pl_sched_update *u) {
    if (u->n_text) {
        char *p = pl_realloc(c->text, c->n_text + u->n_text + 1);
        if (p) { c->text = p; memcpy(c->text + c->n_text, u->text, u->n_text); c->n_text += u->n_text; c->text[c->n_text] = 0; }
    }
    if (u->n_toks) {
        pl_sched_token *p = pl_realloc(c->toks, (size_t)(c->n_toks + u->n_toks) * sizeof *p);
        if (p) { c->toks = p; memcpy(c->toks + c->n_toks, u->toks, (size_t)u->n_toks * sizeof *p); c->n_toks += u->n_toks; }
        free(c->tok_text);
        c->tok_text = u->tok_text;
        u->tok_text = NULL;
    }
    c->last = *u;
    c->last.text = NULL; c->last.toks = NULL; c->last.tok_text = NULL;
}

static void whole_reply(srv *s, gen_req *g, pl_sched_req **reqs, srv_alive_fn alive, void *ud, srv_reply *r) {
    collected c[MAX_CHOICES] = {0};
    int done = 0;
    bool gone = false;
    while (done < g->n && !gone) {
        for (int i = 0; i < g->n; i++) {
            if (c[i].last.done) continue;
            pl_sched_update u;
            pl_sched_poll(reqs[i], &u, 0.1);
            collect(&c[i], &u);
            pl_sched_update_free(&u);
            if (c[i].last.done) done++;
        }
        if (alive && !alive(ud)) gone = true;
    }
    for (int i = 0; i < g->n; i++) pl_sched_release(reqs[i]);
    if (gone) { r->status = 0; goto out; } /* nobody to answer */
    for (int i = 0; i < g->n; i++)
        if (c[i].last.status != PL_OK) {
            srv_reply_error(r, 500, "server_error", NULL, NULL, "generation failed: %s", c[i].last.error);
            goto out;
        }
    char id[64];
    make_id(id, sizeof id, g->chat);
    cJSON *root = envelope(id, g->chat ? "chat.completion" : "text_completion", time(NULL), g->model->name);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    int completion = 0;
    for (int i = 0; i < g->n; i++) {
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", i);
        if (g->chat) {
            cJSON *msg = cJSON_AddObjectToObject(ch, "message");
            cJSON_AddStringToObject(msg, "role", "assistant");
            cJSON_AddStringToObject(msg, "content", c[i].text ? c[i].text : "");
            cJSON_AddNullToObject(msg, "refusal");
            if (g->logprobs) {
                cJSON *lp = cJSON_AddObjectToObject(ch, "logprobs");
                chat_logprobs_add(cJSON_AddArrayToObject(lp, "content"), g->model->b, c[i].toks, c[i].n_toks, c[i].tok_text);
                cJSON_AddNullToObject(lp, "refusal");
            } else cJSON_AddNullToObject(ch, "logprobs");
        } else {
            cJSON_AddStringToObject(ch, "text", c[i].text ? c[i].text : "");
            if (g->logprobs) cJSON_AddItemToObject(ch, "logprobs", legacy_logprobs(g->model->b, c[i].toks, c[i].n_toks, c[i].tok_text, 0));
            else cJSON_AddNullToObject(ch, "logprobs");
        }
        cJSON_AddStringToObject(ch, "finish_reason", finish_reason(c[i].last.stop));
        cJSON_AddItemToArray(choices, ch);
        completion += c[i].last.n_generated;
    }
    cJSON_AddItemToObject(root, "usage", usage_json(c[0].last.n_prompt, completion, c[0].last.n_reused));
    srv_reply_json(r, 200, print_free(root));
out:
    for (int i = 0; i < g->n; i++) { free(c[i].text); free(c[i].toks); free(c[i].tok_text); }
}

/* -------------------------------------------------------------------------------------- streams -- */

struct srv_stream {
    srv *s;
    gen_req g;
    pl_sched_req *reqs[MAX_CHOICES];
    bool finished[MAX_CHOICES];
    int n_done, completion, n_prompt, n_reused;
    size_t text_base[MAX_CHOICES];     /* bytes of each choice sent so far (completions' text_offset) */
    char id[64];
    time_t created;
    char *out; size_t n_out, off, cap;  /* bytes ready to send */
    bool ended;
};

static void out_add(srv_stream *st, const char *p, size_t n) {
    if (st->n_out + n + 1 > st->cap) {
        size_t cap = (st->n_out + n + 1) * 2;
        char *q = pl_realloc(st->out, cap);
        if (!q) return;
        st->out = q; st->cap = cap;
    }
    memcpy(st->out + st->n_out, p, n);
    st->n_out += n;
}

static void out_event(srv_stream *st, cJSON *j) {
    char *t = print_free(j);
    if (!t) return;
    out_add(st, "data: ", 6);
    out_add(st, t, strlen(t));
    out_add(st, "\n\n", 2);
    cJSON_free(t);
}

static cJSON *chunk(srv_stream *st, int index, cJSON **choice) {
    cJSON *root = envelope(st->id, st->g.chat ? "chat.completion.chunk" : "text_completion", st->created, st->g.model->name);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    *choice = cJSON_CreateObject();
    cJSON_AddNumberToObject(*choice, "index", index);
    cJSON_AddItemToArray(choices, *choice);
    return root;
}

static void chunk_finish(srv_stream *st, cJSON *root, cJSON *choice, const char *finish) {
    if (finish) cJSON_AddStringToObject(choice, "finish_reason", finish); else cJSON_AddNullToObject(choice, "finish_reason");
    if (st->g.include_usage) cJSON_AddNullToObject(root, "usage");
    out_event(st, root);
}

/* one update of choice i -> events */
static void stream_update(srv_stream *st, int i, pl_sched_update *u) {
    const pl_bundle *b = st->g.model->b;
    if (u->n_text || u->n_toks) {
        cJSON *ch, *root = chunk(st, i, &ch);
        if (st->g.chat) {
            cJSON *d = cJSON_AddObjectToObject(ch, "delta");
            cJSON_AddStringToObject(d, "content", u->text ? u->text : "");
            if (st->g.logprobs) {
                cJSON *lp = cJSON_AddObjectToObject(ch, "logprobs");
                chat_logprobs_add(cJSON_AddArrayToObject(lp, "content"), b, u->toks, u->n_toks, u->tok_text);
            } else cJSON_AddNullToObject(ch, "logprobs");
        } else {
            cJSON_AddStringToObject(ch, "text", u->text ? u->text : "");
            if (st->g.logprobs) cJSON_AddItemToObject(ch, "logprobs", legacy_logprobs(b, u->toks, u->n_toks, u->tok_text, 0));
            else cJSON_AddNullToObject(ch, "logprobs");
        }
        chunk_finish(st, root, ch, NULL);
    }
    if (!u->done) return;
    st->finished[i] = true;
    st->n_done++;
    st->completion += u->n_generated;
    st->n_prompt = u->n_prompt;
    st->n_reused = u->n_reused;
    if (u->status != PL_OK) {
        cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
        cJSON_AddStringToObject(e, "message", u->error);
        cJSON_AddStringToObject(e, "type", "server_error");
        cJSON_AddNullToObject(e, "param");
        cJSON_AddNullToObject(e, "code");
        out_event(st, root);
        return;
    }
    cJSON *ch, *root = chunk(st, i, &ch);
    if (st->g.chat) { cJSON_AddObjectToObject(ch, "delta"); cJSON_AddNullToObject(ch, "logprobs"); }
    else { cJSON_AddStringToObject(ch, "text", ""); cJSON_AddNullToObject(ch, "logprobs"); }
    chunk_finish(st, root, ch, finish_reason(u->stop));
}

static srv_stream *stream_new(srv *s, gen_req *g, pl_sched_req **reqs) {
    srv_stream *st = pl_calloc(1, sizeof *st);
    if (!st) return NULL;
    st->s = s;
    st->g = *g;
    memset(g, 0, sizeof *g); /* the stream owns the prompt and schema now */
    memcpy(st->reqs, reqs, sizeof st->reqs);
    make_id(st->id, sizeof st->id, st->g.chat);
    st->created = time(NULL);
    if (st->g.chat) /* the first delta of each choice carries the role */
        for (int i = 0; i < st->g.n; i++) {
            cJSON *ch, *root = chunk(st, i, &ch);
            cJSON *d = cJSON_AddObjectToObject(ch, "delta");
            cJSON_AddStringToObject(d, "role", "assistant");
            cJSON_AddStringToObject(d, "content", "");
            cJSON_AddNullToObject(d, "refusal");
            cJSON_AddNullToObject(ch, "logprobs");
            chunk_finish(st, root, ch, NULL);
        }
    return st;
}

long srv_stream_read(srv_stream *st, char *buf, size_t max, srv_alive_fn alive, void *ud) {
    while (st->off == st->n_out) {
        st->off = st->n_out = 0;
        if (st->ended) return 0;
        if (st->n_done == st->g.n) {
            if (st->g.include_usage) {
                cJSON *root = envelope(st->id, st->g.chat ? "chat.completion.chunk" : "text_completion", st->created, st->g.model->name);
                cJSON_AddArrayToObject(root, "choices");
                cJSON_AddItemToObject(root, "usage", usage_json(st->n_prompt, st->completion, st->n_reused));
                out_event(st, root);
            }
            out_add(st, "data: [DONE]\n\n", 14);
            st->ended = true;
            continue;
        }
        for (int i = 0; i < st->g.n; i++) {
            if (st->finished[i]) continue;
            pl_sched_update u;
            pl_sched_poll(st->reqs[i], &u, st->n_out ? 0 : 0.1 / st->g.n);
            stream_update(st, i, &u);
            pl_sched_update_free(&u);
        }
        if (st->off == st->n_out && alive && !alive(ud)) return -1;
    }
    size_t n = st->n_out - st->off < max ? st->n_out - st->off : max;
    memcpy(buf, st->out + st->off, n);
    st->off += n;
    return (long)n;
}

void srv_stream_free(srv_stream *st) {
    if (!st) return;
    for (int i = 0; i < st->g.n; i++) pl_sched_release(st->reqs[i]);
    gen_req_free(&st->g);
    free(st->out);
    free(st);
}

/* -------------------------------------------------------------------------------------- the routes -- */

void srv_route_generate(srv *s, bool chat, const char *body, size_t len, srv_alive_fn alive, void *ud, srv_reply *r) {
    cJSON *j = parse_body(body, len, r);
    if (!j) return;
    gen_req g;
    pl_sched_req *reqs[MAX_CHOICES] = {0};
    bool ok = parse_gen(s, j, chat, &g, r) && submit_all(&g, reqs, r);
    cJSON_Delete(j); /* g's stop strings pointed into j: the requests have their copies */
    g.job.stops = NULL; g.n_stops = 0;
    if (ok) {
        if (g.stream) {
            r->status = 200;
            r->ctype = "text/event-stream";
            r->stream = stream_new(s, &g, reqs);
            if (!r->stream) {
                for (int i = 0; i < g.n; i++) pl_sched_release(reqs[i]);
                srv_reply_error(r, 500, "server_error", NULL, NULL, "out of memory");
            }
        } else whole_reply(s, &g, reqs, alive, ud, r);
    } else if (!r->body && !r->status) srv_reply_error(r, 500, "server_error", NULL, NULL, "%s", pl_last_error());
    gen_req_free(&g);
}

/* ---------------------------------------------------------------------------------------- embeddings -- */

/* the encoder a request names (the first when it names none); NULL + a 4xx reply otherwise */
static srv_embedder *find_embedder(srv *s, const cJSON *j, srv_reply *r) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (m && !cJSON_IsNull(m) && !cJSON_IsString(m)) { bad_request(r, "model", "'model' must be a string"); return NULL; }
    const char *name = cJSON_IsString(m) ? m->valuestring : NULL;
    for (int i = 0; i < s->n_embedders; i++)
        if (!name || !strcmp(name, s->embedders[i].name)) return &s->embedders[i];
    for (int i = 0; name && i < s->n_models; i++)
        if (!strcmp(name, s->models[i].name) || !strcmp(name, s->models[i].stem)) {
            bad_request(r, "model", "'%s' generates text and makes no embeddings; start plinth serve with "
                        "--embed-model DIR (an encoder such as all-MiniLM-L6-v2)%s", name,
                        s->n_embedders ? " or name the encoder that is loaded" : "");
            return NULL;
        }
    if (!s->n_embedders)
        srv_reply_error(r, 404, "invalid_request_error", "model", "model_not_found",
                        "no embedding model is loaded: start plinth serve with --embed-model DIR");
    else
        srv_reply_error(r, 404, "invalid_request_error", "model", "model_not_found",
                        "The model '%s' does not exist; GET /v1/models lists the %d loaded", name, s->n_models + s->n_embedders);
    return NULL;
}

/* `input` as OpenAI takes it: a string, an array of strings, an array of token ids, or an array of such arrays */
typedef struct {
    int n;
    const char **texts;         /* strings (pointing into the request), or NULL when the input is tokens */
    size_t *lens;
    int32_t **ids;              /* token sequences */
    int *n_ids;
} embed_input;

static void embed_input_free(embed_input *in) {
    for (int i = 0; in->ids && i < in->n; i++) free(in->ids[i]);
    free(in->texts); free(in->lens); free(in->ids); free(in->n_ids);
}

/* a JSON array of token ids -> a malloc'd copy; false when it is not one (ids are checked by the task) */
static bool token_array(const cJSON *a, int32_t **ids, int *n) {
    int k = cJSON_GetArraySize(a), i = 0;
    if (!cJSON_IsArray(a) || k == 0 || !(*ids = pl_malloc((size_t)k * sizeof **ids))) return false;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || fabs(e->valuedouble) > 2e9) return false;
        (*ids)[i++] = (int32_t)e->valuedouble;
    }
    *n = k;
    return true;
}

static bool parse_input(srv *s, const cJSON *input, embed_input *in, srv_reply *r) {
    const char *shape = "'input' must be a non-empty string, an array of non-empty strings, an array of token ids "
                        "or an array of arrays of token ids";
    if (!input || cJSON_IsNull(input)) { bad_request(r, "input", "'input' is required"); return false; }
    bool one = cJSON_IsString(input) || (cJSON_IsArray(input) && cJSON_IsNumber(cJSON_GetArrayItem(input, 0)));
    int n = one ? 1 : cJSON_GetArraySize(input);
    if (!one && (!cJSON_IsArray(input) || n == 0)) { bad_request(r, "input", "%s", shape); return false; }
    if (n > s->p.max_embed_inputs) {
        srv_reply_error(r, 413, "invalid_request_error", "input", "request_too_large",
                        "'input' has %d items; at most %d in one request (--max-embed-inputs)", n, s->p.max_embed_inputs);
        return false;
    }
    const cJSON *first = one ? input : cJSON_GetArrayItem(input, 0);
    bool text = cJSON_IsString(first);
    in->n = n;
    if (text ? !(in->texts = pl_calloc((size_t)n, sizeof *in->texts)) || !(in->lens = pl_calloc((size_t)n, sizeof *in->lens))
             : !(in->ids = pl_calloc((size_t)n, sizeof *in->ids)) || !(in->n_ids = pl_calloc((size_t)n, sizeof *in->n_ids))) {
        srv_reply_error(r, 500, "server_error", NULL, NULL, "out of memory");
        return false;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *e = one ? input : cJSON_GetArrayItem(input, i);
        char param[32];
        snprintf(param, sizeof param, one ? "input" : "input[%d]", i);
        if (text) {
            if (!cJSON_IsString(e)) { bad_request(r, param, "%s is not a string (%s)", param, shape); return false; }
            if (!*e->valuestring) { bad_request(r, param, "%s is an empty string", param); return false; }
            in->texts[i] = e->valuestring;
            in->lens[i] = strlen(e->valuestring);
        } else if (!token_array(e, &in->ids[i], &in->n_ids[i])) {
            bad_request(r, param, "%s is not a non-empty array of token ids (%s)", param, shape);
            return false;
        }
    }
    return true;
}

/* 4 little-endian bytes a float, as base64: what OpenAI sends for encoding_format "base64" */
static char *base64_floats(const float *v, int n) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t nb = (size_t)n * 4;
    uint8_t *b = pl_malloc(nb ? nb : 1);
    char *out = pl_malloc((nb + 2) / 3 * 4 + 1), *o = out;
    if (!b || !out) { free(b); free(out); return NULL; }
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int k = 0; k < 4; k++) b[4 * i + k] = (uint8_t)(u >> (8 * k));
    }
    for (size_t i = 0; i < nb; i += 3) {
        uint32_t w = (uint32_t)b[i] << 16 | (i + 1 < nb ? (uint32_t)b[i + 1] << 8 : 0) | (i + 2 < nb ? b[i + 2] : 0);
        *o++ = abc[w >> 18 & 63];
        *o++ = abc[w >> 12 & 63];
        *o++ = i + 1 < nb ? abc[w >> 6 & 63] : '=';
        *o++ = i + 2 < nb ? abc[w & 63] : '=';
    }
    *o = 0;
    free(b);
    return out;
}

static cJSON *embeddings_json(const srv_embedder *em, const float *v, int n, int dim, bool b64, int64_t tokens) {
    cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data");
    cJSON_AddStringToObject(root, "object", "list");
    for (int i = 0; i < n; i++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "object", "embedding");
        cJSON_AddNumberToObject(d, "index", i);
        if (b64) {
            char *t = base64_floats(v + (size_t)i * dim, dim);
            if (!t) { cJSON_Delete(d); cJSON_Delete(root); return NULL; }
            cJSON_AddStringToObject(d, "embedding", t);
            free(t);
        } else cJSON_AddItemToObject(d, "embedding", cJSON_CreateFloatArray(v + (size_t)i * dim, dim));
        cJSON_AddItemToArray(data, d);
    }
    cJSON_AddStringToObject(root, "model", em->name);
    cJSON *u = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)tokens);
    return root;
}

/* The embed task (tasks/embed.h, as `plinth embed` runs it) on the request's input; requests take turns on an
 * encoder, apart from the chat slots. Texts longer than the encoder's context are cut, as `plinth embed` does. */
void srv_route_embeddings(srv *s, const char *body, size_t len, srv_reply *r) {
    cJSON *j = parse_body(body, len, r);
    if (!j) return;
    embed_input in = {0};
    float *v = NULL;
    srv_embedder *em = find_embedder(s, j, r);
    if (!em || !parse_input(s, cJSON_GetObjectItemCaseSensitive(j, "input"), &in, r)) goto out;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "encoding_format");
    bool b64 = false;
    if (cJSON_IsString(fmt) && (!strcmp(fmt->valuestring, "float") || !strcmp(fmt->valuestring, "base64")))
        b64 = !strcmp(fmt->valuestring, "base64");
    else if (fmt && !cJSON_IsNull(fmt)) { bad_request(r, "encoding_format", "'encoding_format' must be \"float\" or \"base64\""); goto out; }
    int dim = pl_embedder_dim(em->e);
    long long want = dim;
    if (!opt_int(j, "dimensions", 1, 1e9, &want, r)) goto out;
    if (want != dim) { bad_request(r, "dimensions", "the model '%s' makes vectors of %d dimensions, not %lld", em->name, dim, want); goto out; }
    if (!(v = pl_malloc((size_t)in.n * dim * sizeof *v))) { srv_reply_error(r, 500, "server_error", NULL, NULL, "out of memory"); goto out; }
    pl_embed_stats st;
    pthread_mutex_lock(&em->mu);
    int rc = in.texts ? pl_embed_texts_ex(em->e, in.texts, in.lens, in.n, v, NULL, &st)
                      : pl_embed_ids_ex(em->e, (const int32_t *const *)in.ids, in.n_ids, in.n, v, NULL, &st);
    pthread_mutex_unlock(&em->mu);
    if (rc == PL_ERR_ARG) bad_request(r, "input", "%s", pl_last_error());
    else if (rc) srv_reply_error(r, 500, "server_error", NULL, NULL, "embedding failed: %s", pl_last_error());
    else {
        cJSON *root = embeddings_json(em, v, in.n, dim, b64, st.n_tokens);
        if (root) srv_reply_json(r, 200, print_free(root));
        else srv_reply_error(r, 500, "server_error", NULL, NULL, "out of memory");
    }
out:
    free(v);
    embed_input_free(&in);
    cJSON_Delete(j);
}

void srv_route_tokenize(srv *s, bool detokenize, const char *body, size_t len, srv_reply *r) {
    cJSON *j = parse_body(body, len, r);
    if (!j) return;
    srv_model *m = find_model(s, j, r);
    if (!m) { cJSON_Delete(j); return; }
    const pl_tokenizer *tok = m->b->tok;
    cJSON *out = cJSON_CreateObject();
    if (!detokenize) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "content");
        bool add_special = false;
        if (!cJSON_IsString(c)) { bad_request(r, "content", "'content' must be a string"); goto out; }
        if (!opt_bool(j, "add_special", &add_special, r)) goto out;
        size_t n = strlen(c->valuestring);
        int cap = (int)(n < 1000000 ? n : 1000000) + 16;
        int32_t *ids = pl_malloc((size_t)cap * sizeof *ids);
        int k = ids ? pl_tokenize(tok, c->valuestring, n, ids, cap, add_special) : PL_ERR_NOMEM;
        if (k > cap) { free(ids); ids = pl_malloc((size_t)k * sizeof *ids); cap = k; k = ids ? pl_tokenize(tok, c->valuestring, n, ids, cap, add_special) : PL_ERR_NOMEM; }
        if (k < 0) { free(ids); bad_request(r, "content", "%s", pl_last_error()); goto out; }
        cJSON *a = cJSON_AddArrayToObject(out, "tokens");
        for (int i = 0; i < k; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
        free(ids);
    } else {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "tokens"), *e;
        if (!cJSON_IsArray(t)) { bad_request(r, "tokens", "'tokens' must be an array of token ids"); goto out; }
        int n = cJSON_GetArraySize(t), i = 0, V = pl_tokenizer_n_vocab(tok);
        int32_t *ids = pl_malloc((size_t)(n ? n : 1) * sizeof *ids);
        if (!ids) goto out;
        cJSON_ArrayForEach(e, t) {
            if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 || e->valuedouble >= V) {
                free(ids); bad_request(r, "tokens", "tokens[%d] is not a token id of this model (0..%d)", i, V - 1); goto out;
            }
            ids[i++] = (int32_t)e->valuedouble;
        }
        int need = pl_detokenize(tok, ids, n, NULL, 0, false);
        char *text = need >= 0 ? pl_malloc((size_t)need + 1) : NULL;
        if (!text || pl_detokenize(tok, ids, n, text, (size_t)need + 1, false) < 0) {
            free(ids); free(text); bad_request(r, "tokens", "%s", pl_last_error()); goto out;
        }
        text[need] = 0;
        cJSON_AddStringToObject(out, "content", text);
        free(text); free(ids);
    }
    srv_reply_json(r, 200, print_free(out));
    out = NULL;
out:
    cJSON_Delete(out);
    cJSON_Delete(j);
}
