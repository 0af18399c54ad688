/* 2-D maps of word vectors (plot.h): PCA by power iteration with deflation (dim is small: 50-300, so the
 * dim x dim covariance costs nothing), then an SVG scatter plot with one label a point. */
#include "word2vec/plot.h"

#include "core/common.h"

#include <errno.h>
#include <math.h>

/* The leading eigenvector of the symmetric matrix c (dim x dim) orthogonal to `against` (or NULL). */
static double power_iteration(const double *c, int dim, const double *against, double *v) {
    double *w = pl_malloc((size_t)dim * sizeof *w), lambda = 0;
    if (!w) return -1;
    for (int i = 0; i < dim; i++) v[i] = 1.0 + 0.01 * (i % 7); /* a fixed start: the same map every run */
    for (int it = 0; it < 1000; it++) {
        if (against) {
            double p = 0;
            for (int i = 0; i < dim; i++) p += v[i] * against[i];
            for (int i = 0; i < dim; i++) v[i] -= p * against[i];
        }
        double norm = 0;
        for (int i = 0; i < dim; i++) norm += v[i] * v[i];
        norm = sqrt(norm);
        if (norm == 0) break;
        for (int i = 0; i < dim; i++) v[i] /= norm;
        for (int i = 0; i < dim; i++) {
            double s = 0;
            for (int j = 0; j < dim; j++) s += c[(int64_t)i * dim + j] * v[j];
            w[i] = s;
        }
        double l = 0, diff = 0;
        for (int i = 0; i < dim; i++) l += w[i] * v[i];
        for (int i = 0; i < dim; i++) { double d = w[i] - l * v[i]; diff += d * d; }
        memcpy(v, w, (size_t)dim * sizeof *v);
        lambda = l;
        if (sqrt(diff) <= 1e-10 * fabs(l) + 1e-300) break;
    }
    if (against) {
        double p = 0;
        for (int i = 0; i < dim; i++) p += v[i] * against[i];
        for (int i = 0; i < dim; i++) v[i] -= p * against[i];
    }
    double norm = 0;
    int big = 0;
    for (int i = 0; i < dim; i++) { norm += v[i] * v[i]; if (fabs(v[i]) > fabs(v[big])) big = i; }
    norm = sqrt(norm) * (v[big] < 0 ? -1 : 1);
    for (int i = 0; i < dim; i++) v[i] = norm > 0 || norm < 0 ? v[i] / norm : 0;
    free(w);
    return lambda;
}

int pl_w2v_pca2(const float *x, int n, int dim, float *xy, float var[2]) {
    if (n < 2) return pl_error(PL_ERR_ARG, "a map needs at least two words");
    double *mean = pl_calloc((size_t)dim, sizeof *mean), *c = pl_calloc((size_t)dim * dim, sizeof *c);
    double *ax = pl_malloc((size_t)2 * dim * sizeof *ax);
    if (!mean || !c || !ax) { free(mean); free(c); free(ax); return PL_ERR_NOMEM; }
    for (int r = 0; r < n; r++)
        for (int i = 0; i < dim; i++) mean[i] += x[(int64_t)r * dim + i] / n;
    for (int r = 0; r < n; r++)
        for (int i = 0; i < dim; i++) {
            double a = x[(int64_t)r * dim + i] - mean[i];
            for (int j = 0; j < dim; j++) c[(int64_t)i * dim + j] += a * (x[(int64_t)r * dim + j] - mean[j]) / n;
        }
    double trace = 0;
    for (int i = 0; i < dim; i++) trace += c[(int64_t)i * dim + i];
    double l0 = power_iteration(c, dim, NULL, ax), l1 = power_iteration(c, dim, ax, ax + dim);
    var[0] = trace > 0 ? (float)(l0 / trace) : 0;
    var[1] = trace > 0 ? (float)(l1 / trace) : 0;
    for (int r = 0; r < n; r++)
        for (int k = 0; k < 2; k++) {
            double s = 0;
            for (int i = 0; i < dim; i++) s += (x[(int64_t)r * dim + i] - mean[i]) * ax[k * dim + i];
            xy[r * 2 + k] = (float)s;
        }
    free(mean); free(c); free(ax);
    return PL_OK;
}

static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

int pl_w2v_svg(const char *path, const char *const *labels, const float *xy, int n, const float var[2]) {
    FILE *f = fopen(path, "w");
    if (!f) return pl_error(PL_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    const double W = 720, H = 540, M = 50;
    float lo[2] = {xy[0], xy[1]}, hi[2] = {xy[0], xy[1]};
    for (int r = 0; r < n; r++)
        for (int k = 0; k < 2; k++) { lo[k] = fminf(lo[k], xy[r * 2 + k]); hi[k] = fmaxf(hi[k], xy[r * 2 + k]); }
    double sx = (W - 2 * M) / fmax(hi[0] - lo[0], 1e-12), sy = (H - 2 * M) / fmax(hi[1] - lo[1], 1e-12);
#define PX(v) (M + ((v) - lo[0]) * sx)
#define PY(v) (H - M - ((v) - lo[1]) * sy)
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"sans-serif\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"15\" text-anchor=\"middle\">Word vectors, PCA: %d words "
               "(PC1 %.1f%%, PC2 %.1f%% of their variance)</text>\n", W / 2, n, var[0] * 100, var[1] * 100);
    if (lo[0] < 0 && hi[0] > 0)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ccc\"/>\n", PX(0), M, PX(0), H - M);
    if (lo[1] < 0 && hi[1] > 0)
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ccc\"/>\n", M, PY(0), W - M, PY(0));
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"middle\" fill=\"#666\">PC1</text>\n", W / 2, H - 12);
    fprintf(f, "<text x=\"14\" y=\"%.0f\" font-size=\"12\" fill=\"#666\" transform=\"rotate(-90 14 %.0f)\">PC2</text>\n", H / 2, H / 2);
    for (int r = 0; r < n; r++) {
        double px = PX(xy[r * 2]), py = PY(xy[r * 2 + 1]);
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#3366cc\"/>", px, py);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\">", px + 6, py - 5);
        put_escaped(f, labels[r]);
        fprintf(f, "</text>\n");
    }
#undef PX
#undef PY
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) return pl_error(PL_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    return PL_OK;
}
