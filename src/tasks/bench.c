/* plinth bench's measurements (tasks/bench.h): timed pl_llm_eval calls on random tokens, the weight and
 * KV-cache bytes a decode step reads, and a threaded read-sum that measures memory bandwidth. */
#include "tasks/bench.h"
#include "core/common.h"
#include "io/gguf.h"
#include "tasks/quantize.h"

#include <math.h>

static int32_t *random_tokens(int n, int n_vocab) {
    int32_t *t = pl_malloc((size_t)(n > 0 ? n : 1) * sizeof *t);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; t && i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        t[i] = (int32_t)(s % (uint64_t)n_vocab);
    }
    return t;
}

static int check_len(const pl_llm *m, int depth, int n, const char *what) {
    if (n < 1) return pl_error(PL_ERR_ARG, "%s: need at least 1 token", what);
    if (depth < 0 || n > pl_llm_n_ctx(m) - depth)
        return pl_error(PL_ERR_ARG, "%s: %d tokens after %d exceed the context (%d)", what, n, depth, pl_llm_n_ctx(m));
    return PL_OK;
}

/* the first depth tokens into the cache (untimed); the tests then run after them */
static int fill_depth(pl_llm *m, int depth, float *logits) {
    if (!depth) return PL_OK;
    int32_t *tok = random_tokens(depth, pl_llm_n_vocab(m));
    int rc = tok ? pl_llm_eval(m, tok, depth, 0, logits, false) : PL_ERR_NOMEM;
    free(tok);
    return rc;
}

int pl_bench_pp(pl_llm *m, int depth, int n_prompt, int reps, double *ts) {
    int rc = check_len(m, depth, n_prompt, "pp");
    if (rc) return rc;
    int32_t *tok = random_tokens(n_prompt, pl_llm_n_vocab(m));
    float *logits = pl_malloc((size_t)pl_llm_n_vocab(m) * sizeof(float));
    rc = tok && logits ? fill_depth(m, depth, logits) : PL_ERR_NOMEM;
    for (int r = -1; rc == PL_OK && r < reps; r++) {       /* r = -1: warm-up */
        double t0 = pl_time_s();
        rc = pl_llm_eval(m, tok, n_prompt, depth, logits, false);
        double dt = pl_time_s() - t0;
        if (r >= 0) ts[r] = dt > 0 ? n_prompt / dt : 0;
    }
    free(tok); free(logits);
    return rc;
}

int pl_bench_tg(pl_llm *m, int depth, int n_gen, int reps, double *ts) {
    int rc = check_len(m, depth, n_gen, "tg");
    if (rc) return rc;
    int32_t *tok = random_tokens(n_gen, pl_llm_n_vocab(m));
    float *logits = pl_malloc((size_t)pl_llm_n_vocab(m) * sizeof(float));
    rc = tok && logits ? fill_depth(m, depth, logits) : PL_ERR_NOMEM;
    for (int r = -1; rc == PL_OK && r < reps; r++) {
        int n = r < 0 ? PL_MIN(n_gen, 4) : n_gen;           /* a short warm-up */
        double t0 = pl_time_s();
        for (int i = 0; rc == PL_OK && i < n; i++) rc = pl_llm_eval(m, tok + i, 1, depth + i, logits, false);
        double dt = pl_time_s() - t0;
        if (r >= 0) ts[r] = dt > 0 ? n / dt : 0;
    }
    free(tok); free(logits);
    return rc;
}

static void add_tensor(const pl_tensor *t, uint64_t *bytes, uint64_t *params) {
    if (!t) return;
    *bytes += pl_nbytes(t);
    *params += (uint64_t)pl_nelements(t);
}

/* bytes of the weights a decode token reads; *n_params: all parameters; *n_read: those read */
static uint64_t weights_read(const pl_llm *m, uint64_t *n_params, uint64_t *n_read) {
    uint64_t b = 0, p = 0, eb = 0, ep = 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const pl_llm_layer *L = &m->layers[l];
        const pl_tensor *ts[] = {L->attn_norm, L->attn_norm_b, L->wq, L->wk, L->wv, L->bq, L->bk, L->bv, L->wqkv,
                                 L->bqkv, L->wo, L->bo, L->ffn_norm, L->ffn_norm_b, L->ffn_gate, L->ffn_up,
                                 L->ffn_up_b, L->ffn_down, L->ffn_down_b};
        for (size_t i = 0; i < PL_ARRAY_LEN(ts); i++) add_tensor(ts[i], &b, &p);
    }
    add_tensor(m->out_norm, &b, &p);
    add_tensor(m->out_norm_b, &b, &p);
    add_tensor(m->output, &b, &p);
    /* an untied embedding is only looked up (one row per token): counted as parameters, not as bytes read */
    if (m->tok_embd && m->tok_embd != m->output) add_tensor(m->tok_embd, &eb, &ep);
    if (m->pos_embd) add_tensor(m->pos_embd, &eb, &ep);
    if (n_params) *n_params = p + ep;
    if (n_read) *n_read = p;
    return b;
}

uint64_t pl_bench_weight_bytes(const pl_llm *m, uint64_t *n_params) { return weights_read(m, n_params, NULL); }
uint64_t pl_bench_macs_per_token(const pl_llm *m) {
    uint64_t macs = 0;
    weights_read(m, NULL, &macs);
    return macs;
}

uint64_t pl_bench_kv_bytes(const pl_llm *m, int n_ctx) {
    uint64_t cells = 0; /* keys read per token over the layers: a sliding-window layer reads at most its window */
    for (int l = 0; l < m->hp.n_layer; l++)
        cells += (uint64_t)(m->layers[l].swa && m->hp.n_swa > 0 && m->hp.n_swa < n_ctx ? m->hp.n_swa : n_ctx);
    return 2ull * cells * (uint64_t)m->hp.n_head_kv * (uint64_t)m->hp.head_dim * (m->kv_f16 ? 2u : sizeof(float));
}

/* ---- memory bandwidth ------------------------------------------------------------------------------ */
typedef struct { const uint64_t *p; uint64_t sums[256]; } bw_job;

static void read_sum(void *arg, int64_t a, int64_t b, int ith) {
    bw_job *j = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;     /* independent chains so the loads, not the adds, bound it */
    int64_t i = a * 4;
    for (; i + 3 < b * 4; i += 4) { s0 += j->p[i]; s1 += j->p[i + 1]; s2 += j->p[i + 2]; s3 += j->p[i + 3]; }
    j->sums[ith & 255] += s0 + s1 + s2 + s3;
}

double pl_bench_mem_bandwidth(int n_threads, size_t bytes, int reps) {
    const size_t n = bytes / 32 * 4;            /* uint64 words, a multiple of 4 */
    uint64_t *p = pl_malloc(n * sizeof *p);
    pl_ctx *ctx = p ? pl_ctx_new(&(pl_ctx_params){.arena_bytes = 1 << 16, .n_threads = n_threads}) : NULL;
    if (!ctx) { free(p); return -1; }
    for (size_t i = 0; i < n; i++) p[i] = i;   /* touch every page before timing */
    bw_job j = {.p = p};
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = pl_time_s();
        pl_parallel_for(ctx, (int64_t)(n / 4), read_sum, &j);
        double dt = pl_time_s() - t0;
        if (dt > 0 && n * 8.0 / dt > best) best = n * 8.0 / dt;
    }
    uint64_t check = 0;
    for (int i = 0; i < 256; i++) check += j.sums[i];
    pl_ctx_free(ctx);
    free(p);
    return check == 0 && n > 4 ? -1 : best;    /* the sum is used, so the reads cannot be optimized away */
}

void pl_bench_mean_sd(const double *x, int n, double *mean, double *sd) {
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = n ? s / n : 0;
    for (int i = 0; i < n; i++) s2 += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(s2 / (n - 1)) : 0;
}

/* ---- the whole bench ------------------------------------------------------------------------------------ */
static void model_label(const pl_llm *m, uint64_t params, char *out, size_t cap) {
    const char *ft = NULL;
    if (m->gguf) ft = pl_quant_ftype_name((int)pl_gguf_get_int(m->gguf, "general.file_type", -1));
    double p = (double)params;
    char sz[32];
    if (p >= 1e9) snprintf(sz, sizeof sz, "%.1fB", p / 1e9);
    else snprintf(sz, sizeof sz, p >= 1e7 ? "%.0fM" : "%.2fM", p / 1e6);
    snprintf(out, cap, "%s %s %s", pl_llm_arch_name(m->hp.arch), sz, ft ? ft : (m->gguf ? "?" : "safetensors"));
}

/* one test (pp or tg) of n tokens into the next row */
static int bench_test(pl_llm *m, pl_bench_report *r, bool gen, int n, int depth) {
    pl_bench_row *row = &r->rows[r->n_rows];
    *row = (pl_bench_row){.n_prompt = gen ? 0 : n, .n_gen = gen ? n : 0, .samples = r->buf + r->n_rows * r->reps};
    if (depth) snprintf(row->test, sizeof row->test, "%s%d @ d%d", gen ? "tg" : "pp", n, depth);
    else snprintf(row->test, sizeof row->test, "%s%d", gen ? "tg" : "pp", n);
    r->n_rows++;
    int rc = gen ? pl_bench_tg(m, depth, n, r->reps, row->samples) : pl_bench_pp(m, depth, n, r->reps, row->samples);
    if (!rc) pl_bench_mean_sd(row->samples, r->reps, &row->mean, &row->sd);
    return rc;
}

/* decode reads every weight once per token plus the cache up to the current position: at the tg test's average
 * context (depth + n/2) */
static int bench_roof(pl_llm *m, const pl_bench_opts *o, pl_bench_report *r) {
    r->has_roof = true;
    r->roof_ctx = o->depth + (o->n_gen ? o->n_gen / 2 : 0);
    r->kv_bytes = pl_bench_kv_bytes(m, r->roof_ctx);
    r->bytes_per_token = (double)(r->weight_bytes + r->kv_bytes);
    r->bandwidth = pl_bench_mem_bandwidth(o->n_threads, (size_t)512 << 20, 5);
    if (r->bandwidth <= 0) return PL_ERR_NOMEM;
    r->roof_tps = r->bandwidth / r->bytes_per_token;
    return PL_OK;
}

int pl_bench_run(pl_llm *m, const pl_bench_opts *o, pl_bench_report *r) {
    *r = (pl_bench_report){.reps = o->reps, .n_threads = o->n_threads, .depth = o->depth};
    if (!(r->buf = pl_calloc((size_t)o->reps * 2, sizeof(double)))) return PL_ERR_NOMEM;
    int rc = PL_OK;
    if (o->n_prompt) rc = bench_test(m, r, false, o->n_prompt, o->depth);
    if (!rc && o->n_gen) rc = bench_test(m, r, true, o->n_gen, o->depth);
    pl_ctx_profile_print(m->step, stderr); /* PLINTH_PROFILE=1: per op, and the matmuls per weight type */
    if (rc) return rc;
    r->weight_bytes = pl_bench_weight_bytes(m, &r->n_params);
    model_label(m, r->n_params, r->label, sizeof r->label);
    return o->roof ? bench_roof(m, o, r) : PL_OK;
}

void pl_bench_report_free(pl_bench_report *r) {
    free(r->buf);
    r->buf = NULL;
}
