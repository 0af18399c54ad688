/* Texts -> sentence embeddings (embed.h): tokenization with sentence-transformers' truncation, batches of
 * similar lengths, the encoder's pooled vectors written back in the caller's order. Also the public pl_embedder
 * calls of plinth.h. */
#include "tasks/embed.h"

#include "core/common.h"

#include <stdlib.h>
#include <string.h>

/* How many special tokens the tokenizer's post-processor puts after a text ([SEP], </s>): "a" encoded with and
 * without them, the plain ids found inside the decorated ones. */
static int closing_specials(const pl_tokenizer *tok) {
    int32_t with[16], without[16];
    int nw = pl_tokenize(tok, "a", 1, with, 16, true), no = pl_tokenize(tok, "a", 1, without, 16, false);
    if (nw < 0 || no < 0 || nw > 16 || no > 16 || no > nw) return 0;
    for (int pre = 0; pre + no <= nw; pre++)
        if (!memcmp(with + pre, without, (size_t)no * sizeof *with)) return nw - pre - no;
    return 0;
}

/* ---- the model ------------------------------------------------------------------------------------------ */
pl_embedder_params pl_embedder_default_params(void) { return (pl_embedder_params){0}; }

pl_embedder *pl_embedder_load(const char *path, const pl_embedder_params *params) {
    if (!path || !*path) return pl_error_null(PL_ERR_ARG, "pl_embedder_load: no path");
    pl_embedder_params p = params ? *params : pl_embedder_default_params();
    if (p.n_threads < 0) return pl_error_null(PL_ERR_ARG, "pl_embedder_load: n_threads must be >= 0");
    pl_embedder *e = pl_calloc(1, sizeof *e);
    if (!e) return NULL;
    e->enc = pl_encoder_load(path, p.n_threads);
    if (e->enc) e->tok = pl_tokenizer_load(path);
    if (e->tok && pl_tokenizer_n_vocab(e->tok) > e->enc->hp.n_vocab) {
        pl_error(PL_ERR_FORMAT, "%s: the tokenizer's %d tokens exceed the model's vocabulary of %d", path,
                 pl_tokenizer_n_vocab(e->tok), e->enc->hp.n_vocab);
    } else if (e->tok) {
        e->n_closing = closing_specials(e->tok);
        size_t n = strlen(path);
        while (n > 1 && path[n - 1] == '/') n--;
        const char *s = path + n;
        while (s > path && s[-1] != '/') s--;
        e->name = pl_malloc((size_t)(path + n - s) + 1);
        if (e->name) {
            memcpy(e->name, s, (size_t)(path + n - s));
            e->name[path + n - s] = 0;
            return e;
        }
    }
    pl_embedder_free(e);
    return NULL;
}

void pl_embedder_free(pl_embedder *e) {
    if (!e) return;
    if (e->enc) pl_ctx_profile_print(e->enc->step, stderr); /* PLINTH_PROFILE=1: where the encoder's time went */
    pl_tokenizer_free(e->tok);
    pl_encoder_free(e->enc);
    free(e->name);
    free(e);
}

int pl_embedder_dim(const pl_embedder *e) { return e ? e->enc->hp.n_embd : pl_error(PL_ERR_ARG, "the embedder is NULL"); }
int pl_embedder_max_tokens(const pl_embedder *e) { return e ? e->enc->max_tokens : pl_error(PL_ERR_ARG, "the embedder is NULL"); }
const char *pl_embedder_name(const pl_embedder *e) { return e ? e->name : NULL; }

/* ---- tokenization ---------------------------------------------------------------------------------------- */
/* Too long: keep the head of the text and the special tokens that close it, as HF's truncation cuts the text
 * before the post-processor adds them. */
static int cut(const pl_embedder *e, int32_t *ids, int n, int max) {
    int tail = e->n_closing < max ? e->n_closing : 0;
    memmove(ids + max - tail, ids + n - tail, (size_t)tail * sizeof *ids);
    return max;
}

int pl_embed_tokenize(const pl_embedder *e, const char *text, size_t len, int32_t **ids, int *n, bool *truncated) {
    int cap = 64;
    *ids = NULL;
    for (;;) {
        int32_t *p = pl_realloc(*ids, (size_t)cap * sizeof *p);
        if (!p) { free(*ids); *ids = NULL; return PL_ERR_NOMEM; }
        *ids = p;
        int got = pl_tokenize(e->tok, text, len, p, cap, true);
        if (got < 0) { free(*ids); *ids = NULL; return got; }
        if (got <= cap) { *n = got; break; }
        cap = got;
    }
    int max = e->enc->max_tokens;
    *truncated = *n > max;
    if (*truncated) *n = cut(e, *ids, *n, max);
    if (*n == 0) { (*ids)[0] = 0; *n = 1; } /* a tokenizer that adds nothing, on "": one pad token */
    return PL_OK;
}

/* ---- batches -------------------------------------------------------------------------------------------- */
typedef struct { int32_t *ids; int n, index; } sentence;

static int by_length(const void *a, const void *b) {
    const sentence *x = a, *y = b;
    return x->n != y->n ? (x->n < y->n ? 1 : -1) : (x->index > y->index) - (x->index < y->index);
}

/* the batch from s[0]: at most `batch` sentences and a token budget that keeps the activations in bounds */
static int batch_size(const sentence *s, int left, int batch, int64_t budget) {
    int k = 0;
    int64_t tokens = 0;
    while (k < left && k < batch && (k == 0 || tokens + s[k].n <= budget)) tokens += s[k++].n;
    return k;
}

static int run_batches(pl_embedder *e, sentence *s, int n, float *out, const pl_embed_opts *o) {
    int C = e->enc->hp.n_embd, batch = o && o->batch > 0 ? o->batch : 32;
    /* ~20 floats of activations a token a layer: keep a batch's graph near 256 MiB. (Batches of 96 MiB touched
     * fewer new pages, but on two threads their more numerous ops cost more in waits than that saved.) */
    int64_t budget = PL_MAX((int64_t)e->enc->max_tokens, ((int64_t)256 << 20) / (80LL * C * e->enc->hp.n_layer));
    const int32_t **ids = pl_malloc((size_t)batch * (sizeof *ids + sizeof(int)));
    float *vec = pl_malloc((size_t)batch * C * sizeof(float));
    int rc = ids && vec ? PL_OK : PL_ERR_NOMEM;
    int *lens = (int *)(ids + batch);
    for (int done = 0; !rc && done < n;) {
        int k = batch_size(s + done, n - done, batch, budget);
        for (int i = 0; i < k; i++) { ids[i] = s[done + i].ids; lens[i] = s[done + i].n; }
        rc = pl_encoder_embed(e->enc, ids, lens, k, vec, NULL);
        for (int i = 0; !rc && i < k; i++) memcpy(out + (size_t)s[done + i].index * C, vec + (size_t)i * C, (size_t)C * sizeof(float));
        done += k;
        if (!rc && o && o->progress) o->progress(done, n, o->ud);
    }
    free(ids);
    free(vec);
    return rc;
}

/* the sentences tokenized (or copied) into s: sorted by length, run, freed */
static int embed_sentences(pl_embedder *e, sentence *s, int n, float *out, const pl_embed_opts *o, int rc) {
    if (!rc && n) {
        qsort(s, (size_t)n, sizeof *s, by_length);
        rc = run_batches(e, s, n, out, o);
    }
    for (int i = 0; s && i < n; i++) free(s[i].ids);
    free(s);
    return rc;
}

int pl_embed_texts_ex(pl_embedder *e, const char *const *texts, const size_t *lens, int n, float *out,
                      const pl_embed_opts *o, pl_embed_stats *stats) {
    if (!e || !out || (n > 0 && !texts)) return pl_error(PL_ERR_ARG, "pl_embed_texts: NULL embedder, texts or output");
    if (n < 0) return pl_error(PL_ERR_ARG, "pl_embed_texts: %d texts", n);
    pl_embed_stats st = {0};
    sentence *s = pl_calloc((size_t)(n ? n : 1), sizeof *s);
    int rc = s ? PL_OK : PL_ERR_NOMEM;
    for (int i = 0; !rc && i < n; i++) {
        bool cut_here = false;
        if (!texts[i]) rc = pl_error(PL_ERR_ARG, "pl_embed_texts: text %d is NULL", i);
        else rc = pl_embed_tokenize(e, texts[i], lens ? lens[i] : strlen(texts[i]), &s[i].ids, &s[i].n, &cut_here);
        s[i].index = i;
        st.n_truncated += cut_here;
        st.n_tokens += s[i].n;
    }
    if (stats) *stats = st;
    return embed_sentences(e, s, n, out, o, rc);
}

int pl_embed_ids_ex(pl_embedder *e, const int32_t *const *ids, const int *lens, int n, float *out,
                    const pl_embed_opts *o, pl_embed_stats *stats) {
    if (!e || !out || (n > 0 && (!ids || !lens))) return pl_error(PL_ERR_ARG, "pl_embed_ids: NULL embedder, ids or output");
    if (n < 0) return pl_error(PL_ERR_ARG, "pl_embed_ids: %d sequences", n);
    pl_embed_stats st = {0};
    sentence *s = pl_calloc((size_t)(n ? n : 1), sizeof *s);
    int rc = s ? PL_OK : PL_ERR_NOMEM, V = e->enc->hp.n_vocab, max = e->enc->max_tokens;
    for (int i = 0; !rc && i < n; i++) {
        s[i].index = i;
        if (lens[i] <= 0 || !ids[i]) { rc = pl_error(PL_ERR_ARG, "sequence %d has no tokens", i); break; }
        for (int k = 0; k < lens[i] && !rc; k++)
            if (ids[i][k] < 0 || ids[i][k] >= V)
                rc = pl_error(PL_ERR_ARG, "sequence %d: token %d is %d, outside the vocabulary (0..%d)", i, k, ids[i][k], V - 1);
        if (rc || !(s[i].ids = pl_malloc((size_t)lens[i] * sizeof *s[i].ids))) { rc = rc ? rc : PL_ERR_NOMEM; break; }
        memcpy(s[i].ids, ids[i], (size_t)lens[i] * sizeof *s[i].ids);
        s[i].n = lens[i];
        if (s[i].n > max) { s[i].n = cut(e, s[i].ids, s[i].n, max); st.n_truncated++; }
        st.n_tokens += s[i].n;
    }
    if (stats) *stats = st;
    return embed_sentences(e, s, n, out, o, rc);
}

int pl_embed_texts(pl_embedder *e, const char *const *texts, int n, float *out) {
    return pl_embed_texts_ex(e, texts, NULL, n, out, NULL, NULL);
}
