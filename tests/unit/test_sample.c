/* Tests for src/tasks/sample.c: each sampling stage on crafted logits (kept ids and renormalized
 * probabilities), penalties, logit bias, the chain's greedy path, seed determinism, sampling frequencies
 * against probabilities, and stop-string detection with held-back partial matches. */
#include "test.h"

#include "tasks/sample.h"
#include "plinth.h"

#include <string.h>

#define NV 5
static pl_token_data g_buf[64];

static pl_candidates make(const float *logits, int n) {
    pl_candidates c;
    pl_cands_init(&c, g_buf, logits, n);
    return c;
}

static int has_id(const pl_candidates *c, int32_t id) {
    for (size_t i = 0; i < c->size; i++)
        if (c->data[i].id == id) return 1;
    return 0;
}

static float prob_of(const pl_candidates *c, int32_t id) {
    for (size_t i = 0; i < c->size; i++)
        if (c->data[i].id == id) return c->data[i].p;
    return -1;
}

static double psum(const pl_candidates *c) {
    double s = 0;
    for (size_t i = 0; i < c->size; i++) s += c->data[i].p;
    return s;
}

static void test_rng(void) {
    pl_rng r;
    pl_rng_seed(&r, 12345);
    /* Values from an independent Python implementation of splitmix64 + xoshiro256**. */
    CHECK(pl_rng_next(&r) == 0xbe6a36374160d49bull);
    CHECK(pl_rng_next(&r) == 0x214aaa0637a688c6ull);
    CHECK(pl_rng_next(&r) == 0xf69d16de9954d388ull);
    for (int i = 0; i < 1000; i++) {
        double u = pl_rng_uniform(&r);
        CHECK(u >= 0 && u < 1);
    }
}

static void test_softmax_and_top_k(void) {
    float lg[NV] = { 1, 3, 2, 5, 4 };
    pl_candidates c = make(lg, NV);
    pl_cands_softmax(&c);
    CHECK(c.size == NV && c.data[0].id == 3 && c.data[4].id == 0);
    CHECK_NEAR(psum(&c), 1.0, 1e-6);
    double z = exp(1) + exp(3) + exp(2) + exp(5) + exp(4);
    CHECK_NEAR(prob_of(&c, 1), exp(3) / z, 1e-6);

    c = make(lg, NV);
    pl_sample_top_k(&c, 2);
    CHECK(c.size == 2 && has_id(&c, 3) && has_id(&c, 4));
    CHECK_NEAR(prob_of(&c, 3), exp(5) / (exp(5) + exp(4)), 1e-6);
    CHECK_NEAR(prob_of(&c, 4), exp(4) / (exp(5) + exp(4)), 1e-6);

    c = make(lg, NV);
    pl_sample_top_k(&c, 0); /* off */
    CHECK(c.size == NV);
    c = make(lg, NV);
    pl_sample_top_k(&c, 99);
    CHECK(c.size == NV);

    /* a larger random set: the heap selection must agree with a full sort */
    float big[64];
    pl_rng r;
    pl_rng_seed(&r, 7);
    for (int i = 0; i < 64; i++) big[i] = (float)(pl_rng_uniform(&r) * 10 - 5);
    big[10] = big[20]; /* a tie, broken by id */
    c = make(big, 64);
    pl_sample_top_k(&c, 9);
    pl_token_data ref[64];
    pl_candidates all;
    pl_cands_init(&all, ref, big, 64);
    pl_cands_softmax(&all);
    int same = c.size == 9;
    for (int i = 0; i < 9 && same; i++) same = c.data[i].id == all.data[i].id;
    CHECK(same);
}

/* probabilities 0.5, 0.2, 0.15, 0.1, 0.05 as logits */
static const float g_probs[NV] = { 0.5f, 0.2f, 0.15f, 0.1f, 0.05f };
static pl_candidates make_probs(void) {
    float lg[NV];
    for (int i = 0; i < NV; i++) lg[i] = logf(g_probs[i]);
    return make(lg, NV);
}

static void test_top_p(void) {
    pl_candidates c = make_probs();
    pl_sample_top_p(&c, 0.69f, 1); /* 0.5 + 0.2 = 0.7 >= 0.69 */
    CHECK(c.size == 2 && has_id(&c, 0) && has_id(&c, 1));
    CHECK_NEAR(prob_of(&c, 0), 0.5 / 0.7, 1e-6);
    CHECK_NEAR(prob_of(&c, 1), 0.2 / 0.7, 1e-6);

    c = make_probs();
    pl_sample_top_p(&c, 0.71f, 1);
    CHECK(c.size == 3 && has_id(&c, 2));
    CHECK_NEAR(prob_of(&c, 2), 0.15 / 0.85, 1e-6);

    c = make_probs();
    pl_sample_top_p(&c, 0.0f, 1); /* always at least one */
    CHECK(c.size == 1 && c.data[0].id == 0);
    CHECK_NEAR(c.data[0].p, 1.0, 1e-6);

    c = make_probs();
    pl_sample_top_p(&c, 0.1f, 3); /* min_keep wins */
    CHECK(c.size == 3);

    c = make_probs();
    pl_sample_top_p(&c, 1.0f, 1);
    CHECK(c.size == NV);
    CHECK_NEAR(psum(&c), 1.0, 1e-6);
}

static void test_min_p(void) {
    pl_candidates c = make_probs();
    pl_sample_min_p(&c, 0.35f, 1); /* threshold 0.175: keeps 0.5, 0.2 */
    CHECK(c.size == 2 && has_id(&c, 0) && has_id(&c, 1));
    CHECK_NEAR(prob_of(&c, 1), 0.2 / 0.7, 1e-6);

    c = make_probs();
    pl_sample_min_p(&c, 0.25f, 1); /* threshold 0.125: keeps three */
    CHECK(c.size == 3 && !has_id(&c, 3));
    CHECK_NEAR(psum(&c), 1.0, 1e-6);

    c = make_probs();
    pl_sample_min_p(&c, 1.0f, 1); /* only the max */
    CHECK(c.size == 1 && c.data[0].id == 0);

    c = make_probs();
    pl_sample_min_p(&c, 0.0f, 1);
    CHECK(c.size == NV);
}

static void test_temperature(void) {
    float lg[3] = { 1.0f, 2.0f, 0.5f };
    pl_candidates c = make(lg, 3);
    pl_sample_temperature(&c, 0.5f);
    double z = exp(2.0) + exp(4.0) + exp(1.0);
    CHECK_NEAR(prob_of(&c, 1), exp(4.0) / z, 1e-6);
    CHECK_NEAR(prob_of(&c, 2), exp(1.0) / z, 1e-6);
    c = make(lg, 3);
    pl_sample_temperature(&c, 2.0f);
    z = exp(0.5) + exp(1.0) + exp(0.25);
    CHECK_NEAR(prob_of(&c, 0), exp(0.5) / z, 1e-6);
}

static void test_penalties(void) {
    float lg[NV] = { 1.0f, -1.0f, 2.0f, -2.0f, 0.5f };
    int32_t hist[] = { 4, 2, 2, 3 };
    pl_candidates c = make(lg, NV);
    pl_sample_penalties(&c, hist, 4, -1, 2.0f, 0.0f, 0.0f);
    CHECK_NEAR(c.data[2].logit, 1.0, 1e-6);   /* positive: divided */
    CHECK_NEAR(c.data[3].logit, -4.0, 1e-6);  /* negative: multiplied */
    CHECK_NEAR(c.data[4].logit, 0.25, 1e-6);
    CHECK_NEAR(c.data[0].logit, 1.0, 1e-6);   /* unseen: untouched */
    CHECK_NEAR(c.data[1].logit, -1.0, 1e-6);

    /* frequency and presence, OpenAI style: logit -= count * freq + presence */
    c = make(lg, NV);
    pl_sample_penalties(&c, hist, 4, -1, 1.0f, 0.5f, 0.25f);
    CHECK_NEAR(c.data[2].logit, 2.0 - 2 * 0.5 - 0.25, 1e-6);
    CHECK_NEAR(c.data[3].logit, -2.0 - 0.5 - 0.25, 1e-6);
    CHECK_NEAR(c.data[0].logit, 1.0, 1e-6);

    /* last_n = 2: only {2, 3} are seen, 2 once */
    c = make(lg, NV);
    pl_sample_penalties(&c, hist, 4, 2, 1.0f, 1.0f, 0.0f);
    CHECK_NEAR(c.data[2].logit, 1.0, 1e-6);
    CHECK_NEAR(c.data[4].logit, 0.5, 1e-6);
    CHECK_NEAR(c.data[3].logit, -3.0, 1e-6);

    /* last_n = 0: off; ids out of range are ignored */
    c = make(lg, NV);
    int32_t bad[] = { -5, 99, 2 };
    pl_sample_penalties(&c, bad, 3, 0, 2.0f, 1.0f, 1.0f);
    CHECK_NEAR(c.data[2].logit, 2.0, 1e-6);
    pl_sample_penalties(&c, bad, 3, -1, 2.0f, 0.0f, 0.0f);
    CHECK_NEAR(c.data[2].logit, 1.0, 1e-6);

    /* penalties on an already sorted/truncated set find tokens by id */
    c = make(lg, NV);
    pl_sample_top_k(&c, 3);
    pl_sample_penalties(&c, hist, 4, -1, 4.0f, 0.0f, 0.0f);
    CHECK(c.data[0].id == 2 && c.data[2].id == 4); /* order kept until the next softmax */
    CHECK_NEAR(c.data[0].logit, 0.5, 1e-6);
    CHECK_NEAR(c.data[1].logit, 1.0, 1e-6);
    CHECK_NEAR(c.data[2].logit, 0.125, 1e-6);
    CHECK(!c.sorted);
}

static void test_logit_bias(void) {
    float lg[NV] = { 1, 3, 2, 5, 4 };
    pl_logit_bias b[] = { { 3, -INFINITY }, { 0, 10.0f }, { 77, 1.0f } };
    pl_candidates c = make(lg, NV);
    pl_sample_logit_bias(&c, b, 1);
    CHECK(pl_sample_greedy(&c) == 4);
    pl_cands_softmax(&c);
    CHECK(prob_of(&c, 3) == 0.0f);
    c = make(lg, NV);
    pl_sample_logit_bias(&c, b, 3);
    CHECK(pl_sample_greedy(&c) == 0);
    CHECK_NEAR(c.data[0].logit, 11.0, 1e-6);

    /* a banned token is never drawn */
    pl_sampler_params p = pl_sampler_default_params();
    p.temperature = 1.5f; p.top_k = 0; p.top_p = 1; p.min_p = 0;
    p.logit_bias = b; p.n_logit_bias = 1;
    pl_sampler *s = pl_sampler_new(&p, NV);
    CHECK(s != NULL);
    int drew_banned = 0;
    for (int i = 0; i < 2000; i++) drew_banned |= pl_sampler_sample(s, lg, NULL, 0) == 3;
    CHECK(!drew_banned);
    pl_sampler_free(s);

    /* everything banned: still a valid token, no crash */
    float all_inf[3] = { -INFINITY, -INFINITY, -INFINITY };
    c = make(all_inf, 3);
    pl_rng r;
    pl_rng_seed(&r, 1);
    int32_t t = pl_sample_dist(&c, &r);
    CHECK(t >= 0 && t < 3);
    float nan_lg[3] = { NAN, 1.0f, 0.0f };
    c = make(nan_lg, 3);
    CHECK(pl_sample_greedy(&c) == 1);
}

static void test_chain_greedy(void) {
    float lg[NV] = { 1, 3, 2, 5, 5 };
    pl_sampler_params p = pl_sampler_default_params();
    p.temperature = 0;
    pl_sampler *s = pl_sampler_new(&p, NV);
    CHECK(pl_sampler_sample(s, lg, NULL, 0) == 3); /* tie: lowest id */
    pl_sampler_free(s);

    p.repeat_penalty = 2.0f; /* 3 was just said: 5/2 < 5 */
    s = pl_sampler_new(&p, NV);
    int32_t h[] = { 3 };
    CHECK(pl_sampler_sample(s, lg, h, 1) == 4);
    pl_sampler_free(s);

    /* bad parameters are refused with a message */
    p = pl_sampler_default_params();
    p.top_p = 1.5f;
    CHECK(pl_sampler_new(&p, NV) == NULL);
    CHECK(strstr(pl_last_error(), "top_p") != NULL);
    p = pl_sampler_default_params();
    CHECK(pl_sampler_new(&p, 0) == NULL);
    p.repeat_penalty = 0;
    CHECK(pl_sampler_new(&p, NV) == NULL);
}

static void test_seed_determinism(void) {
    enum { V = 50, N = 200 };
    float lg[V];
    for (int i = 0; i < V; i++) lg[i] = sinf((float)i) * 2.0f;
    pl_sampler_params p = pl_sampler_default_params();
    p.temperature = 1.0f; p.top_k = 20; p.top_p = 0.9f; p.min_p = 0.02f; p.seed = 42;
    pl_sampler *a = pl_sampler_new(&p, V), *b = pl_sampler_new(&p, V);
    p.seed = 43;
    pl_sampler *d = pl_sampler_new(&p, V);
    int32_t sa[N], sb[N], sd[N];
    int same = 1, differ = 0, distinct = 0;
    for (int i = 0; i < N; i++) {
        sa[i] = pl_sampler_sample(a, lg, sa, i);
        sb[i] = pl_sampler_sample(b, lg, sb, i);
        sd[i] = pl_sampler_sample(d, lg, sd, i);
        same &= sa[i] == sb[i];
        differ |= sa[i] != sd[i];
        distinct |= i > 0 && sa[i] != sa[0];
    }
    CHECK(same);
    CHECK(differ);
    CHECK(distinct);
    pl_sampler_reseed(a, 42); /* reseeding restarts the stream */
    int again = 1;
    for (int i = 0; i < N; i++) again &= pl_sampler_sample(a, lg, sa, i) == sa[i];
    CHECK(again);
    pl_sampler_free(a);
    pl_sampler_free(b);
    pl_sampler_free(d);
}

static void test_frequencies(void) {
    enum { V = 8 };
    const int n = test_fast() ? 8000 : 40000;
    float lg[V] = { 0.0f, 1.0f, -0.5f, 2.0f, 0.3f, -1.0f, 1.5f, 0.0f };
    pl_sampler_params p = pl_sampler_default_params();
    p.temperature = 0.7f; p.top_k = 0; p.top_p = 1; p.min_p = 0; p.seed = 2024;
    pl_sampler *s = pl_sampler_new(&p, V);
    int counts[V] = { 0 };
    for (int i = 0; i < n; i++) {
        int32_t t = pl_sampler_sample(s, lg, NULL, 0);
        CHECK(t >= 0 && t < V);
        if (t >= 0 && t < V) counts[t]++;
    }
    double z = 0, chi2 = 0;
    for (int i = 0; i < V; i++) z += exp(lg[i] / 0.7);
    for (int i = 0; i < V; i++) {
        double e = n * exp(lg[i] / 0.7) / z;
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    /* 7 degrees of freedom: P(chi2 > 30) ~ 1e-4; the seed is fixed so this is deterministic */
    CHECKF(chi2 < 30.0, "chi2 = %g", chi2);
    pl_sampler_free(s);

    /* with top-k 2 only the two best ever appear, in ratio e^(2-1.5) */
    p.temperature = 1.0f; p.top_k = 2;
    s = pl_sampler_new(&p, V);
    int c3 = 0, c6 = 0, other = 0;
    for (int i = 0; i < n; i++) {
        int32_t t = pl_sampler_sample(s, lg, NULL, 0);
        if (t == 3) c3++; else if (t == 6) c6++; else other++;
    }
    CHECK(other == 0);
    double expect = n / (1 + exp(-0.5));
    CHECKF(fabs(c3 - expect) < 5 * sqrt(n * 0.25), "c3 %d expect %g", c3, expect);
    pl_sampler_free(s);
}

static void test_stop_strings(void) {
    const char *stops[] = { "</s>", "\nUser:", "" };
    size_t safe;
    CHECK(pl_stop_find("Hello", 5, stops, 3, &safe) == -1 && safe == 5);
    CHECK(pl_stop_find("Hello</", 7, stops, 3, &safe) == -1 && safe == 5);   /* hold back "</" */
    CHECK(pl_stop_find("Hello</s>bye", 12, stops, 3, &safe) == 0 && safe == 5);
    CHECK(pl_stop_find("Hi\nUs", 5, stops, 3, &safe) == -1 && safe == 2);
    CHECK(pl_stop_find("Hi\nUser: x</s>", 14, stops, 3, &safe) == 1 && safe == 2); /* earliest wins */
    CHECK(pl_stop_find("a<b", 3, stops, 3, &safe) == -1 && safe == 3);
    CHECK(pl_stop_find("", 0, stops, 3, &safe) == -1 && safe == 0);

    /* a stop string split across tokens: feed pieces and watch what may be emitted */
    const char *pieces[] = { "The answer", " is 4", "<", "/", "s", ">", " more" };
    char text[128] = "";
    size_t emitted = 0;
    int stopped = -1;
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0] && stopped < 0; i++) {
        strcat(text, pieces[i]);
        stopped = pl_stop_find(text, strlen(text), stops, 2, &safe);
        CHECK(safe >= emitted); /* never take back what was emitted */
        emitted = safe;
    }
    CHECK(stopped == 0);
    CHECK(emitted == strlen("The answer is 4"));

    /* an incomplete UTF-8 character at the end is held back too */
    CHECK(pl_stop_find("ab\xC3", 3, stops, 2, &safe) == -1 && safe == 2);
    CHECK(pl_stop_find("ab\xC3\xA9", 4, stops, 2, &safe) == -1 && safe == 4);
    CHECK(pl_stop_find("x\xE2\x82", 3, stops, 2, &safe) == -1 && safe == 1);
    CHECK(pl_stop_find("x\xE2\x82\xAC", 4, stops, 2, &safe) == -1 && safe == 4);
}

/* The sampler takes greedy and top-k without building all n_vocab candidates; it must draw exactly what the
 * chain of stages on the full candidate set draws: logits with ties, NaN and -inf, every penalty, a bias, top-k
 * from 1 to past the vocabulary, with and without top-p / min-p, greedy. Same seed, same draws, token for token. */
static int32_t chain_ref(const pl_sampler_params *p, int V, const float *lg, const int32_t *h, int nh, pl_rng *r,
                         pl_token_data *buf) {
    pl_candidates c;
    pl_cands_init(&c, buf, lg, V);
    pl_sample_penalties(&c, h, nh, p->penalty_last_n, p->repeat_penalty, p->frequency_penalty, p->presence_penalty);
    pl_sample_logit_bias(&c, p->logit_bias, p->n_logit_bias);
    if (p->temperature <= 0.0f) return pl_sample_greedy(&c);
    pl_sample_top_k(&c, p->top_k);
    pl_sample_top_p(&c, p->top_p, 1);
    pl_sample_min_p(&c, p->min_p, 1);
    pl_sample_temperature(&c, p->temperature);
    return pl_sample_dist(&c, r);
}

static void test_fast_paths_match_chain(void) {
    enum { V = 3001, NH = 40 };
    static float lg[V];
    static pl_token_data buf[V];
    int32_t h[NH];
    pl_rng g;
    pl_rng_seed(&g, 7);
    const int ks[] = {1, 2, 5, 40, 257, V - 1, V, V + 5, 0};
    int mismatches = 0, draws = 0, distinct = 0, last = -1;
    for (int trial = 0; trial < 60; trial++) {
        for (int i = 0; i < V; i++) { /* coarse values: many ties; a few NaN and -inf */
            uint64_t u = pl_rng_next(&g);
            lg[i] = (float)(int)(u % 64) * 0.25f - 8.0f;
            if (u % 97 == 0) lg[i] = NAN;
            if (u % 89 == 0) lg[i] = -INFINITY;
        }
        if (trial % 5 == 0) lg[V - 1] = 50.0f; /* the best at the very end */
        for (int i = 0; i < NH; i++) h[i] = (int32_t)(pl_rng_next(&g) % (trial % 2 ? 16 : V)) - (i == 3 ? 5 : 0);
        pl_logit_bias bias[3] = {{(int32_t)(pl_rng_next(&g) % V), 3.5f}, {(int32_t)(pl_rng_next(&g) % V), -INFINITY}, {V + 9, 1.0f}};
        pl_sampler_params p = pl_sampler_default_params();
        p.top_k = ks[trial % 9];
        p.temperature = trial % 7 == 0 ? 0.0f : 0.5f + (float)(trial % 4) * 0.4f;
        p.top_p = trial % 3 == 0 ? 1.0f : 0.9f;
        p.min_p = trial % 4 == 0 ? 0.0f : 0.05f;
        p.repeat_penalty = trial % 2 ? 1.3f : 1.0f;
        p.frequency_penalty = trial % 3 == 1 ? 0.2f : 0.0f;
        p.presence_penalty = trial % 5 == 2 ? 0.4f : 0.0f;
        p.penalty_last_n = trial % 6 == 0 ? -1 : 24;
        p.logit_bias = bias;
        p.n_logit_bias = trial % 2 ? 3 : 0;
        p.seed = 1000 + (uint64_t)trial;
        pl_sampler *s = pl_sampler_new(&p, V);
        CHECK(s != NULL);
        pl_rng r;
        pl_rng_seed(&r, p.seed);
        for (int d = 0; d < 20; d++) {
            int32_t a = pl_sampler_sample(s, lg, h, NH), b = chain_ref(&p, V, lg, h, NH, &r, buf);
            mismatches += a != b;
            distinct += a != last;
            last = a;
            draws++;
        }
        pl_sampler_free(s);
    }
    CHECK(mismatches == 0);
    CHECK(draws == 1200 && distinct > 100); /* the draws really vary */
}

int main(void) {
    test_rng();
    test_softmax_and_top_k();
    test_top_p();
    test_min_p();
    test_temperature();
    test_penalties();
    test_logit_bias();
    test_chain_greedy();
    test_fast_paths_match_chain();
    test_seed_determinism();
    test_frequencies();
    test_stop_strings();
    TEST_DONE();
}
