/* Autoregressive sampling from a byte-level GPT: run the model on the last ctx bytes, sample the next byte
 * with the sampler chain, append, repeat. Bytes are held back until they complete a UTF-8 character. */
#include "tasks/gpt_generate.h"
#include "models/gpt.h"
#include "tasks/train.h"

static int utf8_complete_prefix(const unsigned char *s, int n) { /* bytes that end on a character boundary */
    int i = n;
    while (i > 0 && n - i < 4 && (s[i - 1] & 0xC0) == 0x80) i--;
    if (i == 0) return n;
    unsigned c = s[i - 1];
    int need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return (n - (i - 1) >= need) ? n : i - 1;
}

int pl_gpt_generate(const pl_gpt_gen_opts *o, void (*on_text)(const char *, size_t, void *), void *ud, int *n_generated) {
    char path[4096];
    if (pl_train_resolve_checkpoint(o->checkpoint, path, sizeof path)) return PL_ERR_IO;
    pl_gpt *m = pl_gpt_load(path, false);
    if (!m) return PL_ERR_FORMAT;
    size_t plen = strlen(o->prompt);
    if (plen == 0) { pl_gpt_free(m); return pl_error(PL_ERR_ARG, "empty prompt"); }
    if (!pl_utf8_valid(o->prompt, plen)) { pl_gpt_free(m); return pl_error(PL_ERR_ARG, "the prompt is not valid UTF-8"); }
    int total = (int)plen + o->n_predict, ctxlen = m->cfg.ctx;
    int32_t *toks = malloc((size_t)total * sizeof *toks);
    unsigned char *pending = malloc((size_t)o->n_predict + 8);
    pl_sampler *smp = pl_sampler_new(&o->sampling, m->cfg.vocab);
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = o->threads, .arena_bytes = 16 << 20});
    int rc = PL_OK, n = (int)plen, np = 0, gen = 0;
    if (!toks || !pending || !smp || !ctx) { rc = PL_ERR_NOMEM; goto out; }
    for (size_t i = 0; i < plen; i++) toks[i] = (unsigned char)o->prompt[i];
    while (gen < o->n_predict) {
        if (o->interrupt && *o->interrupt) { rc = PL_ERR_INTERRUPTED; break; }
        int start = n > ctxlen ? n - ctxlen : 0, T = n - start;
        pl_ctx_reset(ctx);
        pl_tensor *ids = pl_new_2d(ctx, PL_I32, T, 1);
        memcpy(ids->data, toks + start, (size_t)T * sizeof(int32_t));
        pl_tensor *logits = pl_gpt_forward(ctx, m, ids, NULL, NULL);
        pl_graph *g = pl_graph_build(ctx, logits, false);
        if (!g) { rc = PL_ERR_ARG; break; }
        pl_graph_forward(ctx, g);
        int32_t next = pl_sampler_sample(smp, pl_f32(logits) + (int64_t)(T - 1) * m->cfg.vocab, toks + start, T);
        toks[n++] = next;
        pending[np++] = (unsigned char)next;
        gen++;
        int ok = utf8_complete_prefix(pending, np);
        if (ok > 0) {
            if (on_text) on_text((const char *)pending, (size_t)ok, ud);
            memmove(pending, pending + ok, (size_t)(np - ok));
            np -= ok;
        }
    }
    if (np > 0 && on_text) on_text((const char *)pending, (size_t)np, ud); /* a trailing partial character */
out:
    if (n_generated) *n_generated = gen;
    pl_ctx_free(ctx);
    pl_sampler_free(smp);
    free(pending);
    free(toks);
    pl_gpt_free(m);
    return rc;
}
