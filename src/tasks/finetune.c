/* Full fine-tuning (finetune.h): the model as parameters, examples in padded batches (one graph built for the
 * longest), loss on the completions, AdamW, validation, checkpoints and --resume. Batches are a pure function
 * of (seed, step), so a resumed run sees the same data. */
#include "tasks/finetune.h"
#include "io/safetensors.h"
#include "models/llm.h"
#include "models/lora.h"
#include "models/prompt_tuning.h"
#include "tasks/bundle.h"
#include "tasks/checkpoint.h"
#include "tasks/finetune_data.h"
#include "tasks/train_log.h"
#include "train/update.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

pl_finetune_opts pl_finetune_default_opts(void) {
    return (pl_finetune_opts){.out_dir = "runs/finetune", .method = "full", .lora_rank = 8, .batch = 4, .accum = 1, .epochs = 3,
                              .warmup = -1, .lr = 5e-5f, .min_lr = -1, .weight_decay = 0.0f, .clip = 1.0f, .beta1 = 0.9f,
                              .beta2 = 0.999f, .eps = 1e-8f, .val_frac = 0.1f, .eval_every = 0, .save_every = 0,
                              .log_every = 1, .seed = 42};
}

typedef struct {
    const pl_finetune_opts *o;
    pl_llm *m;
    pl_lora *lora;            /* --method lora: what is trained */
    pl_prompt_adapter *prompt;/* --method prompt: what is trained */
    pl_tokenizer *tok;
    pl_ft_data data;
    int n_train, n_val, T, B;
    int32_t *order;           /* a permutation of the training examples */
    pl_llm_ckpt *ck;          /* a layer at a time (activation checkpointing; the default where the model allows) */
    pl_ctx *ctx;              /* or the one graph: its context, batch, loss */
    pl_tensor *x, *y, *loss;
    pl_graph *g;
    pl_history hist;
} ft_run;

/* examples ex[first..first+B) (fewer at the end: rows left empty) into the padded batch */
static void fill(ft_run *r, const pl_ft_example *const *ex, int n) {
    int32_t *x = r->x->data, *y = r->y->data;
    for (int b = 0; b < r->B; b++)
        for (int t = 0; t < r->T; t++) {
            bool in = b < n && t < ex[b]->n;
            x[b * r->T + t] = in ? ex[b]->ids[t] : 0;
            y[b * r->T + t] = in ? ex[b]->targets[t] : -1;
        }
}

/* the loss of the batch in x, y; with backward the gradients too: set (reset) or added to */
static double run(ft_run *r, bool backward, bool reset) {
    if (r->ck) return pl_llm_ckpt_step(r->ck, backward, reset);
    pl_graph_forward(r->ctx, r->g);
    if (backward && reset) pl_graph_backward_reset(r->ctx, r->g);
    else if (backward) pl_graph_backward(r->ctx, r->g);
    return pl_f32(r->loss)[0];
}

/* the micro-batch a of step, examples taken in the epoch's order: its loss, its gradients set (a = 0) or added */
static double micro_batch(ft_run *r, int64_t step, int a) {
    const pl_ft_example *ex[256];
    int64_t k0 = (step * r->o->accum + a) * (int64_t)r->B;
    for (int b = 0; b < r->B; b++) {
        int64_t k = k0 + b, epoch = k / r->n_train;
        if (b == 0 || k % r->n_train == 0) pl_epoch_order(r->order, r->n_train, r->o->seed, epoch);
        ex[b] = &r->data.ex[r->order[k % r->n_train]];
    }
    fill(r, ex, r->B);
    return run(r, true, a == 0);
}

static double validate(ft_run *r) {
    double sum = 0;
    int batches = 0;
    for (int i = 0; i < r->n_val; i += r->B, batches++) {
        const pl_ft_example *ex[256];
        int n = PL_MIN(r->B, r->n_val - i);
        for (int b = 0; b < n; b++) ex[b] = &r->data.ex[r->n_train + i + b];
        fill(r, ex, n);
        sum += run(r, false, false);
    }
    return batches ? sum / batches : NAN;
}

/* the trained adapter's flat parameters: LoRA's or the virtual tokens' */
static pl_flat_params adapter_params(const ft_run *r) {
    if (r->lora) return (pl_flat_params){r->lora->w, r->lora->g, r->lora->adam_m, r->lora->adam_v, r->lora->n_floats};
    return (pl_flat_params){r->prompt->w, r->prompt->g, r->prompt->adam_m, r->prompt->adam_v, r->prompt->n_floats};
}

/* an adapter checkpoint: the adapter (PEFT's format) and its AdamW moments */
static int write_adapter(const char *dir, void *ud) {
    const ft_run *r = ud;
    int rc = r->lora ? pl_lora_save(r->lora, r->m, dir, r->o->model) : pl_prompt_save(r->prompt, dir, r->o->model);
    pl_st_writer *w = rc ? NULL : pl_st_writer_new();
    if (!rc && !w) rc = PL_ERR_NOMEM;
    pl_flat_params fp = adapter_params(r);
    if (!rc) rc = pl_st_writer_add(w, "adam_m", PL_F32, 1, &fp.n, fp.m, false);
    if (!rc) rc = pl_st_writer_add(w, "adam_v", PL_F32, 1, &fp.n, fp.v, false);
    char path[4400];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    if (!rc) rc = pl_st_writer_write_file(w, path);
    pl_st_writer_free(w);
    return rc;
}
static int load_adapter_moments(const char *dir, float *am, float *av, int64_t n) {
    char path[4400];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    pl_st *st = pl_st_open(path);
    if (!st) return PL_ERR_FORMAT;
    const pl_st_tensor *m = pl_st_find(st, "adam_m"), *v = pl_st_find(st, "adam_v");
    int rc = PL_OK;
    if (!m || !v || m->type != PL_F32 || v->type != PL_F32 || m->numel != n || v->numel != n)
        rc = pl_error(PL_ERR_FORMAT, "%s: the AdamW moments are missing or of another size", path);
    else memcpy(am, m->data, m->nbytes), memcpy(av, v->data, v->nbytes);
    pl_st_close(st);
    return rc;
}

static int save(ft_run *r, int64_t step) {
    cJSON *st = cJSON_CreateObject();
    cJSON_AddStringToObject(st, "base_model", r->o->model);
    cJSON_AddStringToObject(st, "data", r->o->data_path);
    cJSON_AddStringToObject(st, "method", r->o->method);
    cJSON_AddNumberToObject(st, "seed", (double)r->o->seed);
    int rc = pl_hist_write(r->o->out_dir, &r->hist, "nats/token");
    if (!rc) rc = r->lora || r->prompt ? pl_ckpt_save_with(r->o->out_dir, step, write_adapter, r, st)
                                       : pl_ckpt_save(r->o->out_dir, step, r->m, r->tok, st);
    cJSON_Delete(st);
    return rc;
}

static int loop(ft_run *r, int64_t start, int64_t steps) {
    const pl_finetune_opts *o = r->o;
    pl_adamw opt = {.beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps, .weight_decay = o->weight_decay};
    pl_flat_params fp = r->lora || r->prompt ? adapter_params(r) : (pl_flat_params){r->m->w, r->m->g, r->m->adam_m, r->m->adam_v, r->m->n_floats};
    int64_t warmup = o->warmup >= 0 ? o->warmup : steps / 10;
    float min_lr = o->min_lr >= 0 ? o->min_lr : o->lr / 10;
    int eval_every = o->eval_every > 0 ? o->eval_every : (int)PL_MAX(1, steps / 10);
    bool tty = isatty(2);
    double t_begin = pl_time_s();
    if (start == 0 && r->n_val) { /* where the model starts: the curve's first point */
        pl_hist_row row = {0, NAN, validate(r), 0, 0};
        pl_hist_add(&r->hist, row);
        if (!o->quiet) fprintf(stderr, "validation loss before fine-tuning: %.4f\n", row.val);
    }
    for (int64_t step = start; step < steps; step++) {
        double t0 = pl_time_s(), lsum = 0;
        for (int a = 0; a < o->accum; a++) lsum += micro_batch(r, step, a);
        float loss = (float)(lsum / o->accum), lr = pl_lr_schedule(step, warmup, steps, o->lr, min_lr);
        if (!isfinite(loss)) return pl_error(PL_ERR_ARG, "loss diverged (%f) at step %lld: lower --lr", loss, (long long)step);
        pl_update_adamw(r->ck ? r->ck->work : r->ctx, &opt, &fp, step + 1, lr, o->clip, o->accum);
        pl_hist_row row = {(double)(step + 1), loss, NAN, lr, (double)r->B * r->T * o->accum / (pl_time_s() - t0)};
        bool last = step + 1 == steps;
        if (r->n_val && ((step + 1) % eval_every == 0 || last)) row.val = validate(r);
        pl_hist_add(&r->hist, row);
        if (!o->quiet && (tty || (step + 1) % PL_MAX(o->log_every, 1) == 0 || !isnan(row.val) || last))
            pl_progress_print(stderr, tty, &row, steps, (pl_time_s() - t_begin) / (double)(step + 1 - start) * (double)(steps - step - 1));
        bool stop = o->interrupt && *o->interrupt;
        int rc;
        if (((o->save_every > 0 && (step + 1) % o->save_every == 0) || last || stop) && (rc = save(r, step + 1))) return rc;
        if (stop) return pl_error(PL_ERR_INTERRUPTED, "interrupted at step %lld: checkpoint saved in %s", (long long)step + 1, o->out_dir);
    }
    return pl_hist_write(o->out_dir, &r->hist, "nats/token");
}

/* the model as parameters: the base model, or with --resume the last checkpoint and its optimizer state */
static pl_llm *open_model(const pl_finetune_opts *o, const char *base, int64_t *start, pl_history *hist) {
    pl_llm_params lp = {.n_threads = 1, .n_ctx = 16, .train = true};
    char ck[4200];
    if (o->resume && pl_ckpt_step(o->out_dir) > 0 && pl_train_resolve_checkpoint(o->out_dir, ck, sizeof ck) == PL_OK) {
        pl_llm *m = pl_llm_load_ex(ck, &lp);
        if (m && pl_ckpt_load_optimizer(ck, m)) { pl_llm_free(m); return NULL; }
        *start = pl_ckpt_step(o->out_dir);
        pl_hist_read(o->out_dir, hist, *start);
        if (m && !o->quiet) fprintf(stderr, "resuming from %s (step %lld)\n", ck, (long long)*start);
        return m;
    }
    pl_clear_error();
    return pl_llm_load_ex(base, &lp);
}

/* --targets "q,v" / "all" -> role bits, or 0 + message */
static unsigned lora_roles(const char *list) {
    unsigned roles = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list && *list ? list : "all");
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "all")) { for (int i = 0; i < PL_LORA_ROLES_N; i++) roles |= 1u << pl_lora_roles[i]; continue; }
        int role = pl_lora_role_of(t);
        if (role < 0) return pl_error(PL_ERR_ARG, "--targets: '%s' is not one of q, k, v, o, gate, up, down, all", t), 0u;
        roles |= 1u << role;
    }
    return roles;
}

/* --method lora: the base as it is (frozen) and a new adapter, or with --resume the last checkpoint's */
static pl_lora *open_adapter(const pl_finetune_opts *o, pl_llm *m, int64_t *start, pl_history *hist) {
    char ck[4200];
    if (o->resume && pl_ckpt_step(o->out_dir) > 0 && pl_train_resolve_checkpoint(o->out_dir, ck, sizeof ck) == PL_OK) {
        pl_lora *l = pl_lora_load(m, ck);
        if (l && load_adapter_moments(ck, l->adam_m, l->adam_v, l->n_floats)) { pl_lora_free(l); return NULL; }
        *start = pl_ckpt_step(o->out_dir);
        pl_hist_read(o->out_dir, hist, *start);
        if (l && !o->quiet) fprintf(stderr, "resuming from %s (step %lld)\n", ck, (long long)*start);
        return l;
    }
    pl_clear_error();
    unsigned roles = lora_roles(o->lora_targets);
    int rank = o->lora_rank > 0 ? o->lora_rank : 8;
    return roles ? pl_lora_new(m, rank, o->lora_alpha > 0 ? o->lora_alpha : 2.0f * (float)rank, o->rslora, roles, o->seed) : NULL;
}

/* --method prompt: new virtual tokens (from --init's tokens, or random), or with --resume the checkpoint's */
static pl_prompt_adapter *open_prompt(const pl_finetune_opts *o, pl_llm *m, const pl_tokenizer *tok, int64_t *start, pl_history *hist) {
    char ck[4200];
    if (o->resume && pl_ckpt_step(o->out_dir) > 0 && pl_train_resolve_checkpoint(o->out_dir, ck, sizeof ck) == PL_OK) {
        pl_prompt_adapter *p = pl_prompt_load(m, ck);
        if (p && load_adapter_moments(ck, p->adam_m, p->adam_v, p->n_floats)) { pl_prompt_free(p); return NULL; }
        *start = pl_ckpt_step(o->out_dir);
        pl_hist_read(o->out_dir, hist, *start);
        if (p && !o->quiet) fprintf(stderr, "resuming from %s (step %lld)\n", ck, (long long)*start);
        return p;
    }
    pl_clear_error();
    int32_t ids[4096];
    int n = 0;
    if (o->init_text) { /* tokenized as PEFT's TEXT init does it: tokenizer(text), its special tokens included */
        if (!*o->init_text) return pl_error_null(PL_ERR_ARG, "--init: the text is empty (leave --init out for random virtual tokens)");
        if (!pl_utf8_valid(o->init_text, strlen(o->init_text))) return pl_error_null(PL_ERR_ARG, "--init: the text is not valid UTF-8");
        n = pl_tokenize(tok, o->init_text, strlen(o->init_text), ids, 4096, true);
        if (n <= 0) return pl_error_null(PL_ERR_ARG, "--init: the text \"%.60s\" gives no tokens", o->init_text);
        n = PL_MIN(n, 4096); /* the first 4096 are all that N <= 4096 virtual tokens can use */
    }
    pl_prompt_adapter *p = pl_prompt_new(m, o->n_virtual > 0 ? o->n_virtual : 20, ids, n, o->seed);
    if (p && o->init_text) snprintf(p->init_text, sizeof p->init_text, "%s", o->init_text);
    return p;
}

static int prepare(ft_run *r, const char *base) {
    const pl_finetune_opts *o = r->o;
    bool failed = false;
    pl_chat_template *tmpl = NULL;
    if (o->chat && strcmp(o->chat, "auto")) tmpl = strcmp(o->chat, "none") ? pl_chat_template_by_name(o->chat) : NULL;
    else tmpl = pl_chat_template_for_model(base, &failed);
    if (failed || (o->chat && strcmp(o->chat, "auto") && strcmp(o->chat, "none") && !tmpl)) return PL_ERR_ARG;
    int ctx = PL_MIN(o->ctx > 0 ? o->ctx : 512, r->m->hp.n_ctx_train - (r->prompt ? r->prompt->n_virtual : 0)); /* what the model's positions allow */
    int rc = pl_ft_data_load(o->data_path, r->tok, tmpl, ctx, &r->data);
    pl_chat_template_free(tmpl);
    if (rc) return rc;
    r->n_val = (int)(r->data.n * o->val_frac);
    if (o->val_frac > 0 && r->n_val == 0 && r->data.n >= 2) r->n_val = 1;
    r->n_train = r->data.n - r->n_val;
    if (r->n_train < 1) return pl_error(PL_ERR_ARG, "%s: %d examples leave none to train on", o->data_path, r->data.n);
    r->B = PL_MIN(o->batch, 256);
    for (int i = 0; i < r->data.n; i++) r->T = PL_MAX(r->T, r->data.ex[i].n);
    r->order = pl_malloc((size_t)r->n_train * sizeof *r->order);
    if (!r->order) return PL_ERR_NOMEM;
    if (!o->quiet)
        fprintf(stderr, "data: %d examples (%d train, %d validation), longest %d tokens; %d cut to %d tokens, %d skipped\n",
                r->data.n, r->n_train, r->n_val, r->T, r->data.n_cut, ctx, r->data.n_skipped);
    return PL_OK;
}

/* Is the frozen base quantized? (QLoRA-style: whoever keeps it quantized chose memory over speed) */
static bool base_quantized(const pl_llm *m) {
    const pl_type_traits *tr = pl_dtype_traits(m->layers[0].ffn_down ? m->layers[0].ffn_down->type : PL_F32);
    return tr && tr->is_quantized;
}

/* The step as one graph (every activation kept: the faster step) or a layer at a time (activation checkpointing:
 * a second forward pass of every layer, a fraction of the memory). --activations auto keeps them unless the base
 * is quantized or the one graph would take more than half the memory the system has available now. */
static int build_step(ft_run *r, bool *layers) {
    const pl_finetune_opts *o = r->o;
    const char *mode = o->activations ? o->activations : "auto";
    bool can = r->m->arch_info->block != NULL; /* gpt2 has no layer-at-a-time path */
    *layers = can && strcmp(mode, "keep") && (!strcmp(mode, "recompute") || base_quantized(r->m));
    if (!*layers) {
        r->ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = o->threads});
        r->x = r->ctx ? pl_new_2d(r->ctx, PL_I32, r->T, r->B) : NULL;
        r->y = r->x ? pl_new_2d(r->ctx, PL_I32, r->T, r->B) : NULL;
        r->loss = r->y ? pl_llm_forward_train(r->ctx, r->m, r->x, r->y, NULL) : NULL;
        r->g = r->loss ? pl_graph_build(r->ctx, r->loss, true) : NULL;
        if (!r->g) return PL_ERR_ARG;
        long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        double avail = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
        if (!can || strcmp(mode, "auto") || !(avail > 0 && (double)pl_ctx_arena_bytes(r->ctx) > avail / 2)) return PL_OK;
        if (!o->quiet)
            fprintf(stderr, "activations: one graph would take %.0f MB of the %.0f MB available: a layer at a time\n",
                    (double)pl_ctx_arena_bytes(r->ctx) / 1e6, avail / 1e6);
        pl_ctx_free(r->ctx);
        r->ctx = NULL, r->g = NULL, r->loss = NULL;
        *layers = true;
    }
    if (!(r->ck = pl_llm_ckpt_new(r->m, r->T, r->B, &(pl_ctx_params){.n_threads = o->threads}, 0))) return PL_ERR_NOMEM;
    r->x = r->ck->ids, r->y = r->ck->targets;
    return PL_OK;
}

int pl_finetune(const pl_finetune_opts *o) {
    bool lora = o->method && !strcmp(o->method, "lora"), prompt = o->method && !strcmp(o->method, "prompt");
    if (!o->method || (strcmp(o->method, "full") && !lora && !prompt))
        return pl_error(PL_ERR_UNSUPPORTED, "--method %s: the methods are full, lora and prompt", o->method ? o->method : "(none)");
    if (o->activations && strcmp(o->activations, "auto") && strcmp(o->activations, "keep") && strcmp(o->activations, "recompute"))
        return pl_error(PL_ERR_ARG, "--activations %s: the choices are auto, keep and recompute", o->activations);
    if (!prompt && (o->init_text || o->n_virtual))
        return pl_error(PL_ERR_ARG, "%s is for --method prompt (this run is --method %s)", o->init_text ? "--init" : "--virtual-tokens", o->method);
    if (o->batch < 1 || o->batch > 256 || o->accum < 1 || o->epochs < 1)
        return pl_error(PL_ERR_ARG, "batch (1..256), accumulation and epochs must be at least 1");
    char *base = NULL;
    if (pl_bundle_resolve(o->model, &base) != 1) {
        free(base);
        return pl_last_error()[0] ? PL_ERR_ARG : pl_error(PL_ERR_ARG, "'%s' is not a model", o->model);
    }
    ft_run r = {.o = o};
    int64_t start = 0;
    int rc = pl_mkdir_p(o->out_dir);
    if (!rc && !(r.tok = pl_tokenizer_load(base))) rc = PL_ERR_FORMAT;
    if (!rc && (lora || prompt)) { /* the base as it is: mapped, quantized or not, no gradient */
        if (!(r.m = pl_llm_load_ex(base, &(pl_llm_params){.n_threads = 1, .n_ctx = 16}))) rc = PL_ERR_FORMAT;
        else if (lora && (!(r.lora = open_adapter(o, r.m, &start, &r.hist)) || pl_llm_add_lora(r.m, r.lora, 1.0f))) rc = PL_ERR_ARG;
        else if (prompt && (!(r.prompt = open_prompt(o, r.m, r.tok, &start, &r.hist)) || pl_llm_set_prompt(r.m, r.prompt))) rc = PL_ERR_ARG;
    } else if (!rc && !(r.m = open_model(o, base, &start, &r.hist))) rc = PL_ERR_FORMAT;
    if (!rc) rc = prepare(&r, base);
    int64_t steps = o->steps > 0 ? o->steps : (int64_t)o->epochs * ((r.n_train + r.B * o->accum - 1) / (r.B * o->accum));
    bool layers = false;
    if (!rc) rc = build_step(&r, &layers);
    if (!rc && !o->quiet)
        fprintf(stderr, "model: %s %s, %lld %s; %lld steps of %d x %d tokens; %d threads; %s\n", pl_llm_arch_name(r.m->hp.arch),
                base, (long long)(r.lora ? r.lora->n_floats : r.prompt ? r.prompt->n_floats : r.m->n_floats),
                r.lora ? "trainable LoRA parameters (the base frozen)" : r.prompt ? "trainable virtual-token parameters (the base frozen)" : "parameters (f32)",
                (long long)steps, r.B * o->accum,
                r.T, (r.ck ? r.ck->work : r.ctx)->n_threads,
                layers ? "a layer at a time (activations recomputed)" : "one graph (activations kept)");
    if (!rc) rc = loop(&r, start, steps);
    if (!rc && !o->quiet && (r.lora || r.prompt)) {
        char ck[4200] = "";
        pl_train_resolve_checkpoint(o->out_dir, ck, sizeof ck);
        fprintf(stderr, "done: the adapter is %s (plinth chat -m %s %s %s)\n", ck, o->model, r.lora ? "--lora" : "--prompt-adapter", ck);
    } else if (!rc && !o->quiet) fprintf(stderr, "done: the fine-tuned model is %s (plinth chat -m %s)\n", o->out_dir, o->out_dir);
    if (!rc && !o->quiet && r.ck)
        fprintf(stderr, "memory: %.0f MB for a step, a layer at a time (the layers' inputs, one layer's graph, the head's rows)\n",
                (double)pl_llm_ckpt_bytes(r.ck) / 1e6);
    if (r.ctx || r.ck) pl_ctx_profile_print(r.ck ? r.ck->work : r.ctx, stderr);
    pl_llm_ckpt_free(r.ck);
    pl_hist_free(&r.hist);
    pl_ctx_free(r.ctx);
    pl_llm_free(r.m);
    pl_lora_free(r.lora);
    pl_prompt_free(r.prompt);
    pl_tokenizer_free(r.tok);
    pl_ft_data_free(&r.data);
    free(r.order);
    free(base);
    return rc;
}
