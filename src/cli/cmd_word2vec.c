/* plinth word2vec: train word vectors (CBOW / skip-gram) and ask them questions (similar, analogy, eval,
 * plot). Parses options and prints; the work is in src/tasks/word2vec.c. */
#include "cli/args.h"
#include "cli/cli.h"
#include "tasks/word2vec.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig) { (void)sig; g_stop = 1; }

static void usage(FILE *f) {
    pl_w2v_train_opts d = pl_w2v_train_default_opts();
    fprintf(f,
        "usage: plinth word2vec train -f TEXT -o VECTORS [options]\n"
        "       plinth word2vec similar VECTORS WORD [-k 10]\n"
        "       plinth word2vec analogy VECTORS A B C [-k 5]      (B - A + C: \"A is to B as C is to ?\")\n"
        "       plinth word2vec eval VECTORS QUESTIONS [--limit N] (questions-words.txt format)\n"
        "       plinth word2vec plot VECTORS WORD WORD... -o MAP.svg (a 2-D PCA map)\n\n"
        "train options:\n"
        "  -f, --text FILE      UTF-8 training text; sentences end at blank lines\n"
        "  -o, --out FILE       vectors file: word2vec binary if it ends in .bin, else text (--binary, --text)\n"
        "  --arch cbow|skipgram CBOW predicts a word from its context, skip-gram the context from a word (default cbow)\n"
        "  --dim N              vector size (default %d)\n"
        "  --window N           context words on each side, at most (default %d)\n"
        "  --negative N         negative samples a word (default %d); --hs: hierarchical softmax instead\n"
        "  --min-count N        drop words seen fewer times (default %d)\n"
        "  --sample X           subsample words more frequent than X (default %g, 0 = off)\n"
        "  --epochs N           passes over the text (default %d)\n"
        "  --alpha X            start learning rate, decayed linearly to --min-alpha (default 0.05 cbow, 0.025 skip-gram)\n"
        "  --min-alpha X        end learning rate (default %g)\n"
        "  --tokenizer MODEL    words are this model's subword tokens (model dir, tokenizer.json or .gguf);\n"
        "                       default: lower-cased runs of letters and digits (for Korean: the eojeol)\n"
        "  --seed N             seed (default %llu); one thread and a seed give the same vectors every run\n"
        "  -t, --threads N      threads (default: physical cores)\n"
        "  -q, --quiet          no progress output\n",
        d.train.dim, d.train.window, d.train.negative, d.min_count, d.train.sample, d.train.epochs, d.train.min_alpha,
        (unsigned long long)d.train.seed);
}

static int w2v_train_cmd(int argc, char **argv) {
    pl_w2v_train_opts o = pl_w2v_train_default_opts();
    bool neg_set = false, hs = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        double x;
        bool ok = true;
#define INT(lo, hi, dst) (ok = arg_int(argc, argv, &i, lo, hi, &v)) && ((dst) = v, 1)
#define FLT(lo, hi, dst) (ok = arg_float(argc, argv, &i, lo, hi, &x)) && ((dst) = x, 1)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--text")) ok = arg_str(argc, argv, &i, &o.text_path);
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) ok = arg_str(argc, argv, &i, &o.out_path);
        else if (!strcmp(a, "--arch")) {
            const char *s = NULL;
            if ((ok = arg_str(argc, argv, &i, &s))) {
                if (!strcmp(s, "cbow")) o.train.arch = PL_W2V_CBOW;
                else if (!strcmp(s, "skipgram") || !strcmp(s, "skip-gram") || !strcmp(s, "sg")) o.train.arch = PL_W2V_SKIPGRAM;
                else { fprintf(stderr, "plinth word2vec: --arch is cbow or skipgram, not '%s'\n", s); return 2; }
            }
        }
        else if (!strcmp(a, "--dim") || !strcmp(a, "--size")) INT(1, 10000, o.train.dim);
        else if (!strcmp(a, "--window")) INT(1, 1000, o.train.window);
        else if (!strcmp(a, "--negative")) { INT(0, 100, o.train.negative); neg_set = true; }
        else if (!strcmp(a, "--hs")) hs = true;
        else if (!strcmp(a, "--min-count")) INT(1, 1LL << 40, o.min_count);
        else if (!strcmp(a, "--sample")) FLT(0, 1, o.train.sample);
        else if (!strcmp(a, "--epochs") || !strcmp(a, "--iter")) INT(1, 100000, o.train.epochs);
        else if (!strcmp(a, "--alpha")) FLT(1e-9, 10, o.train.alpha);
        else if (!strcmp(a, "--min-alpha")) FLT(0, 10, o.train.min_alpha);
        else if (!strcmp(a, "--tokenizer")) ok = arg_str(argc, argv, &i, &o.tokenizer);
        else if (!strcmp(a, "--binary")) o.format = PL_W2V_BINARY;
        else if (!strcmp(a, "--text-format")) o.format = PL_W2V_TEXT;
        else if (!strcmp(a, "--seed")) INT(0, 1LL << 62, o.train.seed);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) INT(1, 256, o.train.threads);
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o.quiet = true;
        else { fprintf(stderr, "plinth word2vec train: unknown option '%s' (see plinth word2vec --help)\n", a); return 2; }
        if (!ok) return 2;
#undef INT
#undef FLT
    }
    if (!o.text_path) { fprintf(stderr, "plinth word2vec train: no training text given (-f FILE)\n"); return 2; }
    if (!o.out_path) { fprintf(stderr, "plinth word2vec train: no output file given (-o VECTORS)\n"); return 2; }
    o.train.hs = hs;
    if (hs && !neg_set) o.train.negative = 0;
    if (!hs && !o.train.negative) { fprintf(stderr, "plinth word2vec train: --negative 0 needs --hs\n"); return 2; }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o.train.interrupt = &g_stop;
    int rc = pl_w2v_train_file(&o, NULL);
    if (rc == PL_OK) return 0;
    fprintf(stderr, "plinth word2vec train: %s\n", pl_last_error());
    return rc == PL_ERR_INTERRUPTED ? 130 : 1;
}

/* The positional arguments of a query (options -k, --limit and -o taken out); 2 on a usage error. */
static int query_args(int argc, char **argv, const char **pos, int *n_pos, int max_pos, long long *k,
                      long long *limit, const char **out) {
    *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if ((!strcmp(a, "-k") || !strcmp(a, "--top")) && k) { if (!arg_int(argc, argv, &i, 1, 100000, k)) return 2; }
        else if (!strcmp(a, "--limit") && limit) { if (!arg_int(argc, argv, &i, 0, 1LL << 31, limit)) return 2; }
        else if ((!strcmp(a, "-o") || !strcmp(a, "--out")) && out) { if (!arg_str(argc, argv, &i, out)) return 2; }
        else if (a[0] == '-' && a[1] && strcmp(a, "-")) {
            fprintf(stderr, "plinth word2vec %s: unknown option '%s'\n", argv[0], a);
            return 2;
        } else if (*n_pos == max_pos) {
            fprintf(stderr, "plinth word2vec %s: too many arguments (at '%s')\n", argv[0], a);
            return 2;
        } else pos[(*n_pos)++] = a;
    }
    return -1;
}

static int fail(const char *cmd) {
    fprintf(stderr, "plinth word2vec %s: %s\n", cmd, pl_last_error());
    return 1;
}

static void print_hits(const pl_w2v_space *s, const pl_w2v_hit *h, int n) {
    for (int i = 0; i < n; i++) printf("%-20s %.4f\n", s->t->words[h[i].id], h[i].score);
}

static int w2v_similar_cmd(int argc, char **argv) {
    const char *pos[2];
    int n;
    long long k = 10;
    int rc = query_args(argc, argv, pos, &n, 2, &k, NULL, NULL);
    if (rc >= 0) return rc;
    if (n != 2) { fprintf(stderr, "usage: plinth word2vec similar VECTORS WORD [-k 10]\n"); return 2; }
    pl_w2v_space *s = pl_w2v_space_open(pos[0]);
    if (!s) return fail("similar");
    pl_w2v_hit *h = calloc((size_t)k, sizeof *h);
    int m = h ? pl_w2v_task_similar(s, pos[1], (int)k, h) : PL_ERR_NOMEM;
    if (m >= 0) print_hits(s, h, m);
    else rc = fail("similar");
    free(h);
    pl_w2v_space_free(s);
    return m >= 0 ? 0 : rc;
}

static int w2v_analogy_cmd(int argc, char **argv) {
    const char *pos[4];
    int n;
    long long k = 5;
    int rc = query_args(argc, argv, pos, &n, 4, &k, NULL, NULL);
    if (rc >= 0) return rc;
    if (n != 4) { fprintf(stderr, "usage: plinth word2vec analogy VECTORS A B C [-k 5]   (B - A + C)\n"); return 2; }
    pl_w2v_space *s = pl_w2v_space_open(pos[0]);
    if (!s) return fail("analogy");
    pl_w2v_hit *h = calloc((size_t)k, sizeof *h);
    int m = h ? pl_w2v_task_analogy(s, pos[1], pos[2], pos[3], (int)k, h) : PL_ERR_NOMEM;
    if (m >= 0) {
        printf("%s : %s :: %s : ?\n", pos[1], pos[2], pos[3]);
        print_hits(s, h, m);
    } else rc = fail("analogy");
    free(h);
    pl_w2v_space_free(s);
    return m >= 0 ? 0 : rc;
}

static int w2v_eval_cmd(int argc, char **argv) {
    const char *pos[2];
    int n;
    long long limit = 300000;
    int rc = query_args(argc, argv, pos, &n, 2, NULL, &limit, NULL);
    if (rc >= 0) return rc;
    if (n != 2) { fprintf(stderr, "usage: plinth word2vec eval VECTORS QUESTIONS [--limit 300000]\n"); return 2; }
    pl_w2v_space *s = pl_w2v_space_open(pos[0]);
    if (!s) return fail("eval");
    pl_w2v_eval e;
    if (pl_w2v_task_eval(s, pos[1], (int32_t)limit, &e)) { pl_w2v_space_free(s); return fail("eval"); }
    printf("%-32s %9s %9s %9s\n", "section", "correct", "asked", "skipped");
    for (int i = 0; i < e.n_sec; i++) {
        const pl_w2v_section *x = &e.sec[i];
        printf("%-32s %9d %9d %9d", x->name, x->correct, x->total, x->skipped);
        if (x->total) printf("   %5.1f%%", 100.0 * x->correct / x->total);
        printf("\n");
    }
    printf("%-32s %9d %9d %9d", "total", e.correct, e.total, e.skipped);
    if (e.total) printf("   %5.1f%%", 100.0 * e.correct / e.total);
    printf("\n(asked: questions whose four words are among the %lld most frequent; skipped: the others)\n",
           limit > 0 && limit < s->t->n ? limit : (long long)s->t->n);
    pl_w2v_eval_free(&e);
    pl_w2v_space_free(s);
    return 0;
}

static int w2v_plot_cmd(int argc, char **argv) {
    const char **pos = calloc((size_t)argc, sizeof *pos), *out = NULL;
    int n;
    int rc = pos ? query_args(argc, argv, pos, &n, argc, NULL, NULL, &out) : 1;
    if (rc >= 0) { free(pos); return rc; }
    if (n < 3 || !out) {
        fprintf(stderr, "usage: plinth word2vec plot VECTORS WORD WORD... -o MAP.svg\n");
        free(pos);
        return 2;
    }
    pl_w2v_space *s = pl_w2v_space_open(pos[0]);
    float var[2];
    if (!s || pl_w2v_task_plot(s, pos + 1, n - 1, out, var)) rc = fail("plot");
    else {
        printf("wrote %s: %d words, PC1 %.1f%% and PC2 %.1f%% of their variance\n", out, n - 1, 100 * var[0], 100 * var[1]);
        rc = 0;
    }
    pl_w2v_space_free(s);
    free(pos);
    return rc;
}

int cmd_word2vec(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "train")) return w2v_train_cmd(argc - 1, argv + 1);
    if (!strcmp(sub, "similar")) return w2v_similar_cmd(argc - 1, argv + 1);
    if (!strcmp(sub, "analogy")) return w2v_analogy_cmd(argc - 1, argv + 1);
    if (!strcmp(sub, "eval")) return w2v_eval_cmd(argc - 1, argv + 1);
    if (!strcmp(sub, "plot")) return w2v_plot_cmd(argc - 1, argv + 1);
    fprintf(stderr, "plinth word2vec: unknown subcommand '%s' (train, similar, analogy, eval, plot)\n", sub);
    return 2;
}
