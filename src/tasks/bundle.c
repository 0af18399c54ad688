/* The model bundle (bundle.h): load the model, its tokenizer and chat template from one path, check that they
 * fit together, and hand out the generation options that go with them. Paths are classified by
 * io/model_path.h (content, not file names). */
#include "tasks/bundle.h"
#include "models/lora.h"
#include "models/prompt_tuning.h"
#include "tasks/checkpoint.h"

#include "core/common.h"
#include "io/gguf.h"
#include "io/hfconfig.h"
#include "io/model_path.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the directory of a safetensors model (an HF directory, or the one holding the file / index) */
static char *model_dir(int kind, char *resolved) {
    if (kind == PL_MODEL_HF_DIR) return resolved;
    char *d = pl_path_dirname(resolved);
    free(resolved);
    return d;
}

int pl_bundle_resolve(const char *path, char **model_path) {
    *model_path = NULL;
    char *r = NULL, ck[4200];
    if (pl_train_resolve_checkpoint(path, ck, sizeof ck) == PL_OK) path = ck; /* a training directory: its checkpoint */
    pl_clear_error();
    int kind = pl_model_path_resolve(path, &r);
    if (kind < 0) return kind;
    if (kind == PL_MODEL_GGUF) { *model_path = r; return 1; }
    char *dir = model_dir(kind, r), *cfg = dir ? pl_path_join(dir, "config.json") : NULL;
    bool hf = cfg && access(cfg, F_OK) == 0;
    free(cfg);
    if (hf) *model_path = dir;
    else free(dir);
    return dir ? hf : PL_ERR_NOMEM;
}

static pl_chat_template *gguf_template(const char *path, bool *failed) {
    pl_gguf *g = pl_gguf_open(path);
    if (!g) { *failed = true; return NULL; }
    const char *j = pl_gguf_get_str(g, "tokenizer.chat_template", NULL);
    pl_chat_template *t = j ? pl_chat_template_detect(j) : NULL;
    *failed = j && !t;
    pl_gguf_close(g);
    return t;
}

static pl_chat_template *hf_template(const char *dir, bool *failed) {
    pl_hf_tokenizer_config tc;
    if (pl_hf_tokenizer_config_load(dir, &tc)) { *failed = true; return NULL; }
    pl_chat_template *t = tc.chat_template ? pl_chat_template_detect(tc.chat_template) : NULL;
    *failed = tc.chat_template && !t;
    if (t && (tc.bos_token || tc.eos_token)) pl_chat_template_set_tokens(t, tc.bos_token, tc.eos_token);
    pl_hf_tokenizer_config_free(&tc);
    return t;
}

pl_chat_template *pl_chat_template_for_model(const char *model_path, bool *failed) {
    char *r = NULL;
    int kind = pl_model_path_resolve(model_path, &r);
    *failed = kind < 0;
    if (kind < 0) return NULL;
    if (kind == PL_MODEL_GGUF) {
        pl_chat_template *t = gguf_template(r, failed);
        free(r);
        return t;
    }
    char *dir = model_dir(kind, r);
    pl_chat_template *t = dir ? hf_template(dir, failed) : NULL;
    *failed |= !dir;
    free(dir);
    return t;
}

/* the template the params ask for; false + message when it cannot be had */
static bool bundle_chat(pl_bundle *b, const char *path, const pl_bundle_params *p) {
    const char *chat = p->chat ? p->chat : "auto";
    bool failed = false;
    if (!strcmp(chat, "auto")) b->chat = pl_chat_template_for_model(b->path, &failed);
    else if (strcmp(chat, "none") && !(b->chat = pl_chat_template_by_name(chat))) failed = true;
    if (!failed && !b->chat && p->need_chat) {
        pl_error(PL_ERR_FORMAT, "%s has no chat template (use --chat-template)", path);
        failed = true;
    }
    if (b->chat) b->end_of_turn = pl_chat_template_end_of_turn(b->chat);
    return !failed;
}

static bool bundle_tokenizer(pl_bundle *b, const char *path) {
    if (!(b->tok = pl_tokenizer_load(path))) return false;
    if (pl_tokenizer_n_vocab(b->tok) <= pl_llm_n_vocab(b->llm)) return true;
    pl_error(PL_ERR_FORMAT, "the tokenizer's %d tokens exceed the model's vocabulary of %d",
             pl_tokenizer_n_vocab(b->tok), pl_llm_n_vocab(b->llm));
    return false;
}

static char *path_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/') s--;
    char *r = pl_malloc(n - s + 1);
    if (!r) return NULL;
    memcpy(r, path + s, n - s);
    r[n - s] = 0;
    return r;
}

/* an adapter given as a training directory (plinth finetune's -o) means its current checkpoint */
static void adapter_dir(char *dir, size_t cap) {
    char st[4200], ck[4200];
    snprintf(st, sizeof st, "%s/state.json", dir);
    if (access(st, F_OK) == 0 && pl_train_resolve_checkpoint(dir, ck, sizeof ck) == PL_OK && strlen(ck) < cap) memcpy(dir, ck, strlen(ck) + 1);
    pl_clear_error();
}

int pl_adapter_spec(const char *spec, char *dir, size_t cap, float *scale) {
    snprintf(dir, cap, "%s", spec);
    *scale = 1.0f;
    char *colon = strrchr(dir, ':'), *end;
    if (colon && colon[1]) {
        float v = strtof(colon + 1, &end);
        if (!*end) { *scale = v; *colon = 0; }
    }
    if (!isfinite(*scale)) return pl_error(PL_ERR_ARG, "--lora %s: the scale is not a number", spec);
    adapter_dir(dir, cap);
    return PL_OK;
}

/* "DIR" or "DIR:SCALE" -> the adapter, applied to b's model */
static bool bundle_lora(pl_bundle *b, const char *spec) {
    char dir[4096];
    float scale;
    if (pl_adapter_spec(spec, dir, sizeof dir, &scale)) return false;
    pl_lora *l = pl_lora_load(b->llm, dir);
    if (!l) return false;
    b->lora[b->n_lora++] = l;
    return pl_llm_add_lora(b->llm, l, scale) == PL_OK;
}

pl_bundle *pl_bundle_open(const char *path, const pl_bundle_params *params) {
    pl_bundle_params def = {0};
    const pl_bundle_params *p = params ? params : &def;
    pl_bundle *b = pl_calloc(1, sizeof *b);
    if (!b) return NULL;
    /* a directory holding one GGUF opens that file; a path that cannot be classified goes to the loader as it
     * is, which names what is wrong */
    if (pl_bundle_resolve(path, &b->path) != 1) {
        free(b->path);
        if (!(b->path = pl_strdup(path))) { free(b); return NULL; }
    }
    pl_clear_error();
    b->llm = pl_llm_load_ex(b->path, &(pl_llm_params){.n_ctx = p->n_ctx, .n_threads = p->n_threads,
                                                      .dequantize = p->dequantize, .kv_f16 = p->kv_f16});
    bool ok = b->llm && p->n_lora >= 0 && p->n_lora <= PL_LLM_MAX_LORA;
    for (int i = 0; ok && i < p->n_lora; i++) ok = bundle_lora(b, p->lora[i]);
    if (ok && p->prompt_adapter) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", p->prompt_adapter);
        adapter_dir(dir, sizeof dir);
        ok = (b->prompt = pl_prompt_load(b->llm, dir)) && pl_llm_set_prompt(b->llm, b->prompt) == PL_OK;
    }
    ok = ok && (p->no_tokenizer || bundle_tokenizer(b, b->path));
    ok = ok && (p->no_tokenizer || bundle_chat(b, path, p));
    ok = ok && (b->name = path_name(path));
    if (!ok) { pl_bundle_free(b); return NULL; }
    return b;
}

void pl_bundle_free(pl_bundle *b) {
    if (!b) return;
    pl_chat_template_free(b->chat);
    pl_tokenizer_free(b->tok);
    pl_llm_free(b->llm);
    for (int i = 0; i < b->n_lora; i++) pl_lora_free(b->lora[i]);
    pl_prompt_free(b->prompt);
    free(b->path);
    free(b->name);
    free(b);
}

pl_gen_opts pl_bundle_gen_opts(const pl_bundle *b, bool chat) {
    pl_gen_opts o = pl_gen_default_opts();
    if (!chat || !b->chat) return o;
    o.stops = &b->end_of_turn;
    o.n_stops = b->end_of_turn ? 1 : 0;
    o.add_special = false; /* the rendered template carries its own BOS text */
    return o;
}
