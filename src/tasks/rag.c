/* Retrieval-augmented generation (rag.h): the index walk, the search modes and the ask workflow over the parts in
 * src/rag/ (chunker, document text, vector search, SQLite store), the embedder (tasks/embed.c) and generation
 * (tasks/generate.c). */
#include "tasks/rag.h"

#include "backend/cpu/vec.h"
#include "core/common.h"
#include "rag/extract.h"
#include "rag/topk.h"
#include "rag/vindex.h"

#include <limits.h>
#include <stdlib.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const k_probe_text = "plinth probe: which model wrote these vectors?";

/* ---- the model a database belongs to -------------------------------------------------------------------- */
static int model_meta(pl_embedder *e, const pl_chunk_params *cp, pl_rag_meta *m) {
    int dim = pl_embedder_dim(e);
    float *v = pl_malloc((size_t)dim * sizeof(float));
    if (!v) return PL_ERR_NOMEM;
    int rc = pl_embed_texts(e, &k_probe_text, 1, v);
    memset(m, 0, sizeof *m);
    snprintf(m->model, sizeof m->model, "%s", pl_embedder_name(e));
    char *abs = realpath(e->enc->path, NULL);
    snprintf(m->model_path, sizeof m->model_path, "%s", abs ? abs : e->enc->path);
    free(abs);
    m->dim = dim;
    for (int i = 0; i < PL_RAG_PROBE && i < dim; i++) m->probe[i] = v[i];
    m->chunk_tokens = cp ? cp->max_tokens : 0;
    m->overlap = cp ? cp->overlap : 0;
    free(v);
    return rc;
}

/* The database's model must be this embedder's: same dimension, same vector for the probe text */
static int same_model(const char *db, const pl_rag_meta *have, const pl_rag_meta *want) {
    if (have->dim != want->dim)
        return pl_error(PL_ERR_ARG, "%s was indexed with model '%s' (%d floats a vector); '%s' makes %d: use that model, "
                        "or index into a new database", db, have->model, have->dim, want->model, want->dim);
    for (int i = 0; i < PL_RAG_PROBE; i++)
        if (fabsf(have->probe[i] - want->probe[i]) > 1e-3f)
            return pl_error(PL_ERR_ARG, "%s was indexed with model '%s'; '%s' has the same dimension (%d) but other vectors: "
                            "use that model, or index into a new database", db, have->model, want->model, want->dim);
    return PL_OK;
}

int pl_rag_model_path(const char *db_path, char *out, size_t cap) {
    pl_rag_db *db = pl_rag_db_open(db_path, false);
    pl_rag_meta m;
    bool has = false;
    int rc = db ? pl_rag_db_meta(db, &m, &has) : PL_ERR_FORMAT;
    pl_rag_db_close(db);
    if (!rc && (!has || !m.model_path[0])) rc = pl_error(PL_ERR_ARG, "%s records no embedding model: give one with -m", db_path);
    if (!rc) snprintf(out, cap, "%s", m.model_path);
    return rc;
}

/* ---- walking -------------------------------------------------------------------------------------------- */
/* every file under path (a directory's entries in name order, hidden ones and symlinked directories skipped) */
static int walk(const char *path, pl_strlist *out) {
    struct stat sb;
    if (lstat(path, &sb) || !S_ISDIR(sb.st_mode)) return pl_strlist_add(out, path); /* files, broken links: reported later */
    pl_strlist names = {0};
    int rc = pl_dir_names(path, &names);
    if (rc == PL_ERR_IO) { pl_clear_error(); pl_strlist_free(&names); return pl_strlist_add(out, path); } /* reported later */
    size_t pl = strlen(path);
    while (pl > 1 && path[pl - 1] == '/') pl--;
    for (int i = 0; !rc && i < names.n; i++) {
        char *child = pl_malloc(pl + strlen(names.v[i]) + 2);
        if (!child) { rc = PL_ERR_NOMEM; break; }
        sprintf(child, "%.*s/%s", (int)pl, path, names.v[i]);
        rc = walk(child, out);
        free(child);
    }
    pl_strlist_free(&names);
    return rc;
}

/* "./docs/" and "docs" name the same files: stored paths are kept in one spelling */
static char *clean_path(const char *p) {
    while (p[0] == '.' && p[1] == '/') for (p += 2; *p == '/';) p++;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') n--;
    char *c = pl_malloc(n + 2);
    if (c) { memcpy(c, n ? p : ".", n ? n : 1); c[n ? n : 1] = 0; }
    return c;
}

static bool under(const char *file, const char *root) {
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') n--;
    return !strncmp(file, root, n) && (file[n] == 0 || file[n] == '/');
}

static uint64_t content_hash(const char *s, size_t n, const pl_chunk_params *cp) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then the chunking it was cut with */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return pl_mix64(h ^ pl_hash64((uint64_t)cp->max_tokens << 32 | (uint32_t)cp->overlap));
}

/* ---- one file ------------------------------------------------------------------------------------------- */
/* What the encoder reads for a chunk: the markdown heading above it first, when the chunk does not hold it */
static char *chunk_for_encoder(const char *text, const pl_chunk *c) {
    size_t hl = c->head_len, n = c->end - c->start;
    char *s = pl_malloc(hl + n + 2);
    if (!s) return NULL;
    size_t o = 0;
    if (hl) { memcpy(s, text + c->head_start, hl); s[hl] = '\n'; o = hl + 1; }
    memcpy(s + o, text + c->start, n);
    s[o + n] = 0;
    return s;
}

static int index_text(pl_embedder *e, pl_rag_db *db, const char *path, const char *text, size_t len, uint64_t hash,
                      const pl_rag_index_opts *o, int *n_chunks) {
    pl_chunk *c = NULL;
    int n = 0, dim = pl_embedder_dim(e);
    int rc = pl_chunk_text(e->tok, text, len, &o->chunk, &c, &n);
    char **enc = rc ? NULL : pl_calloc((size_t)(n ? n : 1), sizeof *enc);
    pl_rag_chunk_in *in = rc ? NULL : pl_calloc((size_t)(n ? n : 1), sizeof *in);
    float *vecs = rc ? NULL : pl_malloc((size_t)(n ? n : 1) * dim * sizeof(float));
    if (!rc && (!enc || !in || !vecs)) rc = PL_ERR_NOMEM;
    for (int i = 0; !rc && i < n; i++) {
        if (!(enc[i] = chunk_for_encoder(text, &c[i]))) rc = PL_ERR_NOMEM;
        in[i] = (pl_rag_chunk_in){(int64_t)c[i].start, (int64_t)c[i].end, c[i].line_first, c[i].line_last,
                                  text + c[i].start, c[i].end - c[i].start, text + c[i].head_start, c[i].head_len};
    }
    if (!rc && n) rc = pl_embed_texts_ex(e, (const char *const *)enc, NULL, n, vecs, &(pl_embed_opts){.batch = o->batch}, NULL);
    if (!rc) rc = pl_rag_db_put_file(db, path, hash, in, vecs, n);
    for (int i = 0; enc && i < n; i++) free(enc[i]);
    free(enc); free(in); free(vecs); free(c);
    *n_chunks = n;
    return rc;
}

static void report(const pl_rag_index_opts *o, const char *path, pl_rag_file_status st, int n, const char *why) {
    if (o->on_file) o->on_file(path, st, n, why, o->ud);
}

static int index_file(pl_embedder *e, pl_rag_db *db, const char *path, const pl_rag_index_opts *o, pl_rag_index_stats *st) {
    size_t len;
    char *text = pl_doc_extract(path, &len);
    if (!text) { /* unreadable, binary, not UTF-8, a PDF without pdftotext: skipped, said, the rest goes on */
        st->skipped++;
        report(o, path, PL_RAG_SKIPPED, 0, pl_last_error());
        return PL_OK;
    }
    uint64_t hash = content_hash(text, len, &o->chunk), old = 0;
    bool found;
    int n = 0, rc = pl_rag_db_file_hash(db, path, &old, &found);
    if (!rc && found && old == hash) {
        st->unchanged++;
        report(o, path, PL_RAG_UNCHANGED, 0, NULL);
    } else if (!rc) {
        rc = index_text(e, db, path, text, len, hash, o, &n);
        if (!rc) {
            found ? st->updated++ : st->added++;
            st->chunks += n;
            report(o, path, found ? PL_RAG_UPDATED : PL_RAG_ADDED, n, NULL);
        }
    }
    free(text);
    return rc;
}

/* files of the database under the given roots that are gone from the disk */
static int remove_deleted(pl_rag_db *db, const char *const *roots, int n_roots, const pl_rag_index_opts *o, pl_rag_index_stats *st) {
    char **files = NULL;
    int n = 0, rc = pl_rag_db_files(db, &files, &n);
    for (int i = 0; !rc && i < n; i++) {
        bool mine = false;
        for (int r = 0; r < n_roots && !mine; r++) mine = under(files[i], roots[r]);
        struct stat sb;
        if (!mine || lstat(files[i], &sb) == 0) continue;
        rc = pl_rag_db_remove_file(db, files[i]);
        if (!rc) { st->removed++; report(o, files[i], PL_RAG_REMOVED, 0, NULL); }
    }
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
    return rc;
}

/* the HNSW graph of every vector, saved with the generation it belongs to */
static int build_ann(pl_rag_db *db, int dim, int M, int efc, double *seconds) {
    int64_t gen = pl_rag_db_generation(db), n;
    void *blob = NULL;
    size_t len;
    int rc = gen < 0 ? (int)gen : pl_rag_db_get_ann(db, gen, &blob, &len);
    if (rc || blob) { free(blob); return rc; } /* up to date */
    int64_t *ids = NULL;
    float *vecs = NULL;
    rc = pl_rag_db_vectors(db, dim, &ids, &vecs, &n);
    double t0 = pl_time_s();
    pl_hnsw *h = rc ? NULL : pl_hnsw_new(dim, &(pl_hnsw_params){.M = M, .ef_construction = efc});
    if (!rc) rc = h ? pl_hnsw_add(h, vecs, n) : PL_ERR_NOMEM;
    if (!rc) rc = pl_hnsw_save(h, &blob, &len);
    *seconds = pl_time_s() - t0;
    if (!rc) rc = pl_rag_db_put_ann(db, gen, blob, len);
    free(blob); free(ids); free(vecs);
    pl_hnsw_free(h);
    return rc;
}

int pl_rag_index(pl_embedder *e, const char *db_path, const char *const *paths, int n_paths, const pl_rag_index_opts *opts,
                 pl_rag_index_stats *st) {
    pl_rag_index_opts o = opts ? *opts : (pl_rag_index_opts){0};
    if (o.chunk.max_tokens <= 0) o.chunk.max_tokens = PL_MIN(200, pl_embedder_max_tokens(e) - 8);
    if (o.chunk.max_tokens > pl_embedder_max_tokens(e) - 2) o.chunk.max_tokens = pl_embedder_max_tokens(e) - 2;
    if (o.chunk.overlap <= 0) o.chunk.overlap = o.chunk.max_tokens / 5;
    *st = (pl_rag_index_stats){0};
    pl_rag_meta want, have;
    bool has;
    int rc = model_meta(e, &o.chunk, &want);
    pl_rag_db *db = rc ? NULL : pl_rag_db_open(db_path, true);
    if (!rc && !db) rc = PL_ERR_FORMAT;
    if (!rc) rc = pl_rag_db_meta(db, &have, &has);
    if (!rc && has) rc = same_model(db_path, &have, &want);
    if (!rc && !has) rc = pl_rag_db_set_meta(db, &want);
    pl_strlist files = {0}, roots = {0};
    for (int i = 0; !rc && i < n_paths; i++) {
        char *c = clean_path(paths[i]);
        rc = c ? pl_strlist_add(&roots, c) : PL_ERR_NOMEM;
        free(c);
        if (!rc) rc = walk(roots.v[i], &files);
    }
    for (int i = 0; !rc && i < files.n; i++) rc = index_file(e, db, files.v[i], &o, st);
    if (!rc) rc = remove_deleted(db, (const char *const *)roots.v, roots.n, &o, st);
    if (!rc) rc = build_ann(db, want.dim, o.hnsw_m, o.hnsw_ef_construction, &st->seconds_hnsw);
    pl_strlist_free(&files);
    pl_strlist_free(&roots);
    pl_rag_db_close(db);
    return rc;
}

/* ---- search --------------------------------------------------------------------------------------------- */
struct pl_rag {
    pl_embedder *e;
    pl_rag_db *db;
    pl_ctx *ctx;              /* the thread pool of the searches */
    int dim;
    int64_t n, *ids;          /* chunk ids, in the vectors' row order */
    float *vecs;              /* (n, dim) */
    pl_hnsw *ann;
};

static int load_ann(pl_rag *r) {
    int64_t gen = pl_rag_db_generation(r->db);
    void *blob = NULL;
    size_t len = 0;
    int rc = gen < 0 ? (int)gen : pl_rag_db_get_ann(r->db, gen, &blob, &len);
    if (!rc && blob) r->ann = pl_hnsw_load(blob, len, r->vecs, r->n, r->dim);
    free(blob);
    if (rc || r->ann) return rc;
    /* none saved for these chunks (an interrupted index) or a damaged one: rebuilt here, in memory */
    r->ann = pl_hnsw_new(r->dim, NULL);
    return r->ann ? pl_hnsw_add_par(r->ctx, r->ann, r->vecs, r->n) : PL_ERR_NOMEM;
}

pl_rag *pl_rag_open(pl_embedder *e, const char *db_path, int n_threads) {
    pl_rag *r = pl_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->e = e;
    r->db = pl_rag_db_open(db_path, false);
    pl_rag_meta have, want;
    bool has = false;
    int rc = r->db ? pl_rag_db_meta(r->db, &have, &has) : PL_ERR_FORMAT;
    if (!rc && !has) rc = pl_error(PL_ERR_FORMAT, "%s: nothing indexed yet (plinth rag index)", db_path);
    if (!rc) rc = model_meta(e, NULL, &want);
    if (!rc) rc = same_model(db_path, &have, &want);
    r->dim = want.dim;
    if (!rc) rc = pl_rag_db_vectors(r->db, r->dim, &r->ids, &r->vecs, &r->n);
    if (!rc) rc = (r->ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = n_threads, .arena_bytes = 1 << 20})) ? PL_OK : PL_ERR_NOMEM;
    if (!rc) rc = load_ann(r);
    if (rc) { pl_rag_close(r); return NULL; }
    return r;
}

void pl_rag_close(pl_rag *r) {
    if (!r) return;
    pl_rag_db_close(r->db);
    pl_ctx_free(r->ctx);
    pl_hnsw_free(r->ann);
    free(r->ids); free(r->vecs);
    free(r);
}

int64_t pl_rag_count(const pl_rag *r) { return r ? r->n : 0; }

static int64_t row_of(const pl_rag *r, int64_t id) { /* ids are sorted: binary search */
    int64_t lo = 0, hi = r->n - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (r->ids[mid] == id) return mid;
        if (r->ids[mid] < id) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

static int dense(pl_rag *r, const float *q, int k, const pl_rag_search_opts *o, pl_hit *out) {
    bool hnsw = o->ann == PL_RAG_ANN_HNSW || (o->ann == PL_RAG_ANN_AUTO && r->n > 20000);
    int rc = hnsw ? pl_hnsw_search(r->ctx, r->ann, q, 1, k, o->ef > 0 ? o->ef : 64, out)
                  : pl_exact_search(r->ctx, r->vecs, r->n, r->dim, q, 1, k, out);
    for (int i = 0; !rc && i < k; i++)
        if (out[i].id >= 0) out[i].id = r->ids[out[i].id]; /* rows -> chunk ids */
    return rc;
}

/* Reciprocal rank fusion (Cormack et al. 2009): score = sum over the lists of 1 / (60 + rank) */
static int fuse(const pl_hit *a, int na, const pl_hit *b, int nb, int k, pl_hit *out) {
    pl_topk t;
    if (pl_topk_init(&t, k)) return PL_ERR_NOMEM;
    for (int pass = 0; pass < 2; pass++) {
        const pl_hit *l = pass ? b : a;
        int n = pass ? nb : na;
        for (int i = 0; i < n; i++) {
            if (l[i].id < 0) continue;
            float s = 0;
            for (int j = 0; j < na; j++) if (a[j].id == l[i].id) s += 1.0f / (60 + j + 1);
            for (int j = 0; j < nb; j++) if (b[j].id == l[i].id) s += 1.0f / (60 + j + 1);
            bool seen = false; /* once per chunk: the first list that holds it adds it */
            for (int j = 0; pass && j < na && !seen; j++) seen = a[j].id == l[i].id;
            if (!seen) pl_topk_push(&t, l[i].id, s);
        }
    }
    pl_topk_sorted(&t, out);
    pl_topk_free(&t);
    return PL_OK;
}

int pl_rag_search(pl_rag *r, const char *query, const pl_rag_search_opts *o, pl_rag_result *out, int *n, bool *query_cut) {
    int k = o->k > 0 ? o->k : 5, wide = PL_MAX(50, 5 * k);
    *n = 0;
    if (!query || !*query) return pl_error(PL_ERR_ARG, "an empty query");
    float *q = pl_malloc((size_t)r->dim * sizeof(float));
    pl_hit *hd = pl_calloc((size_t)wide, sizeof *hd), *hb = pl_calloc((size_t)wide, sizeof *hb), *hits = pl_calloc((size_t)k, sizeof *hits);
    int nd = 0, nb = 0, rc = q && hd && hb && hits ? PL_OK : PL_ERR_NOMEM;
    pl_embed_stats es = {0};
    if (!rc) rc = pl_embed_texts_ex(r->e, &query, NULL, 1, q, NULL, &es);
    *query_cut = es.n_truncated > 0;
    if (!rc && o->mode != PL_RAG_BM25 && r->n) { rc = dense(r, q, wide, o, hd); nd = wide; }
    if (!rc && o->mode != PL_RAG_DENSE) rc = pl_rag_db_bm25(r->db, query, wide, hb, &nb);
    if (!rc) {
        if (o->mode == PL_RAG_HYBRID) rc = fuse(hd, nd, hb, nb, k, hits);
        else memcpy(hits, o->mode == PL_RAG_DENSE ? hd : hb, (size_t)k * sizeof *hits);
        if (o->mode == PL_RAG_BM25) for (int i = nb; i < k; i++) hits[i].id = -1;
    }
    for (int i = 0; !rc && i < k && hits[i].id >= 0; i++) {
        int64_t row = row_of(r, hits[i].id);
        out[i] = (pl_rag_result){hits[i].id, hits[i].score,
                                 row >= 0 ? pl_vec_dot_f32(r->dim, q, r->vecs + row * r->dim) : 0, {0}};
        rc = pl_rag_db_chunk(r->db, hits[i].id, &out[i].chunk);
        *n = i + 1;
    }
    free(q); free(hd); free(hb); free(hits);
    if (rc) { pl_rag_results_free(out, *n); *n = 0; }
    return rc;
}

void pl_rag_results_free(pl_rag_result *res, int n) {
    for (int i = 0; i < n; i++) pl_rag_chunk_out_free(&res[i].chunk);
}

/* ---- ask ------------------------------------------------------------------------------------------------ */
pl_rag_ask_opts pl_rag_ask_default_opts(void) {
    pl_rag_ask_opts o = {.search = {.k = 4, .mode = PL_RAG_HYBRID}, .min_score = 0.3f, .n_predict = 256};
    o.sampling = pl_sampler_default_params();
    o.sampling.temperature = 0;
    return o;
}

static const char *const k_system =
    "You answer questions using only the numbered sources you are given. Cite the sources you use as [1], [2]. "
    "If the sources do not contain the answer, say that you do not know.";

/* "Sources:\n[1] path:lines\ntext\n\n...Question: q" with the first n sources */
static char *user_message(const pl_rag_answer *a, int n, const char *question) {
    size_t len = strlen(question) + 64;
    for (int i = 0; i < n; i++) len += strlen(a->sources[i].chunk.text) + strlen(a->sources[i].chunk.path) + 64;
    char *s = pl_malloc(len), *p = s;
    if (!s) return NULL;
    p += sprintf(p, "Sources:\n");
    for (int i = 0; i < n; i++) {
        const pl_rag_chunk_out *c = &a->sources[i].chunk;
        p += sprintf(p, "[%d] %s:%d-%d\n%s\n\n", i + 1, c->path, c->line_first, c->line_last, c->text);
    }
    sprintf(p, "Question: %s", question);
    return s;
}

static char *render(const pl_bundle *llm, const char *user) {
    if (!llm->chat) {
        char *s = pl_malloc(strlen(k_system) + strlen(user) + 16);
        if (s) sprintf(s, "%s\n\n%s\nAnswer:", k_system, user);
        return s;
    }
    pl_chat_message m[2] = {{"system", k_system}, {"user", user}};
    return pl_chat_render(llm->chat, m, 2, true);
}

/* The prompt with as many sources as leave room for the answer in the model's context (best sources kept) */
static char *fit_prompt(pl_bundle *llm, pl_rag_answer *a, const char *question, int n_predict) {
    for (int n = a->n_sources; n >= 0; n--) {
        char *user = user_message(a, n, question);
        char *prompt = user ? render(llm, user) : NULL;
        free(user);
        if (!prompt) return NULL;
        int toks = pl_tokenize(llm->tok, prompt, strlen(prompt), NULL, 0, true);
        if (toks >= 0 && toks + n_predict <= pl_llm_n_ctx(llm->llm)) {
            for (int i = n; i < a->n_sources; i++) pl_rag_chunk_out_free(&a->sources[i].chunk);
            a->n_sources = n;
            return prompt;
        }
        free(prompt);
    }
    return pl_error_null(PL_ERR_ARG, "the question alone does not fit the model's context of %d tokens", pl_llm_n_ctx(llm->llm));
}

int pl_rag_ask(pl_rag *r, pl_bundle *llm, const char *question, const pl_rag_ask_opts *o, pl_rag_answer *a) {
    memset(a, 0, sizeof *a);
    int k = o->search.k > 0 ? o->search.k : 4;
    a->sources = pl_calloc((size_t)k, sizeof *a->sources);
    if (!a->sources) return PL_ERR_NOMEM;
    int rc = pl_rag_search(r, question, &o->search, a->sources, &a->n_sources, &a->query_cut);
    a->best = -1;
    for (int i = 0; i < a->n_sources; i++) a->best = fmaxf(a->best, a->sources[i].cosine);
    if (rc || a->best < o->min_score) { a->no_answer = !rc; return rc; }
    char *prompt = fit_prompt(llm, a, question, o->n_predict);
    if (!prompt) return PL_ERR_ARG;
    pl_gen_opts g = pl_bundle_gen_opts(llm, llm->chat != NULL);
    g.n_predict = o->n_predict;
    g.sampling = o->sampling;
    rc = pl_generate(llm->llm, llm->tok, prompt, &g, o->on_text, o->ud, NULL, NULL);
    free(prompt);
    return rc;
}

void pl_rag_answer_free(pl_rag_answer *a) {
    pl_rag_results_free(a->sources, a->n_sources);
    free(a->sources);
    memset(a, 0, sizeof *a);
}
