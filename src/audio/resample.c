/* A streaming band-limited resampler: output sample j is sum_k x[k] h(t_j - k) with t_j = j * in / out (kept as an
 * exact fraction), h a Kaiser-windowed sinc whose cutoff is 0.94 of the lower rate's Nyquist and which spans 24
 * zero crossings each side. h is tabulated (512 points per input sample, linearly interpolated) once. Input is
 * kept only as far back as the next output needs, so memory does not grow with the length of the input. */
#include "audio/audio.h"

#include <math.h>
#include <string.h>

#define RS_ZEROS 24
#define RS_RES 512
#define RS_BETA 8.6
#define RS_ROLLOFF 0.94

struct pl_resampler {
    int in_rate, out_rate;
    double fc;          /* cutoff in cycles per input sample */
    int half;           /* taps each side (input samples) */
    float *table;       /* h(i / RS_RES), i = 0 .. half * RS_RES + 1 */
    float *buf;         /* input samples [buf0, buf0 + n) */
    int64_t buf0, n, cap;
    int64_t j;          /* next output sample */
    bool ended;
};

static double bessel_i0(double x) {
    double s = 1, t = 1;
    for (int k = 1; k < 60; k++) { t *= (x / (2 * k)) * (x / (2 * k)); s += t; if (t < 1e-17 * s) break; }
    return s;
}

pl_resampler *pl_resampler_new(int in_rate, int out_rate) {
    if (in_rate <= 0 || out_rate <= 0 || in_rate > 1000000 || out_rate > 1000000)
        return pl_error_null(PL_ERR_ARG, "resample: rates %d -> %d Hz out of range", in_rate, out_rate);
    pl_resampler *r = calloc(1, sizeof *r);
    if (!r) return pl_error_null(PL_ERR_NOMEM, "resample: out of memory");
    r->in_rate = in_rate; r->out_rate = out_rate;
    if (in_rate != out_rate) {
        r->fc = 0.5 * RS_ROLLOFF * (out_rate < in_rate ? (double)out_rate / in_rate : 1.0);
        r->half = (int)ceil(RS_ZEROS / (2.0 * r->fc));
        int64_t nt = (int64_t)r->half * RS_RES + 2;
        r->table = malloc((size_t)nt * sizeof(float));
        if (!r->table) { free(r); return pl_error_null(PL_ERR_NOMEM, "resample: out of memory"); }
        double i0b = bessel_i0(RS_BETA);
        for (int64_t i = 0; i < nt; i++) {
            double tau = (double)i / RS_RES, u = tau / r->half;
            double w = u < 1 ? bessel_i0(RS_BETA * sqrt(1 - u * u)) / i0b : 0;
            double a = 2 * M_PI * r->fc * tau;
            r->table[i] = (float)(2 * r->fc * (tau == 0 ? 1.0 : sin(a) / a) * w);
        }
    }
    return r;
}

void pl_resampler_free(pl_resampler *r) {
    if (!r) return;
    free(r->table); free(r->buf); free(r);
}

int pl_resampler_push(pl_resampler *r, const float *in, int64_t n, bool last) {
    /* drop what no later output needs: outputs from j on read inputs from floor(t_j) - half + 1 */
    int64_t keep_from = r->j * (int64_t)r->in_rate / r->out_rate - r->half - 1;
    if (keep_from > r->buf0) {
        int64_t drop = PL_MIN(keep_from - r->buf0, r->n);
        memmove(r->buf, r->buf + drop, (size_t)(r->n - drop) * sizeof(float));
        r->buf0 += drop; r->n -= drop;
    }
    if (r->n + n > r->cap) {
        int64_t cap = PL_MAX(r->n + n, 2 * r->cap);
        float *b = realloc(r->buf, (size_t)cap * sizeof(float));
        if (!b) return pl_error(PL_ERR_NOMEM, "resample: out of memory");
        r->buf = b; r->cap = cap;
    }
    if (n) memcpy(r->buf + r->n, in, (size_t)n * sizeof(float));
    r->n += n;
    if (last) r->ended = true;
    return PL_OK;
}

static float rs_at(const pl_resampler *r, int64_t k) { /* input sample k (0 before the start and past the end) */
    return k >= r->buf0 && k < r->buf0 + r->n ? r->buf[k - r->buf0] : 0.0f;
}

int64_t pl_resampler_pull(pl_resampler *r, float *out, int64_t n) {
    int64_t got = 0, end = r->buf0 + r->n; /* inputs [0, end) are known */
    while (got < n) {
        int64_t num = r->j * (int64_t)r->in_rate, k0 = num / r->out_rate;
        if (r->in_rate == r->out_rate) {
            if (k0 >= end) break;
            out[got++] = rs_at(r, k0);
            r->j++;
            continue;
        }
        if (r->ended) { if (k0 >= end) break; }              /* the last output lies at or before the last input */
        else if (k0 + r->half + 1 > end) break;              /* needs inputs not pushed yet */
        double frac = (double)(num % r->out_rate) / r->out_rate; /* t_j = k0 + frac */
        double acc = 0;
        for (int64_t k = k0 - r->half + 1; k <= k0 + r->half; k++) {
            double tau = fabs((double)(k0 - k) + frac) * RS_RES;
            int64_t i = (int64_t)tau;
            if (i >= (int64_t)r->half * RS_RES) continue;
            double f = tau - i, h = r->table[i] + f * (r->table[i + 1] - r->table[i]);
            acc += h * rs_at(r, k);
        }
        out[got++] = (float)acc; /* sum_k h(t - k) ~ the integral of h = 1: unit gain at DC */
        r->j++;
    }
    return got;
}
