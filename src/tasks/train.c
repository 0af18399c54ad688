/* The pre-training loop: data split and batching, forward/backward on one graph built once, gradient
 * accumulation, clipping, the warmup + cosine schedule, AdamW, validation, progress, checkpoints that a
 * kill cannot corrupt (tmp + rename, then state.json), and --resume from the last checkpoint.
 * Batches are a pure function of (seed, step, micro-batch, row), so a resumed run sees the same data. */
#include "tasks/train.h"
#include "io/safetensors.h"
#include "train/optim.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

pl_train_opts pl_train_default_opts(void) {
    return (pl_train_opts){
        .out_dir = "runs/gpt",
        .model = {.vocab = 256, .ctx = 128, .dim = 128, .layers = 4, .heads = 4},
        .batch = 8, .accum = 1, .steps = 1500, .warmup = 100,
        .lr = 2e-3f, .min_lr = 2e-4f, .weight_decay = 0.1f, .clip = 1.0f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
        .eval_every = 250, .eval_iters = 16, .save_every = 250, .log_every = 10,
        .val_frac = 0.1f, .seed = 1337, .threads = 0,
    };
}

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

typedef struct { double step, train, val, lr, tps; } hist_row;
typedef struct { hist_row *v; int n, cap; } history;

static void hist_add(history *h, hist_row r) {
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 256;
        hist_row *v = realloc(h->v, (size_t)cap * sizeof *v);
        if (!v) return;
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n++] = r;
}

static int write_csv(const char *dir, const history *h) {
    size_t cap = 64 + (size_t)h->n * 96, len = 0;
    char *buf = malloc(cap), path[4096];
    if (!buf) return pl_error(PL_ERR_NOMEM, "out of memory");
    len += (size_t)snprintf(buf, cap, "step,train_loss,val_loss,lr,tokens_per_s\n");
    for (int i = 0; i < h->n; i++) {
        const hist_row *r = &h->v[i];
        char val[32] = "";
        if (!isnan(r->val)) snprintf(val, sizeof val, "%.6f", r->val);
        len += (size_t)snprintf(buf + len, cap - len, "%.0f,%.6f,%s,%.6g,%.1f\n", r->step, r->train, val, r->lr, r->tps);
    }
    snprintf(path, sizeof path, "%s/loss.csv", dir);
    int rc = pl_write_file_atomic(path, buf, len);
    free(buf);
    return rc;
}

static void read_csv(const char *dir, history *h, int64_t upto) {
    char path[4096];
    snprintf(path, sizeof path, "%s/loss.csv", dir);
    char *s = pl_read_file(path, NULL);
    if (!s) { pl_clear_error(); return; }
    char *line = strchr(s, '\n');
    while (line && *++line) {
        hist_row r = {0};
        char val[64] = "";
        r.val = NAN;
        if (sscanf(line, "%lf,%lf,%63[^,],%lf,%lf", &r.step, &r.train, val, &r.lr, &r.tps) == 5 ||
            (sscanf(line, "%lf,%lf,,%lf,%lf", &r.step, &r.train, &r.lr, &r.tps) == 4)) {
            if (val[0]) r.val = atof(val);
            if (r.step <= (double)upto) hist_add(h, r);
        }
        line = strchr(line, '\n');
    }
    free(s);
}

/* A plain SVG line chart of train (and validation) loss against step. */
static int write_svg(const char *dir, const history *h) {
    if (h->n == 0) return PL_OK;
    double xmax = 1, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < h->n; i++) {
        xmax = fmax(xmax, h->v[i].step);
        ymin = fmin(ymin, h->v[i].train); ymax = fmax(ymax, h->v[i].train);
        if (!isnan(h->v[i].val)) { ymin = fmin(ymin, h->v[i].val); ymax = fmax(ymax, h->v[i].val); }
    }
    if (ymax - ymin < 1e-6) ymax = ymin + 1;
    const double W = 720, H = 420, L = 60, R = 20, T = 30, B = 50;
    size_t cap = 4096 + (size_t)h->n * 64, len = 0;
    char *buf = malloc(cap), path[4096];
    if (!buf) return pl_error(PL_ERR_NOMEM, "out of memory");
#define X(s) (L + (s) / xmax * (W - L - R))
#define Y(v) (T + (ymax - (v)) / (ymax - ymin) * (H - T - B))
    len += (size_t)snprintf(buf + len, cap - len,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%.0f\" y=\"20\">plinth train: loss (nats/byte)</text>\n"
        "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/><line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n",
        W, H, L, L, H - B, W - R, H - B, L, T, L, H - B);
    for (int k = 0; k <= 4; k++) {
        double v = ymin + (ymax - ymin) * k / 4;
        len += (size_t)snprintf(buf + len, cap - len, "<text x=\"5\" y=\"%.1f\">%.3f</text>\n", Y(v) + 4, v);
    }
    len += (size_t)snprintf(buf + len, cap - len, "<text x=\"%.0f\" y=\"%.0f\">step %.0f</text>\n", W - R - 80, H - 15, xmax);
    len += (size_t)snprintf(buf + len, cap - len, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for (int i = 0; i < h->n; i++) len += (size_t)snprintf(buf + len, cap - len, "%.1f,%.1f ", X(h->v[i].step), Y(h->v[i].train));
    len += (size_t)snprintf(buf + len, cap - len, "\"/>\n<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"");
    for (int i = 0; i < h->n; i++)
        if (!isnan(h->v[i].val)) len += (size_t)snprintf(buf + len, cap - len, "%.1f,%.1f ", X(h->v[i].step), Y(h->v[i].val));
    len += (size_t)snprintf(buf + len, cap - len,
        "\"/>\n<text x=\"%.0f\" y=\"45\" fill=\"#1f77b4\">train</text><text x=\"%.0f\" y=\"60\" fill=\"#d62728\">validation</text>\n</svg>\n",
        W - R - 90, W - R - 90);
#undef X
#undef Y
    snprintf(path, sizeof path, "%s/loss.svg", dir);
    int rc = pl_write_file_atomic(path, buf, len);
    free(buf);
    return rc;
}

static int mkdir_p(const char *dir) {
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

/* ---- checkpoints -------------------------------------------------------------------------------------------- */
static int save_checkpoint(const pl_gpt *m, const pl_train_opts *o, int64_t step, const history *h) {
    char path[4096], name[64], buf[32], seed[32];
    snprintf(name, sizeof name, "checkpoint-%06lld.safetensors", (long long)step);
    snprintf(path, sizeof path, "%s/%s", o->out_dir, name);
    snprintf(buf, sizeof buf, "%lld", (long long)step);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    const char *meta[] = {"step", buf, "seed", seed};
    int rc = pl_gpt_save(m, path, true, meta, 2);
    /* the loss history first: resume keeps the rows up to whichever checkpoint state.json names */
    if (rc || (rc = write_csv(o->out_dir, h)) || (rc = write_svg(o->out_dir, h))) return rc;
    /* the previous checkpoint stays until state.json points at the new one */
    char old[4096] = "";
    pl_train_resolve_checkpoint(o->out_dir, old, sizeof old);
    pl_clear_error();
    cJSON *st = cJSON_CreateObject();
    cJSON_AddNumberToObject(st, "step", (double)step);
    cJSON_AddStringToObject(st, "checkpoint", name);
    cJSON_AddStringToObject(st, "data", o->data_path);
    cJSON_AddNumberToObject(st, "seed", (double)o->seed);
    cJSON *mc = cJSON_AddObjectToObject(st, "model");
    cJSON_AddNumberToObject(mc, "vocab", m->cfg.vocab);
    cJSON_AddNumberToObject(mc, "ctx", m->cfg.ctx);
    cJSON_AddNumberToObject(mc, "dim", m->cfg.dim);
    cJSON_AddNumberToObject(mc, "layers", m->cfg.layers);
    cJSON_AddNumberToObject(mc, "heads", m->cfg.heads);
    cJSON_AddNumberToObject(st, "params", (double)m->n_floats);
    char *js = cJSON_Print(st);
    cJSON_Delete(st);
    char spath[4096];
    snprintf(spath, sizeof spath, "%s/state.json", o->out_dir);
    rc = js ? pl_write_file_atomic(spath, js, strlen(js)) : pl_error(PL_ERR_NOMEM, "out of memory");
    free(js);
    if (rc) return rc;
    if (old[0] && strcmp(old, path)) unlink(old);
    return PL_OK;
}

int pl_train_resolve_checkpoint(const char *path, char *out, size_t cap) {
    struct stat sb;
    if (stat(path, &sb) != 0) return pl_error(PL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) { snprintf(out, cap, "%s", path); return PL_OK; }
    char spath[4096];
    snprintf(spath, sizeof spath, "%s/state.json", path);
    char *js = pl_read_file(spath, NULL);
    if (!js) return pl_error(PL_ERR_IO, "'%s' holds no state.json: not a training directory, or no checkpoint saved yet", path);
    cJSON *st = cJSON_Parse(js);
    free(js);
    const cJSON *ck = st ? cJSON_GetObjectItemCaseSensitive(st, "checkpoint") : NULL;
    if (!cJSON_IsString(ck) || strchr(ck->valuestring, '/')) {
        cJSON_Delete(st);
        return pl_error(PL_ERR_FORMAT, "'%s' is malformed (no checkpoint file named)", spath);
    }
    snprintf(out, cap, "%s/%s", path, ck->valuestring);
    cJSON_Delete(st);
    return PL_OK;
}

/* ---- data ------------------------------------------------------------------------------------------------------ */
static int load_text(const char *path, uint8_t **data, size_t *n) {
    char *s = pl_read_file(path, n);
    if (!s) return PL_ERR_IO;
    if (*n == 0) { free(s); return pl_error(PL_ERR_ARG, "training file '%s' is empty", path); }
    if (memchr(s, 0, *n) || !pl_utf8_valid(s, *n)) {
        free(s);
        return pl_error(PL_ERR_ARG, "training file '%s' is not UTF-8 text (binary data?)", path);
    }
    *data = (uint8_t *)s;
    return PL_OK;
}

static void fill_batch(const uint8_t *text, size_t n, int T, int B, pl_tensor *x, pl_tensor *y, uint64_t key, bool sequential, int64_t idx) {
    int32_t *xi = x->data, *yi = y->data;
    for (int b = 0; b < B; b++) {
        size_t span = n - (size_t)T - 1, off;
        if (sequential) off = (size_t)((idx * B + b) * (int64_t)997 * T) % (span + 1); /* spread over the set */
        else off = mix(key ^ mix((uint64_t)b)) % (span + 1);
        for (int t = 0; t < T; t++) { xi[b * T + t] = text[off + t]; yi[b * T + t] = text[off + t + 1]; }
    }
}

/* AdamW and clipping are element-wise over the flat buffers: split them over the pool in chunks. */
#define ADAMW_CHUNK 65536
typedef struct { const pl_adamw *opt; pl_gpt *m; int64_t t; float lr, gscale; } adamw_job;
/* each chunk: the update with the clipping (and accumulation) factor folded in. The gradients need no zeroing
 * for the next step: its first backward pass resets them (pl_graph_backward_reset). */
static void adamw_range(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    adamw_job *j = arg;
    for (int64_t c = s; c < e; c++) {
        int64_t b = c * ADAMW_CHUNK, n = PL_MIN((c + 1) * ADAMW_CHUNK, j->m->n_floats) - b;
        pl_adamw_step_scaled(j->opt, j->t, j->lr, n, j->m->w + b, j->m->g + b, j->m->m + b, j->m->v + b, j->gscale);
    }
}
typedef struct { float *g; int64_t n; double part[256]; } clip_job;
static void sumsq_range(void *arg, int64_t s, int64_t e, int ith) {
    clip_job *j = arg;
    int64_t b = s * ADAMW_CHUNK, n = PL_MIN(e * ADAMW_CHUNK, j->n) - b;
    j->part[ith] += pl_sumsq_f32(n, j->g + b);
}
/* The factor pl_clip_grad_norm would scale the mean gradient (g / accum) by, as one factor on g: the global
 * norm is summed over the pool (the same up to the order of the partial sums); AdamW applies the factor. */
static float clip_factor(pl_ctx *ctx, pl_gpt *m, float max_norm, int accum) {
    float mean = 1.0f / (float)accum;
    if (max_norm <= 0) return mean;
    clip_job j = {.g = m->g, .n = m->n_floats};
    pl_parallel_for(ctx, (m->n_floats + ADAMW_CHUNK - 1) / ADAMW_CHUNK, sumsq_range, &j);
    double s = 0;
    for (int i = 0; i < 256; i++) s += j.part[i];
    float norm = (float)sqrt(s) * mean;
    return norm > max_norm ? mean * (max_norm / (norm + 1e-6f)) : mean;
}

static void fmt_eta(double s, char *buf, size_t cap) {
    if (s < 0 || s > 1e7) { snprintf(buf, cap, "?"); return; }
    int h = (int)(s / 3600), mi = (int)(s / 60) % 60, se = (int)s % 60;
    if (h) snprintf(buf, cap, "%dh%02dm", h, mi);
    else snprintf(buf, cap, "%dm%02ds", mi, se);
}

int pl_train_gpt(const pl_train_opts *o) {
    if (pl_gpt_config_check(&o->model)) return PL_ERR_ARG;
    if (o->batch < 1 || o->accum < 1 || o->steps < 1)
        return pl_error(PL_ERR_ARG, "batch, accumulation and steps must be at least 1");
    if (o->model.vocab != 256) return pl_error(PL_ERR_ARG, "byte-level training needs a vocabulary of 256");
    uint8_t *text = NULL;
    size_t n = 0;
    int rc = load_text(o->data_path, &text, &n);
    if (rc) return rc;
    size_t n_val = (size_t)(n * o->val_frac), n_train = n - n_val;
    int T = o->model.ctx, B = o->batch;
    if (n_train < (size_t)T + 2 || (o->val_frac > 0 && n_val < (size_t)T + 2)) {
        free(text);
        return pl_error(PL_ERR_ARG, "training file '%s' (%zu bytes) is too short for a context of %d", o->data_path, n, T);
    }
    if ((rc = mkdir_p(o->out_dir))) { free(text); return rc; }

    pl_gpt *m = NULL;
    int64_t start = 0;
    history hist = {0};
    if (o->resume) {
        char ck[4096];
        if (pl_train_resolve_checkpoint(o->out_dir, ck, sizeof ck) == PL_OK) {
            m = pl_gpt_load(ck, true);
            if (!m) { free(text); return PL_ERR_FORMAT; }
            if (memcmp(&m->cfg, &o->model, sizeof m->cfg)) {
                pl_gpt_free(m); free(text);
                return pl_error(PL_ERR_ARG, "--resume: the checkpoint's model (dim %d, layers %d, heads %d, ctx %d) differs from the options",
                                m->cfg.dim, m->cfg.layers, m->cfg.heads, m->cfg.ctx);
            }
            pl_st *st = pl_st_open(ck);
            const char *s = st ? pl_st_metadata_get(st, "step") : NULL;
            start = s ? atoll(s) : 0;
            pl_st_close(st);
            read_csv(o->out_dir, &hist, start);
            if (!o->quiet) fprintf(stderr, "resuming from %s (step %lld)\n", ck, (long long)start);
        } else if (!o->quiet) fprintf(stderr, "no checkpoint in %s: starting fresh\n", o->out_dir);
        pl_clear_error();
    }
    if (!m) {
        m = pl_gpt_new(&o->model);
        if (!m) { free(text); return PL_ERR_NOMEM; }
        pl_gpt_init(m, o->seed);
    }
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = o->threads});
    pl_tensor *x = pl_new_2d(ctx, PL_I32, T, B), *y = pl_new_2d(ctx, PL_I32, T, B), *loss = NULL;
    pl_gpt_forward(ctx, m, x, y, &loss);
    pl_graph *g = pl_graph_build(ctx, loss, true);
    if (!g) { rc = PL_ERR_ARG; goto done; }
    if (!o->quiet)
        fprintf(stderr, "model: %d layers, width %d, %d heads, context %d: %lld parameters; data: %zu train + %zu val bytes; %d threads\n",
                o->model.layers, o->model.dim, o->model.heads, T, (long long)m->n_floats, n_train, n_val, ctx->n_threads);
    pl_adamw opt = {o->lr, o->beta1, o->beta2, o->eps, o->weight_decay};
    bool tty = isatty(2);
    double t_begin = pl_time_s(), tps = 0;
    int64_t step;
    for (step = start; step < o->steps; step++) {
        double t0 = pl_time_s(), lsum = 0;
        for (int a = 0; a < o->accum; a++) {
            fill_batch(text, n_train, T, B, x, y, mix(o->seed ^ mix((uint64_t)step * 1000003u + (uint64_t)a)), false, 0);
            pl_graph_forward(ctx, g);
            if (a == 0) pl_graph_backward_reset(ctx, g); /* the gradients start from zero, without a sweep */
            else pl_graph_backward(ctx, g);
            lsum += pl_f32(loss)[0];
        }
        float train_loss = (float)(lsum / o->accum);
        if (!isfinite(train_loss)) { rc = pl_error(PL_ERR_ARG, "loss diverged (%f) at step %lld: lower --lr", train_loss, (long long)step); goto done; }
        float lr = pl_lr_schedule(step, o->warmup, o->steps, o->lr, o->min_lr);
        double t_opt = pl_profile_clock();
        adamw_job aj = {&opt, m, step + 1, lr, clip_factor(ctx, m, o->clip, o->accum)};
        pl_parallel_for(ctx, (m->n_floats + ADAMW_CHUNK - 1) / ADAMW_CHUNK, adamw_range, &aj);
        if (pl_profiling()) pl_profile_add("clip + AdamW", pl_profile_clock() - t_opt);
        double dt = pl_time_s() - t0;
        tps = (double)B * T * o->accum / dt;
        hist_row row = {(double)(step + 1), train_loss, NAN, lr, tps};
        bool last = step + 1 == o->steps;
        if (o->eval_every > 0 && n_val > 0 && ((step + 1) % o->eval_every == 0 || last)) {
            double vs = 0;
            for (int i = 0; i < o->eval_iters; i++) {
                fill_batch(text + n_train, n_val, T, B, x, y, 0, true, i);
                pl_graph_forward(ctx, g);
                vs += pl_f32(loss)[0];
            }
            row.val = vs / PL_MAX(o->eval_iters, 1);
        }
        hist_add(&hist, row);
        if (!o->quiet && (tty || (step + 1) % PL_MAX(o->log_every, 1) == 0 || !isnan(row.val) || last)) {
            char eta[32];
            fmt_eta((pl_time_s() - t_begin) / (double)(step + 1 - start) * (double)(o->steps - step - 1), eta, sizeof eta);
            int done_w = (int)(20 * (step + 1) / o->steps);
            fprintf(stderr, "%s[%.*s%*s] step %lld/%lld | loss %.4f", tty ? "\r" : "", done_w, "####################",
                    20 - done_w, "", (long long)(step + 1), (long long)o->steps, train_loss);
            if (!isnan(row.val)) fprintf(stderr, " | val %.4f", row.val);
            fprintf(stderr, " | lr %.2e | %.0f tok/s | ETA %s%s", lr, tps, eta, tty && isnan(row.val) && !last ? "   " : "\n");
        }
        bool stop = o->interrupt && *o->interrupt;
        if ((o->save_every > 0 && (step + 1) % o->save_every == 0) || last || stop) {
            if ((rc = save_checkpoint(m, o, step + 1, &hist))) goto done;
        }
        if (stop) { step++; rc = pl_error(PL_ERR_INTERRUPTED, "interrupted at step %lld: checkpoint saved in %s", (long long)step, o->out_dir); goto done; }
    }
    if ((rc = write_csv(o->out_dir, &hist)) == PL_OK) rc = write_svg(o->out_dir, &hist);
    if (!o->quiet && rc == PL_OK) {
        double el = pl_time_s() - t_begin;
        fprintf(stderr, "done: %lld steps in %.2f s, %.0f tokens/s\n", (long long)(step - start), el,
                el > 0 ? (double)(step - start) * B * T * o->accum / el : 0.0);
        fprintf(stderr, "wrote %s/loss.csv, %s/loss.svg and the checkpoint in %s/state.json\n", o->out_dir, o->out_dir, o->out_dir);
    }
done:
    pl_profile_print(stderr);
    free(hist.v);
    pl_ctx_free(ctx);
    pl_gpt_free(m);
    free(text);
    return rc;
}
