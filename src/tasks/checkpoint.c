/* Checkpoints of training runs as Hugging Face directories plus the optimizer state (checkpoint.h). */
#include "tasks/checkpoint.h"
#include "io/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pl_mkdir_p(const char *dir) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(tmp, 0755); *p = '/'; }
    if (mkdir(tmp, 0755) && errno != EEXIST) return pl_error(PL_ERR_IO, "cannot create directory '%s': %s", dir, strerror(errno));
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.plinth-write-test", dir);
    FILE *f = fopen(probe, "w");
    if (!f) return pl_error(PL_ERR_IO, "cannot write checkpoints to '%s': %s", dir, strerror(errno));
    fclose(f);
    unlink(probe);
    return PL_OK;
}

static void rm_dir(const char *dir) { /* a checkpoint directory: files only */
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* GPT-2's byte -> printable character table, the alphabet of byte-level BPE vocabularies */
static int byte_char(int b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
    return 256 + n;
}

/* a byte-level BPE tokenizer.json with no merges: token id = byte */
static int write_byte_tokenizer(const char *dir) {
    cJSON *t = cJSON_CreateObject(), *bl = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "version", "1.0");
    cJSON_AddItemToObject(t, "added_tokens", cJSON_CreateArray());
    cJSON_AddNullToObject(t, "normalizer");
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddFalseToObject(bl, "add_prefix_space");
    cJSON_AddTrueToObject(bl, "trim_offsets");
    cJSON_AddTrueToObject(bl, "use_regex");
    cJSON_AddItemToObject(t, "pre_tokenizer", bl);
    cJSON_AddNullToObject(t, "post_processor");
    cJSON_AddItemToObject(t, "decoder", cJSON_Duplicate(bl, true));
    cJSON *model = cJSON_AddObjectToObject(t, "model"), *vocab;
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddFalseToObject(model, "byte_fallback");
    vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        char s[4] = {0};
        int c = byte_char(b);
        if (c < 0x80) s[0] = (char)c;
        else { s[0] = (char)(0xC0 | (c >> 6)); s[1] = (char)(0x80 | (c & 0x3F)); }
        cJSON_AddNumberToObject(vocab, s, b);
    }
    cJSON_AddItemToObject(model, "merges", cJSON_CreateArray());
    char *js = cJSON_PrintUnformatted(t), path[4400];
    cJSON_Delete(t);
    if (!js) return pl_error(PL_ERR_NOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = pl_write_file_atomic(path, js, strlen(js));
    free(js);
    return rc;
}

/* AdamW moment k (0: m, 1: v) of parameter p: its name in optimizer.safetensors, and where it lives in m */
static void moment_name(char *name, size_t cap, int k, const pl_llm_param *p) {
    snprintf(name, cap, "%s.%s", k ? "v" : "m", p->hf_name);
}
static float *moment(const pl_llm *m, int k, const pl_llm_param *p) {
    return (k ? m->adam_v : m->adam_m) + (pl_f32(p->t) - m->w);
}

static int write_optimizer(const char *dir, const pl_llm *m) {
    pl_st_writer *w = pl_st_writer_new();
    if (!w) return PL_ERR_NOMEM;
    int rc = PL_OK;
    for (int k = 0; k < 2 && !rc; k++)
        for (int i = 0; i < m->n_params && !rc; i++) {
            const pl_llm_param *p = &m->params[i];
            char name[300];
            moment_name(name, sizeof name, k, p);
            int64_t n = pl_nelements(p->t);
            rc = pl_st_writer_add(w, name, PL_F32, 1, &n, moment(m, k, p), false);
        }
    char path[4400];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    if (!rc) rc = pl_st_writer_write_file(w, path);
    pl_st_writer_free(w);
    return rc;
}

int pl_ckpt_load_optimizer(const char *ckdir, pl_llm *m) {
    char path[4400];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", ckdir);
    pl_st *st = pl_st_open(path);
    if (!st) return PL_ERR_FORMAT;
    int rc = PL_OK;
    for (int k = 0; k < 2 && !rc; k++)
        for (int i = 0; i < m->n_params && !rc; i++) {
            const pl_llm_param *p = &m->params[i];
            char name[300];
            moment_name(name, sizeof name, k, p);
            const pl_st_tensor *s = pl_st_find(st, name);
            if (!s || s->type != PL_F32 || s->numel != pl_nelements(p->t))
                rc = pl_error(PL_ERR_FORMAT, "%s: '%s' is missing or of another size", path, name);
            else memcpy(moment(m, k, p), s->data, s->nbytes);
        }
    pl_st_close(st);
    return rc;
}

typedef struct { const pl_llm *m; const pl_tokenizer *tok; } model_ckpt;
static int write_model(const char *dir, void *ud) {
    const model_ckpt *c = ud;
    int bos = c->tok ? pl_tokenizer_bos(c->tok) : -1, eos = c->tok ? pl_tokenizer_eos(c->tok) : -1;
    int rc = pl_llm_save_hf(c->m, dir, bos, eos);
    if (!rc) rc = c->tok ? pl_tokenizer_save_hf(c->tok, dir) : write_byte_tokenizer(dir);
    if (!rc) rc = write_optimizer(dir, c->m);
    return rc;
}

int pl_ckpt_save(const char *out_dir, int64_t step, const pl_llm *m, const pl_tokenizer *tok, cJSON *state) {
    return pl_ckpt_save_with(out_dir, step, write_model, &(model_ckpt){m, tok}, state);
}

int pl_ckpt_save_with(const char *out_dir, int64_t step, int (*write)(const char *dir, void *ud), void *ud, cJSON *state) {
    char name[64], tmp[4200], dir[4096];
    snprintf(name, sizeof name, "checkpoint-%06lld", (long long)step);
    snprintf(dir, sizeof dir, "%s/%s", out_dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    rm_dir(tmp);
    if (mkdir(tmp, 0755)) return pl_error(PL_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    int rc = write(tmp, ud);
    if (!rc) {
        rm_dir(dir);
        if (rename(tmp, dir)) rc = pl_error(PL_ERR_IO, "cannot rename '%s': %s", tmp, strerror(errno));
    }
    if (rc) { rm_dir(tmp); return rc; }
    char old[4200] = ""; /* the previous checkpoint, deleted once state.json names the new one */
    if (pl_ckpt_step(out_dir) < 0 || pl_train_resolve_checkpoint(out_dir, old, sizeof old)) old[0] = 0;
    pl_clear_error();
    cJSON_DeleteItemFromObject(state, "step");
    cJSON_DeleteItemFromObject(state, "checkpoint");
    cJSON_AddNumberToObject(state, "step", (double)step);
    cJSON_AddStringToObject(state, "checkpoint", name);
    char *js = cJSON_Print(state), spath[4200];
    snprintf(spath, sizeof spath, "%s/state.json", out_dir);
    rc = js ? pl_write_file_atomic(spath, js, strlen(js)) : pl_error(PL_ERR_NOMEM, "out of memory");
    free(js);
    if (!rc && old[0] && strcmp(old, dir)) rm_dir(old);
    return rc;
}

int64_t pl_ckpt_step(const char *out_dir) {
    char spath[4200];
    snprintf(spath, sizeof spath, "%s/state.json", out_dir);
    char *js = pl_read_file(spath, NULL);
    cJSON *st = js ? cJSON_Parse(js) : NULL;
    free(js);
    const cJSON *s = st ? cJSON_GetObjectItemCaseSensitive(st, "step") : NULL;
    int64_t step = cJSON_IsNumber(s) ? (int64_t)s->valuedouble : pl_error(PL_ERR_FORMAT, "'%s' names no step", spath);
    cJSON_Delete(st);
    return step;
}

int pl_train_resolve_checkpoint(const char *path, char *out, size_t cap) {
    struct stat sb;
    if (stat(path, &sb) != 0) return pl_error(PL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char spath[4200];
    snprintf(spath, sizeof spath, "%s/state.json", path);
    if (!S_ISDIR(sb.st_mode) || access(spath, F_OK)) { /* a checkpoint directory itself */
        snprintf(out, cap, "%s", path);
        return PL_OK;
    }
    char *js = pl_read_file(spath, NULL);
    cJSON *st = js ? cJSON_Parse(js) : NULL;
    free(js);
    const cJSON *ck = st ? cJSON_GetObjectItemCaseSensitive(st, "checkpoint") : NULL;
    if (!cJSON_IsString(ck) || strchr(ck->valuestring, '/')) {
        cJSON_Delete(st);
        return pl_error(PL_ERR_FORMAT, "'%s' is malformed (no checkpoint named)", spath);
    }
    snprintf(out, cap, "%s/%s", path, ck->valuestring);
    cJSON_Delete(st);
    return PL_OK;
}
