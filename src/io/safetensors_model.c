/* Sharded safetensors sets: a model directory or a model.safetensors.index.json ({"weight_map": {tensor:
 * shard file}}) resolved to a list of shard files, each opened with pl_st_open, with one name index over
 * all of them. A single .safetensors file is a set of one shard. */
#include "io/safetensors.h"
#include "io/safetensors_internal.h"

#include "core/common.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <sys/stat.h>

struct pl_st_model {
    int n_shards;
    pl_st **shards;
    char **paths;
    int64_t n;
    const pl_st_tensor **all;   /* every tensor, shard order then header order */
    int64_t *sorted;            /* indexes into all, by name */
};

static bool is_dir(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode); }
static bool is_file(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISREG(sb.st_mode); }
static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = pl_malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return pl_strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = pl_malloc(n + 1);
    if (d) { memcpy(d, path, n); d[n] = 0; }
    return d;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A list of file names (heap strings), kept sorted and unique. */
typedef struct { char **v; int n, cap; } name_list;

static int list_add(name_list *l, const char *s) {
    for (int i = 0; i < l->n; i++) if (!strcmp(l->v[i], s)) return PL_OK;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        char **v = pl_realloc(l->v, sizeof(char *) * (size_t)cap);
        if (!v) return PL_ERR_NOMEM;
        l->v = v;
        l->cap = cap;
    }
    return (l->v[l->n++] = pl_strdup(s)) ? PL_OK : PL_ERR_NOMEM;
}
static void list_free(name_list *l) { for (int i = 0; i < l->n; i++) free(l->v[i]); free(l->v); }

/* Shard names from an index's weight_map. Names must be plain file names beside the index. */
static int index_shards(const char *index_path, name_list *names, cJSON **map_out) {
    size_t len;
    char *text = pl_read_file(index_path, &len);
    if (!text) return PL_ERR_IO;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *map = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return pl_error(PL_ERR_FORMAT, "%s: not JSON with a \"weight_map\" object", index_path);
    }
    int rc = PL_OK;
    for (const cJSON *e = map->child; e && rc == PL_OK; e = e->next) {
        if (!cJSON_IsString(e) || !*e->valuestring || strchr(e->valuestring, '/') || e->valuestring[0] == '.')
            rc = pl_error(PL_ERR_FORMAT, "%s: weight_map entry '%s' is not a plain shard file name", index_path,
                          e->string);
        else rc = list_add(names, e->valuestring);
    }
    if (rc == PL_OK && names->n == 0) rc = pl_error(PL_ERR_FORMAT, "%s: empty weight_map", index_path);
    if (rc == PL_OK) *map_out = root; else cJSON_Delete(root);
    return rc;
}

static int dir_shards(const char *dir, name_list *names) {
    DIR *d = opendir(dir);
    if (!d) return pl_error(PL_ERR_IO, "cannot read directory '%s'", dir);
    int rc = PL_OK;
    for (struct dirent *e; (e = readdir(d)) && rc == PL_OK;)
        if (e->d_name[0] != '.' && ends_with(e->d_name, ".safetensors")) rc = list_add(names, e->d_name);
    closedir(d);
    if (rc == PL_OK && names->n == 0) rc = pl_error(PL_ERR_IO, "no .safetensors files in '%s'", dir);
    return rc;
}

static int cmp_model_index(const void *a, const void *b, void *ctx) {
    const pl_st_tensor *const *all = ctx;
    return strcmp(all[*(const int64_t *)a]->name, all[*(const int64_t *)b]->name);
}

static int model_index(pl_st_model *m) {
    for (int s = 0; s < m->n_shards; s++) m->n += pl_st_n_tensors(m->shards[s]);
    m->all = pl_malloc(sizeof(*m->all) * (size_t)(m->n + 1));
    m->sorted = pl_malloc(sizeof(int64_t) * (size_t)(m->n + 1));
    if (!m->all || !m->sorted) return PL_ERR_NOMEM;
    int64_t k = 0;
    for (int s = 0; s < m->n_shards; s++)
        for (int64_t i = 0; i < pl_st_n_tensors(m->shards[s]); i++) {
            m->shards[s]->t[i].shard = s;
            m->all[k] = &m->shards[s]->t[i];
            m->sorted[k] = k;
            k++;
        }
    qsort_r(m->sorted, (size_t)m->n, sizeof(int64_t), cmp_model_index, m->all);
    for (int64_t i = 0; i + 1 < m->n; i++)
        if (!strcmp(m->all[m->sorted[i]]->name, m->all[m->sorted[i + 1]]->name))
            return pl_error(PL_ERR_FORMAT, "tensor '%s' appears in two shards", m->all[m->sorted[i]]->name);
    return PL_OK;
}

/* Every weight_map entry must be in the shard it names. */
static int check_weight_map(const pl_st_model *m, const cJSON *root, const char *index_path) {
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    for (const cJSON *e = map->child; e; e = e->next) {
        const pl_st_tensor *t = pl_st_model_find(m, e->string);
        const char *shard = t ? strrchr(m->paths[t->shard], '/') + 1 : NULL;  /* paths are dir/name */
        if (!t || strcmp(shard, e->valuestring))
            return pl_error(PL_ERR_FORMAT, "%s: tensor '%s' is not in shard '%s'", index_path, e->string,
                            e->valuestring);
    }
    return PL_OK;
}

static int model_open_shards(pl_st_model *m, const char *dir, name_list *names) {
    qsort(names->v, (size_t)names->n, sizeof(char *), cmp_str);
    m->shards = pl_calloc((size_t)names->n, sizeof(pl_st *));
    m->paths = pl_calloc((size_t)names->n, sizeof(char *));
    if (!m->shards || !m->paths) return PL_ERR_NOMEM;
    for (int i = 0; i < names->n; i++) {
        if (!(m->paths[i] = join(dir, names->v[i]))) return PL_ERR_NOMEM;
        m->n_shards = i + 1;
        if (!(m->shards[i] = pl_st_open(m->paths[i]))) return PL_ERR_FORMAT;
    }
    return model_index(m);
}

pl_st_model *pl_st_model_open(const char *path) {
    pl_st_model *m = pl_calloc(1, sizeof *m);
    if (!m) return NULL;
    name_list names = {0};
    cJSON *index = NULL;
    char *dir = NULL, *index_path = NULL;
    int rc;
    if (is_dir(path)) {
        dir = pl_strdup(path);
        index_path = join(path, "model.safetensors.index.json");
        char *single = join(path, "model.safetensors");
        if (index_path && is_file(index_path)) rc = index_shards(index_path, &names, &index);
        else if (single && is_file(single)) rc = list_add(&names, "model.safetensors");
        else rc = dir_shards(path, &names);
        free(single);
    } else if (!is_file(path)) {
        rc = pl_error(PL_ERR_IO, "cannot open '%s': no such file or directory", path);
    } else {
        dir = dir_of(path);
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        if (ends_with(path, ".json")) {
            index_path = pl_strdup(path);
            rc = index_shards(path, &names, &index);
        } else {
            rc = list_add(&names, base);
        }
    }
    if (rc == PL_OK && dir) rc = model_open_shards(m, dir, &names);
    if (rc == PL_OK && index) rc = check_weight_map(m, index, index_path);
    cJSON_Delete(index);
    list_free(&names);
    free(dir);
    free(index_path);
    if (rc != PL_OK) { pl_st_model_close(m); return NULL; }
    return m;
}

void pl_st_model_close(pl_st_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_shards; i++) { pl_st_close(m->shards[i]); free(m->paths[i]); }
    free(m->shards); free(m->paths); free(m->all); free(m->sorted);
    free(m);
}

int pl_st_model_n_shards(const pl_st_model *m) { return m->n_shards; }
const pl_st *pl_st_model_shard(const pl_st_model *m, int i) { return i >= 0 && i < m->n_shards ? m->shards[i] : NULL; }
const char *pl_st_model_shard_path(const pl_st_model *m, int i) { return i >= 0 && i < m->n_shards ? m->paths[i] : NULL; }
int64_t pl_st_model_n_tensors(const pl_st_model *m) { return m->n; }
const pl_st_tensor *pl_st_model_tensor_at(const pl_st_model *m, int64_t i) { return i >= 0 && i < m->n ? m->all[i] : NULL; }

size_t pl_st_model_total_bytes(const pl_st_model *m) {
    size_t total = 0;
    for (int i = 0; i < m->n_shards; i++) total += pl_st_file_size(m->shards[i]);
    return total;
}

const pl_st_tensor *pl_st_model_find(const pl_st_model *m, const char *name) {
    if (!m || !name || !m->sorted) return NULL;
    int64_t lo = 0, hi = m->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->all[m->sorted[mid]]->name, name);
        if (c == 0) return m->all[m->sorted[mid]];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}
