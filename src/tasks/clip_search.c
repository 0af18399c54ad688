/* plinth clip index / search (clip_search.h) on the RAG store. */
#include "tasks/clip_search.h"
#include "rag/store.h"

#include <math.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>

static const char k_probe_text[] = "a photo of a cat.";

static bool is_image_name(const char *p) {
    const char *dot = strrchr(p, '.');
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif"};
    for (size_t i = 0; dot && i < PL_ARRAY_LEN(ext); i++)
        if (!strcasecmp(dot, ext[i])) return true;
    return false;
}

/* image files under path, in name order (a file named on the command line is taken whatever its name) */
static int walk(const char *path, pl_strlist *out, bool top) {
    struct stat sb;
    if (stat(path, &sb)) return pl_error(PL_ERR_IO, "cannot open '%s'", path);
    if (!S_ISDIR(sb.st_mode)) return top || is_image_name(path) ? pl_strlist_add(out, path) : PL_OK;
    pl_strlist kids = {0};
    int rc = pl_dir_names(path, &kids);
    for (int i = 0; !rc && i < kids.n; i++) {
        char *child = pl_malloc(strlen(path) + strlen(kids.v[i]) + 2);
        if (!child) { rc = PL_ERR_NOMEM; break; }
        sprintf(child, "%s/%s", path, kids.v[i]);
        rc = walk(child, out, false);
        free(child);
    }
    pl_strlist_free(&kids);
    return rc;
}

/* the database's model: recorded on first use, then required to be the same (name, size, probe vector) */
static int check_model(pl_clip_task *t, pl_rag_db *db, const char *model_path, bool may_set) {
    pl_rag_meta meta = {0}, have;
    bool has = false;
    const char *base = strrchr(model_path, '/');
    snprintf(meta.model, sizeof meta.model, "%s", base && base[1] ? base + 1 : model_path);
    if (!realpath(model_path, meta.model_path)) snprintf(meta.model_path, sizeof meta.model_path, "%s", model_path);
    meta.dim = pl_clip_task_dim(t);
    float *v = pl_malloc((size_t)meta.dim * sizeof(float));
    const char *probe = k_probe_text;
    int rc = v ? pl_clip_task_embed_texts(t, &probe, 1, v) : PL_ERR_NOMEM;
    if (!rc) memcpy(meta.probe, v, sizeof meta.probe);
    free(v);
    if (!rc) rc = pl_rag_db_meta(db, &have, &has);
    if (rc) return rc;
    if (!has) return may_set ? pl_rag_db_set_meta(db, &meta) : pl_error(PL_ERR_ARG, "the database holds no images yet");
    bool same = have.dim == meta.dim;
    for (int i = 0; same && i < PL_RAG_PROBE; i++) same = fabsf(have.probe[i] - meta.probe[i]) < 1e-4f;
    return same ? PL_OK : pl_error(PL_ERR_ARG, "the database was made with another model (%s, %d dimensions): search it "
                                   "with that one", have.model, have.dim);
}

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

int pl_clip_index(pl_clip_task *t, const char *model_path, const char *db_path, const char *const *paths, int n,
                  pl_clip_index_stats *st) {
    *st = (pl_clip_index_stats){0};
    pl_strlist files = {0};
    int rc = PL_OK;
    for (int i = 0; i < n && !rc; i++) rc = walk(paths[i], &files, true);
    pl_rag_db *db = rc ? NULL : pl_rag_db_open(db_path, true);
    if (!rc && !db) rc = PL_ERR_FORMAT;
    if (!rc) rc = check_model(t, db, model_path, true);
    float *v = rc ? NULL : pl_malloc((size_t)pl_clip_task_dim(t) * sizeof(float));
    if (!rc && !v) rc = PL_ERR_NOMEM;
    for (int i = 0; i < files.n && !rc; i++) {
        size_t len;
        char *bytes = pl_read_file(files.v[i], &len);
        uint64_t h = bytes ? hash_bytes(bytes, len) : 0, old;
        free(bytes);
        bool found = false;
        if (bytes && !pl_rag_db_file_hash(db, files.v[i], &old, &found) && found && old == h) { st->unchanged++; continue; }
        const char *p = files.v[i];
        if (!bytes || pl_clip_task_embed_images(t, &p, 1, v)) {
            fprintf(stderr, "skipped %s\n", pl_last_error());
            st->failed++;
            continue;
        }
        pl_rag_chunk_in c = {0, (int64_t)strlen(p), 1, 1, p, strlen(p), "", 0};
        rc = pl_rag_db_put_file(db, p, h, &c, v, 1);
        if (!rc) st->added++;
    }
    free(v);
    pl_rag_db_close(db);
    pl_strlist_free(&files);
    return rc;
}

int pl_clip_search(pl_clip_task *t, const char *db_path, const char *text, const char *image_path, int k,
                   pl_clip_hit *hits, int *n_out) {
    *n_out = 0;
    if (k < 1) return pl_error(PL_ERR_ARG, "k must be at least 1");
    struct stat sb;
    if (stat(db_path, &sb)) return pl_error(PL_ERR_IO, "no database at '%s': make one with plinth clip index", db_path);
    pl_rag_db *db = pl_rag_db_open(db_path, false);
    if (!db) return PL_ERR_FORMAT;
    int dim = pl_clip_task_dim(t);
    int rc = check_model(t, db, t->model->path, false);
    float *q = rc ? NULL : pl_malloc((size_t)dim * sizeof(float)), *vecs = NULL;
    int64_t *ids = NULL, n = 0;
    if (!rc && !q) rc = PL_ERR_NOMEM;
    if (!rc) rc = text ? pl_clip_task_embed_texts(t, &text, 1, q) : pl_clip_task_embed_images(t, &image_path, 1, q);
    if (!rc) rc = pl_rag_db_vectors(db, dim, &ids, &vecs, &n);
    pl_hit *found = rc ? NULL : pl_malloc((size_t)k * sizeof *found);
    if (!rc && !found) rc = PL_ERR_NOMEM;
    if (!rc) rc = pl_exact_search(NULL, vecs, n, dim, q, 1, k, found);
    for (int i = 0; !rc && i < k && found[i].id >= 0; i++) {
        pl_rag_chunk_out c;
        rc = pl_rag_db_chunk(db, ids[found[i].id], &c);
        if (rc) break;
        hits[i] = (pl_clip_hit){c.path, found[i].score};
        c.path = NULL;
        pl_rag_chunk_out_free(&c);
        (*n_out)++;
    }
    free(found); free(q); free(vecs); free(ids);
    pl_rag_db_close(db);
    return rc;
}

void pl_clip_hits_free(pl_clip_hit *hits, int n) {
    for (int i = 0; i < n; i++) free(hits[i].path);
}
