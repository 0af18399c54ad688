/* The pre-training loop: data (bytes, or the tokens of a borrowed tokenizer) and its split, batching,
 * forward/backward on one graph built once through the architecture's builder (models/), gradient
 * accumulation, clipping, the warmup + cosine schedule, AdamW (train/update.c), validation, progress, and
 * checkpoints that a kill cannot corrupt (tasks/checkpoint.c), with --resume from the last one.
 * Batches are a pure function of (seed, step, micro-batch, row), so a resumed run sees the same data. */
#include "tasks/train.h"
#include "tasks/checkpoint.h"
#include "tasks/train_log.h"
#include "train/update.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <unistd.h>

pl_train_opts pl_train_default_opts(void) {
    return (pl_train_opts){
        .out_dir = "runs/gpt",
        .model = {.arch = PL_LLM_GPT2, .ctx = 128, .dim = 128, .layers = 4, .heads = 4},
        .batch = 8, .accum = 1, .steps = 1500, .warmup = 100,
        .lr = 2e-3f, .min_lr = -1, .weight_decay = 0.1f, .clip = 1.0f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
        .eval_every = 250, .eval_iters = 16, .save_every = 250, .log_every = 10,
        .val_frac = 0.1f, .seed = 1337, .threads = 0,
    };
}

int pl_train_model_check(const pl_train_model *c) {
    if (c->arch != PL_LLM_GPT2 && c->arch != PL_LLM_LLAMA && c->arch != PL_LLM_QWEN2)
        return pl_error(PL_ERR_ARG, "the architecture must be gpt2, llama or qwen2");
    if (c->ctx < 1 || c->ctx > 65536) return pl_error(PL_ERR_ARG, "context length %d must be in [1, 65536]", c->ctx);
    if (c->layers < 1 || c->layers > 256) return pl_error(PL_ERR_ARG, "number of layers %d must be in [1, 256]", c->layers);
    if (c->dim < 1 || c->dim > 16384) return pl_error(PL_ERR_ARG, "width %d must be in [1, 16384]", c->dim);
    if (c->heads < 1 || c->dim % c->heads)
        return pl_error(PL_ERR_ARG, "%d heads do not divide the width %d", c->heads, c->dim);
    if (c->arch != PL_LLM_GPT2 && (c->dim / c->heads) % 2)
        return pl_error(PL_ERR_ARG, "rotary positions need an even head size, not %d", c->dim / c->heads);
    if (c->kv_heads < 0 || (c->kv_heads && c->heads % c->kv_heads))
        return pl_error(PL_ERR_ARG, "%d key-value heads do not divide %d heads", c->kv_heads, c->heads);
    if (c->ff < 0 || c->ff > (1 << 20)) return pl_error(PL_ERR_ARG, "MLP width %d must be in [1, 1048576]", c->ff);
    return PL_OK;
}

static pl_llm_hparams hparams_for(const pl_train_model *c, int vocab) {
    bool gpt2 = c->arch == PL_LLM_GPT2;
    int hd = c->dim / c->heads, ff = c->ff ? c->ff : gpt2 ? 4 * c->dim : (8 * c->dim / 3 + 15) / 16 * 16;
    return (pl_llm_hparams){.arch = c->arch, .n_vocab = vocab, .n_ctx_train = c->ctx, .n_embd = c->dim,
                            .n_layer = c->layers, .n_head = c->heads, .n_head_kv = gpt2 || !c->kv_heads ? c->heads : c->kv_heads,
                            .head_dim = hd, .n_ff = ff, .n_rot = hd, .norm_eps = 1e-5f, .rope_theta = 10000.0f,
                            .rope_freq_scale = 1.0f, .rope_mode = PL_ROPE_NEOX, .tied_output = true};
}

/* ---- data ------------------------------------------------------------------------------------------------------ */
/* the training text as token ids: its bytes, or its tokens under tok */
static int load_tokens(const char *path, const pl_tokenizer *tok, int32_t **ids, size_t *n_ids) {
    size_t n = 0;
    char *s = pl_read_file(path, &n);
    if (!s) return PL_ERR_IO;
    if (n == 0) { free(s); return pl_error(PL_ERR_ARG, "training file '%s' is empty", path); }
    if (memchr(s, 0, n) || !pl_utf8_valid(s, n)) {
        free(s);
        return pl_error(PL_ERR_ARG, "training file '%s' is not UTF-8 text (binary data?)", path);
    }
    int cap = (int)PL_MIN(n + 16, (size_t)INT32_MAX / 8), k = (int)n;
    *ids = pl_malloc((size_t)cap * sizeof **ids);
    if (!*ids) { free(s); return PL_ERR_NOMEM; }
    if (tok) k = pl_tokenize(tok, s, n, *ids, cap, false);
    else for (size_t i = 0; i < n; i++) (*ids)[i] = (uint8_t)s[i];
    free(s);
    if (k < 0 || k > cap) { free(*ids); return k < 0 ? k : pl_error(PL_ERR_ARG, "training file '%s' is too large", path); }
    *n_ids = (size_t)k;
    return PL_OK;
}

static void fill_batch(const int32_t *text, size_t n, int T, int B, pl_tensor *x, pl_tensor *y, uint64_t key, bool sequential, int64_t idx) {
    int32_t *xi = x->data, *yi = y->data;
    for (int b = 0; b < B; b++) {
        size_t span = n - (size_t)T - 1, off;
        if (sequential) off = (size_t)((idx * B + b) * (int64_t)997 * T) % (span + 1); /* spread over the set */
        else off = pl_hash64(key ^ pl_hash64((uint64_t)b)) % (span + 1);
        for (int t = 0; t < T; t++) { xi[b * T + t] = text[off + t]; yi[b * T + t] = text[off + t + 1]; }
    }
}

/* ---- the model: new, or the last checkpoint's ------------------------------------------------------------------- */
static cJSON *run_state(const pl_train_opts *o, const pl_llm *m) {
    cJSON *st = cJSON_CreateObject(), *mc;
    cJSON_AddStringToObject(st, "data", o->data_path);
    cJSON_AddNumberToObject(st, "seed", (double)o->seed);
    cJSON_AddStringToObject(st, "tokenizer", o->tokenizer ? o->tokenizer : "bytes");
    mc = cJSON_AddObjectToObject(st, "model");
    cJSON_AddStringToObject(mc, "arch", pl_llm_arch_name(m->hp.arch));
    cJSON_AddNumberToObject(mc, "vocab", m->hp.n_vocab);
    cJSON_AddNumberToObject(mc, "ctx", m->hp.n_ctx_train);
    cJSON_AddNumberToObject(mc, "dim", m->hp.n_embd);
    cJSON_AddNumberToObject(mc, "layers", m->hp.n_layer);
    cJSON_AddNumberToObject(mc, "heads", m->hp.n_head);
    cJSON_AddNumberToObject(st, "params", (double)m->n_floats);
    return st;
}

static pl_llm *open_model(const pl_train_opts *o, const pl_llm_hparams *hp, int64_t *start, pl_history *hist) {
    pl_llm_params lp = {.n_threads = 1, .n_ctx = o->model.ctx, .train = true};
    char ck[4200];
    if (o->resume && pl_ckpt_step(o->out_dir) > 0 && pl_train_resolve_checkpoint(o->out_dir, ck, sizeof ck) == PL_OK) {
        pl_llm *m = pl_llm_load_ex(ck, &lp);
        if (!m) return NULL;
        const pl_llm_hparams *h = &m->hp;
        if (h->arch != hp->arch || h->n_embd != hp->n_embd || h->n_layer != hp->n_layer || h->n_head != hp->n_head ||
            h->n_ctx_train != hp->n_ctx_train || h->n_vocab != hp->n_vocab) {
            pl_llm_free(m);
            return pl_error_null(PL_ERR_ARG, "--resume: the checkpoint's model (%s, dim %d, layers %d, heads %d, ctx %d) differs from the options",
                                 pl_llm_arch_name(h->arch), h->n_embd, h->n_layer, h->n_head, h->n_ctx_train);
        }
        if (pl_ckpt_load_optimizer(ck, m)) { pl_llm_free(m); return NULL; }
        *start = pl_ckpt_step(o->out_dir);
        pl_hist_read(o->out_dir, hist, *start);
        if (!o->quiet) fprintf(stderr, "resuming from %s (step %lld)\n", ck, (long long)*start);
        return m;
    }
    if (o->resume && !o->quiet) fprintf(stderr, "no checkpoint in %s: starting fresh\n", o->out_dir);
    pl_clear_error();
    pl_llm *m = pl_llm_new(hp, &lp);
    if (m) pl_llm_init_weights(m, o->seed);
    return m;
}

/* ---- the loop ----------------------------------------------------------------------------------------------------- */
typedef struct {
    const pl_train_opts *o;
    pl_llm *m;
    const pl_tokenizer *tok;
    const int32_t *text;
    size_t n_train, n_val;
    pl_ctx *ctx;
    pl_tensor *x, *y, *loss;
    pl_graph *g;
    pl_history hist;
} run;

static double validate(run *r) {
    double vs = 0;
    int T = r->o->model.ctx, B = r->o->batch;
    for (int i = 0; i < r->o->eval_iters; i++) {
        fill_batch(r->text + r->n_train, r->n_val, T, B, r->x, r->y, 0, true, i);
        pl_graph_forward(r->ctx, r->g);
        vs += pl_f32(r->loss)[0];
    }
    return vs / PL_MAX(r->o->eval_iters, 1);
}

static int save(run *r, int64_t step) {
    cJSON *st = run_state(r->o, r->m);
    int rc = pl_hist_write(r->o->out_dir, &r->hist, r->tok ? "nats/token" : "nats/byte");
    if (!rc) rc = pl_ckpt_save(r->o->out_dir, step, r->m, r->tok, st);
    cJSON_Delete(st);
    return rc;
}

static int train_loop(run *r, int64_t start) {
    const pl_train_opts *o = r->o;
    int T = o->model.ctx, B = o->batch;
    pl_adamw opt = {.beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps, .weight_decay = o->weight_decay};
    pl_flat_params fp = {r->m->w, r->m->g, r->m->adam_m, r->m->adam_v, r->m->n_floats};
    float min_lr = o->min_lr >= 0 ? o->min_lr : o->lr / 10;
    bool tty = isatty(2);
    double t_begin = pl_time_s();
    int64_t step;
    for (step = start; step < o->steps; step++) {
        double t0 = pl_time_s(), lsum = 0;
        for (int a = 0; a < o->accum; a++) {
            fill_batch(r->text, r->n_train, T, B, r->x, r->y, pl_hash64(o->seed ^ pl_hash64((uint64_t)step * 1000003u + (uint64_t)a)), false, 0);
            pl_graph_forward(r->ctx, r->g);
            if (a == 0) pl_graph_backward_reset(r->ctx, r->g); /* the gradients start from zero, without a sweep */
            else pl_graph_backward(r->ctx, r->g);
            lsum += pl_f32(r->loss)[0];
        }
        float train_loss = (float)(lsum / o->accum);
        if (!isfinite(train_loss)) return pl_error(PL_ERR_ARG, "loss diverged (%f) at step %lld: lower --lr", train_loss, (long long)step);
        float lr = pl_lr_schedule(step, o->warmup, o->steps, o->lr, min_lr);
        double t_opt = pl_ctx_profile_clock(r->ctx);
        pl_update_adamw(r->ctx, &opt, &fp, step + 1, lr, o->clip, o->accum);
        pl_ctx_profile_add(r->ctx, "clip + AdamW", pl_ctx_profile_clock(r->ctx) - t_opt);
        pl_hist_row row = {(double)(step + 1), train_loss, NAN, lr, (double)B * T * o->accum / (pl_time_s() - t0)};
        bool last = step + 1 == o->steps;
        if (o->eval_every > 0 && r->n_val > 0 && ((step + 1) % o->eval_every == 0 || last)) row.val = validate(r);
        pl_hist_add(&r->hist, row);
        if (!o->quiet && (tty || (step + 1) % PL_MAX(o->log_every, 1) == 0 || !isnan(row.val) || last))
            pl_progress_print(stderr, tty, &row, o->steps, (pl_time_s() - t_begin) / (double)(step + 1 - start) * (double)(o->steps - step - 1));
        bool stop = o->interrupt && *o->interrupt;
        int rc;
        if (((o->save_every > 0 && (step + 1) % o->save_every == 0) || last || stop) && (rc = save(r, step + 1))) return rc;
        if (stop) return pl_error(PL_ERR_INTERRUPTED, "interrupted at step %lld: checkpoint saved in %s", (long long)step + 1, o->out_dir);
    }
    if (!o->quiet) {
        double el = pl_time_s() - t_begin;
        fprintf(stderr, "done: %lld steps in %.2f s, %.0f tokens/s\n", (long long)(step - start), el,
                el > 0 ? (double)(step - start) * B * T * o->accum / el : 0.0);
        fprintf(stderr, "wrote %s/loss.csv, %s/loss.svg and the checkpoint in %s/state.json\n", o->out_dir, o->out_dir, o->out_dir);
    }
    return pl_hist_write(o->out_dir, &r->hist, r->tok ? "nats/token" : "nats/byte");
}

int pl_train(const pl_train_opts *o) {
    if (pl_train_model_check(&o->model)) return PL_ERR_ARG;
    if (o->batch < 1 || o->accum < 1 || o->steps < 1)
        return pl_error(PL_ERR_ARG, "batch, accumulation and steps must be at least 1");
    run r = {.o = o};
    pl_tokenizer *tok = NULL;
    if (o->tokenizer && !(tok = pl_tokenizer_load(o->tokenizer))) return PL_ERR_ARG;
    r.tok = tok;
    int32_t *text = NULL;
    size_t n = 0;
    int rc = load_tokens(o->data_path, tok, &text, &n);
    if (rc) { pl_tokenizer_free(tok); return rc; }
    r.text = text;
    r.n_val = (size_t)(n * o->val_frac);
    r.n_train = n - r.n_val;
    int T = o->model.ctx, B = o->batch;
    const char *unit = tok ? "tokens" : "bytes";
    if (r.n_train < (size_t)T + 2 || (o->val_frac > 0 && r.n_val < (size_t)T + 2))
        rc = pl_error(PL_ERR_ARG, "training file '%s' (%zu %s) is too short for a context of %d", o->data_path, n, unit, T);
    if (!rc) rc = pl_mkdir_p(o->out_dir);
    int64_t start = 0;
    pl_llm_hparams hp = hparams_for(&o->model, tok ? pl_tokenizer_n_vocab(tok) : 256);
    if (!rc && !(r.m = open_model(o, &hp, &start, &r.hist))) rc = PL_ERR_FORMAT;
    if (!rc) {
        r.ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = o->threads});
        r.x = pl_new_2d(r.ctx, PL_I32, T, B);
        r.y = pl_new_2d(r.ctx, PL_I32, T, B);
        r.loss = pl_llm_forward_train(r.ctx, r.m, r.x, r.y, NULL);
        r.g = r.loss ? pl_graph_build(r.ctx, r.loss, true) : NULL;
        if (!r.g) rc = PL_ERR_ARG;
    }
    if (!rc && !o->quiet)
        fprintf(stderr, "model: %s, %d layers, width %d, %d heads, context %d, vocabulary %d: %lld parameters; data: %zu train + %zu val %s; %d threads\n",
                pl_llm_arch_name(hp.arch), hp.n_layer, hp.n_embd, hp.n_head, T, hp.n_vocab, (long long)r.m->n_floats,
                r.n_train, r.n_val, unit, r.ctx->n_threads);
    if (!rc) rc = train_loop(&r, start);
    if (r.ctx) pl_ctx_profile_print(r.ctx, stderr);
    pl_hist_free(&r.hist);
    pl_ctx_free(r.ctx);
    pl_llm_free(r.m);
    pl_tokenizer_free(tok);
    free(text);
    return rc;
}
