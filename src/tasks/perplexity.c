/* Perplexity as llama.cpp computes it (tools/perplexity): chunks of n_ctx tokens from an empty cache, the second
 * half of each chunk scored, NLL accumulated in double, and the uncertainty from the variance of the per-token
 * NLL. The first half of a chunk only builds context, so it is evaluated without logits (all=false) unless
 * all_logits asks for them (imatrix collection: the output matrix then sees every position). */
#include "tasks/perplexity.h"
#include "core/common.h"

#include <math.h>

pl_ppl_opts pl_ppl_default_opts(void) { return (pl_ppl_opts){.n_ctx = 512, .n_batch = 0, .n_chunks = 0}; }

/* -log softmax(logits)[target], with the max subtracted first and the sum in double. */
static double token_nll(const float *logits, int n_vocab, int target) {
    float mx = logits[0];
    for (int j = 1; j < n_vocab; j++) mx = logits[j] > mx ? logits[j] : mx;
    double sum = 0;
    for (int j = 0; j < n_vocab; j++) sum += exp((double)(logits[j] - mx));
    return -((double)(logits[target] - mx) - log(sum));
}

/* The whole text's ids (add_special as configured); *n_out their count. NULL + message. */
static int32_t *tokenize_all(const pl_tokenizer *tok, const char *text, size_t len, int *n_out) {
    if (len > (size_t)1 << 30) return pl_error_null(PL_ERR_ARG, "text too large (%zu bytes)", len);
    int cap = (int)len + 16;
    for (;;) {
        int32_t *ids = pl_malloc((size_t)cap * sizeof *ids);
        if (!ids) return NULL;
        int n = pl_tokenize(tok, text, len, ids, cap, true);
        if (n < 0) { free(ids); return NULL; }
        if (n <= cap) { *n_out = n; return ids; }
        free(ids);
        cap = n;
    }
}

/* Does the tokenizer put BOS in front when add_special is on? (llama.cpp: llama_vocab_get_add_bos) */
static bool tokenizer_adds_bos(const pl_tokenizer *tok) {
    int32_t bos = pl_tokenizer_bos(tok), a[8], b[8];
    if (bos < 0) return false;
    int na = pl_tokenize(tok, "a", 1, a, 8, true), nb = pl_tokenize(tok, "a", 1, b, 8, false);
    return na > 0 && na <= 8 && a[0] == bos && (nb <= 0 || b[0] != bos || na > nb);
}

typedef struct {
    double nll, nll2;
    int count;
    int *pos;
    double *tok_nll;
} ppl_acc;

/* Evaluate one chunk (tokens chunk[0..n_ctx)) from an empty cache and score its second half into acc. */
static int eval_chunk(pl_llm *m, const int32_t *chunk, int n_ctx, int n_batch, bool all_logits, int start,
                      float *logits, ppl_acc *acc, int *n_scored) {
    const int first = n_ctx / 2, n_vocab = pl_llm_n_vocab(m);
    int k = 0;
    for (int b = 0; b < first; b += n_batch) {          /* context only: its logits are not scored */
        int n = PL_MIN(n_batch, first - b);
        int rc = pl_llm_eval(m, chunk + b, n, b, logits, all_logits);
        if (rc) return rc;
    }
    for (int b = first; b < n_ctx; b += n_batch) {
        int n = PL_MIN(n_batch, n_ctx - b);
        int rc = pl_llm_eval(m, chunk + b, n, b, logits, true);
        if (rc) return rc;
        for (int j = 0; j < n && b + j < n_ctx - 1; j++) {
            double v = token_nll(logits + (size_t)j * n_vocab, n_vocab, chunk[b + j + 1]);
            acc->nll += v;
            acc->nll2 += v * v;
            acc->pos[k] = start + b + j + 1;
            acc->tok_nll[k++] = v;
        }
    }
    *n_scored = k;
    return PL_OK;
}

int pl_perplexity(pl_llm *m, const pl_tokenizer *tok, const char *text, size_t len, const pl_ppl_opts *o,
                  pl_ppl_chunk_fn on_chunk, void *ud, pl_ppl_result *res) {
    pl_ppl_opts d = pl_ppl_default_opts();
    if (!o) o = &d;
    const int n_ctx = o->n_ctx, n_batch = o->n_batch > 0 ? PL_MIN(o->n_batch, n_ctx) : n_ctx;
    if (n_ctx < 4) return pl_error(PL_ERR_ARG, "a context of %d tokens is too small (at least 4)", n_ctx);
    if (n_ctx > pl_llm_n_ctx(m))
        return pl_error(PL_ERR_ARG, "a context of %d tokens exceeds the model's cache (%d)", n_ctx,
                        pl_llm_n_ctx(m));
    if (pl_tokenizer_n_vocab(tok) > pl_llm_n_vocab(m))
        return pl_error(PL_ERR_ARG, "the tokenizer's vocabulary (%d) is larger than the model's (%d)",
                        pl_tokenizer_n_vocab(tok), pl_llm_n_vocab(m));
    double t0 = pl_time_s();
    int n_tok = 0;
    int32_t *ids = tokenize_all(tok, text, len, &n_tok);
    if (!ids) return PL_ERR_ARG;
    if (n_tok < 2 * n_ctx) {
        free(ids);
        return pl_error(PL_ERR_ARG, "the text is %d tokens; at least %d (2 x context %d) are needed",
                        n_tok, 2 * n_ctx, n_ctx);
    }
    const bool add_bos = tokenizer_adds_bos(tok);
    int n_chunks = n_tok / n_ctx;
    if (o->n_chunks > 0) n_chunks = PL_MIN(n_chunks, o->n_chunks);
    ppl_acc acc = {0};
    float *logits = pl_malloc((size_t)n_batch * (size_t)pl_llm_n_vocab(m) * sizeof(float));
    int32_t *chunk = pl_malloc((size_t)n_ctx * sizeof *chunk);
    acc.pos = pl_malloc((size_t)n_ctx * sizeof *acc.pos);
    acc.tok_nll = pl_malloc((size_t)n_ctx * sizeof *acc.tok_nll);
    int rc = logits && chunk && acc.pos && acc.tok_nll ? PL_OK : PL_ERR_NOMEM;
    for (int c = 0; rc == PL_OK && c < n_chunks; c++) {
        memcpy(chunk, ids + (size_t)c * n_ctx, (size_t)n_ctx * sizeof *chunk);
        if (add_bos) chunk[0] = pl_tokenizer_bos(tok);
        int k = 0;
        rc = eval_chunk(m, chunk, n_ctx, n_batch, o->all_logits, c * n_ctx, logits, &acc, &k);
        if (rc) break;
        acc.count += k;
        if (on_chunk) on_chunk(c, exp(acc.nll / acc.count), acc.pos, acc.tok_nll, k, ud);
    }
    if (rc == PL_OK && res) {
        double mean = acc.nll / acc.count, var = acc.nll2 / acc.count - mean * mean;
        *res = (pl_ppl_result){.n_tokens = n_tok, .n_chunks = n_chunks, .n_scored = acc.count, .nll = mean,
                               .ppl = exp(mean), .add_bos = add_bos, .seconds = pl_time_s() - t0};
        res->ppl_err = var > 0 && acc.count > 1 ? sqrt(var / (acc.count - 1)) * res->ppl : 0;
    }
    free(ids); free(logits); free(chunk); free(acc.pos); free(acc.tok_nll);
    return rc;
}
