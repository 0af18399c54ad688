/* The generation loop: prompt -> ids -> prefill (reusing what the session's cache already holds) -> sample,
 * stream, repeat. Stop strings are matched on the decoded text, so one split over several tokens is found. */
#include "tasks/generate.h"

#include <stdlib.h>
#include <string.h>

void pl_gen_session_free(pl_gen_session *s) {
    if (!s) return;
    free(s->tokens);
    memset(s, 0, sizeof *s);
}

pl_gen_opts pl_gen_default_opts(void) {
    return (pl_gen_opts){.n_predict = 200, .sampling = pl_sampler_default_params(), .add_special = true};
}

static int session_push(pl_gen_session *s, const int32_t *ids, int n) {
    if (s->n + n > s->cap) {
        int cap = (s->n + n) * 2 + 16;
        int32_t *p = pl_realloc(s->tokens, (size_t)cap * sizeof *p);
        if (!p) return PL_ERR_NOMEM;
        s->tokens = p; s->cap = cap;
    }
    memcpy(s->tokens + s->n, ids, (size_t)n * sizeof *ids);
    s->n += n;
    return PL_OK;
}

/* text not yet emitted, held while it could still turn into a stop string */
typedef struct { char *p; size_t n, cap; } pending;
static int pending_add(pending *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = pl_realloc(b->p, cap);
        if (!p) return PL_ERR_NOMEM;
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return PL_OK;
}
/* emit what is safe; true if a stop string was found */
static bool pending_emit(pending *b, const pl_gen_opts *o, pl_gen_text_fn on_text, void *ud, bool final) {
    size_t safe = b->n;
    int hit = o->n_stops > 0 ? pl_stop_find(b->p, b->n, o->stops, o->n_stops, &safe) : -1;
    if (final && hit < 0) safe = b->n;
    if (safe && on_text) on_text(b->p, safe, ud);
    memmove(b->p, b->p + safe, b->n - safe);
    b->n -= safe;
    if (hit >= 0) b->n = 0; /* the stop string and anything after it are dropped */
    return hit >= 0;
}

static int tokenize_prompt(const pl_tokenizer *tok, const char *prompt, bool add_special, int32_t **out) {
    size_t len = strlen(prompt);
    if (!len) return pl_error(PL_ERR_ARG, "the prompt is empty");
    if (!pl_utf8_valid(prompt, len)) return pl_error(PL_ERR_ARG, "the prompt is not valid UTF-8");
    int cap = (int)(len < 1000000 ? len : 1000000) + 16, n;
    for (;;) {
        *out = pl_malloc((size_t)cap * sizeof **out);
        if (!*out) return PL_ERR_NOMEM;
        n = pl_tokenize(tok, prompt, len, *out, cap, add_special);
        if (n <= cap) break;
        free(*out);
        cap = n;
    }
    if (n <= 0) { free(*out); return n < 0 ? n : pl_error(PL_ERR_ARG, "the prompt gives no tokens"); }
    return n;
}

int pl_generate(pl_llm *m, const pl_tokenizer *tok, const char *prompt, const pl_gen_opts *o,
                pl_gen_text_fn on_text, void *ud, pl_gen_session *session, pl_gen_stats *stats) {
    pl_gen_stats st = {0};
    pl_gen_session local = {0};
    pl_gen_session *s = session ? session : &local;
    int32_t *ids = NULL;
    int n = tokenize_prompt(tok, prompt, o->add_special, &ids);
    if (n < 0) return n;
    int V = pl_llm_n_vocab(m), n_ctx = pl_llm_n_ctx(m);
    if (n >= n_ctx) { free(ids); return pl_error(PL_ERR_ARG, "the prompt has %d tokens; the context holds %d", n, n_ctx); }
    if (pl_tokenizer_n_vocab(tok) > V) {
        free(ids);
        return pl_error(PL_ERR_FORMAT, "the tokenizer's %d tokens exceed the model's vocabulary of %d", pl_tokenizer_n_vocab(tok), V);
    }
    /* reuse the cached prefix; always evaluate at least the last prompt token (its logits are needed) */
    int reuse = 0;
    while (reuse < s->n && reuse < n - 1 && s->tokens[reuse] == ids[reuse]) reuse++;
    s->n = reuse;
    st.n_prompt = n;
    st.n_reused = reuse;
    float *logits = pl_malloc((size_t)V * sizeof(float));
    pl_sampler *smp = pl_sampler_new(&o->sampling, V);
    pl_detok_stream *ds = pl_detok_stream_new(tok, true);
    pending pend = {0};
    int rc = logits && smp && ds ? PL_OK : PL_ERR_NOMEM;
    double t0 = pl_time_s();
    if (!rc) rc = pl_llm_eval(m, ids + reuse, n - reuse, reuse, logits, false);
    if (!rc) rc = session_push(s, ids + reuse, n - reuse);
    st.t_prompt = pl_time_s() - t0;
    t0 = pl_time_s();
    int32_t eos = pl_tokenizer_eos(tok);
    st.stop = PL_GEN_STOP_LENGTH;
    for (int i = 0; !rc && (o->n_predict <= 0 || i < o->n_predict); i++) {
        if (o->interrupt && *o->interrupt) { rc = PL_ERR_INTERRUPTED; break; }
        int32_t t = pl_sampler_sample(smp, logits, s->tokens, s->n);
        if (t == eos) { st.stop = PL_GEN_STOP_EOS; break; }
        st.n_generated++;
        size_t len;
        const char *piece = pl_detok_stream_step(ds, t, &len);
        if (!piece) { rc = PL_ERR_FORMAT; break; }
        if ((rc = pending_add(&pend, piece, len))) break;
        if (pending_emit(&pend, o, on_text, ud, false)) { st.stop = PL_GEN_STOP_STRING; break; }
        if (s->n >= n_ctx) { st.stop = PL_GEN_STOP_CONTEXT; break; }
        if (o->n_predict > 0 && i + 1 == o->n_predict) break; /* no need to evaluate the last token */
        if ((rc = pl_llm_eval(m, &t, 1, s->n, logits, false))) break;
        if ((rc = session_push(s, &t, 1))) break;
    }
    if (st.stop != PL_GEN_STOP_STRING && ds && (rc == PL_OK || rc == PL_ERR_INTERRUPTED)) {
        size_t len;
        const char *rest = pl_detok_stream_flush(ds, &len);
        if (rest && !pending_add(&pend, rest, len) && pending_emit(&pend, o, on_text, ud, true))
            st.stop = PL_GEN_STOP_STRING;
    }
    st.t_generate = pl_time_s() - t0;
    if (stats) *stats = st;
    free(pend.p);
    pl_detok_stream_free(ds);
    pl_sampler_free(smp);
    free(logits);
    free(ids);
    pl_gen_session_free(&local);
    return rc;
}
