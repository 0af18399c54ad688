/* Row softmax (with scale and causal mask) and cross-entropy over a vocabulary (with an ignore index).
 * Cross-entropy keeps each row's log-sum-exp so backward recomputes softmax without storing it; so does the
 * distillation loss, KL from a teacher's sparse top-k distribution to the temperature-softened softmax. */
#include "backend/cpu/vec.h"
#include "ops/ops.h"

#include <math.h>

pl_tensor *pl_softmax(pl_ctx *ctx, pl_tensor *x, float scale, bool causal, int n_past) {
    if (!x) return NULL;
    OP_REQUIRE(x->type == PL_F32 && x->nb[0] == sizeof(float), "softmax: f32 rows expected");
    pl_tensor *t = op_new_node(ctx, PL_OP_SOFTMAX, PL_F32, x->n_dims, x->ne, x, NULL, NULL, NULL);
    if (!t) return NULL;
    t->p.f[0] = scale;
    t->p.i[1] = causal;
    t->p.i[2] = n_past;
    return t;
}

static void softmax_rows(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg;
    int64_t n = t->ne[0];
    float scale = t->p.f[0];
    for (int64_t r = s; r < e; r++) {
        int64_t i1 = r % t->ne[1];
        const float *in = op_src_row(t, t->src[0], r);
        float *y = pl_f32(t) + r * n;
        int64_t lim = t->p.i[1] ? PL_MIN(n, i1 + t->p.i[2] + 1) : n;
        float m = -INFINITY;
        for (int64_t i = 0; i < lim; i++) m = fmaxf(m, in[i] * scale);
        double sum = 0;
        for (int64_t i = 0; i < lim; i++) { y[i] = expf(in[i] * scale - m); sum += y[i]; }
        float inv = (float)(1.0 / sum);
        for (int64_t i = 0; i < lim; i++) y[i] *= inv;
        for (int64_t i = lim; i < n; i++) y[i] = 0;
    }
}
void op_softmax_forward(pl_ctx *ctx, pl_tensor *t) { pl_parallel_for(ctx, pl_nrows(t), softmax_rows, t); }

static void softmax_grad_rows(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg;
    int64_t n = t->ne[0];
    float *gx = op_grad(t->src[0]);
    for (int64_t r = s; r < e; r++) {
        const float *y = pl_f32(t) + r * n, *g = pl_f32(t->grad) + r * n;
        float dot = pl_vec_dot_f32(n, g, y);
        float *o = gx + r * n;
        for (int64_t i = 0; i < n; i++) o[i] += t->p.f[0] * y[i] * (g[i] - dot);
    }
}
void op_softmax_backward(pl_ctx *ctx, pl_tensor *t) {
    if (op_grad(t->src[0])) pl_parallel_for(ctx, pl_nrows(t), softmax_grad_rows, t);
}

/* ---- cross-entropy ------------------------------------------------------------------------------------ */
pl_tensor *pl_cross_entropy(pl_ctx *ctx, pl_tensor *logits, pl_tensor *targets, int ignore_index) {
    return pl_cross_entropy_over(ctx, logits, targets, ignore_index, 0);
}
pl_tensor *pl_cross_entropy_over(pl_ctx *ctx, pl_tensor *logits, pl_tensor *targets, int ignore_index, int64_t n) {
    if (!logits || !targets) return NULL;
    OP_REQUIRE(logits->type == PL_F32 && pl_is_contiguous(logits), "cross_entropy: contiguous f32 logits expected");
    /* one target a row, or (lead > 0) targets for the last T of each sequence's L rows */
    int64_t lead = logits->ne[1] - targets->ne[0];
    bool tail = lead > 0 && targets->ne[1] == logits->ne[2] && targets->ne[2] == logits->ne[3] && targets->ne[3] == 1;
    OP_REQUIRE(targets->type == PL_I32 && pl_is_contiguous(targets) && (pl_nelements(targets) == pl_nrows(logits) || tail),
               "cross_entropy: one i32 target per row of logits expected");
    OP_REQUIRE(n >= 0, "cross_entropy: a negative target count");
    pl_tensor *t = op_new_node(ctx, PL_OP_CROSS_ENTROPY, PL_F32, 1, (int64_t[]){1}, logits, targets, NULL, NULL);
    if (!t) return NULL;
    t->p.i[0] = ignore_index;
    t->p.i[2] = pl_nelements(targets) == pl_nrows(logits) ? 0 : (int32_t)lead;
    t->p.f[1] = (float)n; /* the divisor; 0: the rows' own target count */
    t->saved = pl_ctx_alloc(ctx, (size_t)(pl_nrows(logits) + 1) * sizeof(float));
    return t->saved ? t : NULL;
}

/* row r's target, or -1 for a row before its sequence's targets (read as the graph runs: the caller may refill them) */
static int32_t ce_target(const pl_tensor *t, int64_t r) {
    const int32_t *tg = (const int32_t *)t->src[1]->data;
    int64_t lead = t->p.i[2], len = t->src[0]->ne[1], i = r % len;
    if (!lead) return tg[r];
    return i < lead ? -1 : tg[r / len * (len - lead) + i - lead];
}

static void ce_rows(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg, *lg = t->src[0];
    int64_t v = lg->ne[0];
    const int32_t *tg = (const int32_t *)t->src[1]->data;
    for (int64_t r = s; r < e; r++) {
        const float *x = pl_f32(lg) + r * v;
        float m = pl_vec_max_f32(v, x);
        double sum = 0;
        for (int64_t i = 0; i < v; i++) sum += expf(x[i] - m);
        t->saved[r] = m + (float)log(sum);
        (void)tg;
    }
}
void op_cross_entropy_forward(pl_ctx *ctx, pl_tensor *t) {
    pl_tensor *lg = t->src[0];
    int64_t rows = pl_nrows(lg), v = lg->ne[0];
    pl_parallel_for(ctx, rows, ce_rows, t);
    double loss = 0;
    int64_t n = 0;
    for (int64_t r = 0; r < rows; r++) {
        int32_t y = ce_target(t, r);
        if (y == t->p.i[0] || y < 0 || y >= v) continue;
        loss += t->saved[r] - pl_f32(lg)[r * v + y];
        n++;
    }
    float div = t->p.f[1] > 0 ? t->p.f[1] : (float)n; /* backward divides by the same */
    t->saved[rows] = n ? div : 0.0f;
    pl_f32(t)[0] = n ? (float)(loss / div) : 0.0f;
}

static void ce_grad_rows(void *arg, int64_t s, int64_t e, int ith) {
    pl_tensor *t = arg, *lg = t->src[0];
    int64_t rows = pl_nrows(lg), v = lg->ne[0];
    float *gx = op_grad(lg);
    float n = t->saved[rows], g = n > 0 ? pl_f32(t->grad)[0] / n : 0;
    for (int64_t r = s; r < e; r++) {
        int32_t y = ce_target(t, r);
        if (y == t->p.i[0] || y < 0 || y >= v) continue;
        const float *x = pl_f32(lg) + r * v;
        float *o = gx + r * v, lse = t->saved[r];
        for (int64_t i = 0; i < v; i++) o[i] += g * expf(x[i] - lse);
        o[y] -= g;
    }
}
void op_cross_entropy_backward(pl_ctx *ctx, pl_tensor *t) {
    if (op_grad(t->src[0])) pl_parallel_for(ctx, pl_nrows(t->src[0]), ce_grad_rows, t);
}

enum { KL_MAX_K = 1024 }; /* entries a row: the gradient keeps a row's k values aside on the stack */

/* ---- distillation: KL to a teacher's top-k distribution ------------------------------------------------- */
/* The teacher's k best tokens carry probabilities p_j that may sum to less than 1; the rest of its mass, p_r = 1 - sum
 * p_j, is one more outcome, "any other token", whose student probability is q_r = 1 - sum_j q_j. The loss is the KL of
 * these k + 1 outcomes: it never asks the student to put nothing on the tokens outside the top k (renormalizing the
 * top k to 1 would, and the student then pays for every text token the teacher did not rank in its top k). */
pl_tensor *pl_kl_topk(pl_ctx *ctx, pl_tensor *logits, pl_tensor *ids, pl_tensor *probs, float temperature) {
    if (!logits || !ids || !probs) return NULL;
    OP_REQUIRE(logits->type == PL_F32 && pl_is_contiguous(logits), "kl_topk: contiguous f32 logits expected");
    OP_REQUIRE(ids->type == PL_I32 && probs->type == PL_F32 && pl_is_contiguous(ids) && pl_is_contiguous(probs) &&
               ids->ne[0] == probs->ne[0] && pl_nrows(ids) == pl_nrows(logits) && pl_nrows(probs) == pl_nrows(logits),
               "kl_topk: ids (i32) and probs (f32) of k entries for every row of logits expected");
    OP_REQUIRE(ids->ne[0] <= KL_MAX_K, "kl_topk: %lld entries a row; at most %d", (long long)ids->ne[0], KL_MAX_K);
    OP_REQUIRE(temperature > 0, "kl_topk: temperature %g must be positive", temperature);
    pl_tensor *t = op_new_node(ctx, PL_OP_KL_TOPK, PL_F32, 1, (int64_t[]){1}, logits, ids, probs, NULL);
    if (!t) return NULL;
    t->p.f[0] = temperature;
    /* per row: the log-sum-exp of logits/T, p_r / q_r (the tail's gradient factor), the row's KL; then the row count */
    t->saved = pl_ctx_alloc(ctx, (size_t)(3 * pl_nrows(logits) + 1) * sizeof(float));
    return t->saved ? t : NULL;
}

/* a row's entry j counts if its id is a token and its probability positive */
static bool kl_entry(const int32_t *id, const float *p, int64_t j, int64_t v) { return id[j] >= 0 && id[j] < v && p[j] > 0; }

/* one row at a time: q's normalizer; q_r as the sum of the other tokens' terms (not 1 - sum q_j, which loses it to
 * rounding when the student puts nearly everything on the k tokens); the row's KL */
static void kl_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg, *lg = t->src[0];
    int64_t rows = pl_nrows(lg), v = lg->ne[0], k = t->src[1]->ne[0];
    const float it = 1.0f / t->p.f[0];
    for (int64_t r = s; r < e; r++) {
        const float *x = pl_f32(lg) + r * v, *p = pl_f32(t->src[2]) + r * k;
        const int32_t *id = (const int32_t *)t->src[1]->data + r * k;
        float m = pl_vec_max_f32(v, x) * it;
        double sum = 0, sum_k = 0, ps = 0, kl = 0;
        for (int64_t i = 0; i < v; i++) sum += expf(x[i] * it - m);
        const double lse = m + log(sum);
        t->saved[r] = (float)lse;
        t->saved[rows + r] = t->saved[2 * rows + r] = 0;
        if (id[0] < 0) continue;
        for (int64_t j = 0; j < k; j++) {
            if (!kl_entry(id, p, j, v)) continue;
            sum_k += expf(x[id[j]] * it - m);
            ps += p[j];
            kl += p[j] * (log(p[j]) - (x[id[j]] * it - lse));
        }
        double pr = ps < 1 - 1e-6 ? 1 - ps : 0, qr = PL_MAX((sum - sum_k) / sum, 1e-30);
        if (pr > 0) {
            kl += pr * (log(pr) - log(qr));
            t->saved[rows + r] = (float)(pr / qr);
        }
        t->saved[2 * rows + r] = (float)kl;
    }
}
void op_kl_topk_forward(pl_ctx *ctx, pl_tensor *t) {
    pl_tensor *lg = t->src[0];
    int64_t rows = pl_nrows(lg), k = t->src[1]->ne[0];
    const int32_t *id = t->src[1]->data;
    pl_parallel_for(ctx, rows, kl_rows, t);
    double loss = 0;
    int64_t n = 0;
    for (int64_t r = 0; r < rows; r++)
        if (id[r * k] >= 0) loss += t->saved[2 * rows + r], n++;
    t->saved[3 * rows] = (float)n;
    pl_f32(t)[0] = n ? (float)(loss / n) : 0.0f;
}

/* d/dx_i = (q_i - p_i) / T / n for the teacher's k tokens, (q_i - p_r q_i / q_r) / T / n for the others
 * (q = softmax(x / T)): the tail's mass p_r spread over the other tokens as the student spreads its own.
 * The k tokens' own values are set apart first: p_r / q_r may be huge, and (1 - p_r / q_r) q_j would swamp them. */
static void kl_grad_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg, *lg = t->src[0];
    int64_t rows = pl_nrows(lg), v = lg->ne[0], k = t->src[1]->ne[0];
    const float it = 1.0f / t->p.f[0];
    float *gx = op_grad(lg), before[KL_MAX_K];
    float n = t->saved[3 * rows], g = n > 0 ? pl_f32(t->grad)[0] / n * it : 0;
    for (int64_t r = s; r < e; r++) {
        const int32_t *id = (const int32_t *)t->src[1]->data + r * k;
        const float *x = pl_f32(lg) + r * v, *p = pl_f32(t->src[2]) + r * k;
        if (id[0] < 0) continue;
        float *o = gx + r * v, lse = t->saved[r], gt = g * (1 - t->saved[rows + r]);
        for (int64_t j = 0; j < k; j++) before[j] = kl_entry(id, p, j, v) ? o[id[j]] : 0;
        for (int64_t i = 0; i < v; i++) o[i] += gt * expf(x[i] * it - lse);
        for (int64_t j = 0; j < k; j++)
            if (kl_entry(id, p, j, v)) o[id[j]] = before[j] + g * (expf(x[id[j]] * it - lse) - p[j]);
    }
}
void op_kl_topk_backward(pl_ctx *ctx, pl_tensor *t) {
    if (op_grad(t->src[0])) pl_parallel_for(ctx, pl_nrows(t->src[0]), kl_grad_rows, t);
}
