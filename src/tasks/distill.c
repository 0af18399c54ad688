/* Knowledge distillation (distill.h): the teacher's sparse soft labels, computed once and cached beside the
 * checkpoints; the student's training graph (T^2 KL + alpha CE) and its validation (KL at T = 1, perplexity). */
#include "tasks/distill.h"
#include "models/llm.h"
#include "tasks/bundle.h"
#include "tasks/checkpoint.h"
#include "tasks/train_log.h"
#include "train/update.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

pl_distill_opts pl_distill_default_opts(void) {
    return (pl_distill_opts){.out_dir = "runs/distill", .temperature = 2.0f, .alpha = 0.5f, .kd = 1.0f, .top_k = 32,
                             .ctx = 128, .batch = 4, .steps = 200, .lr = 1e-3f, .min_lr = -1, .warmup = -1,
                             .val_frac = 0.1f, .seed = 42};
}

typedef struct {
    const pl_distill_opts *o;
    pl_bundle *teacher;
    pl_llm *m;                 /* the student, trainable */
    pl_tokenizer *tok;         /* the student's tokenizer (the teacher's, token for token) */
    int32_t *tokens;
    int64_t n_tokens;
    int n_seq, n_train, n_val, T, K, B;
    int32_t *kid; float *kp;   /* [n_seq][T][K]: the teacher's top k at the training temperature */
    int32_t *vid; float *vp;   /* [n_val][T][K]: at temperature 1, for validation */
    int32_t *order;
    pl_ctx *ctx;
    pl_tensor *x, *y, *tid, *tp, *vtid, *vtp, *ce, *kl, *kl1, *loss;
    pl_graph *g, *gv;
    pl_history hist;
} ds_run;

/* ---- the teacher's soft labels --------------------------------------------------------------------------------- */
/* the k largest of x[0..n) (indices, best first) */
static void top_k(const float *x, int64_t n, int k, int32_t *idx) {
    int have = 0;
    for (int64_t i = 0; i < n; i++) {
        if (have == k && x[i] <= x[idx[k - 1]]) continue;
        int j = have < k ? have++ : k - 1;
        while (j > 0 && x[idx[j - 1]] < x[i]) { idx[j] = idx[j - 1]; j--; }
        idx[j] = (int32_t)i;
    }
}
/* softmax(z / temperature) over all n logits, kept for the top k only: not renormalized, so that the mass they leave
 * out (1 - sum p) stays the teacher's probability of "another token" (pl_kl_topk) */
static void top_probs(const float *z, int64_t n, const int32_t *idx, int k, float temperature, float *p) {
    double sum = 0, m = z[idx[0]] / temperature;
    for (int64_t i = 0; i < n; i++) sum += exp(z[i] / temperature - m);
    for (int j = 0; j < k; j++) p[j] = (float)(exp(z[idx[j]] / temperature - m) / sum);
}

typedef struct { char magic[4]; int32_t version, T, K, n_seq, n_val; float temperature; int64_t n_tokens; uint64_t hash; char teacher[512]; } cache_header;

static uint64_t tokens_hash(const int32_t *t, int64_t n) {
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < n; i++) h = (h ^ (uint32_t)t[i]) * 1099511628211ull;
    return h;
}

static int teacher_labels(ds_run *r) {
    const pl_distill_opts *o = r->o;
    const int T = r->T, K = r->K;
    size_t n_all = (size_t)r->n_seq * T * K, n_v = (size_t)r->n_val * T * K;
    r->kid = pl_malloc(n_all * sizeof *r->kid); r->kp = pl_malloc(n_all * sizeof *r->kp);
    r->vid = pl_malloc(n_v * sizeof *r->vid); r->vp = pl_malloc(n_v * sizeof *r->vp);
    if (!r->kid || !r->kp || !r->vid || !r->vp) return PL_ERR_NOMEM;
    cache_header want;
    memset(&want, 0, sizeof want); /* padding included: the header is compared byte for byte */
    memcpy(want.magic, "PLKD", 4);
    want.version = 2; /* 2: probabilities of the whole softmax, not renormalized over the top k */
    want.T = T, want.K = K, want.n_seq = r->n_seq, want.n_val = r->n_val;
    want.temperature = o->temperature, want.n_tokens = r->n_tokens, want.hash = tokens_hash(r->tokens, r->n_tokens);
    snprintf(want.teacher, sizeof want.teacher, "%s", r->teacher->path);
    char path[4200];
    snprintf(path, sizeof path, "%s/teacher_topk.bin", o->out_dir);
    size_t len = 0;
    char *c = pl_read_file(path, &len);
    size_t need = sizeof want + 2 * (n_all + n_v) * 4;
    if (c && len == need && !memcmp(c, &want, sizeof want)) { /* computed before for this text, teacher and settings */
        char *p = c + sizeof want;
        memcpy(r->kid, p, n_all * 4); p += n_all * 4;
        memcpy(r->kp, p, n_all * 4); p += n_all * 4;
        memcpy(r->vid, p, n_v * 4); p += n_v * 4;
        memcpy(r->vp, p, n_v * 4);
        free(c);
        if (!o->quiet) fprintf(stderr, "teacher: soft labels from %s\n", path);
        return PL_OK;
    }
    free(c);
    pl_clear_error();
    pl_llm *t = r->teacher->llm;
    const int V = pl_llm_n_vocab(t);
    float *logits = pl_malloc((size_t)T * V * sizeof(float));
    if (!logits) return PL_ERR_NOMEM;
    double t0 = pl_time_s();
    int rc = PL_OK;
    for (int s = 0; s < r->n_seq && !rc; s++) {
        if ((rc = pl_llm_eval(t, r->tokens + (int64_t)s * T, T, 0, logits, true))) break;
        int v = s - r->n_train; /* a validation sequence: also at temperature 1 */
        for (int p = 0; p < T; p++) {
            const float *z = logits + (int64_t)p * V;
            int32_t *id = r->kid + ((size_t)s * T + p) * K;
            top_k(z, V, K, id);
            top_probs(z, V, id, K, o->temperature, r->kp + ((size_t)s * T + p) * K);
            if (v >= 0) {
                memcpy(r->vid + ((size_t)v * T + p) * K, id, (size_t)K * sizeof *id);
                top_probs(z, V, id, K, 1.0f, r->vp + ((size_t)v * T + p) * K);
            }
        }
        if (!o->quiet && isatty(2))
            fprintf(stderr, "\rteacher: %d/%d sequences (%.0f tokens/s)", s + 1, r->n_seq, (double)(s + 1) * T / (pl_time_s() - t0));
        if (o->interrupt && *o->interrupt) rc = pl_error(PL_ERR_INTERRUPTED, "interrupted while the teacher labels the text");
    }
    free(logits);
    if (rc) return rc;
    if (!o->quiet) fprintf(stderr, "%steacher: %lld positions labelled (top %d at T = %g) in %.1f s\n", isatty(2) ? "\n" : "",
                           (long long)r->n_seq * T, K, o->temperature, pl_time_s() - t0);
    char *buf = pl_malloc(need);
    if (!buf) return PL_ERR_NOMEM;
    char *p = buf;
    memcpy(p, &want, sizeof want); p += sizeof want;
    memcpy(p, r->kid, n_all * 4); p += n_all * 4;
    memcpy(p, r->kp, n_all * 4); p += n_all * 4;
    memcpy(p, r->vid, n_v * 4); p += n_v * 4;
    memcpy(p, r->vp, n_v * 4);
    rc = pl_write_file_atomic(path, buf, need);
    free(buf);
    return rc;
}

/* ---- the student ------------------------------------------------------------------------------------------------ */
static int same_tokenizer(const pl_tokenizer *a, const pl_tokenizer *b) {
    int n = pl_tokenizer_n_vocab(a);
    if (n != pl_tokenizer_n_vocab(b))
        return pl_error(PL_ERR_ARG, "the student's tokenizer has %d tokens, the teacher's %d: distillation needs the same tokenizer", pl_tokenizer_n_vocab(b), n);
    for (int i = 0; i < n; i++) {
        size_t la = 0, lb = 0;
        const char *sa = pl_tokenizer_token_str(a, i, &la), *sb = pl_tokenizer_token_str(b, i, &lb);
        if (!sa != !sb || la != lb || (sa && memcmp(sa, sb, la)))
            return pl_error(PL_ERR_ARG, "token %d differs between the teacher's and the student's tokenizers: distillation needs the same tokenizer", i);
    }
    return PL_OK;
}

static int open_student(ds_run *r, const char *path, int64_t *start) {
    const pl_distill_opts *o = r->o;
    pl_llm_params lp = {.n_threads = 1, .n_ctx = 16, .train = true};
    char ck[4200];
    const char *from = path;
    if (o->resume && pl_ckpt_step(o->out_dir) > 0 && pl_train_resolve_checkpoint(o->out_dir, ck, sizeof ck) == PL_OK) from = ck;
    pl_clear_error();
    if (!(r->m = pl_llm_load_ex(from, &lp))) return PL_ERR_FORMAT;
    if (!(r->tok = pl_tokenizer_load(from))) return PL_ERR_FORMAT;
    if (from == ck) {
        if (pl_ckpt_load_optimizer(ck, r->m)) return PL_ERR_FORMAT;
        *start = pl_ckpt_step(o->out_dir);
        pl_hist_read(o->out_dir, &r->hist, *start);
        if (!o->quiet) fprintf(stderr, "resuming from %s (step %lld)\n", ck, (long long)*start);
    }
    if (pl_llm_n_vocab(r->m) < pl_tokenizer_n_vocab(r->tok))
        return pl_error(PL_ERR_ARG, "the student has %d logits for a tokenizer of %d tokens", pl_llm_n_vocab(r->m), pl_tokenizer_n_vocab(r->tok));
    return same_tokenizer(r->teacher->tok, r->tok);
}

static int read_text(ds_run *r) {
    const pl_distill_opts *o = r->o;
    size_t len = 0;
    char *text = pl_read_file(o->data_path, &len);
    if (!text) return PL_ERR_IO;
    int n = pl_tokenize(r->teacher->tok, text, len, NULL, 0, false);
    if (n > 0 && (r->tokens = pl_malloc((size_t)n * sizeof *r->tokens))) n = pl_tokenize(r->teacher->tok, text, len, r->tokens, n, false);
    free(text);
    if (n < 0) return n;
    if (!r->tokens) return PL_ERR_NOMEM;
    r->n_tokens = n;
    r->n_seq = (int)((n - 1) / r->T);
    if (r->n_seq < 2) return pl_error(PL_ERR_ARG, "%s: %d tokens make fewer than two sequences of %d", o->data_path, n, r->T);
    r->n_val = PL_MAX(1, (int)(r->n_seq * o->val_frac));
    r->n_train = r->n_seq - r->n_val;
    return PL_OK;
}

/* ---- training ---------------------------------------------------------------------------------------------------- */
/* sequences seq[0..n) into the batch (rows past n: no loss); labels from (kid, kp) or (vid, vp) */
static void fill(ds_run *r, const int *seq, int n, bool val) {
    const int T = r->T, K = r->K;
    int32_t *x = r->x->data, *y = r->y->data, *id = (val ? r->vtid : r->tid)->data;
    float *p = pl_f32(val ? r->vtp : r->tp);
    for (int b = 0; b < r->B; b++) {
        for (int t = 0; t < T; t++) {
            bool in = b < n;
            const int64_t at = in ? (int64_t)seq[b] * T + t : 0;
            x[b * T + t] = in ? r->tokens[at] : 0;
            y[b * T + t] = in ? r->tokens[at + 1] : -1;
            size_t src = in ? ((size_t)(val ? seq[b] - r->n_train : seq[b]) * T + t) * K : 0, dst = ((size_t)b * T + t) * K;
            for (int k = 0; k < K; k++) {
                id[dst + k] = in ? (val ? r->vid : r->kid)[src + k] : -1;
                p[dst + k] = in ? (val ? r->vp : r->kp)[src + k] : 0;
            }
        }
    }
}

/* validation: mean KL (T = 1) and cross-entropy over the held-out sequences */
static void validate(ds_run *r, double *kl, double *ce) {
    double sk = 0, sc = 0;
    int batches = 0;
    for (int i = 0; i < r->n_val; i += r->B, batches++) {
        int seq[256], n = PL_MIN(r->B, r->n_val - i);
        for (int b = 0; b < n; b++) seq[b] = r->n_train + i + b;
        fill(r, seq, n, true);
        pl_graph_forward(r->ctx, r->gv);
        sk += pl_f32(r->kl1)[0];
        sc += pl_f32(r->ce)[0];
    }
    *kl = sk / batches;
    *ce = sc / batches;
}

static int write_val(const char *dir, const double (*rows)[3], int n) {
    size_t cap = 64 + (size_t)n * 64, len = 0;
    char *s = pl_malloc(cap), path[4200];
    if (!s) return PL_ERR_NOMEM;
    len += (size_t)snprintf(s, cap, "step,val_kl,val_ppl\n");
    for (int i = 0; i < n; i++) len += (size_t)snprintf(s + len, cap - len, "%.0f,%.6f,%.4f\n", rows[i][0], rows[i][1], rows[i][2]);
    snprintf(path, sizeof path, "%s/val.csv", dir);
    int rc = pl_write_file_atomic(path, s, len);
    free(s);
    return rc;
}

static int save(ds_run *r, int64_t step) {
    cJSON *st = cJSON_CreateObject();
    cJSON_AddStringToObject(st, "teacher", r->o->teacher);
    cJSON_AddStringToObject(st, "student", r->o->student);
    cJSON_AddStringToObject(st, "data", r->o->data_path);
    cJSON_AddNumberToObject(st, "temperature", r->o->temperature);
    cJSON_AddNumberToObject(st, "alpha", r->o->alpha);
    cJSON_AddNumberToObject(st, "kd", r->o->kd);
    int rc = pl_hist_write(r->o->out_dir, &r->hist, "loss");
    if (!rc) rc = pl_ckpt_save(r->o->out_dir, step, r->m, r->tok, st);
    cJSON_Delete(st);
    return rc;
}

static int build(ds_run *r) {
    const pl_distill_opts *o = r->o;
    r->ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = o->threads});
    r->x = pl_new_2d(r->ctx, PL_I32, r->T, r->B);
    r->y = pl_new_2d(r->ctx, PL_I32, r->T, r->B);
    r->tid = pl_new_3d(r->ctx, PL_I32, r->K, r->T, r->B);
    r->tp = pl_new_3d(r->ctx, PL_F32, r->K, r->T, r->B);
    r->vtid = pl_new_3d(r->ctx, PL_I32, r->K, r->T, r->B);
    r->vtp = pl_new_3d(r->ctx, PL_F32, r->K, r->T, r->B);
    pl_tensor *logits = NULL;
    r->ce = r->x && r->y ? pl_llm_forward_train(r->ctx, r->m, r->x, r->y, &logits) : NULL;
    r->kl = pl_kl_topk(r->ctx, logits, r->tid, r->tp, o->temperature);
    r->kl1 = pl_kl_topk(r->ctx, logits, r->vtid, r->vtp, 1.0f);
    if (!r->ce || !r->kl || !r->kl1) return PL_ERR_ARG;
    const float t2 = o->temperature * o->temperature;
    if (o->kd <= 0) r->loss = r->ce;                       /* hard labels only */
    else if (o->alpha <= 0) r->loss = pl_scale(r->ctx, r->kl, o->kd * t2);
    else r->loss = pl_add(r->ctx, pl_scale(r->ctx, r->kl, o->kd * t2), pl_scale(r->ctx, r->ce, o->alpha));
    r->g = r->loss ? pl_graph_build(r->ctx, r->loss, true) : NULL;
    pl_tensor *both = pl_add(r->ctx, r->kl1, r->ce);
    r->gv = both ? pl_graph_build(r->ctx, both, false) : NULL;
    return r->g && r->gv ? PL_OK : PL_ERR_ARG;
}

static int loop(ds_run *r, int64_t start) {
    const pl_distill_opts *o = r->o;
    const int64_t steps = o->steps;
    pl_adamw opt = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
    pl_flat_params fp = {r->m->w, r->m->g, r->m->adam_m, r->m->adam_v, r->m->n_floats};
    int64_t warmup = o->warmup >= 0 ? o->warmup : steps / 10;
    float min_lr = o->min_lr >= 0 ? o->min_lr : o->lr / 10;
    int eval_every = o->eval_every > 0 ? o->eval_every : (int)PL_MAX(1, steps / 10);
    double (*vrows)[3] = pl_calloc((size_t)(steps / eval_every + 3), sizeof *vrows);
    int nv = 0;
    if (!vrows) return PL_ERR_NOMEM;
    bool tty = isatty(2);
    double t_begin = pl_time_s(), kl, ce;
    int rc = PL_OK;
    if (start == 0) {
        validate(r, &kl, &ce);
        vrows[nv][0] = 0, vrows[nv][1] = kl, vrows[nv++][2] = exp(ce);
        pl_hist_add(&r->hist, (pl_hist_row){0, NAN, kl, 0, 0});
        if (!o->quiet) fprintf(stderr, "before training: validation KL %.4f, perplexity %.2f\n", kl, exp(ce));
    }
    for (int64_t step = start; step < steps && !rc; step++) {
        double t0 = pl_time_s();
        int seq[256];
        for (int b = 0; b < r->B; b++) {
            int64_t k = step * r->B + b;
            if (b == 0 || k % r->n_train == 0) pl_epoch_order(r->order, r->n_train, r->o->seed, k / r->n_train);
            seq[b] = r->order[k % r->n_train];
        }
        fill(r, seq, r->B, false);
        pl_graph_forward(r->ctx, r->g);
        pl_graph_backward_reset(r->ctx, r->g);
        float loss = pl_f32(r->loss)[0], lr = pl_lr_schedule(step, warmup, steps, o->lr, min_lr);
        if (!isfinite(loss)) { rc = pl_error(PL_ERR_ARG, "loss diverged (%f) at step %lld: lower --lr", loss, (long long)step); break; }
        pl_update_adamw(r->ctx, &opt, &fp, step + 1, lr, 1.0f, 1);
        pl_hist_row row = {(double)(step + 1), loss, NAN, lr, (double)r->B * r->T / (pl_time_s() - t0)};
        bool last = step + 1 == steps;
        if ((step + 1) % eval_every == 0 || last) {
            validate(r, &kl, &ce);
            row.val = kl;
            vrows[nv][0] = (double)(step + 1), vrows[nv][1] = kl, vrows[nv++][2] = exp(ce);
        }
        pl_hist_add(&r->hist, row);
        if (!o->quiet) pl_progress_print(stderr, tty, &row, steps, (pl_time_s() - t_begin) / (double)(step + 1 - start) * (double)(steps - step - 1));
        bool stop = o->interrupt && *o->interrupt;
        if (((o->save_every > 0 && (step + 1) % o->save_every == 0) || last || stop) && (rc = save(r, step + 1))) break;
        if (stop) rc = pl_error(PL_ERR_INTERRUPTED, "interrupted at step %lld: checkpoint saved in %s", (long long)step + 1, o->out_dir);
    }
    if (!rc || rc == PL_ERR_INTERRUPTED) {
        int w = write_val(o->out_dir, (const double (*)[3])vrows, nv);
        if (!rc) rc = w;
        if (!rc && !o->quiet && nv) fprintf(stderr, "after %lld steps: validation KL %.4f, perplexity %.2f (val.csv)\n", (long long)steps, vrows[nv - 1][1], vrows[nv - 1][2]);
    }
    free(vrows);
    return rc;
}

int pl_distill(const pl_distill_opts *o) {
    if (!o->teacher || !o->student || !o->data_path) return pl_error(PL_ERR_ARG, "a teacher, a student and a text are needed");
    if (o->temperature <= 0 || o->top_k < 1 || o->top_k > 1024 || o->ctx < 2 || o->batch < 1 || o->batch > 256 || o->steps < 1)
        return pl_error(PL_ERR_ARG, "temperature > 0, top-k 1..1024, ctx >= 2, batch 1..256 and steps >= 1 are needed");
    ds_run r = {.o = o, .T = o->ctx, .K = o->top_k, .B = o->batch};
    int64_t start = 0;
    int rc = pl_mkdir_p(o->out_dir);
    if (!rc && !(r.teacher = pl_bundle_open(o->teacher, &(pl_bundle_params){.n_ctx = o->ctx, .n_threads = o->threads, .chat = "none"})))
        rc = PL_ERR_FORMAT;
    char *student = NULL;
    if (!rc && pl_bundle_resolve(o->student, &student) != 1)
        rc = pl_last_error()[0] ? PL_ERR_ARG : pl_error(PL_ERR_ARG, "'%s' is not a model", o->student);
    if (!rc) rc = open_student(&r, student, &start);
    free(student);
    if (!rc && r.K > pl_llm_n_vocab(r.teacher->llm)) rc = pl_error(PL_ERR_ARG, "--top-k %d is larger than the vocabulary", r.K);
    if (!rc) rc = read_text(&r);
    if (!rc && !(r.order = pl_malloc((size_t)r.n_train * sizeof *r.order))) rc = PL_ERR_NOMEM;
    if (!rc && !o->quiet)
        fprintf(stderr, "data: %lld tokens, %d sequences of %d (%d train, %d validation)\n", (long long)r.n_tokens, r.n_seq, r.T,
                r.n_train, r.n_val);
    if (!rc) rc = teacher_labels(&r);
    if (!rc) rc = build(&r);
    if (!rc && !o->quiet)
        fprintf(stderr, "student: %s, %lld parameters; %s; %lld steps of %d x %d tokens\n", pl_llm_arch_name(r.m->hp.arch),
                (long long)r.m->n_floats, o->kd > 0 ? "distilled (T^2 KL + alpha CE)" : "hard labels only", (long long)o->steps, r.B, r.T);
    if (!rc) rc = loop(&r, start);
    pl_hist_free(&r.hist);
    pl_ctx_free(r.ctx);
    pl_llm_free(r.m);
    pl_tokenizer_free(r.tok);
    pl_bundle_free(r.teacher);
    free(r.tokens); free(r.kid); free(r.kp); free(r.vid); free(r.vp); free(r.order);
    return rc;
}
