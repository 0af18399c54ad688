/* Many sequences in one KV cache (issue 15): 8 sequences with prompts of 5 to 300 tokens, prefilled in batches that
 * mix prefill chunks with decode tokens of other sequences, then decoded together for 64 steps, give each
 * sequence the logits (max abs diff <= 1e-5, f32) and greedy tokens it gets alone; a sequence removed mid-way
 * frees its cells; a fork continues exactly as its parent; bad batches are refused with nothing changed. With
 * q8_0 weights, decode steps batched together give each sequence the very bits it gets alone. */
#include "backend/cpu/quant_rows.h"
#include "models/kv_cache.h"
#include "models/llm.h"
#include "tasks/quantize.h"
#include "test.h"

#include <unistd.h>

#define NSEQ 8
#define STEPS 64

typedef struct { int n_prompt; int32_t prompt[320]; int32_t tok[STEPS + 1]; float *logits; /* (STEPS+1) x V */ } ref_seq;

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}
static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double md = 0;
    for (int64_t i = 0; i < n; i++) md = fmax(md, fabs((double)a[i] - b[i]));
    return md;
}

/* one sequence alone: prefill, then greedy decoding token by token; logits after the prompt and each step */
static void run_alone(pl_llm *m, ref_seq *r, int steps) {
    int V = pl_llm_n_vocab(m), s = pl_llm_seq_new(m);
    CHECK(s >= 0 && pl_llm_seq_len(m, s) == 0);
    int32_t seq[320];
    for (int i = 0; i < r->n_prompt; i++) seq[i] = s;
    bool want[320] = {0};
    want[r->n_prompt - 1] = true;
    CHECK(pl_llm_decode(m, &(pl_llm_batch){r->n_prompt, r->prompt, seq, want}, r->logits) == PL_OK);
    for (int t = 0; t < steps; t++) {
        r->tok[t] = argmax(r->logits + (int64_t)t * V, V);
        CHECK(pl_llm_decode(m, &(pl_llm_batch){1, &r->tok[t], &s, NULL}, r->logits + (int64_t)(t + 1) * V) == PL_OK);
    }
    CHECK(pl_llm_seq_len(m, s) == r->n_prompt + steps);
    CHECK(pl_llm_seq_remove(m, s) == PL_OK);
}

/* a batch of tokens; logits wanted where want[i] */
typedef struct { int n; int32_t tok[4096], seq[4096]; bool want[4096]; } batch;
static void push(batch *b, int32_t tok, int32_t seq, bool want) {
    b->tok[b->n] = tok; b->seq[b->n] = seq; b->want[b->n] = want; b->n++;
}

static void check_model(const char *rel, int max_prompt, int steps) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", test_root(), rel);
    pl_llm *m = pl_llm_load_ex(path, &(pl_llm_params){.n_threads = 2, .n_ctx = 4096});
    CHECKF(m != NULL, "%s: %s", rel, pl_last_error());
    if (!m) return;
    int V = pl_llm_n_vocab(m);
    const int lens[NSEQ] = {5, 300, 17, 64, 150, 9, 231, 33};
    ref_seq *ref = calloc(NSEQ, sizeof *ref);
    uint64_t rng = 12345;
    for (int s = 0; s < NSEQ; s++) {
        ref[s].n_prompt = lens[s] * max_prompt / 300 > 4 ? lens[s] * max_prompt / 300 : 5;
        for (int i = 0; i < ref[s].n_prompt; i++) { rng = rng * 6364136223846793005ull + 1442695040888963407ull; ref[s].prompt[i] = (int32_t)((rng >> 33) % V); }
        ref[s].logits = malloc((size_t)(steps + 1) * V * sizeof(float));
        run_alone(m, &ref[s], steps);
    }
    CHECK(m->cache->n_used == 0); /* removing every sequence freed every cell */

    /* together: sequences 0-3 prefilled, then their first decode tokens beside the prompts of 4-7 */
    int id[NSEQ];
    for (int s = 0; s < NSEQ; s++) id[s] = pl_llm_seq_new(m);
    float *out = malloc((size_t)(NSEQ + 1) * V * sizeof(float)), *first[NSEQ];
    batch *b = calloc(1, sizeof *b);
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < ref[s].n_prompt; i++) push(b, ref[s].prompt[i], id[s], i == ref[s].n_prompt - 1);
    CHECK(pl_llm_decode(m, &(pl_llm_batch){b->n, b->tok, b->seq, b->want}, out) == PL_OK);
    double worst = 0;
    for (int s = 0; s < 4; s++) worst = fmax(worst, max_abs_diff(out + (int64_t)s * V, ref[s].logits, V));
    b->n = 0;
    for (int s = 0; s < NSEQ; s++) {
        if (s < 4) push(b, ref[s].tok[0], id[s], true);
        else for (int i = 0; i < ref[s].n_prompt; i++) push(b, ref[s].prompt[i], id[s], i == ref[s].n_prompt - 1);
    }
    CHECK(pl_llm_decode(m, &(pl_llm_batch){b->n, b->tok, b->seq, b->want}, out) == PL_OK);
    for (int s = 0; s < NSEQ; s++) { /* rows: 0-3 after their first token, 4-7 after their prompts */
        first[s] = out + (int64_t)s * V;
        worst = fmax(worst, max_abs_diff(first[s], ref[s].logits + (int64_t)(s < 4) * V, V));
        CHECK(argmax(first[s], V) == ref[s].tok[s < 4]);
    }
    /* then all together, greedy; 4-7 are one token behind 0-3. Mid-way: seq 2 forks (the child gets the
     * parent's tokens and must give its logits), seq 5 is removed and its cells freed */
    int child = -1, done[NSEQ] = {1, 1, 1, 1, 0, 0, 0, 0};
    bool removed5 = false;
    for (int t = 0; t < steps; t++) {
        if (t == steps / 4) { child = pl_llm_seq_fork(m, id[2]); CHECK(child >= 0 && pl_llm_seq_len(m, child) == pl_llm_seq_len(m, id[2])); }
        if (t == steps / 2) {
            int used = m->cache->n_used, len5 = pl_llm_seq_len(m, id[5]);
            CHECK(pl_llm_seq_remove(m, id[5]) == PL_OK);
            CHECK(m->cache->n_used == used - len5);
            removed5 = true;
        }
        b->n = 0;
        int who[NSEQ + 1], nw = 0;
        for (int s = 0; s < NSEQ; s++) {
            if ((s == 5 && removed5) || done[s] >= steps) continue;
            push(b, ref[s].tok[done[s]], id[s], true);
            who[nw++] = s;
        }
        if (child >= 0 && done[2] < steps) { push(b, ref[2].tok[done[2]], child, true); who[nw++] = -1; }
        if (!b->n) break;
        CHECK(pl_llm_decode(m, &(pl_llm_batch){b->n, b->tok, b->seq, b->want}, out) == PL_OK);
        for (int i = 0; i < nw; i++) {
            int s = who[i] < 0 ? 2 : who[i];
            const float *want = ref[s].logits + (int64_t)(done[s] + 1) * V;
            worst = fmax(worst, max_abs_diff(out + (int64_t)i * V, want, V));
            if (done[s] + 1 <= steps - 1 || who[i] < 0) CHECK(argmax(out + (int64_t)i * V, V) == argmax(want, V));
        }
        for (int i = 0; i < nw; i++) if (who[i] >= 0) done[who[i]]++;
    }
    CHECKF(worst <= 1e-5, "%s: batched logits differ from alone by %.3g", rel, worst);
    printf("%-34s %d sequences (prompts %d..%d) x %d steps: max |batched - alone| %.2g\n", rel, NSEQ, ref[0].n_prompt,
           ref[1].n_prompt, steps, worst);

    /* bad batches: nothing changes */
    int used = m->cache->n_used, len0 = pl_llm_seq_len(m, id[0]);
    int32_t tok = 1, bad_seq = 63;
    CHECK(pl_llm_decode(m, &(pl_llm_batch){1, &tok, &bad_seq, NULL}, out) < 0 && strstr(pl_last_error(), "does not exist"));
    tok = V;
    CHECK(pl_llm_decode(m, &(pl_llm_batch){1, &tok, &id[0], NULL}, out) < 0 && strstr(pl_last_error(), "vocabulary"));
    CHECK(pl_llm_seq_fork(m, id[5]) < 0 && strstr(pl_last_error(), "does not exist"));
    CHECK(m->cache->n_used == used && pl_llm_seq_len(m, id[0]) == len0);
    /* truncation frees cells and the sequence continues from there as it did */
    CHECK(pl_llm_seq_truncate(m, id[3], ref[3].n_prompt) == PL_OK && pl_llm_seq_len(m, id[3]) == ref[3].n_prompt);
    CHECK(pl_llm_decode(m, &(pl_llm_batch){1, &ref[3].tok[0], &id[3], NULL}, out) == PL_OK);
    CHECK_NEAR(max_abs_diff(out, ref[3].logits + V, V), 0, 1e-5);

    for (int s = 0; s < NSEQ; s++) free(ref[s].logits);
    free(ref); free(out); free(b);
    pl_llm_free(m);
}

/* a full cache refuses a batch and keeps what it held; removing a sequence makes room again */
static void check_full_cache(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/lm/llama", test_root());
    pl_llm *m = pl_llm_load_ex(path, &(pl_llm_params){.n_threads = 1, .n_ctx = 16});
    CHECKF(m != NULL, "%s", pl_last_error());
    if (!m) return;
    int32_t tok[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, seq[12];
    int a = pl_llm_seq_new(m), b = pl_llm_seq_new(m);
    for (int i = 0; i < 12; i++) seq[i] = a;
    CHECK(pl_llm_decode(m, &(pl_llm_batch){12, tok, seq, NULL}, NULL) == PL_OK);
    for (int i = 0; i < 6; i++) seq[i] = b;
    CHECK(pl_llm_decode(m, &(pl_llm_batch){6, tok, seq, NULL}, NULL) < 0 && strstr(pl_last_error(), "full"));
    CHECK(pl_llm_seq_len(m, a) == 12 && pl_llm_seq_len(m, b) == 0 && m->cache->n_used == 12);
    CHECK(pl_llm_seq_remove(m, a) == PL_OK && m->cache->n_used == 0);
    CHECK(pl_llm_decode(m, &(pl_llm_batch){6, tok, seq, NULL}, NULL) == PL_OK && pl_llm_seq_len(m, b) == 6);
    pl_llm_free(m);
}

/* q8_0 weights: each sequence prefilled on its own, then 8 decoded together, give bit for bit the logits of the
 * same steps alone (the matmul kernels' results do not depend on the other rows of a batch); and a model loaded
 * without packed rows (pl_llm_params.no_pack) gives the packed one's bits, prefill and decode (with AVX-512 VNNI,
 * whose packed kernel sums in its own order: within 1e-4) */
static void check_q8_bitwise(void) {
    char in[4096], out[256];
    snprintf(in, sizeof in, "%s/tests/golden/lm/llama/model.gguf", test_root());
    snprintf(out, sizeof out, "/tmp/plinth_kv_q8_%d.gguf", (int)getpid());
    CHECKF(pl_quantize_file(in, out, pl_quant_target_find("Q8_0"), &(pl_quant_opts){.n_threads = 1}, NULL) == PL_OK, "%s", pl_last_error());
    pl_llm *m = pl_llm_load_ex(out, &(pl_llm_params){.n_threads = 2, .n_ctx = 1024});
    pl_llm *plain = pl_llm_load_ex(out, &(pl_llm_params){.n_threads = 2, .n_ctx = 1024, .no_pack = true});
    pl_llm *f32 = pl_llm_load_ex(in, &(pl_llm_params){.n_threads = 2, .n_ctx = 1024}); /* the model before quantizing */
    CHECKF(m != NULL && plain != NULL && f32 != NULL, "%s", pl_last_error());
    if (!m || !plain || !f32) { pl_llm_free(m); pl_llm_free(plain); pl_llm_free(f32); remove(out); return; }
    CHECK(!plain->layers[0].wq->packed && !plain->output->packed);
    CHECK(!pl_vec_dot_r8p(PL_Q8_0) || (m->layers[0].wq->packed && m->layers[0].ffn_down->packed && m->output->packed));
    const int V = pl_llm_n_vocab(m), steps = 12;
    int id[NSEQ];
    int32_t tok[NSEQ][steps + 1];
    float *alone = malloc((size_t)NSEQ * steps * V * sizeof(float)), *together = malloc((size_t)NSEQ * V * sizeof(float));
    /* AVX2's packed kernel has the unpacked kernels' bits; AVX-512 VNNI's its own (within rounding of theirs) */
    const bool pack_exact = !pl_vec_dot_r8p(PL_Q8_0) || pl_vec_dot_r8(PL_Q8_0);
    double pack_diff = 0, quant_diff = 0;
    bool pack_argmax = true;
    for (int pass = 0; pass < 4; pass++) {
        pl_llm *mm = pass == 2 ? plain : pass == 3 ? f32 : m; /* pass 2: the unpacked model, 3: f32, one sequence at a time */
        bool same = true;
        for (int s = 0; s < NSEQ; s++) { /* prefill alone in every pass: prompts of 3 .. 45 tokens */
            id[s] = pl_llm_seq_new(mm);
            int32_t p[64], sq[64];
            int n = 3 + 6 * s;
            for (int i = 0; i < n; i++) p[i] = (int32_t)((s * 31 + i * 7) % V), sq[i] = id[s];
            CHECK(pl_llm_decode(mm, &(pl_llm_batch){n, p, sq, NULL}, NULL) == PL_OK);
            tok[s][0] = (int32_t)(s * 5 % V);
        }
        for (int t = 0; t < steps; t++) {
            if (pass == 0) /* one sequence at a time */
                for (int s = 0; s < NSEQ; s++) {
                    float *l = alone + ((size_t)s * steps + t) * V;
                    CHECK(pl_llm_decode(m, &(pl_llm_batch){1, &tok[s][t], &id[s], NULL}, l) == PL_OK);
                    tok[s][t + 1] = argmax(l, V);
                }
            else if (pass >= 2)
                for (int s = 0; s < NSEQ; s++) {
                    CHECK(pl_llm_decode(mm, &(pl_llm_batch){1, &tok[s][t], &id[s], NULL}, together) == PL_OK);
                    const float *want = alone + ((size_t)s * steps + t) * V;
                    if (pass == 2 && pack_exact) same &= !memcmp(together, want, (size_t)V * sizeof(float));
                    for (int i = 0; i < V; i++) {
                        double *d = pass == 2 ? &pack_diff : &quant_diff;
                        *d = fmax(*d, fabs(together[i] - want[i]));
                    }
                    if (pass == 2) pack_argmax &= argmax(together, V) == argmax(want, V);
                }
            else { /* all together */
                int32_t bt[NSEQ];
                for (int s = 0; s < NSEQ; s++) bt[s] = tok[s][t];
                CHECK(pl_llm_decode(m, &(pl_llm_batch){NSEQ, bt, id, NULL}, together) == PL_OK);
                for (int s = 0; s < NSEQ; s++) same &= !memcmp(together + (size_t)s * V, alone + ((size_t)s * steps + t) * V, (size_t)V * sizeof(float));
            }
        }
        if (pass == 1) CHECKF(same, "q8_0: 8 sequences decoded together differ from each decoded alone");
        if (pass == 2) CHECKF(same && pack_argmax, "q8_0: the model without packed rows differs from the packed one");
        if (pass == 3) { /* where the bits differ, by less than quantizing moved the logits (activations are q8_0 too,
                          * so a rounding apart in a sum can move an activation's code by one) */
            printf("q8_0: packed / unpacked rows max |difference| %.3g (the same greedy tokens: %s); q8_0 / f32 %.3g\n", pack_diff,
                   pack_argmax ? "yes" : "no", quant_diff);
            CHECKF(pack_diff <= 0.5 * quant_diff, "q8_0: packed and unpacked rows differ by %.3g, quantizing moved the logits %.3g",
                   pack_diff, quant_diff);
        }
        for (int s = 0; s < NSEQ; s++) pl_llm_seq_remove(mm, id[s]);
    }
    free(alone); free(together);
    pl_llm_free(m);
    pl_llm_free(plain);
    pl_llm_free(f32);
    remove(out);
}

/* a decode step over a long context (its keys cut into chunks, merged by their log-sum-exps; one chunk is 128 keys)
 * gives the logits the last row of a prefill of the same tokens gets (one-row matrix products over all keys) */
static void check_long_decode(const char *rel) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", test_root(), rel);
    pl_llm *m = pl_llm_load_ex(path, &(pl_llm_params){.n_threads = 2, .n_ctx = 2 * 1400});
    CHECKF(m != NULL, "%s: %s", rel, pl_last_error());
    if (!m) return;
    const int V = pl_llm_n_vocab(m), lens[] = {127, 129, 513, 1025, 1300};
    int32_t *tok = malloc(1300 * sizeof *tok), *sq = malloc(1300 * sizeof *sq);
    bool *want = calloc(1300, sizeof *want);
    float *a = malloc((size_t)V * sizeof(float)), *b = malloc((size_t)V * sizeof(float));
    for (int i = 0; i < 1300; i++) tok[i] = (int32_t)((i * 7919 + 13) % V);
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        const int L = lens[k], s1 = pl_llm_seq_new(m), s2 = pl_llm_seq_new(m);
        for (int i = 0; i < L; i++) sq[i] = s1, want[i] = i == L - 1;
        CHECK(pl_llm_decode(m, &(pl_llm_batch){L, tok, sq, want}, a) == PL_OK);
        for (int i = 0; i < L; i++) sq[i] = s2;
        CHECK(pl_llm_decode(m, &(pl_llm_batch){L - 1, tok, sq, NULL}, NULL) == PL_OK);
        CHECK(pl_llm_decode(m, &(pl_llm_batch){1, &tok[L - 1], &s2, NULL}, b) == PL_OK);
        const double d = max_abs_diff(a, b, V);
        CHECKF(d <= 1e-4, "%s: decode after %d tokens differs from the prefill's last row by %.3g", rel, L - 1, d);
        pl_llm_seq_remove(m, s1), pl_llm_seq_remove(m, s2);
    }
    free(tok), free(sq), free(want), free(a), free(b);
    pl_llm_free(m);
}

/* pl_llm_eval of a long run goes PL_LLM_UBATCH tokens a pass: every position's logits as one batch of all the
 * tokens gives them (within rounding: the passes' products have other sizes). (The point is the step's memory,
 * bounded by one pass: SmolLM2-135M's 2048-token prompt 3.0 GB peak RSS in one batch, 0.97 GB by passes.) */
static void check_eval_ubatch(const char *rel) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", test_root(), rel);
    enum { L = 1300 };
    pl_llm *m = pl_llm_load_ex(path, &(pl_llm_params){.n_threads = 2, .n_ctx = 2 * L});
    CHECKF(m != NULL, "%s: %s", rel, pl_last_error());
    if (!m) return;
    const int V = pl_llm_n_vocab(m);
    int32_t *tok = malloc(L * sizeof *tok), *sq = malloc(L * sizeof *sq);
    float *a = malloc((size_t)L * V * sizeof(float)), *b = malloc((size_t)L * V * sizeof(float));
    uint32_t x = 12345;
    for (int i = 0; i < L; i++) x = x * 1103515245u + 12345u, tok[i] = (int32_t)((x >> 16) % (uint32_t)V); /* no period of 512 */
    CHECK(pl_llm_eval(m, tok, L, 0, a, true) == PL_OK);
    const int s = pl_llm_seq_new(m);
    for (int i = 0; i < L; i++) sq[i] = s;
    CHECK(pl_llm_decode(m, &(pl_llm_batch){L, tok, sq, NULL}, b) == PL_OK);
    const double d = max_abs_diff(a, b, (int64_t)L * V);
    CHECKF(d <= 1e-4, "%s: %d tokens by passes of %d differ from one batch by %.3g", rel, L, PL_LLM_UBATCH, d);
    free(tok), free(sq), free(a), free(b);
    pl_llm_free(m);
}

/* A server's batch (rows_apart): prompt chunks of four sequences (64 tokens, past the size where the matrix
 * products would switch to the dequantize + GEMM or BLAS path) beside other sequences' decode tokens give every
 * wanted row the bits it gets in a batch of its own; without the flag the same batch takes that other path and
 * its bits differ (so this check can fail). f32 weights and q8_0 weights. */
static void check_rows_apart(const char *model, bool q8) {
    char in[4096], out[256];
    snprintf(in, sizeof in, "%s/%s%s", test_root(), model, q8 ? "/model.gguf" : "");
    snprintf(out, sizeof out, "/tmp/plinth_kv_apart_%d.gguf", (int)getpid());
    if (q8) CHECKF(pl_quantize_file(in, out, pl_quant_target_find("Q8_0"), &(pl_quant_opts){.n_threads = 1}, NULL) == PL_OK, "%s", pl_last_error());
    pl_llm *m = pl_llm_load_ex(q8 ? out : in, &(pl_llm_params){.n_threads = 2, .n_ctx = 1024});
    CHECKF(m != NULL, "%s", pl_last_error());
    if (!m) { remove(out); return; }
    enum { NP = 12, ND = 3, C = 16 }; /* 195 tokens: past the dot path of packed q8_0 (matmul.c DEQ_MIN_N_R8W) */
    const int V = pl_llm_n_vocab(m);
    float *alone = malloc((size_t)(NP + ND) * V * sizeof(float)), *mixed = malloc((size_t)(NP + ND) * V * sizeof(float));
    int32_t tok[NP * C + ND], seq[NP * C + ND];
    bool want[NP * C + ND];
    for (int pass = 0; pass < 3; pass++) { /* 0: each alone; 1: one batch, rows_apart; 2: one batch, without */
        int id[NP + ND], n = 0;
        for (int s = 0; s < NP + ND; s++) {
            id[s] = pl_llm_seq_new(m);
            if (s >= NP) { /* a decoding sequence: a short prompt read first, alone */
                int32_t p[5], sq[5];
                for (int i = 0; i < 5; i++) p[i] = (int32_t)((s * 13 + i * 3) % V), sq[i] = id[s];
                CHECK(pl_llm_decode(m, &(pl_llm_batch){5, p, sq, NULL, .rows_apart = true}, NULL) == PL_OK);
            }
        }
        for (int s = 0; s < NP + ND; s++) {
            int k = s < NP ? C : 1;
            for (int i = 0; i < k; i++, n++) tok[n] = (int32_t)((s * 31 + i * 7 + 1) % V), seq[n] = id[s], want[n] = i == k - 1;
        }
        if (pass == 0)
            for (int s = 0, o = 0; s < NP + ND; s++) {
                int k = s < NP ? C : 1;
                CHECK(pl_llm_decode(m, &(pl_llm_batch){k, tok + o, seq + o, want + o, .rows_apart = true},
                                    alone + (size_t)s * V) == PL_OK);
                o += k;
            }
        else {
            CHECK(pl_llm_decode(m, &(pl_llm_batch){n, tok, seq, want, .rows_apart = pass == 1}, mixed) == PL_OK);
            bool same = !memcmp(alone, mixed, (size_t)(NP + ND) * V * sizeof(float));
            if (pass == 1) CHECKF(same, "%s%s: a mixed batch of %d tokens changed a sequence's logits", model, q8 ? " (q8_0)" : "", n);
            else CHECKF(!same, "%s%s: without rows_apart the batch of %d tokens should take another path", model, q8 ? " (q8_0)" : "", n);
        }
        for (int s = 0; s < NP + ND; s++) pl_llm_seq_remove(m, id[s]);
    }
    free(alone); free(mixed);
    pl_llm_free(m);
    remove(out);
}

/* A prompt read several chunks a batch (chunk 16): the cell map cuts its run at positions 16 and 32 (three runs of
 * queries, each seeing the keys up to its own last position), and the logits of each chunk's last token equal
 * those of the same prompt read a chunk a batch, bit for bit, beside another sequence's decode token. */
static void check_chunked_runs(const char *model) {
    pl_ctx *w = pl_ctx_new(NULL), *step = pl_ctx_new(NULL);
    pl_kv_cache *c = pl_kv_cache_new(w, 1, 4, 1, 128, PL_F32);
    CHECK(c != NULL);
    if (c) {
        int a = pl_kv_seq_new(c), b = pl_kv_seq_new(c);
        int32_t seq[46], pos[46];
        for (int i = 0; i < 46; i++) seq[i] = i < 45 ? a : b;
        pl_tensor *map = pl_kv_place(c, step, seq, 46, pos, 16);
        CHECK(map != NULL);
        if (map) {
            const int32_t *mp = map->data, *rec = mp + 2 + 46;
            CHECK(mp[0] == 46 && mp[1] == 4);
            const int want[4][3] = {{0, 16, 0}, {16, 16, 16}, {32, 13, 32}, {45, 1, 0}};
            for (int r = 0; r < 4; r++) CHECK(rec[4 * r] == want[r][0] && rec[4 * r + 1] == want[r][1] && rec[4 * r + 2] == want[r][2]);
        }
        pl_kv_cache_free(c);
    }
    pl_ctx_free(step);
    pl_ctx_free(w);

    char path[4096];
    snprintf(path, sizeof path, "%s/%s", test_root(), model);
    pl_llm *m = pl_llm_load_ex(path, &(pl_llm_params){.n_threads = 2, .n_ctx = 512});
    CHECKF(m != NULL, "%s", pl_last_error());
    if (!m) return;
    const int V = pl_llm_n_vocab(m), P = 45;
    float *alone = malloc((size_t)4 * V * sizeof(float)), *mixed = malloc((size_t)4 * V * sizeof(float));
    int32_t tok[P + 1], sq[P + 1];
    bool want[P + 1];
    for (int pass = 0; pass < 2; pass++) {
        int a = pl_llm_seq_new(m), b = pl_llm_seq_new(m);
        int32_t bp[3] = {7, 8, 9}, bs[3] = {b, b, b};
        CHECK(pl_llm_decode(m, &(pl_llm_batch){3, bp, bs, NULL, .rows_apart = true, .chunk = 16}, NULL) == PL_OK);
        for (int i = 0; i < P; i++) tok[i] = (int32_t)((i * 11 + 3) % V), sq[i] = a, want[i] = i == 15 || i == 31 || i == P - 1;
        tok[P] = 5, sq[P] = b, want[P] = true;
        if (pass == 0) {
            for (int c0 = 0, k = 0; c0 < P; c0 += 16, k++) {
                int n = P - c0 < 16 ? P - c0 : 16;
                CHECK(pl_llm_decode(m, &(pl_llm_batch){n, tok + c0, sq + c0, want + c0, .rows_apart = true, .chunk = 16},
                                    alone + (size_t)k * V) == PL_OK);
            }
            CHECK(pl_llm_decode(m, &(pl_llm_batch){1, tok + P, sq + P, want + P, .rows_apart = true, .chunk = 16}, alone + (size_t)3 * V) == PL_OK);
        } else {
            CHECK(pl_llm_decode(m, &(pl_llm_batch){P + 1, tok, sq, want, .rows_apart = true, .chunk = 16}, mixed) == PL_OK);
            CHECKF(!memcmp(alone, mixed, (size_t)4 * V * sizeof(float)), "%s: three chunks in one batch differ from a chunk a batch", model);
        }
        pl_llm_seq_remove(m, a);
        pl_llm_seq_remove(m, b);
    }
    free(alone); free(mixed);
    pl_llm_free(m);
}

int main(void) {
    check_full_cache();
    check_long_decode("tests/golden/lm/llama");
    check_long_decode("tests/golden/train/gemma3"); /* sliding-window layers */
    check_eval_ubatch("tests/golden/lm/llama");
    check_q8_bitwise();
    check_rows_apart("tests/golden/lm/llama", true);
    check_rows_apart("tests/golden/lm/llama", false);
    check_chunked_runs("tests/golden/lm/llama");
    check_chunked_runs("tests/golden/train/gemma3"); /* sliding-window layers */
    check_model("tests/golden/lm/llama", 300, test_fast() ? 16 : STEPS);
    check_model("tests/golden/train/gemma3", 300, test_fast() ? 16 : STEPS);  /* sliding-window layers */
    check_model("tests/golden/lm/qwen2", 120, 16);
    check_model("tests/golden/train/gpt2", 30, 16);                           /* 64 learned positions */
    TEST_DONE();
}
