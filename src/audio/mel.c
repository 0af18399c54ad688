/* Whisper's log-mel spectrogram: the power spectrum of 400-sample frames (periodic Hann window, hop 160, the
 * signal reflect-padded by 200 at its ends), projected on Slaney-normalised triangular mel filters spaced on the
 * Slaney mel scale from 0 to 8 kHz, log10 (floor 1e-10), the last frame dropped, clamped to max - 8, then
 * (x + 4) / 4. The same steps as transformers' WhisperFeatureExtractor (feature_extraction_whisper.py,
 * audio_utils.mel_filter_bank), computed in double. The 400-point DFT is a mixed-radix FFT (400 = 2^4 5^2). */
#include "audio/audio.h"

#include <complex.h>
#include <math.h>
#include <string.h>

struct pl_mel {
    int n_mels, n_bins;      /* n_bins = n_fft/2 + 1 */
    double *filters;         /* (n_mels, n_bins) */
    double window[PL_MEL_N_FFT];
    double complex tw[PL_MEL_N_FFT]; /* e^{-2 pi i k / n} */
};

/* Slaney's mel scale: linear below 1 kHz (3 mels / 200 Hz), logarithmic above */
static double hz_to_mel(double f) {
    const double logstep = 27.0 / log(6.4);
    return f < 1000.0 ? 3.0 * f / 200.0 : 15.0 + log(f / 1000.0) * logstep;
}
static double mel_to_hz(double m) {
    const double logstep = log(6.4) / 27.0;
    return m < 15.0 ? 200.0 * m / 3.0 : 1000.0 * exp(logstep * (m - 15.0));
}

pl_mel *pl_mel_new(int n_mels) {
    if (n_mels != 80 && n_mels != 128) return pl_error_null(PL_ERR_ARG, "mel: %d bins (Whisper uses 80 or 128)", n_mels);
    pl_mel *m = calloc(1, sizeof *m);
    if (!m) return pl_error_null(PL_ERR_NOMEM, "mel: out of memory");
    m->n_mels = n_mels;
    m->n_bins = PL_MEL_N_FFT / 2 + 1;
    m->filters = calloc((size_t)n_mels * m->n_bins, sizeof(double));
    double *pts = malloc((size_t)(n_mels + 2) * sizeof(double));
    if (!m->filters || !pts) { free(pts); pl_mel_free(m); return pl_error_null(PL_ERR_NOMEM, "mel: out of memory"); }
    double mlo = hz_to_mel(0.0), mhi = hz_to_mel(PL_AUDIO_RATE / 2.0);
    for (int i = 0; i < n_mels + 2; i++) pts[i] = mel_to_hz(mlo + (mhi - mlo) * i / (n_mels + 1));
    for (int i = 0; i < n_mels; i++) {
        double enorm = 2.0 / (pts[i + 2] - pts[i]); /* Slaney: each filter has unit area */
        for (int k = 0; k < m->n_bins; k++) {
            double f = (double)k * (PL_AUDIO_RATE / 2) / (m->n_bins - 1);
            double down = (f - pts[i]) / (pts[i + 1] - pts[i]), up = (pts[i + 2] - f) / (pts[i + 2] - pts[i + 1]);
            double v = fmin(down, up);
            m->filters[(size_t)i * m->n_bins + k] = v > 0 ? v * enorm : 0.0;
        }
    }
    free(pts);
    for (int n = 0; n < PL_MEL_N_FFT; n++) {
        m->window[n] = 0.5 - 0.5 * cos(2.0 * M_PI * n / PL_MEL_N_FFT); /* periodic Hann */
        m->tw[n] = cexp(-2.0 * M_PI * I * n / PL_MEL_N_FFT);
    }
    return m;
}

void pl_mel_free(pl_mel *m) {
    if (!m) return;
    free(m->filters);
    free(m);
}

int pl_mel_bins(const pl_mel *m) { return m->n_mels; }

/* Recursive mixed-radix decimation in time: X = DFT_n(x[0], x[s], x[2s], ...), twiddles from the n_fft table
 * (tw_step = n_fft / n). Splits by the smallest factor p of n into p DFTs of n/p, combined by a p-point DFT. */
static void fft_rec(const pl_mel *m, const double complex *x, int n, int s, double complex *X, double complex *tmp) {
    if (n == 1) { X[0] = x[0]; return; }
    int p = 2;
    while (n % p) p++;
    int q = n / p, tws = PL_MEL_N_FFT / n;
    for (int r = 0; r < p; r++) fft_rec(m, x + r * s, q, s * p, tmp + r * q, X); /* sub-DFTs into tmp */
    for (int k = 0; k < n; k++) {
        double complex acc = 0;
        for (int r = 0; r < p; r++) acc += tmp[r * q + k % q] * m->tw[(size_t)(r * k) % n * tws];
        X[k] = acc;
    }
}

/* raw log10 mel of nf frames, the first centred on sample c0; vmax raised to their max */
static int mel_log(const pl_mel *m, const float *x, int64_t off, int64_t avail, int64_t len, int64_t c0, int64_t nf,
                   float *out, double *vmax) {
    const int N = PL_MEL_N_FFT, half = N / 2, nb = m->n_bins;
    double complex *buf = malloc(3 * N * sizeof *buf);
    double *power = malloc(nb * sizeof *power);
    if (!buf || !power) { free(buf); free(power); return pl_error(PL_ERR_NOMEM, "mel: out of memory"); }
    double complex *frame = buf, *X = buf + N, *tmp = buf + 2 * N;
    for (int64_t f = 0; f < nf; f++) {
        int64_t c = c0 + f * PL_MEL_HOP;
        for (int n = 0; n < N; n++) {
            int64_t j = c - half + n; /* torch.stft(center=True, pad_mode="reflect") */
            if (len > 1) {
                if (j < 0) j = -j;
                if (j >= len) j = 2 * (len - 1) - j;
            }
            double v = j >= off && j < off + avail ? x[j - off] : 0.0;
            frame[n] = v * m->window[n];
        }
        fft_rec(m, frame, N, 1, X, tmp);
        for (int k = 0; k < nb; k++) power[k] = creal(X[k]) * creal(X[k]) + cimag(X[k]) * cimag(X[k]);
        for (int i = 0; i < m->n_mels; i++) {
            const double *fl = m->filters + (size_t)i * nb;
            double s = 0;
            for (int k = 0; k < nb; k++) s += fl[k] * power[k];
            double l = log10(fmax(s, 1e-10));
            out[(size_t)i * nf + f] = (float)l;
            if (l > *vmax) *vmax = l;
        }
    }
    free(buf); free(power);
    return PL_OK;
}

int pl_mel_log10(const pl_mel *m, const float *x, int64_t off, int64_t avail, int64_t len, int64_t f0, int64_t n_frames,
                 float *out, double *vmax) {
    return mel_log(m, x, off, avail, len, f0 * PL_MEL_HOP, n_frames, out, vmax);
}

void pl_mel_normalize(float *x, int64_t n, double vmax) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)((fmax(x[i], vmax - 8.0) + 4.0) / 4.0);
}

int pl_mel_compute(const pl_mel *m, const float *x, int64_t off, int64_t avail, int64_t len, int64_t n_frames,
                   float *out) {
    double vmax = -INFINITY;
    int rc = mel_log(m, x, off, avail, len, off, n_frames, out, &vmax);
    if (rc == PL_OK) pl_mel_normalize(out, (int64_t)m->n_mels * n_frames, vmax);
    return rc;
}
