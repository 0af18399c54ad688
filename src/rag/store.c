/* The retrieval store on SQLite (store.h). Tables: meta (key, value), files (path, hash), chunks (file, byte and
 * line ranges, text, the heading the encoder read with it, vector blob), chunks_fts (FTS5 over the texts, rowid = chunk id, Porter-stemmed), ann (the
 * HNSW blob and the generation it was built at). SQLite gives the transactions and the crash safety (its rollback
 * journal); BM25 is FTS5's own. */
#include "rag/store.h"

#include "core/common.h"

#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct pl_rag_db {
    sqlite3 *db;
    char path[1024];
};

#define FORMAT "plinth-rag-1"

static int db_err(pl_rag_db *d, const char *what) {
    int code = sqlite3_errcode(d->db);
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
        return pl_error(PL_ERR_FORMAT, "%s: the database is damaged or not a database (%s: %s)", d->path, what, sqlite3_errmsg(d->db));
    return pl_error(PL_ERR_IO, "%s: %s: %s", d->path, what, sqlite3_errmsg(d->db));
}

static int exec(pl_rag_db *d, const char *sql) {
    return sqlite3_exec(d->db, sql, NULL, NULL, NULL) == SQLITE_OK ? PL_OK : db_err(d, sql);
}

static sqlite3_stmt *prep(pl_rag_db *d, const char *sql) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d->db, sql, -1, &s, NULL) != SQLITE_OK) { db_err(d, "prepare"); return NULL; }
    return s;
}

/* ---- opening -------------------------------------------------------------------------------------------- */
static const char *k_schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS files(id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, hash INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS chunks(id INTEGER PRIMARY KEY, file INTEGER NOT NULL REFERENCES files(id),"
    " start INTEGER, end INTEGER, line_first INTEGER, line_last INTEGER, text TEXT NOT NULL, head TEXT NOT NULL,"
    " vec BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file);"
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, tokenize='porter unicode61');"
    "CREATE TABLE IF NOT EXISTS ann(id INTEGER PRIMARY KEY CHECK (id = 1), gen INTEGER NOT NULL, graph BLOB NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('format', '" FORMAT "');"
    "INSERT OR IGNORE INTO meta VALUES('generation', '0');";

static int check_format(pl_rag_db *d) {
    if (exec(d, "PRAGMA quick_check(1)")) return PL_ERR_FORMAT;
    sqlite3_stmt *s = NULL;
    int rc = PL_OK;
    if (sqlite3_prepare_v2(d->db, "SELECT value FROM meta WHERE key = 'format'", -1, &s, NULL) != SQLITE_OK) {
        rc = sqlite3_errcode(d->db) == SQLITE_ERROR ? pl_error(PL_ERR_FORMAT, "%s: not a plinth rag database (no meta table)", d->path)
                                                   : db_err(d, "reading the format");
    } else if (sqlite3_step(s) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(s, 0), FORMAT)) {
        rc = pl_error(PL_ERR_FORMAT, "%s: not a plinth rag database of format %s", d->path, FORMAT);
    }
    sqlite3_finalize(s);
    return rc;
}

static bool is_empty_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && sb.st_size == 0;
}

pl_rag_db *pl_rag_db_open(const char *path, bool create) {
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    if (!exists && !create) return pl_error_null(PL_ERR_IO, "%s: no such database (make one with plinth rag index)", path);
    pl_rag_db *d = pl_calloc(1, sizeof *d);
    if (!d) return NULL;
    snprintf(d->path, sizeof d->path, "%s", path);
    int flags = create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE;
    int rc = sqlite3_open_v2(path, &d->db, flags, NULL) == SQLITE_OK ? PL_OK : db_err(d, "open");
    if (!rc) sqlite3_busy_timeout(d->db, 5000);
    bool fresh = !exists || is_empty_file(path);
    if (!rc && create && fresh) rc = exec(d, k_schema);
    if (!rc) rc = check_format(d);
    if (!rc && create) rc = exec(d, k_schema); /* a database of an older run of this format: nothing new */
    if (rc) { pl_rag_db_close(d); return NULL; }
    return d;
}

void pl_rag_db_close(pl_rag_db *d) {
    if (!d) return;
    sqlite3_close(d->db);
    free(d);
}

/* ---- meta ----------------------------------------------------------------------------------------------- */
static int meta_get(pl_rag_db *d, const char *key, char *out, size_t cap, bool *found) {
    sqlite3_stmt *s = prep(d, "SELECT value FROM meta WHERE key = ?");
    if (!s) return PL_ERR_IO;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    *found = r == SQLITE_ROW;
    if (*found) snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return r == SQLITE_ROW || r == SQLITE_DONE ? PL_OK : db_err(d, "reading meta");
}

static int meta_put(pl_rag_db *d, const char *key, const char *value) {
    sqlite3_stmt *s = prep(d, "INSERT OR REPLACE INTO meta VALUES(?, ?)");
    if (!s) return PL_ERR_IO;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? PL_OK : db_err(d, "writing meta");
    sqlite3_finalize(s);
    return rc;
}

int pl_rag_db_meta(pl_rag_db *d, pl_rag_meta *m, bool *has) {
    char v[512];
    bool found;
    memset(m, 0, sizeof *m);
    int rc = meta_get(d, "model", m->model, sizeof m->model, has);
    if (rc || !*has) return rc;
    const char *keys[] = {"dim", "chunk_tokens", "overlap", "probe"};
    for (int i = 0; i < 4 && !rc; i++) {
        rc = meta_get(d, keys[i], v, sizeof v, &found);
        if (!rc && !found) rc = pl_error(PL_ERR_FORMAT, "%s: the database has no '%s' entry", d->path, keys[i]);
        if (rc) break;
        if (i == 0) m->dim = atoi(v);
        else if (i == 1) m->chunk_tokens = atoi(v);
        else if (i == 2) m->overlap = atoi(v);
        else {
            char *p = v;
            for (int j = 0; j < PL_RAG_PROBE; j++) m->probe[j] = strtof(p, &p);
        }
    }
    if (!rc) rc = meta_get(d, "model_path", m->model_path, sizeof m->model_path, &found);
    if (!rc && (m->dim <= 0 || m->dim > 65536)) rc = pl_error(PL_ERR_FORMAT, "%s: bad dimension %d", d->path, m->dim);
    return rc;
}

int pl_rag_db_set_meta(pl_rag_db *d, const pl_rag_meta *m) {
    char v[512];
    int rc = exec(d, "BEGIN IMMEDIATE");
    if (!rc) rc = meta_put(d, "model", m->model);
    if (!rc) rc = meta_put(d, "model_path", m->model_path);
    snprintf(v, sizeof v, "%d", m->dim);
    if (!rc) rc = meta_put(d, "dim", v);
    snprintf(v, sizeof v, "%d", m->chunk_tokens);
    if (!rc) rc = meta_put(d, "chunk_tokens", v);
    snprintf(v, sizeof v, "%d", m->overlap);
    if (!rc) rc = meta_put(d, "overlap", v);
    size_t o = 0;
    for (int j = 0; j < PL_RAG_PROBE; j++) o += (size_t)snprintf(v + o, sizeof v - o, "%.9g ", m->probe[j]);
    if (!rc) rc = meta_put(d, "probe", v);
    if (!rc) rc = exec(d, "COMMIT");
    else sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- files ---------------------------------------------------------------------------------------------- */
int pl_rag_db_file_hash(pl_rag_db *d, const char *path, uint64_t *hash, bool *found) {
    sqlite3_stmt *s = prep(d, "SELECT hash FROM files WHERE path = ?");
    if (!s) return PL_ERR_IO;
    sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    *found = r == SQLITE_ROW;
    if (*found) *hash = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return r == SQLITE_ROW || r == SQLITE_DONE ? PL_OK : db_err(d, "reading files");
}

static int run(pl_rag_db *d, sqlite3_stmt *s, const char *what) {
    int rc = s && sqlite3_step(s) == SQLITE_DONE ? PL_OK : (s ? db_err(d, what) : PL_ERR_IO);
    sqlite3_finalize(s);
    return rc;
}

/* the file's chunks and FTS rows gone, the file row too (no transaction of its own) */
static int drop_file(pl_rag_db *d, const char *path) {
    static const char *const sql[] = {
        "DELETE FROM chunks_fts WHERE rowid IN (SELECT c.id FROM chunks c JOIN files f ON c.file = f.id WHERE f.path = ?)",
        "DELETE FROM chunks WHERE file IN (SELECT id FROM files WHERE path = ?)",
        "DELETE FROM files WHERE path = ?",
    };
    int rc = PL_OK;
    for (size_t i = 0; i < PL_ARRAY_LEN(sql) && !rc; i++) {
        sqlite3_stmt *s = prep(d, sql[i]);
        if (s) sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
        rc = run(d, s, "removing a file");
    }
    return rc;
}

static int bump_generation(pl_rag_db *d) {
    return exec(d, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'");
}

static int insert_chunks(pl_rag_db *d, int64_t file, const pl_rag_chunk_in *c, const float *vecs, int n, int dim) {
    sqlite3_stmt *s = prep(d, "INSERT INTO chunks(file, start, end, line_first, line_last, text, head, vec) VALUES(?,?,?,?,?,?,?,?)");
    sqlite3_stmt *f = prep(d, "INSERT INTO chunks_fts(rowid, text) VALUES(?, ?)");
    int rc = s && f ? PL_OK : PL_ERR_IO;
    for (int i = 0; i < n && !rc; i++) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, file);
        sqlite3_bind_int64(s, 2, c[i].start);
        sqlite3_bind_int64(s, 3, c[i].end);
        sqlite3_bind_int(s, 4, c[i].line_first);
        sqlite3_bind_int(s, 5, c[i].line_last);
        sqlite3_bind_text(s, 6, c[i].text, (int)c[i].len, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, c[i].head ? c[i].head : "", c[i].head ? (int)c[i].head_len : 0, SQLITE_STATIC);
        sqlite3_bind_blob(s, 8, vecs + (size_t)i * dim, dim * (int)sizeof(float), SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) { rc = db_err(d, "inserting a chunk"); break; }
        sqlite3_reset(f);
        sqlite3_bind_int64(f, 1, sqlite3_last_insert_rowid(d->db));
        sqlite3_bind_text(f, 2, c[i].text, (int)c[i].len, SQLITE_STATIC);
        if (sqlite3_step(f) != SQLITE_DONE) rc = db_err(d, "indexing a chunk's words");
    }
    sqlite3_finalize(s);
    sqlite3_finalize(f);
    return rc;
}

int pl_rag_db_put_file(pl_rag_db *d, const char *path, uint64_t hash, const pl_rag_chunk_in *c, const float *vecs, int n) {
    pl_rag_meta m;
    bool has;
    int rc = pl_rag_db_meta(d, &m, &has);
    if (!rc && !has) rc = pl_error(PL_ERR_ARG, "%s: no model recorded before the first file", d->path);
    if (!rc) rc = exec(d, "BEGIN IMMEDIATE");
    if (rc) return rc;
    rc = drop_file(d, path);
    sqlite3_stmt *s = rc ? NULL : prep(d, "INSERT INTO files(path, hash) VALUES(?, ?)");
    if (s) { sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC); sqlite3_bind_int64(s, 2, (int64_t)hash); }
    if (!rc) rc = run(d, s, "adding a file");
    if (!rc) rc = insert_chunks(d, sqlite3_last_insert_rowid(d->db), c, vecs, n, m.dim);
    if (!rc) rc = bump_generation(d);
    if (!rc) rc = exec(d, "COMMIT");
    if (rc) sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int pl_rag_db_remove_file(pl_rag_db *d, const char *path) {
    int rc = exec(d, "BEGIN IMMEDIATE");
    if (!rc) rc = drop_file(d, path);
    if (!rc) rc = bump_generation(d);
    if (!rc) rc = exec(d, "COMMIT");
    if (rc) sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int pl_rag_db_files(pl_rag_db *d, char ***paths, int *n) {
    sqlite3_stmt *s = prep(d, "SELECT path FROM files ORDER BY path");
    if (!s) return PL_ERR_IO;
    char **v = NULL;
    int k = 0, cap = 0, r, rc = PL_OK;
    while ((r = sqlite3_step(s)) == SQLITE_ROW && !rc) {
        if (k == cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = pl_realloc(v, (size_t)cap * sizeof *v);
            if (!nv) { rc = PL_ERR_NOMEM; break; }
            v = nv;
        }
        if (!(v[k++] = pl_strdup((const char *)sqlite3_column_text(s, 0)))) rc = PL_ERR_NOMEM;
    }
    if (!rc && r != SQLITE_DONE) rc = db_err(d, "listing files");
    sqlite3_finalize(s);
    *paths = v; *n = k;
    return rc;
}

static int64_t scalar(pl_rag_db *d, const char *sql) {
    sqlite3_stmt *s = prep(d, sql);
    if (!s) return PL_ERR_IO;
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : db_err(d, sql);
    sqlite3_finalize(s);
    return v;
}
int64_t pl_rag_db_count(pl_rag_db *d) { return scalar(d, "SELECT count(*) FROM chunks"); }
int64_t pl_rag_db_generation(pl_rag_db *d) { return scalar(d, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'generation'"); }

/* ---- reading -------------------------------------------------------------------------------------------- */
int pl_rag_db_vectors(pl_rag_db *d, int dim, int64_t **ids, float **vecs, int64_t *n) {
    int64_t cnt = pl_rag_db_count(d);
    if (cnt < 0) return (int)cnt;
    *ids = pl_malloc((size_t)(cnt ? cnt : 1) * sizeof **ids);
    *vecs = pl_malloc((size_t)(cnt ? cnt : 1) * dim * sizeof **vecs);
    sqlite3_stmt *s = *ids && *vecs ? prep(d, "SELECT id, vec FROM chunks ORDER BY id") : NULL;
    int64_t k = 0;
    int r = SQLITE_DONE, rc = s ? PL_OK : PL_ERR_IO;
    while (!rc && k < cnt && (r = sqlite3_step(s)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(s, 1) != dim * (int)sizeof(float)) {
            rc = pl_error(PL_ERR_FORMAT, "%s: chunk %lld has a vector of %d bytes, not %d floats", d->path,
                          (long long)sqlite3_column_int64(s, 0), sqlite3_column_bytes(s, 1), dim);
            break;
        }
        (*ids)[k] = sqlite3_column_int64(s, 0);
        memcpy(*vecs + k * dim, sqlite3_column_blob(s, 1), (size_t)dim * sizeof(float));
        k++;
    }
    if (!rc && r != SQLITE_ROW && r != SQLITE_DONE) rc = db_err(d, "reading vectors");
    sqlite3_finalize(s);
    *n = k;
    if (rc) { free(*ids); free(*vecs); *ids = NULL; *vecs = NULL; }
    return rc;
}

/* The words of a free-text query as an FTS5 query: each run of letters / digits (any script) quoted, OR-ed,
 * so that no character of the user's text is read as FTS5 syntax */
static char *fts_query(const char *q) {
    size_t n = strlen(q);
    char *out = pl_malloc(4 * n + 8), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)q[i];
        if (!(isalnum(c) || c >= 0x80)) { i++; continue; }
        if (o > out) o += sprintf(o, " OR ");
        *o++ = '"';
        while (i < n && (isalnum((unsigned char)q[i]) || (unsigned char)q[i] >= 0x80)) *o++ = q[i++];
        *o++ = '"';
    }
    *o = 0;
    return out;
}

int pl_rag_db_bm25(pl_rag_db *d, const char *query, int k, pl_hit *out, int *n) {
    *n = 0;
    char *fq = fts_query(query);
    if (!fq) return PL_ERR_NOMEM;
    if (!*fq) { free(fq); return PL_OK; } /* no words: nothing matches */
    sqlite3_stmt *s = prep(d, "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?");
    int rc = s ? PL_OK : PL_ERR_IO, r = SQLITE_DONE;
    if (s) { sqlite3_bind_text(s, 1, fq, -1, SQLITE_STATIC); sqlite3_bind_int(s, 2, k); }
    while (!rc && *n < k && (r = sqlite3_step(s)) == SQLITE_ROW)
        out[(*n)++] = (pl_hit){sqlite3_column_int64(s, 0), (float)-sqlite3_column_double(s, 1)};
    if (!rc && r != SQLITE_ROW && r != SQLITE_DONE) rc = db_err(d, "BM25 search");
    sqlite3_finalize(s);
    free(fq);
    return rc;
}

int pl_rag_db_chunk(pl_rag_db *d, int64_t id, pl_rag_chunk_out *out) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = prep(d, "SELECT f.path, c.text, c.line_first, c.line_last FROM chunks c JOIN files f ON c.file = f.id WHERE c.id = ?");
    if (!s) return PL_ERR_IO;
    sqlite3_bind_int64(s, 1, id);
    int r = sqlite3_step(s), rc = PL_OK;
    if (r == SQLITE_ROW) {
        out->path = pl_strdup((const char *)sqlite3_column_text(s, 0));
        out->text = pl_strdup((const char *)sqlite3_column_text(s, 1));
        out->line_first = sqlite3_column_int(s, 2);
        out->line_last = sqlite3_column_int(s, 3);
        if (!out->path || !out->text) rc = PL_ERR_NOMEM;
    } else {
        rc = r == SQLITE_DONE ? pl_error(PL_ERR_FORMAT, "%s: no chunk %lld", d->path, (long long)id) : db_err(d, "reading a chunk");
    }
    sqlite3_finalize(s);
    return rc;
}

void pl_rag_chunk_out_free(pl_rag_chunk_out *c) { free(c->path); free(c->text); c->path = c->text = NULL; }

int pl_rag_db_get_ann(pl_rag_db *d, int64_t gen, void **blob, size_t *len) {
    *blob = NULL; *len = 0;
    sqlite3_stmt *s = prep(d, "SELECT graph FROM ann WHERE id = 1 AND gen = ?");
    if (!s) return PL_ERR_IO;
    sqlite3_bind_int64(s, 1, gen);
    int r = sqlite3_step(s), rc = PL_OK;
    if (r == SQLITE_ROW) {
        *len = (size_t)sqlite3_column_bytes(s, 0);
        *blob = pl_malloc(*len ? *len : 1);
        if (*blob) memcpy(*blob, sqlite3_column_blob(s, 0), *len);
        else rc = PL_ERR_NOMEM;
    } else if (r != SQLITE_DONE) rc = db_err(d, "reading the HNSW graph");
    sqlite3_finalize(s);
    return rc;
}

int pl_rag_db_put_ann(pl_rag_db *d, int64_t gen, const void *blob, size_t len) {
    sqlite3_stmt *s = prep(d, "INSERT OR REPLACE INTO ann(id, gen, graph) VALUES(1, ?, ?)");
    if (s) { sqlite3_bind_int64(s, 1, gen); sqlite3_bind_blob64(s, 2, blob, len, SQLITE_STATIC); }
    return run(d, s, "saving the HNSW graph");
}
