/* The public API of include/plinth.h over the layers below: pl_model is a decoder LM (models/llm.h) with its
 * tokenizer, the sequence and batch calls wrap pl_llm_*, generation is tasks/generate.c, and a pl_trainer is the
 * training graph of pl_llm_forward_train with train/update.c's AdamW over the model's flat buffers. Every entry
 * point checks what a caller can get wrong (NULL handles, ids, sizes) before going down, since the layers below
 * assume well-formed arguments in places (an assert is not an answer to a user). Nothing includes this file. */
#include "plinth.h"

#include "core/common.h"
#include "models/llm.h"
#include "tasks/bundle.h"
#include "tasks/checkpoint.h"
#include "tasks/generate.h"
#include "train/update.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct pl_model {
    pl_llm *llm;
    pl_tokenizer *tok;
};

struct pl_trainer {
    pl_model *model;
    pl_trainer_params p;
    pl_ctx *ctx;
    pl_tensor *ids, *targets, *loss; /* ids, targets i32 {T, B}; loss: the scalar node */
    pl_graph *g;
    int64_t step;                    /* AdamW steps taken (t - 1) */
};

#define NEED_MODEL(m) do { if (!(m)) return pl_error(PL_ERR_ARG, "%s: the model is NULL", __func__); } while (0)

/* ---- models -------------------------------------------------------------------------------------------------- */
pl_model_params pl_model_default_params(void) { return (pl_model_params){0}; }

pl_model *pl_model_load(const char *path, const pl_model_params *params) {
    if (!path || !*path) return pl_error_null(PL_ERR_ARG, "pl_model_load: no path");
    pl_model_params p = params ? *params : pl_model_default_params();
    if (p.n_ctx < 0 || p.n_threads < 0) return pl_error_null(PL_ERR_ARG, "pl_model_load: n_ctx and n_threads must be >= 0");
    char *mp = NULL;
    int kind = pl_bundle_resolve(path, &mp); /* a training directory's checkpoint, the GGUF in a directory, ... */
    if (kind != 1) {
        free(mp);
        if (kind == 0) pl_error(PL_ERR_ARG, "'%s' is not a model (a .gguf file, a Hugging Face directory or a training directory)", path);
        return NULL;
    }
    pl_model *m = pl_calloc(1, sizeof *m);
    if (!m) { free(mp); return NULL; }
    pl_clear_error();
    m->llm = pl_llm_load_ex(mp, &(pl_llm_params){.n_ctx = p.n_ctx, .n_threads = p.n_threads, .train = p.train});
    if (m->llm) m->tok = pl_tokenizer_load(mp);
    if (m->tok && pl_tokenizer_n_vocab(m->tok) > pl_llm_n_vocab(m->llm))
        pl_error(PL_ERR_FORMAT, "%s: the tokenizer's %d tokens exceed the model's vocabulary of %d", path,
                 pl_tokenizer_n_vocab(m->tok), pl_llm_n_vocab(m->llm));
    else if (m->tok) { free(mp); return m; }
    free(mp);
    pl_model_free(m);
    return NULL;
}

void pl_model_free(pl_model *m) {
    if (!m) return;
    pl_tokenizer_free(m->tok);
    pl_llm_free(m->llm);
    free(m);
}

int pl_model_n_vocab(const pl_model *m) { NEED_MODEL(m); return pl_llm_n_vocab(m->llm); }
int pl_model_n_ctx(const pl_model *m) { NEED_MODEL(m); return pl_llm_n_ctx(m->llm); }
const pl_tokenizer *pl_model_tokenizer(const pl_model *m) { return m ? m->tok : NULL; }

int pl_model_save(const pl_model *m, const char *dir) {
    NEED_MODEL(m);
    if (!dir || !*dir) return pl_error(PL_ERR_ARG, "pl_model_save: no directory");
    if (!m->llm->train) return pl_error(PL_ERR_ARG, "pl_model_save: only a model loaded with .train = true can be saved");
    int rc = pl_mkdir_p(dir);
    if (!rc) rc = pl_llm_save_hf(m->llm, dir, pl_tokenizer_bos(m->tok), pl_tokenizer_eos(m->tok));
    if (!rc) rc = pl_tokenizer_save_hf(m->tok, dir);
    return rc;
}

/* ---- sequences and batches ------------------------------------------------------------------------------------- */
/* The model's own sequence (m->seq0, what pl_llm_eval and so generation run on) is not the caller's to touch */
static int user_seq(const pl_model *m, int seq) {
    if (seq == m->llm->seq0 || seq < 0) return pl_error(PL_ERR_ARG, "no sequence %d", seq);
    return PL_OK;
}

int pl_seq_new(pl_model *m) { NEED_MODEL(m); return pl_llm_seq_new(m->llm); }
int pl_seq_remove(pl_model *m, int seq) {
    NEED_MODEL(m);
    int rc = user_seq(m, seq);
    return rc ? rc : pl_llm_seq_remove(m->llm, seq);
}
int pl_seq_truncate(pl_model *m, int seq, int n_keep) {
    NEED_MODEL(m);
    int rc = user_seq(m, seq);
    if (!rc && n_keep < 0) rc = pl_error(PL_ERR_ARG, "pl_seq_truncate: n_keep %d < 0", n_keep);
    return rc ? rc : pl_llm_seq_truncate(m->llm, seq, n_keep);
}
int pl_seq_fork(pl_model *m, int seq) {
    NEED_MODEL(m);
    int rc = user_seq(m, seq);
    return rc ? rc : pl_llm_seq_fork(m->llm, seq);
}
int pl_seq_len(const pl_model *m, int seq) {
    NEED_MODEL(m);
    int rc = user_seq(m, seq);
    return rc ? rc : pl_llm_seq_len(m->llm, seq);
}

int pl_decode(pl_model *m, const pl_batch *b, float *out) {
    NEED_MODEL(m);
    if (!b || b->n <= 0 || !b->tokens || !b->seq) return pl_error(PL_ERR_ARG, "pl_decode: no tokens in the batch");
    bool any = !b->logits;
    for (int i = 0; i < b->n; i++) {
        int rc = user_seq(m, b->seq[i]);
        if (rc) return rc;
        any |= b->logits && b->logits[i];
    }
    if (any && !out) return pl_error(PL_ERR_ARG, "pl_decode: logits are wanted and out is NULL");
    return pl_llm_decode(m->llm, &(pl_llm_batch){.n = b->n, .tokens = b->tokens, .seq = b->seq, .logits = b->logits}, out);
}

/* ---- generation ------------------------------------------------------------------------------------------------ */
pl_generate_params pl_generate_default_params(void) {
    pl_gen_opts o = pl_gen_default_opts();
    return (pl_generate_params){.n_predict = o.n_predict, .sampling = o.sampling, .add_special = o.add_special};
}

int pl_generate_text(pl_model *m, const char *prompt, const pl_generate_params *params, pl_text_fn on_text, void *ud) {
    NEED_MODEL(m);
    if (!prompt) return pl_error(PL_ERR_ARG, "pl_generate_text: the prompt is NULL");
    pl_generate_params p = params ? *params : pl_generate_default_params();
    if (p.n_stops < 0 || (p.n_stops > 0 && !p.stops)) return pl_error(PL_ERR_ARG, "pl_generate_text: %d stop strings and no array", p.n_stops);
    for (int i = 0; i < p.n_stops; i++)
        if (!p.stops[i]) return pl_error(PL_ERR_ARG, "pl_generate_text: stop string %d is NULL", i);
    pl_gen_opts o = pl_gen_default_opts();
    o.n_predict = p.n_predict;
    o.sampling = p.sampling;
    o.stops = p.stops;
    o.n_stops = p.n_stops;
    o.add_special = p.add_special;
    return pl_generate(m->llm, m->tok, prompt, &o, on_text, ud, NULL, NULL);
}

/* ---- training -------------------------------------------------------------------------------------------------- */
pl_trainer_params pl_trainer_default_params(void) {
    return (pl_trainer_params){.batch = 1, .seq_len = 64, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                               .weight_decay = 0.01f, .clip = 1.0f};
}

pl_trainer *pl_trainer_new(pl_model *m, const pl_trainer_params *params) {
    if (!m) return pl_error_null(PL_ERR_ARG, "pl_trainer_new: the model is NULL");
    if (!m->llm->train) return pl_error_null(PL_ERR_ARG, "pl_trainer_new: load the model with .train = true to train it");
    pl_trainer_params p = params ? *params : pl_trainer_default_params();
    int n_ctx = m->llm->hp.n_ctx_train;
    if (p.batch < 1 || p.seq_len < 1 || p.seq_len > n_ctx || (int64_t)p.batch * p.seq_len > (1 << 24))
        return pl_error_null(PL_ERR_ARG, "pl_trainer_new: batch %d x seq_len %d: each at least 1, seq_len at most the model's context (%d)",
                             p.batch, p.seq_len, n_ctx);
    if (!(p.beta1 >= 0 && p.beta1 < 1 && p.beta2 >= 0 && p.beta2 < 1 && p.eps > 0 && p.weight_decay >= 0) ||
        isnan(p.clip) || p.n_threads < 0)
        return pl_error_null(PL_ERR_ARG, "pl_trainer_new: AdamW needs 0 <= beta1, beta2 < 1, eps > 0, weight_decay >= 0");
    pl_trainer *t = pl_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->model = m;
    t->p = p;
    pl_clear_error();
    t->ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = p.n_threads});
    if (t->ctx) {
        t->ids = pl_new_2d(t->ctx, PL_I32, p.seq_len, p.batch);
        t->targets = pl_new_2d(t->ctx, PL_I32, p.seq_len, p.batch);
    }
    if (t->ids && t->targets) t->loss = pl_llm_forward_train(t->ctx, m->llm, t->ids, t->targets, NULL);
    if (t->loss) t->g = pl_graph_build(t->ctx, t->loss, true);
    if (!t->g) {
        if (!pl_last_error()[0]) pl_error(PL_ERR_NOMEM, "pl_trainer_new: no room for the training graph");
        pl_trainer_free(t);
        return NULL;
    }
    return t;
}

void pl_trainer_free(pl_trainer *t) {
    if (!t) return;
    pl_ctx_free(t->ctx);
    free(t);
}

int pl_trainer_step(pl_trainer *t, const int32_t *ids, const int32_t *targets, int n, float lr, float *loss) {
    if (!t) return pl_error(PL_ERR_ARG, "pl_trainer_step: the trainer is NULL");
    if (!ids || !targets) return pl_error(PL_ERR_ARG, "pl_trainer_step: ids or targets is NULL");
    int64_t want = (int64_t)t->p.batch * t->p.seq_len;
    if (n != want)
        return pl_error(PL_ERR_ARG, "pl_trainer_step: %d tokens given, the trainer takes batch %d x seq_len %d = %lld",
                        n, t->p.batch, t->p.seq_len, (long long)want);
    if (!(lr >= 0 && isfinite(lr))) return pl_error(PL_ERR_ARG, "pl_trainer_step: learning rate %g", lr);
    int V = pl_llm_n_vocab(t->model->llm), n_targets = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= V) return pl_error(PL_ERR_ARG, "pl_trainer_step: ids[%d] = %d is outside the vocabulary (%d)", i, ids[i], V);
        if (targets[i] < -1 || targets[i] >= V)
            return pl_error(PL_ERR_ARG, "pl_trainer_step: targets[%d] = %d is outside the vocabulary (%d; -1: none)", i, targets[i], V);
        n_targets += targets[i] >= 0;
    }
    if (!n_targets) return pl_error(PL_ERR_ARG, "pl_trainer_step: every target is -1: no loss to train on");
    memcpy(t->ids->data, ids, (size_t)n * sizeof *ids);
    memcpy(t->targets->data, targets, (size_t)n * sizeof *targets);
    pl_graph_forward(t->ctx, t->g);
    float l = pl_f32(t->loss)[0];
    if (!isfinite(l)) return pl_error(PL_ERR_ARG, "pl_trainer_step: the loss is %f: no update (lower the learning rate)", l);
    pl_graph_backward_reset(t->ctx, t->g);
    pl_llm *m = t->model->llm;
    pl_adamw opt = {.beta1 = t->p.beta1, .beta2 = t->p.beta2, .eps = t->p.eps, .weight_decay = t->p.weight_decay};
    pl_flat_params fp = {m->w, m->g, m->adam_m, m->adam_v, m->n_floats};
    pl_update_adamw(t->ctx, &opt, &fp, ++t->step, lr, t->p.clip, 1);
    if (loss) *loss = l;
    return PL_OK;
}
