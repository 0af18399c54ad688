/* Token sampling: the PRNG, the candidate stages (penalties, logit bias, top-k, top-p, min-p, temperature,
 * draw) and the pl_sampler chain that strings them together in llama.cpp's default order, plus stop strings.
 * Everything works on plain float arrays so generation, chat and the server share one sampler. */
#include "tasks/sample.h"

#include "backend/cpu/vec.h"
#include "core/common.h"

#include <math.h>

/* ---------------------------------------------------------------- PRNG ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void pl_rng_seed(pl_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed); /* never all zero */
}

uint64_t pl_rng_next(pl_rng *r) { /* xoshiro256** */
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

double pl_rng_uniform(pl_rng *r) { return (double)(pl_rng_next(r) >> 11) * 0x1.0p-53; }

/* ---------------------------------------------------------- candidates ---- */

void pl_cands_init(pl_candidates *c, pl_token_data *buf, const float *logits, int n_vocab) {
    for (int i = 0; i < n_vocab; i++) {
        float l = logits[i];
        buf[i] = (pl_token_data){ .id = i, .logit = isnan(l) ? -INFINITY : l, .p = 0.0f }; /* NaN never wins */
    }
    c->data = buf;
    c->size = (size_t)(n_vocab > 0 ? n_vocab : 0);
    c->sorted = false;
}

/* Descending logit, ties by ascending id: a total order, so qsort gives the same result on every libc. */
static int cand_cmp(const void *pa, const void *pb) {
    const pl_token_data *a = pa, *b = pb;
    if (a->logit > b->logit) return -1;
    if (a->logit < b->logit) return 1;
    return (a->id > b->id) - (a->id < b->id);
}

static int cand_before(const pl_token_data *a, const pl_token_data *b) { return cand_cmp(a, b) < 0; }

static void cands_sort(pl_candidates *c) {
    if (!c->sorted && c->size > 1) qsort(c->data, c->size, sizeof *c->data, cand_cmp);
    c->sorted = true;
}

/* p over the current set; assumes sorted (max first). */
static void cands_normalize_logits(pl_candidates *c) {
    if (c->size == 0) return;
    float max = c->data[0].logit;
    if (max == -INFINITY) { /* everything banned: keep the first so callers still get a token */
        for (size_t i = 0; i < c->size; i++) c->data[i].p = i == 0 ? 1.0f : 0.0f;
        return;
    }
    double sum = 0;
    for (size_t i = 0; i < c->size; i++) sum += exp((double)c->data[i].logit - max);
    for (size_t i = 0; i < c->size; i++) c->data[i].p = (float)(exp((double)c->data[i].logit - max) / sum);
}

void pl_cands_softmax(pl_candidates *c) {
    cands_sort(c);
    cands_normalize_logits(c);
}

/* ----------------------------------------------------------- penalties ---- */

static int id_cmp(const void *pa, const void *pb) {
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

static pl_token_data *cands_find(pl_candidates *c, int32_t id) {
    if (id >= 0 && (size_t)id < c->size && c->data[id].id == id) return &c->data[id]; /* fresh, unsorted set */
    for (size_t i = 0; i < c->size; i++)
        if (c->data[i].id == id) return &c->data[i];
    return NULL;
}

static void penalize(float *logit, int count, float repeat, float freq, float presence) {
    if (*logit <= 0) *logit *= repeat; /* divide positives, multiply negatives: both make it less likely */
    else *logit /= repeat;
    *logit -= (float)count * freq + presence;
}

typedef struct { int32_t id; int count; } tok_count;

/* The distinct tokens of the penalty window, in id order, each with how often it occurs there (n_out of them);
 * NULL when no penalty applies (or out of memory: the penalty is skipped rather than generation failed). */
static tok_count *penalty_counts(const int32_t *history, int n_history, int last_n, float repeat, float freq, float presence,
                                 int *n_out) {
    if (last_n == 0 || n_history <= 0 || (repeat == 1.0f && freq == 0.0f && presence == 0.0f)) return NULL;
    int n = last_n < 0 || last_n > n_history ? n_history : last_n, k = 0;
    int32_t *win = malloc((size_t)n * sizeof *win);
    tok_count *tc = malloc((size_t)n * sizeof *tc);
    if (!win || !tc) { free(win); free(tc); return NULL; }
    memcpy(win, history + (n_history - n), (size_t)n * sizeof *win);
    qsort(win, (size_t)n, sizeof *win, id_cmp);
    for (int i = 0, j; i < n; i = j) { /* equal ids are adjacent: a run's length is the token's count */
        for (j = i; j < n && win[j] == win[i]; j++) {}
        tc[k++] = (tok_count){win[i], j - i};
    }
    free(win);
    *n_out = k;
    return tc;
}

void pl_sample_penalties(pl_candidates *c, const int32_t *history, int n_history, int last_n,
                         float repeat, float freq, float presence) {
    int n = 0;
    tok_count *tc = penalty_counts(history, n_history, last_n, repeat, freq, presence, &n);
    if (!tc) return;
    for (int k = 0; k < n; k++) {
        pl_token_data *t = cands_find(c, tc[k].id);
        if (t) penalize(&t->logit, tc[k].count, repeat, freq, presence);
    }
    free(tc);
    c->sorted = false;
}

void pl_sample_logit_bias(pl_candidates *c, const pl_logit_bias *bias, int n_bias) {
    for (int i = 0; i < n_bias; i++) {
        pl_token_data *t = cands_find(c, bias[i].token);
        if (t) t->logit += bias[i].bias;
    }
    if (n_bias > 0) c->sorted = false;
}

/* ---------------------------------------------------------- truncation ---- */

/* Sift-down for a min-heap ordered by cand_before (the root is the worst of the kept k). */
static void heap_sift(pl_token_data *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && cand_before(&h[m], &h[l])) m = l;
        if (r < n && cand_before(&h[m], &h[r])) m = r;
        if (m == i) return;
        pl_token_data t = h[i]; h[i] = h[m]; h[m] = t;
        i = m;
    }
}

/* Move the k best candidates to the front in O(n log k), then sort just those. */
static void cands_select_top(pl_candidates *c, size_t k) {
    pl_token_data *d = c->data;
    for (size_t i = k / 2; i-- > 0;) heap_sift(d, k, i);
    for (size_t i = k; i < c->size; i++) {
        if (cand_before(&d[i], &d[0])) {
            pl_token_data t = d[0]; d[0] = d[i]; d[i] = t;
            heap_sift(d, k, 0);
        }
    }
    c->size = k;
    c->sorted = false;
    cands_sort(c);
}

void pl_sample_top_k(pl_candidates *c, int k) {
    if (k > 0 && (size_t)k < c->size) {
        if (c->sorted) c->size = (size_t)k;
        else cands_select_top(c, (size_t)k);
    }
    pl_cands_softmax(c);
}

void pl_sample_top_p(pl_candidates *c, float p, size_t min_keep) {
    pl_cands_softmax(c);
    if (p >= 1.0f || c->size == 0) return;
    double cum = 0;
    size_t keep = c->size;
    for (size_t i = 0; i < c->size; i++) {
        cum += c->data[i].p;
        if (cum >= p && i + 1 >= min_keep) { keep = i + 1; break; }
    }
    c->size = keep ? keep : 1;
    cands_normalize_logits(c);
}

void pl_sample_min_p(pl_candidates *c, float min_p, size_t min_keep) {
    pl_cands_softmax(c);
    if (min_p <= 0.0f || c->size == 0) return;
    float thresh = min_p * c->data[0].p;
    size_t keep = 1;
    while (keep < c->size && (c->data[keep].p >= thresh || keep < min_keep)) keep++;
    c->size = keep;
    cands_normalize_logits(c);
}

void pl_sample_temperature(pl_candidates *c, float t) {
    if (t > 0.0f && t != 1.0f)
        for (size_t i = 0; i < c->size; i++) c->data[i].logit /= t;
    pl_cands_softmax(c); /* dividing by t > 0 keeps the order */
}

int32_t pl_sample_greedy(const pl_candidates *c) {
    if (c->size == 0) return -1;
    const pl_token_data *best = &c->data[0];
    for (size_t i = 1; i < c->size; i++)
        if (cand_before(&c->data[i], best)) best = &c->data[i];
    return best->id;
}

int32_t pl_sample_dist(pl_candidates *c, pl_rng *rng) {
    if (c->size == 0) return -1;
    pl_cands_softmax(c);
    double u = pl_rng_uniform(rng), cum = 0;
    size_t last = 0;
    for (size_t i = 0; i < c->size; i++) {
        if (c->data[i].p <= 0) continue;
        last = i;
        cum += c->data[i].p;
        if (u < cum) return c->data[i].id;
    }
    return c->data[last].id; /* rounding left u just above the total */
}

/* --------------------------------------------------------------- chain ---- */

struct pl_sampler {
    pl_sampler_params params;
    pl_logit_bias *bias; /* own copy */
    pl_token_data *buf;  /* n_vocab candidates */
    float *lg;           /* n_vocab logits after penalties and bias (the top-k and greedy paths) */
    int n_vocab;
    pl_rng rng;
};

pl_sampler_params pl_sampler_default_params(void) {
    return (pl_sampler_params){
        .temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
        .repeat_penalty = 1.0f, .presence_penalty = 0.0f, .frequency_penalty = 0.0f,
        .penalty_last_n = 64, .seed = 0xC0FFEE,
    };
}

pl_sampler *pl_sampler_new(const pl_sampler_params *p, int n_vocab) {
    if (!p) return pl_error_null(PL_ERR_ARG, "sampler: no parameters given");
    if (n_vocab <= 0) return pl_error_null(PL_ERR_ARG, "sampler: vocabulary size must be > 0 (got %d)", n_vocab);
    if (isnan(p->temperature)) return pl_error_null(PL_ERR_ARG, "sampler: temperature is NaN");
    if (!(p->top_p >= 0 && p->top_p <= 1))
        return pl_error_null(PL_ERR_ARG, "sampler: top_p must be in [0, 1] (got %g)", p->top_p);
    if (!(p->min_p >= 0 && p->min_p <= 1))
        return pl_error_null(PL_ERR_ARG, "sampler: min_p must be in [0, 1] (got %g)", p->min_p);
    if (!(p->repeat_penalty > 0))
        return pl_error_null(PL_ERR_ARG, "sampler: repeat_penalty must be > 0 (got %g)", p->repeat_penalty);
    if (p->n_logit_bias < 0 || (p->n_logit_bias > 0 && !p->logit_bias))
        return pl_error_null(PL_ERR_ARG, "sampler: bad logit bias list");
    pl_sampler *s = pl_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->params = *p;
    s->n_vocab = n_vocab;
    s->buf = pl_malloc((size_t)n_vocab * sizeof *s->buf);
    s->lg = pl_malloc((size_t)n_vocab * sizeof *s->lg);
    s->bias = pl_malloc((size_t)(p->n_logit_bias > 0 ? p->n_logit_bias : 1) * sizeof *s->bias);
    if (!s->buf || !s->lg || !s->bias) { pl_sampler_free(s); return NULL; }
    if (p->n_logit_bias > 0) memcpy(s->bias, p->logit_bias, (size_t)p->n_logit_bias * sizeof *s->bias);
    s->params.logit_bias = s->bias;
    pl_rng_seed(&s->rng, p->seed);
    return s;
}

void pl_sampler_free(pl_sampler *s) {
    if (!s) return;
    free(s->buf);
    free(s->lg);
    free(s->bias);
    free(s);
}

void pl_sampler_reseed(pl_sampler *s, uint64_t seed) { pl_rng_seed(&s->rng, seed); }

/* The chain's first stages on a plain copy of the logits: penalties and bias touch only the ids they name, so
 * nothing the size of the vocabulary but the copy is written. A NaN is left in place (penalized or biased it
 * stays NaN) and counts as -inf where it is read: no comparison finds it greater than anything. */
static void sampler_logits(pl_sampler *s, const float *logits, const int32_t *history, int n_history) {
    const pl_sampler_params *p = &s->params;
    memcpy(s->lg, logits, (size_t)s->n_vocab * sizeof *s->lg); /* NaN stays: it is never above a threshold */
    int n = 0;
    tok_count *tc = penalty_counts(history, n_history, p->penalty_last_n, p->repeat_penalty, p->frequency_penalty,
                                   p->presence_penalty, &n);
    for (int k = 0; k < n; k++)
        if (tc[k].id >= 0 && tc[k].id < s->n_vocab)
            penalize(&s->lg[tc[k].id], tc[k].count, p->repeat_penalty, p->frequency_penalty, p->presence_penalty);
    free(tc);
    for (int i = 0; i < p->n_logit_bias; i++) {
        int32_t id = p->logit_bias[i].token;
        if (id >= 0 && id < s->n_vocab) s->lg[id] += p->logit_bias[i].bias;
    }
}

/* the first i with x[i] > t, else n (t not NaN; a NaN x never counts): the SIMD scan for x >= the next float
 * above t, which is the same test */
static int64_t first_above(int64_t n, const float *x, float t) {
    return t == INFINITY ? n : pl_vec_find_ge_f32(n, x, nextafterf(t, INFINITY));
}

/* The k best (0 < k < n) of lg as candidates in c, unsorted: the set pl_sample_top_k selects (descending logit,
 * ties to the lower id). A min-heap of the k kept; a later logit enters only when strictly above the heap's worst
 * (an equal one has the higher id), and the scan skips, 32 at a time, the logits that cannot. */
static void sampler_top_k(pl_sampler *s, int k, pl_candidates *c) {
    pl_token_data *h = s->buf;
    for (int i = 0; i < k; i++) h[i] = (pl_token_data){.id = i, .logit = isnan(s->lg[i]) ? -INFINITY : s->lg[i]};
    for (int i = k / 2; i-- > 0;) heap_sift(h, (size_t)k, (size_t)i);
    for (int64_t i = k; i < s->n_vocab; i++) {
        i += first_above(s->n_vocab - i, s->lg + i, h[0].logit);
        if (i >= s->n_vocab) break;
        h[0] = (pl_token_data){.id = (int32_t)i, .logit = s->lg[i]};
        heap_sift(h, (size_t)k, 0);
    }
    c->data = h;
    c->size = (size_t)k;
    c->sorted = false;
}

/* the first id of the largest logit (what pl_sample_greedy picks) */
static int32_t sampler_argmax(const pl_sampler *s) {
    int64_t best = 0;
    for (;;) {
        const float b = isnan(s->lg[best]) ? -INFINITY : s->lg[best];
        int64_t j = first_above(s->n_vocab - best - 1, s->lg + best + 1, b);
        if (best + 1 + j >= s->n_vocab) return (int32_t)best;
        best += 1 + j;
    }
}

int32_t pl_sampler_sample(pl_sampler *s, const float *logits, const int32_t *history, int n_history) {
    if (!s || !logits) return pl_error(PL_ERR_ARG, "sampler: no sampler or no logits given");
    const pl_sampler_params *p = &s->params;
    pl_candidates c;
    if (p->temperature <= 0.0f || (p->top_k > 0 && p->top_k < s->n_vocab)) { /* without all n_vocab candidates */
        sampler_logits(s, logits, history, n_history);
        if (p->temperature <= 0.0f) return sampler_argmax(s);
        sampler_top_k(s, p->top_k, &c);
    } else {
        pl_cands_init(&c, s->buf, logits, s->n_vocab);
        pl_sample_penalties(&c, history, n_history, p->penalty_last_n, p->repeat_penalty, p->frequency_penalty,
                            p->presence_penalty);
        pl_sample_logit_bias(&c, p->logit_bias, p->n_logit_bias);
    }
    pl_sample_top_k(&c, p->top_k);
    pl_sample_top_p(&c, p->top_p, 1);
    pl_sample_min_p(&c, p->min_p, 1);
    pl_sample_temperature(&c, p->temperature);
    return pl_sample_dist(&c, &s->rng);
}

/* --------------------------------------------------------- stop strings ---- */

/* Bytes at the end of text[0..len) that begin a UTF-8 sequence not yet complete. */
static size_t utf8_incomplete_tail(const char *text, size_t len) {
    for (size_t back = 1; back <= 4 && back <= len; back++) {
        unsigned char b = (unsigned char)text[len - back];
        if ((b & 0xC0) == 0x80) continue; /* continuation byte: keep looking for the lead */
        size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

int pl_stop_find(const char *text, size_t len, const char *const *stops, int n_stops, size_t *safe_len) {
    int found = -1;
    size_t found_at = len, hold = 0;
    for (int i = 0; i < n_stops; i++) {
        size_t sl = stops[i] ? strlen(stops[i]) : 0;
        if (sl == 0) continue;
        const char *m = memmem(text, len, stops[i], sl);
        if (m && (size_t)(m - text) < found_at) { found = i; found_at = (size_t)(m - text); }
        /* longest tail of text that is a proper prefix of this stop string */
        for (size_t k = PL_MIN(sl - 1, len); k > hold; k--)
            if (memcmp(text + len - k, stops[i], k) == 0) { hold = k; break; }
    }
    if (found >= 0) { *safe_len = found_at; return found; }
    size_t safe = len - hold;
    *safe_len = safe - utf8_incomplete_tail(text, safe);
    return -1;
}
