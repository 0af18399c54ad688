/* Prompt-tuning adapters (prompt_tuning.h): made, loaded and saved in PEFT's format. pl_llm_forward_train puts
 * them before the tokens (llm.c). */
#include "models/prompt_tuning.h"
#include "io/safetensors.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

static pl_prompt_adapter *alloc(int n_virtual, int n_embd) {
    pl_prompt_adapter *p = pl_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_virtual = n_virtual; p->n_embd = n_embd;
    p->n_floats = (int64_t)n_virtual * n_embd;
    float *buf = pl_calloc((size_t)(4 * p->n_floats), sizeof(float));
    p->ctx = pl_ctx_new(&(pl_ctx_params){0});
    if (!buf || !p->ctx) { free(buf); pl_prompt_free(p); return NULL; }
    p->w = buf; p->g = buf + p->n_floats; p->adam_m = buf + 2 * p->n_floats; p->adam_v = buf + 3 * p->n_floats;
    const int64_t ne[2] = {n_embd, n_virtual};
    p->emb = pl_new_mapped(p->ctx, PL_F32, 2, ne, p->w);
    pl_tensor *g = pl_new_mapped(p->ctx, PL_F32, 2, ne, p->g);
    if (!p->emb || !g) { pl_prompt_free(p); return NULL; }
    pl_set_name(p->emb, "prompt_embeddings");
    p->emb->grad = g;
    pl_param(p->ctx, p->emb);
    return p;
}

pl_prompt_adapter *pl_prompt_new(const pl_llm *m, int n_virtual, const int32_t *init_ids, int n_init, uint64_t seed) {
    if (n_virtual < 1 || n_virtual > 4096) return pl_error_null(PL_ERR_ARG, "prompt tuning: %d virtual tokens (1..4096)", n_virtual);
    const int C = m->hp.n_embd;
    pl_prompt_adapter *p = alloc(n_virtual, C);
    if (!p) return NULL;
    if (n_init > 0) { /* the text's token embeddings, cycled (as the model sees them: Gemma's scaled) */
        const pl_type_traits *tr = pl_dtype_traits(m->tok_embd->type);
        const float s = m->hp.arch == PL_LLM_GEMMA3 ? sqrtf((float)C) : 1.0f;
        for (int i = 0; i < n_virtual; i++) {
            int32_t id = init_ids[i % n_init];
            if (id < 0 || id >= m->hp.n_vocab) { pl_prompt_free(p); return pl_error_null(PL_ERR_ARG, "prompt tuning: init token %d out of range", id); }
            tr->to_float((const char *)m->tok_embd->data + (size_t)id * m->tok_embd->nb[1], p->w + (int64_t)i * C, C);
            for (int c = 0; c < C; c++) p->w[(int64_t)i * C + c] *= s;
        }
    } else {
        uint64_t st = seed;
        for (int64_t i = 0; i < p->n_floats; i += 2) { /* Box-Muller */
            double u1 = ((pl_splitmix64(&st) >> 11) + 1.0) / 9007199254740993.0, u2 = (pl_splitmix64(&st) >> 11) / 9007199254740992.0;
            double r = sqrt(-2.0 * log(u1));
            p->w[i] = (float)(r * cos(2 * M_PI * u2));
            if (i + 1 < p->n_floats) p->w[i + 1] = (float)(r * sin(2 * M_PI * u2));
        }
    }
    return p;
}

pl_prompt_adapter *pl_prompt_load(const pl_llm *m, const char *dir) {
    pl_peft_prompt_config c;
    if (pl_peft_prompt_config_read(dir, &c)) return NULL;
    if (c.token_dim != m->hp.n_embd)
        return pl_error_null(PL_ERR_FORMAT, "%s: virtual tokens of width %d, this model's embeddings are %d wide: the adapter was made for another model",
                             dir, c.token_dim, m->hp.n_embd);
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    pl_st *st = pl_st_open(path);
    if (!st) return NULL;
    const pl_st_tensor *t = pl_st_find(st, "prompt_embeddings");
    pl_prompt_adapter *p = NULL;
    if (!t || t->n_dims != 2 || t->shape[0] != c.n_virtual || t->shape[1] != c.token_dim || (t->type != PL_F32 && t->type != PL_F16 && t->type != PL_BF16))
        pl_error(PL_ERR_FORMAT, "%s: prompt_embeddings missing or not %d x %d (f32/f16/bf16)", path, c.n_virtual, c.token_dim);
    else if ((p = alloc(c.n_virtual, c.token_dim))) {
        pl_dtype_traits(t->type)->to_float(t->data, p->w, t->numel);
        snprintf(p->init_text, sizeof p->init_text, "%s", c.init_text);
    }
    pl_st_close(st);
    return p;
}

int pl_prompt_save(const pl_prompt_adapter *p, const char *dir, const char *base_name) {
    if (mkdir(dir, 0755) && errno != EEXIST) return pl_error(PL_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    pl_st_writer *w = pl_st_writer_new();
    if (!w) return PL_ERR_NOMEM;
    const int64_t shape[2] = {p->n_virtual, p->n_embd};
    int rc = pl_st_writer_set_metadata(w, "format", "pt");
    if (!rc) rc = pl_st_writer_add(w, "prompt_embeddings", PL_F32, 2, shape, p->w, false);
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (!rc) rc = pl_st_writer_write_file(w, path);
    pl_st_writer_free(w);
    if (rc) return rc;
    pl_peft_prompt_config c = {.n_virtual = p->n_virtual, .token_dim = p->n_embd};
    snprintf(c.init_text, sizeof c.init_text, "%s", p->init_text);
    snprintf(c.base, sizeof c.base, "%s", base_name ? base_name : "");
    return pl_peft_prompt_config_write(dir, &c);
}

void pl_prompt_free(pl_prompt_adapter *p) {
    if (!p) return;
    pl_ctx_free(p->ctx);
    free(p->w);
    free(p);
}

int pl_llm_set_prompt(pl_llm *m, const pl_prompt_adapter *p) {
    if (p && p->n_embd != m->hp.n_embd) return pl_error(PL_ERR_ARG, "prompt adapter of width %d for a model of width %d", p->n_embd, m->hp.n_embd);
    m->prompt = p;
    return PL_OK;
}
