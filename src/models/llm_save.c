/* Saving a trainable model (pl_llm_params.train, pl_llm_new) as a Hugging Face model directory: config.json in
 * each architecture's transformers config (LlamaForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel,
 * Gemma3ForCausalLM), model.safetensors under the HF names the loader read (Conv1D weights transposed back,
 * a llama GGUF's permuted Q/K rows put back in order) and generation_config.json. What `plinth train` and
 * `plinth finetune` write as checkpoints; every plinth command and transformers load them. */
#include "io/safetensors.h"
#include "models/llm.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void add_num(cJSON *o, const char *k, double v) { cJSON_AddNumberToObject(o, k, v); }

/* the sizes a llama-style config (Llama, Qwen2, Gemma 3) names alike */
static void config_dims(cJSON *c, const pl_llm_hparams *h) {
    add_num(c, "hidden_size", h->n_embd);
    add_num(c, "intermediate_size", h->n_ff);
    add_num(c, "num_hidden_layers", h->n_layer);
    add_num(c, "num_attention_heads", h->n_head);
    add_num(c, "num_key_value_heads", h->n_head_kv);
    add_num(c, "head_dim", h->head_dim);
    add_num(c, "max_position_embeddings", h->n_ctx_train);
    add_num(c, "rms_norm_eps", h->norm_eps);
}

static void config_llama(cJSON *c, const pl_llm *m) {
    const pl_llm_hparams *h = &m->hp;
    bool qwen = h->arch == PL_LLM_QWEN2;
    cJSON_AddItemToObject(c, "architectures", cJSON_CreateStringArray((const char *[]){qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}, 1));
    cJSON_AddStringToObject(c, "model_type", qwen ? "qwen2" : "llama");
    config_dims(c, h);
    add_num(c, "rope_theta", h->rope_theta);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    if (!qwen) {
        cJSON_AddBoolToObject(c, "attention_bias", m->layers[0].bq != NULL);
        cJSON_AddBoolToObject(c, "mlp_bias", false);
    }
    if (h->rope_freq_scale != 1.0f) {
        cJSON *r = cJSON_AddObjectToObject(c, "rope_scaling");
        cJSON_AddStringToObject(r, "rope_type", "linear");
        add_num(r, "factor", 1.0 / h->rope_freq_scale);
    }
}

static void config_gpt2(cJSON *c, const pl_llm *m) {
    const pl_llm_hparams *h = &m->hp;
    cJSON_AddItemToObject(c, "architectures", cJSON_CreateStringArray((const char *[]){"GPT2LMHeadModel"}, 1));
    cJSON_AddStringToObject(c, "model_type", "gpt2");
    add_num(c, "n_embd", h->n_embd);
    add_num(c, "n_layer", h->n_layer);
    add_num(c, "n_head", h->n_head);
    add_num(c, "n_positions", h->n_ctx_train);
    add_num(c, "n_inner", h->n_ff);
    add_num(c, "layer_norm_epsilon", h->norm_eps);
    cJSON_AddStringToObject(c, "activation_function", "gelu_new");
    add_num(c, "resid_pdrop", 0); add_num(c, "embd_pdrop", 0); add_num(c, "attn_pdrop", 0);
}

static void config_gemma3(cJSON *c, const pl_llm *m) {
    const pl_llm_hparams *h = &m->hp;
    cJSON_AddItemToObject(c, "architectures", cJSON_CreateStringArray((const char *[]){"Gemma3ForCausalLM"}, 1));
    cJSON_AddStringToObject(c, "model_type", "gemma3_text");
    config_dims(c, h);
    add_num(c, "query_pre_attn_scalar", roundf(1.0f / (h->attn_scale * h->attn_scale)));
    add_num(c, "sliding_window", h->n_swa);
    cJSON_AddStringToObject(c, "hidden_activation", "gelu_pytorch_tanh");
    cJSON *types = cJSON_AddArrayToObject(c, "layer_types");
    for (int l = 0; l < h->n_layer; l++)
        cJSON_AddItemToArray(types, cJSON_CreateString(m->layers[l].swa ? "sliding_attention" : "full_attention"));
    cJSON *rp = cJSON_AddObjectToObject(c, "rope_parameters");
    const struct { const char *k; float theta; } r[] = {{"full_attention", h->rope_theta}, {"sliding_attention", h->rope_theta_swa}};
    for (int i = 0; i < 2; i++) {
        cJSON *o = cJSON_AddObjectToObject(rp, r[i].k);
        add_num(o, "rope_theta", r[i].theta);
        cJSON_AddStringToObject(o, "rope_type", "default");
    }
}

static int write_json(const char *dir, const char *name, cJSON *o) {
    char path[4200], *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s) return pl_error(PL_ERR_NOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = pl_write_file_atomic(path, s, strlen(s));
    free(s);
    return rc;
}

static void add_ids(cJSON *c, int bos, int eos) {
    if (bos >= 0) add_num(c, "bos_token_id", bos);
    if (eos >= 0) add_num(c, "eos_token_id", eos);
}

static int write_config(const pl_llm *m, const char *dir, int bos, int eos) {
    cJSON *c = cJSON_CreateObject();
    if (m->hp.arch == PL_LLM_GPT2) config_gpt2(c, m);
    else if (m->hp.arch == PL_LLM_GEMMA3) config_gemma3(c, m);
    else config_llama(c, m);
    add_num(c, "vocab_size", m->hp.n_vocab);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", m->output == m->tok_embd);
    cJSON_AddStringToObject(c, "torch_dtype", "float32");
    add_ids(c, bos, eos);
    int rc = write_json(dir, "config.json", c);
    if (rc) return rc;
    cJSON *g = cJSON_CreateObject();
    add_ids(g, bos, eos);
    return write_json(dir, "generation_config.json", g);
}

/* the HF layout of parameter p (shape in PyTorch order), into buf when it differs from the graph's */
static const float *hf_data(const pl_llm *m, const pl_llm_param *p, float *buf, int64_t shape[2], int *nd) {
    const pl_tensor *t = p->t;
    int64_t ne0 = t->ne[0], ne1 = t->n_dims > 1 ? t->ne[1] : 1;
    const float *w = pl_f32(t);
    *nd = t->n_dims > 1 ? 2 : 1;
    shape[0] = *nd == 2 ? ne1 : ne0;
    shape[1] = ne0;
    if ((p->flags & LLM_W_HF_TRANSPOSED) && !m->gguf) { /* Conv1D: (in, out) */
        for (int64_t o = 0; o < ne1; o++)
            for (int64_t i = 0; i < ne0; i++) buf[i * ne1 + o] = w[o * ne0 + i];
        shape[0] = ne0; shape[1] = ne1;
        return buf;
    }
    /* llama.cpp stores a llama's Q and K rows of each head interleaved for its NORMAL rope */
    bool q = strstr(p->hf_name, "q_proj") != NULL, k = strstr(p->hf_name, "k_proj") != NULL;
    if (m->gguf && m->hp.rope_mode == PL_ROPE_NORMAL && (q || k)) {
        llm_qk_rows(buf, w, *nd == 2 ? ne1 : ne0, *nd == 2 ? ne0 : 1, m->hp.head_dim, true);
        return buf;
    }
    return w;
}

int pl_llm_save_hf(const pl_llm *m, const char *dir, int bos, int eos) {
    if (!m->train) return pl_error(PL_ERR_ARG, "only a trainable model (f32 parameters) can be saved");
    int rc = write_config(m, dir, bos, eos);
    if (rc) return rc;
    pl_st_writer *w = pl_st_writer_new();
    if (!w) return PL_ERR_NOMEM;
    rc = pl_st_writer_set_metadata(w, "format", "pt");
    float **bufs = pl_calloc((size_t)m->n_params + 1, sizeof *bufs);
    if (!bufs) rc = PL_ERR_NOMEM;
    for (int i = 0; i < m->n_params && !rc; i++) {
        const pl_llm_param *p = &m->params[i];
        int64_t shape[2];
        int nd;
        bufs[i] = pl_malloc((size_t)pl_nelements(p->t) * sizeof(float));
        if (!bufs[i]) { rc = PL_ERR_NOMEM; break; }
        const float *data = hf_data(m, p, bufs[i], shape, &nd);
        rc = pl_st_writer_add(w, p->hf_name, PL_F32, nd, shape, data, false);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!rc) rc = pl_st_writer_write_file(w, path);
    for (int i = 0; bufs && i < m->n_params; i++) free(bufs[i]);
    free(bufs);
    pl_st_writer_free(w);
    return rc;
}
