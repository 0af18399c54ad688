/* Audio in: a WAV reader (RIFF; PCM 8/16/24/32-bit, IEEE float 32/64, WAVE_FORMAT_EXTENSIBLE; any rate; channels
 * averaged to mono), a windowed-sinc resampler (Kaiser window) to 16 kHz that streams, so a long file is read a
 * block at a time in bounded memory, other formats through ffmpeg when it is on PATH, and Whisper's log-mel
 * features (80 or 128 bins, n_fft 400, hop 160, periodic Hann window, Slaney mel filters, log10 clamped to
 * max - 8, (x + 4) / 4), as transformers' WhisperFeatureExtractor computes them. Sits in audio/, below models. */
#ifndef PL_AUDIO_H
#define PL_AUDIO_H

#include "core/common.h"

#include <stdbool.h>
#include <stdint.h>

#define PL_AUDIO_RATE 16000   /* what Whisper hears */

/* ---- a source of 16-kHz mono samples ------------------------------------------------------------------ */
typedef struct pl_audio pl_audio;
typedef struct {
    int rate, channels, bits; /* of the file (bits 32 for float) */
    bool is_float;
    int64_t n_frames;         /* samples per channel in the file; -1 when unknown (ffmpeg) */
    double seconds;           /* n_frames / rate; -1 when unknown */
} pl_audio_info;

/* Open a WAV file (read in C), or any other file through ffmpeg when it is installed. NULL + pl_last_error():
 * missing, empty, not audio (and no ffmpeg), a header that lies about its data (past the end of the file),
 * 0 Hz, more than 2 channels, an unsupported sample format. */
pl_audio *pl_audio_open(const char *path);
const pl_audio_info *pl_audio_get_info(const pl_audio *a);
/* Up to n samples at 16 kHz mono into out: the count (0 at the end), or a negative status (a read error). */
int64_t pl_audio_read(pl_audio *a, float *out, int64_t n);
void pl_audio_close(pl_audio *a);

/* ---- the resampler on its own (the source above uses it) -------------------------------------------------- */
typedef struct pl_resampler pl_resampler;
/* in_rate -> out_rate, both 1 Hz .. 1 MHz. Output sample j is the band-limited signal at input time
 * j * in_rate / out_rate: a Kaiser-windowed sinc (beta 8.6, 24 zero crossings each side at the lower rate's
 * cutoff, 0.94 of its Nyquist). Equal rates copy samples. */
pl_resampler *pl_resampler_new(int in_rate, int out_rate);
void pl_resampler_free(pl_resampler *r);
/* Feed n input samples (n = 0 with last = true: the end of the input; the signal is 0 past it). */
int pl_resampler_push(pl_resampler *r, const float *in, int64_t n, bool last);
/* Take up to n output samples that the input pushed so far determines: the count. */
int64_t pl_resampler_pull(pl_resampler *r, float *out, int64_t n);

/* ---- Whisper's log-mel spectrogram ----------------------------------------------------------------------- */
#define PL_MEL_N_FFT 400
#define PL_MEL_HOP 160
typedef struct pl_mel pl_mel;
pl_mel *pl_mel_new(int n_mels);  /* 80 or 128 */
void pl_mel_free(pl_mel *m);
int pl_mel_bins(const pl_mel *m);
/* Frames [0, n_frames) of the log-mel of a signal s of length len (reflect-padded by n_fft/2 at both ends, as
 * torch.stft(center=True) and WhisperFeatureExtractor do), whose samples s[off .. off+avail) are at x[0..avail)
 * and are zero elsewhere inside [0, len) (the padding Whisper adds); frame f is centred on sample f*hop + off.
 * out: (n_mels, n_frames), bin-major (as WhisperFeatureExtractor's input_features). The clamp max - 8 takes the
 * max over these frames. PL_OK or PL_ERR_NOMEM. */
int pl_mel_compute(const pl_mel *m, const float *x, int64_t off, int64_t avail, int64_t len, int64_t n_frames,
                   float *out);
/* The steps apart, for a signal streamed through a buffer: the log10 mel (floor 1e-10, not yet clamped or scaled)
 * of frames f0 .. f0+n_frames-1 (frame f centred on sample f*hop) into out (n_mels, n_frames), *vmax raised to
 * their max; then the clamp to vmax - 8 and (x + 4) / 4 of n values. */
int pl_mel_log10(const pl_mel *m, const float *x, int64_t off, int64_t avail, int64_t len, int64_t f0, int64_t n_frames,
                 float *out, double *vmax);
void pl_mel_normalize(float *x, int64_t n, double vmax);

#endif
