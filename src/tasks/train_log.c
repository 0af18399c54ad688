/* The loss history of a training run (loss.csv, loss.svg) and its progress line: see train_log.h. */
#include "tasks/train_log.h"
#include "core/common.h"

#include <math.h>
#include <string.h>

void pl_hist_add(pl_history *h, pl_hist_row r) {
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 256;
        pl_hist_row *v = realloc(h->v, (size_t)cap * sizeof *v);
        if (!v) return;
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n++] = r;
}

static int write_csv(const char *dir, const pl_history *h) {
    size_t cap = 64 + (size_t)h->n * 96, len = 0;
    char *buf = malloc(cap), path[4096];
    if (!buf) return pl_error(PL_ERR_NOMEM, "out of memory");
    len += (size_t)snprintf(buf, cap, "step,train_loss,val_loss,lr,tokens_per_s\n");
    for (int i = 0; i < h->n; i++) {
        const pl_hist_row *r = &h->v[i];
        char val[32] = "";
        if (!isnan(r->val)) snprintf(val, sizeof val, "%.6f", r->val);
        len += (size_t)snprintf(buf + len, cap - len, "%.0f,%.6f,%s,%.6g,%.1f\n", r->step, r->train, val, r->lr, r->tps);
    }
    snprintf(path, sizeof path, "%s/loss.csv", dir);
    int rc = pl_write_file_atomic(path, buf, len);
    free(buf);
    return rc;
}

void pl_hist_read(const char *dir, pl_history *h, int64_t upto) {
    char path[4096];
    snprintf(path, sizeof path, "%s/loss.csv", dir);
    char *s = pl_read_file(path, NULL);
    if (!s) { pl_clear_error(); return; }
    char *line = strchr(s, '\n');
    while (line && *++line) {
        pl_hist_row r = {0};
        char val[64] = "";
        r.val = NAN;
        if (sscanf(line, "%lf,%lf,%63[^,],%lf,%lf", &r.step, &r.train, val, &r.lr, &r.tps) == 5 ||
            (sscanf(line, "%lf,%lf,,%lf,%lf", &r.step, &r.train, &r.lr, &r.tps) == 4)) {
            if (val[0]) r.val = atof(val);
            if (r.step <= (double)upto) pl_hist_add(h, r);
        }
        line = strchr(line, '\n');
    }
    free(s);
}

/* A plain SVG line chart of train (and validation) loss against step. */
static int write_svg(const char *dir, const pl_history *h, const char *unit) {
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
        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%.0f\" y=\"20\">loss (%s)</text>\n"
        "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/><line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n",
        W, H, L, unit, L, H - B, W - R, H - B, L, T, L, H - B);
    for (int k = 0; k <= 4; k++) {
        double v = ymin + (ymax - ymin) * k / 4;
        len += (size_t)snprintf(buf + len, cap - len, "<text x=\"5\" y=\"%.1f\">%.3f</text>\n", Y(v) + 4, v);
    }
    len += (size_t)snprintf(buf + len, cap - len, "<text x=\"%.0f\" y=\"%.0f\">step %.0f</text>\n", W - R - 80, H - 15, xmax);
    len += (size_t)snprintf(buf + len, cap - len, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for (int i = 0; i < h->n; i++)
        if (!isnan(h->v[i].train)) len += (size_t)snprintf(buf + len, cap - len, "%.1f,%.1f ", X(h->v[i].step), Y(h->v[i].train));
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


void pl_hist_free(pl_history *h) { free(h->v); h->v = NULL; h->n = h->cap = 0; }

int pl_hist_write(const char *dir, const pl_history *h, const char *unit) {
    int rc = write_csv(dir, h);
    return rc ? rc : write_svg(dir, h, unit);
}

static void fmt_eta(double s, char *buf, size_t cap) {
    if (s < 0 || s > 1e7) { snprintf(buf, cap, "?"); return; }
    int h = (int)(s / 3600), mi = (int)(s / 60) % 60, se = (int)s % 60;
    if (h) snprintf(buf, cap, "%dh%02dm", h, mi);
    else snprintf(buf, cap, "%dm%02ds", mi, se);
}

void pl_progress_print(FILE *f, bool tty, const pl_hist_row *r, int64_t steps, double eta_s) {
    char eta[32];
    fmt_eta(eta_s, eta, sizeof eta);
    int64_t step = (int64_t)r->step;
    int done_w = (int)(20 * step / steps);
    bool last = step == steps;
    fprintf(f, "%s[%.*s%*s] step %lld/%lld | loss %.4f", tty ? "\r" : "", done_w, "####################", 20 - done_w, "",
            (long long)step, (long long)steps, r->train);
    if (!isnan(r->val)) fprintf(f, " | val %.4f", r->val);
    fprintf(f, " | lr %.2e | %.0f tok/s | ETA %s%s", r->lr, r->tps, eta, tty && isnan(r->val) && !last ? "   " : "\n");
}

void pl_epoch_order(int32_t *order, int n, uint64_t seed, int64_t e) {
    uint64_t s = pl_hash64(seed ^ pl_hash64((uint64_t)e + 1));
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        s = pl_hash64(s);
        int j = (int)(s % (uint64_t)(i + 1));
        int32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}
