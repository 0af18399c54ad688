/* Model-path resolution (see model_path.h): stat the path, sniff a file's first bytes (GGUF magic, or a
 * plausible safetensors header length followed by '{'), list a directory's model files. */
#include "io/model_path.h"

#include "core/common.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

char *pl_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = pl_malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *pl_path_dirname(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return pl_strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = pl_malloc(n + 1);
    if (d) { memcpy(d, path, n); d[n] = 0; }
    return d;
}

static bool has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static int sniff_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return pl_error(PL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    uint8_t b[9] = {0};
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n >= 4 && !memcmp(b, "GGUF", 4)) return PL_MODEL_GGUF;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (has_suffix(base, ".index.json")) return PL_MODEL_ST_INDEX;
    if (!strcmp(base, "config.json")) return PL_MODEL_HF_DIR;
    uint64_t hlen;
    memcpy(&hlen, b, 8);
    if (n == 9 && hlen >= 2 && hlen < (1ull << 32) && b[8] == '{') return PL_MODEL_SAFETENSORS;
    if (n == 0) return pl_error(PL_ERR_FORMAT, "'%s' is empty", path);
    /* by name: the reader then says precisely what is wrong with the file */
    if (has_suffix(base, ".gguf")) return PL_MODEL_GGUF;
    if (has_suffix(base, ".safetensors")) return PL_MODEL_SAFETENSORS;
    return pl_error(PL_ERR_FORMAT, "'%s' is not a GGUF file, a safetensors file or a model directory", path);
}

/* A directory: HF if it has config.json or any .safetensors; else its single .gguf. */
static int sniff_dir(const char *path, char **gguf) {
    DIR *d = opendir(path);
    if (!d) return pl_error(PL_ERR_IO, "cannot read directory '%s': %s", path, strerror(errno));
    int n_gguf = 0;
    bool hf = false;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (!strcmp(e->d_name, "config.json") || has_suffix(e->d_name, ".safetensors")) hf = true;
        if (has_suffix(e->d_name, ".gguf") && n_gguf++ == 0) *gguf = pl_path_join(path, e->d_name);
    }
    closedir(d);
    if (hf) return PL_MODEL_HF_DIR;
    if (n_gguf == 1) return PL_MODEL_GGUF;
    if (n_gguf > 1)
        return pl_error(PL_ERR_ARG, "'%s' holds %d .gguf files: name the one to use", path, n_gguf);
    return pl_error(PL_ERR_FORMAT, "'%s' holds no model files (config.json, *.safetensors or *.gguf)", path);
}

int pl_model_path_resolve(const char *path, char **resolved) {
    *resolved = NULL;
    struct stat sb;
    if (!path || !*path) return pl_error(PL_ERR_ARG, "no model path given");
    if (stat(path, &sb) != 0) return pl_error(PL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        char *gguf = NULL;
        int kind = sniff_dir(path, &gguf);
        if (kind == PL_MODEL_GGUF) { *resolved = gguf; return kind; }
        free(gguf);
        if (kind > 0 && !(*resolved = pl_strdup(path))) return PL_ERR_NOMEM;
        return kind;
    }
    if (!S_ISREG(sb.st_mode)) return pl_error(PL_ERR_IO, "'%s' is not a file or directory", path);
    int kind = sniff_file(path);
    if (kind == PL_MODEL_HF_DIR) *resolved = pl_path_dirname(path);
    else if (kind > 0) *resolved = pl_strdup(path);
    if (kind > 0 && !*resolved) return PL_ERR_NOMEM;
    return kind;
}
