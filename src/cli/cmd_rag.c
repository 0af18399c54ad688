/* plinth rag index|search|ask: retrieval-augmented generation over your own files. index walks PATHs into an
 * SQLite database (--db), search prints the best chunks for a query, ask answers a question from them with a
 * language model and cites them. The work is tasks/rag.h; this file parses arguments and prints. */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "tasks/rag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: plinth rag index  --db FILE [-m EMBED_MODEL] PATH... [--chunk-tokens N] [--overlap N] [-q]\n"
            "       plinth rag search --db FILE [-m EMBED_MODEL] QUERY | -f FILE [-k K] [--mode hybrid|dense|bm25] [--exact|--hnsw]\n"
            "                         [--ef N] [--json]\n"
            "       plinth rag ask    --db FILE -m LLM [-e EMBED_MODEL] QUESTION [-k K] [--mode M] [--min-score X] [-n N]\n"
            "  --db FILE         the database (SQLite, one file); index creates it\n"
            "  -m EMBED_MODEL    (index, search) the encoder; default: the one the database was indexed with\n"
            "  -m LLM            (ask) the language model that answers; -e EMBED_MODEL as above\n"
            "  PATH              files or directories (txt, md, html; pdf with pdftotext), walked in name order\n"
            "  --chunk-tokens N  tokens a chunk holds at most (default 200); --overlap N shared by neighbours (40)\n"
            "  -k K              chunks to show (search, default 5) or to give the model (ask, default 4)\n"
            "  --mode M          hybrid (default: dense + BM25 by reciprocal rank fusion), dense, bm25\n"
            "  --exact, --hnsw   the dense search (default: exact up to 20,000 chunks, HNSW above); --ef N its beam\n"
            "  --min-score X     ask: below this best cosine similarity, answer that the documents do not say (0.3)\n"
            "  -n N              ask: answer tokens at most (default 256)\n"
            "  -f FILE           search: one query a line of FILE ('-': standard input); --json: a JSON line a query\n"
            "  -t N              threads (default: the physical cores); -q: index quietly\n");
}

typedef struct {
    const char *sub, *db, *model, *embed, *mode_s, *file;
    const char *pos[64];
    int n_pos, k, n_predict, threads, chunk_tokens, overlap, ef;
    double min_score;
    pl_rag_ann ann;
    bool quiet, json;
} rag_args;

static int parse(int argc, char **argv, rag_args *a) {
    *a = (rag_args){.mode_s = "hybrid", .min_score = -2};
    if (argc < 2 || (strcmp(argv[1], "index") && strcmp(argv[1], "search") && strcmp(argv[1], "ask"))) {
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) { usage(stdout); return -1; }
        usage(stderr);
        return 2;
    }
    a->sub = argv[1];
    bool end = false;
    for (int i = 2; i < argc; i++) {
        long long v;
        double d;
        if (end || argv[i][0] != '-') {
            if (a->n_pos == (int)PL_ARRAY_LEN(a->pos)) { fprintf(stderr, "rag: more than 64 paths\n"); return 2; }
            a->pos[a->n_pos++] = argv[i];
        } else if (!strcmp(argv[i], "--")) end = true;
        else if (!strcmp(argv[i], "--db")) { if (!arg_str(argc, argv, &i, &a->db)) return 2; }
        else if (!strcmp(argv[i], "-m")) { if (!arg_str(argc, argv, &i, &a->model)) return 2; }
        else if (!strcmp(argv[i], "-e")) { if (!arg_str(argc, argv, &i, &a->embed)) return 2; }
        else if (!strcmp(argv[i], "-f")) { if (!arg_str(argc, argv, &i, &a->file)) return 2; }
        else if (!strcmp(argv[i], "--json")) a->json = true;
        else if (!strcmp(argv[i], "--mode")) { if (!arg_str(argc, argv, &i, &a->mode_s)) return 2; }
        else if (!strcmp(argv[i], "-k")) { if (!arg_int(argc, argv, &i, 1, 1000, &v)) return 2; a->k = (int)v; }
        else if (!strcmp(argv[i], "-n")) { if (!arg_int(argc, argv, &i, 1, 1 << 16, &v)) return 2; a->n_predict = (int)v; }
        else if (!strcmp(argv[i], "-t")) { if (!arg_int(argc, argv, &i, 1, 256, &v)) return 2; a->threads = (int)v; }
        else if (!strcmp(argv[i], "--ef")) { if (!arg_int(argc, argv, &i, 1, 100000, &v)) return 2; a->ef = (int)v; }
        else if (!strcmp(argv[i], "--chunk-tokens")) { if (!arg_int(argc, argv, &i, 16, 8192, &v)) return 2; a->chunk_tokens = (int)v; }
        else if (!strcmp(argv[i], "--overlap")) { if (!arg_int(argc, argv, &i, 0, 4096, &v)) return 2; a->overlap = (int)v; }
        else if (!strcmp(argv[i], "--min-score")) { if (!arg_float(argc, argv, &i, -1, 1, &d)) return 2; a->min_score = d; }
        else if (!strcmp(argv[i], "--exact")) a->ann = PL_RAG_ANN_EXACT;
        else if (!strcmp(argv[i], "--hnsw")) a->ann = PL_RAG_ANN_HNSW;
        else if (!strcmp(argv[i], "-q")) a->quiet = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return -1; }
        else return arg_unknown(argv, i);
    }
    if (!a->db) { fprintf(stderr, "rag %s: --db FILE is required\n", a->sub); return 2; }
    if (a->file && strcmp(a->sub, "search")) { fprintf(stderr, "rag %s: -f is for search\n", a->sub); return 2; }
    if (strcmp(a->sub, "index") && a->n_pos != (a->file ? 0 : 1)) {
        fprintf(stderr, "rag %s: give one %s (quote it)\n", a->sub, strcmp(a->sub, "ask") ? "QUERY" : "QUESTION");
        return 2;
    }
    if (!strcmp(a->sub, "index") && !a->n_pos) { fprintf(stderr, "rag index: give the files or directories to index\n"); return 2; }
    if (!strcmp(a->sub, "ask") && !a->model) { fprintf(stderr, "rag ask: -m LLM (the model that answers) is required\n"); return 2; }
    if (strcmp(a->mode_s, "hybrid") && strcmp(a->mode_s, "dense") && strcmp(a->mode_s, "bm25")) {
        fprintf(stderr, "rag: --mode must be hybrid, dense or bm25, not '%s'\n", a->mode_s);
        return 2;
    }
    return 0;
}

static pl_rag_mode mode_of(const char *s) { return !strcmp(s, "dense") ? PL_RAG_DENSE : !strcmp(s, "bm25") ? PL_RAG_BM25 : PL_RAG_HYBRID; }

/* the encoder: given, else the one recorded in the database */
static pl_embedder *load_embedder(const rag_args *a, const char *given) {
    char path[1024];
    if (!given) {
        if (pl_rag_model_path(a->db, path, sizeof path)) return NULL;
        given = path;
    }
    return pl_embedder_load(given, &(pl_embedder_params){.n_threads = a->threads});
}

static void on_file(const char *path, pl_rag_file_status st, int n, const char *why, void *ud) {
    const rag_args *a = ud;
    static const char *const what[] = {"added", "updated", "unchanged", "removed", "skipped"};
    if (st == PL_RAG_SKIPPED) fprintf(stderr, "skipped: %s\n", why);
    else if (!a->quiet && st != PL_RAG_UNCHANGED) fprintf(stderr, "%-8s %s%s%.0d%s\n", what[st], path, n ? " (" : "", n, n ? " chunks)" : "");
}

static int do_index(const rag_args *a, pl_embedder *e) {
    pl_rag_index_opts o = {.chunk = {a->chunk_tokens, a->overlap}, .on_file = on_file, .ud = (void *)a};
    pl_rag_index_stats st;
    double t0 = pl_time_s();
    int rc = pl_rag_index(e, a->db, a->pos, a->n_pos, &o, &st);
    if (rc) return rc;
    fprintf(stderr, "%s: %d added, %d updated, %d unchanged, %d removed, %d skipped; %lld new chunks; %.2f s (HNSW %.2f s)\n",
            a->db, st.added, st.updated, st.unchanged, st.removed, st.skipped, (long long)st.chunks, pl_time_s() - t0, st.seconds_hnsw);
    return PL_OK;
}

static void print_snippet(const char *text, int width) {
    int w = 0;
    for (const char *p = text; *p && w < width; p++, w++) putchar(*p == '\n' || *p == '\t' ? ' ' : *p);
    if ((int)strlen(text) > width) fputs("...", stdout);
    putchar('\n');
}

static void note_cut(bool cut, const pl_embedder *e) {
    if (cut) fprintf(stderr, "note: the query is longer than the encoder's %d tokens; its first %d were searched with\n",
                     pl_embedder_max_tokens(e), pl_embedder_max_tokens(e));
}

static void print_json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void print_results(const rag_args *a, int qi, const pl_rag_result *res, int n) {
    if (a->json) {
        printf("{\"query\": %d, \"results\": [", qi);
        for (int i = 0; i < n; i++) {
            printf(i ? ", {\"id\": %lld, \"path\": " : "{\"id\": %lld, \"path\": ", (long long)res[i].id);
            print_json_str(res[i].chunk.path);
            printf(", \"line_first\": %d, \"line_last\": %d, \"score\": %.7g, \"cosine\": %.7g}", res[i].chunk.line_first,
                   res[i].chunk.line_last, res[i].score, res[i].cosine);
        }
        puts("]}");
        return;
    }
    for (int i = 0; i < n; i++) {
        printf("%d. %s:%d-%d  score %.4f  cosine %.3f\n   ", i + 1, res[i].chunk.path, res[i].chunk.line_first,
               res[i].chunk.line_last, res[i].score, res[i].cosine);
        print_snippet(res[i].chunk.text, 160);
    }
    if (!n) printf("no chunk matches\n");
}

/* the queries: the one argument, or the non-empty lines of -f FILE */
static int queries_of(const rag_args *a, char **text, const char ***q) {
    static const char *one[1];
    if (!a->file) { one[0] = a->pos[0]; *q = one; *text = NULL; return 1; }
    size_t len;
    if (!(*text = arg_read_text(a->file, &len))) return -1;
    int n = 0;
    *q = malloc((len / 2 + 2) * sizeof **q);
    if (!*q) return -1;
    for (char *s = *text, *nl; *s; s = nl ? nl + 1 : s + strlen(s)) {
        if ((nl = strchr(s, '\n'))) *nl = 0;
        if (*s) (*q)[n++] = s;
        if (!nl) break;
    }
    return n;
}

static int do_search(const rag_args *a, pl_embedder *e) {
    char *text;
    const char **queries;
    int nq = queries_of(a, &text, &queries);
    if (nq < 0) return PL_ERR_IO;
    pl_rag *r = pl_rag_open(e, a->db, a->threads);
    pl_rag_search_opts o = {.k = a->k ? a->k : 5, .mode = mode_of(a->mode_s), .ann = a->ann, .ef = a->ef};
    pl_rag_result *res = calloc((size_t)o.k, sizeof *res);
    int rc = r && res ? PL_OK : r ? PL_ERR_NOMEM : PL_ERR_FORMAT;
    for (int qi = 0; !rc && qi < nq; qi++) {
        int n = 0;
        bool cut = false;
        rc = pl_rag_search(r, queries[qi], &o, res, &n, &cut);
        note_cut(cut, e);
        if (!rc) print_results(a, qi, res, n);
        pl_rag_results_free(res, n);
    }
    free(res);
    if (text) { free(text); free(queries); }
    pl_rag_close(r);
    return rc;
}

static void print_text(const char *s, size_t n, void *ud) { (void)ud; fwrite(s, 1, n, stdout); fflush(stdout); }

static int do_ask(const rag_args *a, pl_embedder *e) {
    pl_bundle *llm = pl_bundle_open(a->model, &(pl_bundle_params){.n_threads = a->threads});
    pl_rag *r = llm ? pl_rag_open(e, a->db, a->threads) : NULL;
    if (!r) { pl_bundle_free(llm); return PL_ERR_FORMAT; }
    pl_rag_ask_opts o = pl_rag_ask_default_opts();
    o.search.mode = mode_of(a->mode_s);
    o.search.ann = a->ann;
    o.search.ef = a->ef;
    if (a->k) o.search.k = a->k;
    if (a->n_predict) o.n_predict = a->n_predict;
    if (a->min_score > -2) o.min_score = (float)a->min_score;
    o.on_text = print_text;
    pl_rag_answer ans;
    int rc = pl_rag_ask(r, llm, a->pos[0], &o, &ans);
    note_cut(ans.query_cut, e);
    if (!rc && ans.no_answer)
        printf("I don't know: nothing in the indexed documents matches the question well enough (best cosine %.2f < %.2f).\n",
               ans.best, o.min_score);
    if (!rc && !ans.no_answer) {
        printf("\n\nSources:\n");
        for (int i = 0; i < ans.n_sources; i++)
            printf("[%d] %s:%d-%d (cosine %.2f)\n", i + 1, ans.sources[i].chunk.path, ans.sources[i].chunk.line_first,
                   ans.sources[i].chunk.line_last, ans.sources[i].cosine);
    }
    pl_rag_answer_free(&ans);
    pl_rag_close(r);
    pl_bundle_free(llm);
    return rc;
}

int cmd_rag(int argc, char **argv) {
    rag_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    bool ask = !strcmp(a.sub, "ask");
    pl_embedder *e = load_embedder(&a, ask ? a.embed : a.model);
    if (!e) { fprintf(stderr, "rag %s: %s\n", a.sub, pl_last_error()); return 1; }
    rc = !strcmp(a.sub, "index") ? do_index(&a, e) : ask ? do_ask(&a, e) : do_search(&a, e);
    if (rc) fprintf(stderr, "rag %s: %s\n", a.sub, pl_last_error());
    pl_embedder_free(e);
    return rc ? 1 : 0;
}
