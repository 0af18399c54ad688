/* Token sampling: turns one row of logits (n_vocab floats) plus the recent token history into the next token id.
 * A pl_sampler runs a fixed chain like llama.cpp's default one: penalties -> logit bias -> top-k -> top-p ->
 * min-p -> temperature -> draw (greedy when temperature <= 0). Each stage is also exposed on a candidates array
 * so it can be tested alone. Plain C on floats: nothing here knows about tensors or models. See docs/sampling.md. */
#ifndef PL_TASKS_SAMPLE_H
#define PL_TASKS_SAMPLE_H

#include "plinth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- deterministic PRNG: xoshiro256** seeded through splitmix64 (same seed -> same stream everywhere) ---- */
typedef struct { uint64_t s[4]; } pl_rng;
void pl_rng_seed(pl_rng *r, uint64_t seed);
uint64_t pl_rng_next(pl_rng *r);
double pl_rng_uniform(pl_rng *r); /* in [0, 1), 53 random bits */

/* ---- candidates: the working set each stage narrows ---- */
typedef struct {
    int32_t id;  /* token id */
    float logit; /* current (possibly penalized / scaled) logit */
    float p;     /* probability, valid after pl_cands_softmax (each truncating stage renormalizes) */
} pl_token_data;

typedef struct {
    pl_token_data *data; /* caller-owned, room for n_vocab entries */
    size_t size;         /* entries still in play */
    bool sorted;         /* data is in descending logit order (ties: ascending id) */
} pl_candidates;

/* Fill c->data from logits[0..n_vocab): id = index, p = 0, unsorted. */
void pl_cands_init(pl_candidates *c, pl_token_data *buf, const float *logits, int n_vocab);
/* Sort descending by logit (ties by id, so the order is the same on every libc) and set p = softmax(logits).
 * -inf logits get p = 0; if every logit is -inf the first candidate gets p = 1. */
void pl_cands_softmax(pl_candidates *c);

/* Repetition / frequency / presence penalties over the last `last_n` tokens of history (last_n < 0: all of it,
 * 0: none). For a token seen `count` > 0 times: a positive logit is divided by `repeat`, a non-positive one
 * multiplied by it (llama.cpp / CTRL), then logit -= count * freq + presence (OpenAI). 1 / 0 / 0 = off. */
void pl_sample_penalties(pl_candidates *c, const int32_t *history, int n_history, int last_n,
                         float repeat, float freq, float presence);

/* Add each bias to its token's logit; -INFINITY bans the token. Ids out of range are ignored. */
void pl_sample_logit_bias(pl_candidates *c, const pl_logit_bias *bias, int n_bias);
/* Keep the k highest logits (k <= 0 or k >= size: keep all). Sorts and renormalizes p. */
void pl_sample_top_k(pl_candidates *c, int k);
/* Nucleus: keep the smallest prefix (by descending p) whose cumulative probability >= p, at least min_keep
 * (and at least one). p >= 1 keeps all. Renormalizes p. */
void pl_sample_top_p(pl_candidates *c, float p, size_t min_keep);
/* Keep tokens with prob >= min_p * max prob, at least min_keep. min_p <= 0 keeps all. Renormalizes p. */
void pl_sample_min_p(pl_candidates *c, float min_p, size_t min_keep);
/* Divide logits by t (t > 0) and recompute p. */
void pl_sample_temperature(pl_candidates *c, float t);
/* Highest logit (ties: lowest id). */
int32_t pl_sample_greedy(const pl_candidates *c);
/* Draw one token from softmax(logits) of the candidates with rng. */
int32_t pl_sample_dist(pl_candidates *c, pl_rng *rng);

/* ---- the chain: pl_sampler_params, pl_sampler_new / sample / free / reseed are public (plinth.h) ---- */

/* ---- stop strings ---- */
/* Look for any of stops[0..n_stops) in text[0..len). Returns the index of the stop string found earliest in the
 * text (-1 if none) and sets *safe_len to the number of leading bytes that may be emitted now: up to the match
 * when one is found; otherwise all but the longest tail that is a prefix of some stop string (it may complete
 * with the next token) and all but an incomplete UTF-8 sequence at the end. Empty stop strings are ignored. */
int pl_stop_find(const char *text, size_t len, const char *const *stops, int n_stops, size_t *safe_len);

#endif
