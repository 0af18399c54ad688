/* Word2Vec: a corpus with a planted structure (pairs of words that occur in exactly the same contexts) whose
 * pairs the trained vectors must recover, bit-for-bit determinism with one thread and a seed, the AVX2 kernel
 * against the scalar one, the tokenizer's words, vector files round-tripped in both formats, the queries on a
 * hand-made table, and bad input (empty or binary text, an empty vocabulary, truncated or mis-dimensioned
 * vector files) failing with a clear message. */
#include "core/common.h"
#include "core/cpu.h"
#include "test.h"
#include "word2vec/kernels.h"
#include "word2vec/plot.h"
#include "word2vec/query.h"
#include "word2vec/train.h"

#include <unistd.h>

static uint64_t g_rng = 12345;
static uint32_t rnd(uint32_t n) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((g_rng >> 33) % n);
}

/* K groups; group i has the interchangeable pair x_i / y_i and the context words l_i, r_i. A sentence is a
 * run of units "l_i (x_i or y_i) r_i" of random groups: x_i and y_i never meet, but share every context. */
#define K 30
static char *planted_corpus_shifted(size_t *len, int shift) {
    size_t cap = 1 << 20, n = 0;
    char *s = malloc(cap);
    for (int sent = 0; sent < 1200; sent++) {
        for (int u = 0; u < 6; u++) {
            int i = (int)rnd(K), y = (int)rnd(2), g = y ? (i + shift) % K : i; /* y_i's contexts: group i + shift */
            n += (size_t)snprintf(s + n, cap - n, "l%d %c%d r%d ", g, y ? 'y' : 'x', i, g);
        }
        n += (size_t)snprintf(s + n, cap - n, "\n\n");
    }
    *len = n;
    return s;
}

static char *planted_corpus(size_t *len) { return planted_corpus_shifted(len, 0); }

static char g_path[256];
static const char *tmp_path(const char *name) {
    snprintf(g_path, sizeof g_path, "/tmp/plinth_test_w2v_%ld_%s", (long)getpid(), name);
    return g_path;
}

static int train_text(const char *text, size_t len, const pl_w2v_params *p, int min_count, pl_w2v_vectors **out) {
    pl_w2v_vocab v;
    pl_w2v_corpus c;
    int rc = pl_w2v_build(text, len, NULL, min_count, &v, &c);
    if (rc) return rc;
    rc = pl_w2v_train(&v, &c, p, out, NULL);
    pl_w2v_vocab_free(&v);
    pl_w2v_corpus_free(&c);
    return rc;
}

/* How many of the 2K pair words have their partner as nearest neighbour. */
static int pairs_recovered(const pl_w2v_vectors *t) {
    float *unit = pl_w2v_unit_rows(t);
    int ok = 0;
    for (int i = 0; i < K; i++)
        for (int side = 0; side < 2; side++) {
            char w[16], partner[16];
            snprintf(w, sizeof w, "%c%d", side ? 'y' : 'x', i);
            snprintf(partner, sizeof partner, "%c%d", side ? 'x' : 'y', i);
            int32_t id = pl_w2v_vectors_find(t, w), pid = pl_w2v_vectors_find(t, partner);
            pl_w2v_hit h;
            if (id >= 0 && pl_w2v_similar(t, unit, id, 1, &h) == 1 && h.id == pid) ok++;
        }
    free(unit);
    return ok;
}

static void test_planted(void) {
    size_t len;
    char *text = planted_corpus(&len);
    struct { pl_w2v_arch arch; bool hs; int negative; const char *name; } cfg[] = {
        {PL_W2V_SKIPGRAM, false, 5, "skip-gram + negative sampling"},
        {PL_W2V_CBOW, false, 5, "CBOW + negative sampling"},
        {PL_W2V_SKIPGRAM, true, 0, "skip-gram + hierarchical softmax"},
        {PL_W2V_CBOW, true, 0, "CBOW + hierarchical softmax"},
    };
    for (size_t c = 0; c < PL_ARRAY_LEN(cfg); c++) {
        pl_w2v_params p = pl_w2v_default_params();
        p.arch = cfg[c].arch, p.hs = cfg[c].hs, p.negative = cfg[c].negative;
        p.dim = 24, p.window = 2, p.sample = 0, p.epochs = 5, p.threads = 1, p.seed = 3;
        pl_w2v_vectors *t = NULL;
        CHECK(train_text(text, len, &p, 1, &t) == PL_OK);
        if (!t) continue;
        CHECK(t->n == 4 * K);
        int ok = pairs_recovered(t);
        printf("%s: %d of %d pair words have their partner as nearest neighbour\n", cfg[c].name, ok, 2 * K);
        CHECKF(ok >= 2 * K * 9 / 10, "%s: only %d of %d", cfg[c].name, ok, 2 * K);
        pl_w2v_vectors_free(t);
    }
    free(text);
    /* the control: y_i moved to the contexts of group i + 1, so x_i's partner in use is y_(i-1): the same
     * training must then find (almost) no x_i / y_i pair */
    text = planted_corpus_shifted(&len, 1);
    pl_w2v_params p = pl_w2v_default_params();
    p.arch = PL_W2V_SKIPGRAM, p.dim = 24, p.window = 2, p.sample = 0, p.epochs = 5, p.threads = 1, p.seed = 3;
    pl_w2v_vectors *t = NULL;
    CHECK(train_text(text, len, &p, 1, &t) == PL_OK);
    if (t) {
        int ok = pairs_recovered(t);
        printf("control (pairs in different contexts): %d of %d\n", ok, 2 * K);
        CHECKF(ok <= 2 * K / 10, "control: %d of %d", ok, 2 * K);
    }
    pl_w2v_vectors_free(t);
    free(text);
}

static void test_deterministic(void) {
    size_t len;
    char *text = planted_corpus(&len);
    pl_w2v_params p = pl_w2v_default_params();
    p.arch = PL_W2V_SKIPGRAM, p.dim = 16, p.window = 3, p.epochs = 2, p.threads = 1, p.seed = 7, p.sample = 1e-2;
    pl_w2v_vectors *a = NULL, *b = NULL, *c = NULL;
    CHECK(train_text(text, len, &p, 1, &a) == PL_OK);
    CHECK(train_text(text, len, &p, 1, &b) == PL_OK);
    p.seed = 8;
    CHECK(train_text(text, len, &p, 1, &c) == PL_OK);
    if (a && b && c) {
        size_t bytes = (size_t)a->n * a->dim * sizeof(float);
        CHECK(a->n == b->n && !memcmp(a->v, b->v, bytes));
        CHECK(memcmp(a->v, c->v, bytes) != 0);
        bool finite = true;
        for (size_t i = 0; i < (size_t)a->n * a->dim; i++) finite &= isfinite(a->v[i]);
        CHECK(finite);
    }
    /* two threads: Hogwild, not reproducible bit for bit, but it still learns the pairs */
    p.threads = 2, p.epochs = 5, p.sample = 0, p.dim = 24, p.window = 2;
    pl_w2v_vectors *d = NULL;
    CHECK(train_text(text, len, &p, 1, &d) == PL_OK);
    if (d) CHECKF(pairs_recovered(d) >= 2 * K * 9 / 10, "2 threads: %d of %d", pairs_recovered(d), 2 * K);
    pl_w2v_vectors_free(a); pl_w2v_vectors_free(b); pl_w2v_vectors_free(c); pl_w2v_vectors_free(d);
    free(text);
}

static void test_kernels(void) {
    const w2v_kernels *ref = w2v_kernels_scalar(), *fast = w2v_kernels_get();
    printf("kernel: %s\n", fast->name);
    enum { S = 104, ROWS = 50 };
    float sig[W2V_SIG_N + 1], l1[S], e1[S] = {0}, e2[S] = {0}, syn_a[ROWS * S], syn_b[ROWS * S];
    w2v_sigmoid_table(sig);
    CHECK_NEAR(sig[W2V_SIG_N / 2], 0.5, 1e-6);
    for (int i = 0; i < S; i++) l1[i] = i < 100 ? (float)((int)rnd(2001) - 1000) / 1000.0f : 0;
    for (int i = 0; i < ROWS * S; i++) syn_a[i] = syn_b[i] = (i % S) < 100 ? (float)((int)rnd(2001) - 1000) / 4000.0f : 0;
    int32_t rows[6] = {3, 17, 3, 42, 0, 49};
    float labels[6] = {1, 0, 0, 0, 1, 0};
    for (int clamp = 0; clamp < 2; clamp++) {
        ref->update(l1, e1, syn_a, rows, labels, 6, 0.05f, S, sig, clamp);
        fast->update(l1, e2, syn_b, rows, labels, 6, 0.05f, S, sig, clamp);
    }
    float worst = 0;
    for (int i = 0; i < S; i++) worst = fmaxf(worst, fabsf(e1[i] - e2[i]));
    for (int i = 0; i < ROWS * S; i++) worst = fmaxf(worst, fabsf(syn_a[i] - syn_b[i]));
    CHECKF(worst < 1e-5f, "kernel %s vs scalar: max difference %g", fast->name, worst);
    bool pad = true;
    for (int i = 100; i < S; i++) pad &= e2[i] == 0 && syn_b[3 * S + i] == 0;
    CHECK(pad);
}

static void test_tokens(void) {
    const char *text = "Don't STOP, \xc3\x89lan\xe2\x80\x99s caf\xc3\xa9-au-lait!\n  \n"
                       "\xed\x95\x99\xea\xb5\x90\xec\x97\x90\xec\x84\x9c \xea\xb3\xb5\xeb\xb6\x80\xeb\xa5\xbc \xed\x96\x88\xeb\x8b\xa4. stop";
    pl_w2v_vocab v;
    pl_w2v_corpus c;
    CHECK(pl_w2v_build(text, strlen(text), NULL, 1, &v, &c) == PL_OK);
    const char *want[] = {"don't", "stop", "\xc3\xa9lan's", "caf\xc3\xa9", "au", "lait",
                          "\xed\x95\x99\xea\xb5\x90\xec\x97\x90\xec\x84\x9c" /* 학교에서: one eojeol */};
    for (size_t i = 0; i < PL_ARRAY_LEN(want); i++) CHECKF(w2v_strmap_get(&v.map, want[i]) >= 0, "missing '%s'", want[i]);
    CHECK(v.n == 9 && c.raw_tokens == 10 && c.n_tokens == 10);
    CHECK(v.counts[0] == 2 && !strcmp(v.words[0], "stop")); /* most frequent first */
    CHECK(c.n_sent == 2 && c.sent[1] == 6);                 /* the blank line ends the first sentence */
    pl_w2v_vocab_free(&v);
    pl_w2v_corpus_free(&c);
    char low[64];
    CHECK(pl_w2v_lower("\xc3\x89MMA", low, sizeof low) && !strcmp(low, "\xc3\xa9mma"));
}

static pl_w2v_vectors *small_table(void) {
    /* axes: person, royal, young, male, female, fruit; each word the sum of its two (lad: a bit of person) */
    static const char *w[] = {"man", "woman", "king", "queen", "boy", "girl", "apple", "lad"};
    static const float v[][6] = {{1, 0, 0, 1, 0, 0}, {1, 0, 0, 0, 1, 0}, {0, 1, 0, 1, 0, 0}, {0, 1, 0, 0, 1, 0},
                                 {0, 0, 1, 1, 0, 0}, {0, 0, 1, 0, 1, 0}, {0, 0, 0, 0, 0, 2}, {0.2f, 0, 1, 1, 0, 0}};
    pl_w2v_vectors *t = pl_w2v_vectors_new(8, 6);
    for (int i = 0; i < 8; i++) { t->words[i] = pl_strdup(w[i]); memcpy(t->v + 6 * i, v[i], sizeof v[i]); }
    CHECK(pl_w2v_vectors_index(t) == PL_OK);
    return t;
}

static void test_files(void) {
    size_t len;
    char *text = planted_corpus(&len);
    pl_w2v_params p = pl_w2v_default_params();
    p.dim = 10, p.epochs = 1, p.threads = 1;
    pl_w2v_vectors *t = NULL;
    CHECK(train_text(text, len, &p, 1, &t) == PL_OK);
    free(text);
    if (!t) return;
    for (int fmt = 0; fmt < 2; fmt++) {
        const char *path = tmp_path(fmt ? "rt.bin" : "rt.txt");
        CHECK(pl_w2v_save(t, path, (pl_w2v_format)fmt) == PL_OK);
        pl_w2v_vectors *u = pl_w2v_load(path);
        CHECKF(u != NULL, "load %s: %s", path, pl_last_error());
        if (u) {
            CHECK(u->n == t->n && u->dim == t->dim);
            bool same = !memcmp(u->v, t->v, (size_t)t->n * t->dim * sizeof(float)); /* %.9g round-trips */
            for (int32_t i = 0; i < t->n; i++) same &= !strcmp(u->words[i], t->words[i]);
            CHECKF(same, "%s round trip differs", fmt ? "binary" : "text");
            CHECK(pl_w2v_vectors_find(u, "x3") == pl_w2v_vectors_find(t, "x3"));
            pl_w2v_vectors_free(u);
        }
        remove(path);
    }
    pl_w2v_vectors_free(t);
}

static void test_queries(void) {
    pl_w2v_vectors *t = small_table();
    float *unit = pl_w2v_unit_rows(t);
    pl_w2v_hit h[3];
    int m = pl_w2v_analogy(t, unit, 0, 1, 2, 3, h); /* man : woman :: king : ? */
    CHECK(m == 3 && !strcmp(t->words[h[0].id], "queen"));
    m = pl_w2v_similar(t, unit, 4, 2, h);            /* boy: lad, then man (tied with girl, the lower row) */
    CHECK(m == 2 && h[0].id == 7 && h[0].score > 0.99f && h[1].id == 0 && fabsf(h[1].score - 0.5f) < 1e-6f);
    const char *q = ": family\nman woman king queen\nMAN WOMAN BOY GIRL\nman woman dog cat\n: other\nboy girl king apple\n";
    pl_w2v_eval e;
    CHECK(pl_w2v_eval_analogies(t, q, strlen(q), 0, &e) == PL_OK);
    CHECK(e.n_sec == 2 && e.sec[0].correct == 2 && e.sec[0].total == 2 && e.sec[0].skipped == 1);
    CHECK(e.sec[1].correct == 0 && e.sec[1].total == 1 && e.correct == 2 && e.total == 3 && e.skipped == 1);
    pl_w2v_eval_free(&e);
    CHECK(pl_w2v_eval_analogies(t, "man woman king\n", 15, 0, &e) != PL_OK && strstr(pl_last_error(), "line 1"));
    /* PCA: points on a line have all their variance on the first axis */
    float x[4 * 3] = {1, 2, 3, 2, 4, 6, 3, 6, 9, -1, -2, -3}, xy[8], var[2];
    CHECK(pl_w2v_pca2(x, 4, 3, xy, var) == PL_OK);
    CHECK_NEAR(var[0], 1, 1e-5);
    CHECK_NEAR(var[1], 0, 1e-5);
    CHECK_NEAR(xy[2] - xy[0], sqrtf(14), 1e-4);
    const char *labels[4] = {"a", "b<&>", "c", "d"};
    const char *svg = tmp_path("map.svg");
    CHECK(pl_w2v_svg(svg, labels, xy, 4, var) == PL_OK);
    size_t n;
    char *s = pl_read_file(svg, &n);
    CHECK(s && !strncmp(s, "<svg", 4) && strstr(s, "b&lt;&amp;&gt;") && strstr(s, "</svg>"));
    free(s);
    remove(svg);
    free(unit);
    pl_w2v_vectors_free(t);
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

static void expect_load_error(const char *what, const void *data, size_t n, const char *needle) {
    const char *path = tmp_path("bad.vec");
    write_file(path, data, n);
    pl_w2v_vectors *t = pl_w2v_load(path);
    CHECKF(!t && strstr(pl_last_error(), needle), "%s: loaded=%d, message '%s' lacks '%s'", what, t != NULL,
           pl_last_error(), needle);
    pl_w2v_vectors_free(t);
    remove(path);
}

static void test_bad_input(void) {
    pl_w2v_vocab v;
    pl_w2v_corpus c;
    CHECK(pl_w2v_build("", 0, NULL, 1, &v, &c) == PL_ERR_FORMAT && strstr(pl_last_error(), "empty"));
    CHECK(pl_w2v_build("PK\x03\x04\0\0\x01", 7, NULL, 1, &v, &c) == PL_ERR_FORMAT && strstr(pl_last_error(), "binary"));
    CHECK(pl_w2v_build("caf\xe9 au lait", 12, NULL, 1, &v, &c) == PL_ERR_FORMAT && strstr(pl_last_error(), "UTF-8"));
    CHECK(pl_w2v_build(" ,;. -- !\n\n", 11, NULL, 1, &v, &c) == PL_ERR_FORMAT && strstr(pl_last_error(), "no words"));
    const char *few = "the cat sat on the mat";
    CHECK(pl_w2v_build(few, strlen(few), NULL, 3, &v, &c) == PL_ERR_ARG &&
          strstr(pl_last_error(), "vocabulary is empty") && strstr(pl_last_error(), "'the'"));
    CHECK(pl_w2v_build(few, strlen(few), NULL, 2, &v, &c) == PL_OK && v.n == 1 && c.n_tokens == 2);
    pl_w2v_vocab_free(&v);
    pl_w2v_corpus_free(&c);
    pl_w2v_params p = pl_w2v_default_params();
    p.negative = 0, p.hs = false;
    pl_w2v_vectors *t = NULL;
    CHECK(train_text(few, strlen(few), &p, 1, &t) == PL_ERR_ARG && !t && strstr(pl_last_error(), "nothing to train"));

    const char good[] = "2 3\nab 1 2 3\ncd 4 5 6\n";
    const char *path = tmp_path("good.vec");
    write_file(path, good, sizeof good - 1);
    t = pl_w2v_load(path);
    CHECK(t && t->n == 2 && t->dim == 3 && t->v[5] == 6.0f);
    pl_w2v_vectors_free(t);
    remove(path);
    expect_load_error("empty file", "", 0, "empty");
    CHECK(!pl_w2v_load("/nonexistent/vectors.txt") && strstr(pl_last_error(), "/nonexistent/vectors.txt"));
    expect_load_error("text, truncated row", "2 3\nab 1 2 3\ncd 4 5", 19, "truncated");
    expect_load_error("text, rows missing", "3 3\nab 1 2 3\ncd 4 5 6\n", 22, "truncated");
    expect_load_error("text, wrong dimension", "2 4\nab 1 2 3\ncd 4 5 6\n", 22, "dimension is 4");
    expect_load_error("text, dimension too small", "2 2\nab 1 2 3\ncd 4 5 6\n", 22, "has 3 values");
    expect_load_error("text, not a number", "2 3\nab 1 2 3\ncd 4 x 6\n", 22, "not a number");
    expect_load_error("no header", "ab 1 2 3\ncd 4 5 6\n", 18, "header");
    expect_load_error("header of zeros", "0 0\n", 4, "header");
    expect_load_error("header with three numbers", "2 3 4\nab 1 2 3\n", 15, "header");
    /* binary */
    char bin[64];
    int n = sprintf(bin, "2 3\nab ");
    float r1[3] = {1, 2, 3}, r2[3] = {4, 5, 6};
    memcpy(bin + n, r1, 12); n += 12;
    n += sprintf(bin + n, "\ncd ");
    memcpy(bin + n, r2, 12); n += 12;
    bin[n++] = '\n';
    write_file(path, bin, (size_t)n);
    t = pl_w2v_load(path);
    CHECKF(t && t->n == 2 && t->v[4] == 5.0f && !strcmp(t->words[1], "cd"), "binary: %s", t ? "values" : pl_last_error());
    pl_w2v_vectors_free(t);
    remove(path);
    expect_load_error("binary, truncated", bin, (size_t)n - 6, "truncated");
    expect_load_error("binary, rows missing", bin, 4 + 3 + 12 + 1, "truncated");
    bin[2] = '2'; /* the header says dimension 2: the rows hold 3 floats */
    expect_load_error("binary, wrong dimension", bin, (size_t)n, "dimension");
}

int main(void) {
    test_kernels();
    test_tokens();
    test_planted();
    test_deterministic();
    test_files();
    test_queries();
    test_bad_input();
    TEST_DONE();
}
