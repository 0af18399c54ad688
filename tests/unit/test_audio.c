/* Audio in: the WAV reader (formats, stereo to mono, the resampler's accuracy and stop band), Whisper's log-mel
 * features against transformers' WhisperFeatureExtractor on a real clip (tests/golden/whisper, made by
 * tools/make_whisper_fixtures.py), and bad files: empty, a header that lies about its data, 0 Hz, 8 channels,
 * not audio at all -> NULL with a message naming the problem. */
#include "audio/audio.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static float *read_floats(const char *path, size_t *n) {
    size_t len;
    char *d = pl_read_file(path, &len);
    *n = d ? len / sizeof(float) : 0;
    return (float *)d;
}

static void put16(FILE *f, int v) { fputc(v & 255, f); fputc((v >> 8) & 255, f); }
static void put32(FILE *f, uint32_t v) { put16(f, (int)(v & 0xFFFF)); put16(f, (int)(v >> 16)); }

/* a WAV header for n frames; data_bytes_claim < 0: the true size */
static void wav_header(FILE *f, int fmt, int ch, int rate, int bits, int64_t n, int64_t claim) {
    int64_t bytes = n * ch * bits / 8;
    fwrite("RIFF", 1, 4, f); put32(f, (uint32_t)(36 + bytes)); fwrite("WAVEfmt ", 1, 8, f);
    put32(f, 16); put16(f, fmt); put16(f, ch); put32(f, (uint32_t)rate); put32(f, (uint32_t)(rate * ch * bits / 8));
    put16(f, ch * bits / 8); put16(f, bits);
    fwrite("data", 1, 4, f); put32(f, (uint32_t)(claim >= 0 ? claim : bytes));
}

static int64_t read_all(pl_audio *a, float *out, int64_t cap) {
    int64_t got = 0, r;
    while (got < cap && (r = pl_audio_read(a, out + got, PL_MIN(cap - got, 1000))) > 0) got += r;
    return got;
}

static void test_mel_golden(void) {
    char p[1024];
    const char *g = "tests/golden/whisper";
    snprintf(p, sizeof p, "%s/%s/ten_of_clubs.wav", test_root(), g);
    pl_audio *a = pl_audio_open(p);
    CHECKF(a != NULL, "%s", pl_last_error());
    if (!a) return;
    CHECK(pl_audio_get_info(a)->rate == 16000 && pl_audio_get_info(a)->channels == 1);
    int64_t n_exp = pl_audio_get_info(a)->n_frames;
    float *x = malloc(sizeof(float) * (size_t)(n_exp + 10));
    int64_t n = read_all(a, x, n_exp + 10);
    pl_audio_close(a);
    CHECK(n == n_exp);
    pl_mel *m = pl_mel_new(80);
    size_t nr;
    snprintf(p, sizeof p, "%s/%s/mel_clip.f32", test_root(), g);
    float *ref = read_floats(p, &nr);
    int64_t nf = n / PL_MEL_HOP;
    CHECK(ref && (int64_t)nr == 80 * nf);
    float *out = malloc(sizeof(float) * 80 * 3000);
    if (ref && (int64_t)nr == 80 * nf) {
        CHECK(pl_mel_compute(m, x, 0, n, n, nf, out) == PL_OK);
        double worst = 0;
        for (size_t i = 0; i < nr; i++) worst = fmax(worst, fabs(out[i] - ref[i]));
        printf("mel (clip, %lld frames): max |diff| %.3g\n", (long long)nf, worst);
        CHECK(worst < 1e-4);
    }
    free(ref);
    /* the clip in a 30-s window (zero padded), as transcription computes it */
    CHECK(pl_mel_compute(m, x, 0, n, 480000, 3000, out) == PL_OK);
    snprintf(p, sizeof p, "%s/%s/mel_30_head.f32", test_root(), g);
    float *head = read_floats(p, &nr);
    CHECK(head && nr == 80 * 160);
    double worst = 0;
    for (int b = 0; head && b < 80; b++)
        for (int f = 0; f < 160; f++) worst = fmax(worst, fabs(out[b * 3000 + f] - head[b * 160 + f]));
    snprintf(p, sizeof p, "%s/%s/mel_30_tail.f32", test_root(), g);
    float *tail = read_floats(p, &nr);
    CHECK(tail && nr == 80 * 16);
    for (int b = 0; tail && b < 80; b++)
        for (int f = 0; f < 16; f++) worst = fmax(worst, fabs(out[b * 3000 + 2984 + f] - tail[b * 16 + f]));
    printf("mel (30-s window): max |diff| %.3g\n", worst);
    CHECK(worst < 1e-4);
    /* the same window from a buffer that starts later: frames centred on off + f*hop */
    CHECK(pl_mel_compute(m, x + 1600, 1600, n - 1600, 480000, 100, out) == PL_OK);
    worst = 0;
    for (int b = 0; head && b < 80; b++)
        for (int f = 0; f < 50; f++) worst = fmax(worst, fabs(out[b * 100 + f] - head[b * 160 + 10 + f]) * (f >= 2));
    CHECK(worst < 0.05); /* the clamp's max is over these 100 frames only; near frames see x only from off on */
    free(head); free(tail); free(out); free(x);
    pl_mel_free(m);
    CHECK(pl_mel_new(81) == NULL);
}

/* a sine at rate r (amplitude 0.5), as 16-bit PCM, stereo with the right channel 0: mono = half of it */
static void test_resample(int rate, double hz, double tol, bool expect_silent) {
    char p[300];
    snprintf(p, sizeof p, "%s/sine.wav", tmpdir);
    FILE *f = fopen(p, "wb");
    int64_t n = rate; /* one second */
    wav_header(f, 1, 2, rate, 16, n, -1);
    for (int64_t i = 0; i < n; i++) { put16(f, (int)lrint(16384 * sin(2 * M_PI * hz * i / rate))); put16(f, 0); }
    fclose(f);
    pl_audio *a = pl_audio_open(p);
    CHECKF(a != NULL, "%s", pl_last_error());
    if (!a) return;
    float *y = malloc(sizeof(float) * 20000);
    int64_t m = read_all(a, y, 20000);
    pl_audio_close(a);
    CHECKF(llabs(m - 16000) <= 1, "%d Hz: %lld samples for one second", rate, (long long)m);
    double worst = 0, energy = 0;
    for (int64_t j = 400; j < m - 400; j++) { /* away from the edges, where the signal starts / stops */
        double want = expect_silent ? 0 : 0.25 * sin(2 * M_PI * hz * j / 16000.0);
        worst = fmax(worst, fabs(y[j] - want));
        energy += (double)y[j] * y[j];
    }
    printf("resample %d -> 16000 Hz, %.0f Hz tone: max |error| %.2g, rms %.2g\n", rate, hz, worst,
           sqrt(energy / (m - 800)));
    CHECKF(worst < tol, "%d Hz, %.0f Hz tone: error %g", rate, hz, worst);
    free(y);
}

static void test_formats(void) {
    /* the same ramp as 8-bit, 24-bit, 32-bit PCM and float: the samples read back are the same */
    const int n = 1000;
    char p[300];
    struct { int fmt, bits; double tol; } cases[] = {{1, 8, 1.5 / 128}, {1, 24, 1e-6}, {1, 32, 1e-6}, {3, 32, 0}, {3, 64, 1e-7}};
    for (size_t c = 0; c < PL_ARRAY_LEN(cases); c++) {
        snprintf(p, sizeof p, "%s/fmt.wav", tmpdir);
        FILE *f = fopen(p, "wb");
        wav_header(f, cases[c].fmt, 1, 16000, cases[c].bits, n, -1);
        for (int i = 0; i < n; i++) {
            double v = sin(i * 0.01) * 0.9;
            if (cases[c].fmt == 3 && cases[c].bits == 32) { float x = (float)v; fwrite(&x, 4, 1, f); }
            else if (cases[c].fmt == 3) fwrite(&v, 8, 1, f);
            else if (cases[c].bits == 8) fputc((int)lrint(v * 127) + 128, f);
            else {
                int64_t q = llrint(v * (cases[c].bits == 24 ? 8388607.0 : 2147483647.0));
                for (int b = 0; b < cases[c].bits / 8; b++) fputc((int)((q >> (8 * b)) & 255), f);
            }
        }
        fclose(f);
        pl_audio *a = pl_audio_open(p);
        CHECKF(a != NULL, "%s", pl_last_error());
        if (!a) continue;
        float y[1100];
        int64_t m = read_all(a, y, 1100);
        pl_audio_close(a);
        CHECK(m == n);
        double worst = 0;
        for (int i = 0; i < m; i++) worst = fmax(worst, fabs(y[i] - sin(i * 0.01) * 0.9));
        CHECKF(worst <= cases[c].tol + 1e-7, "format %d, %d bits: error %g", cases[c].fmt, cases[c].bits, worst);
    }
}

static void expect_bad(const char *what, const char *path, const char *words) {
    pl_audio *a = pl_audio_open(path);
    CHECKF(a == NULL, "%s: opened", what);
    if (a) { pl_audio_close(a); return; }
    CHECKF(strstr(pl_last_error(), words) != NULL, "%s: message '%s' lacks '%s'", what, pl_last_error(), words);
}

static void test_bad(void) {
    char p[300];
    snprintf(p, sizeof p, "%s/bad.wav", tmpdir);
    FILE *f = fopen(p, "wb"); fclose(f);
    expect_bad("empty", p, "empty");
    f = fopen(p, "wb"); wav_header(f, 1, 1, 16000, 16, 100, 1 << 30);
    for (int i = 0; i < 100; i++) put16(f, i);
    fclose(f);
    expect_bad("lying header", p, "truncated");
    f = fopen(p, "wb"); wav_header(f, 1, 1, 0, 16, 100, -1);
    for (int i = 0; i < 100; i++) put16(f, i);
    fclose(f);
    expect_bad("0 Hz", p, "0 Hz");
    f = fopen(p, "wb"); wav_header(f, 1, 8, 16000, 16, 100, -1);
    for (int i = 0; i < 800; i++) put16(f, i);
    fclose(f);
    expect_bad("8 channels", p, "8 channels");
    f = fopen(p, "wb"); wav_header(f, 2, 1, 16000, 16, 100, -1); /* ADPCM */
    for (int i = 0; i < 100; i++) put16(f, i);
    fclose(f);
    expect_bad("ADPCM", p, "format");
    f = fopen(p, "wb"); fwrite("RIFF\x04\x00\x00\x00WAVE", 1, 12, f); fclose(f);
    expect_bad("no chunks", p, "data chunk");
    snprintf(p, sizeof p, "%s/notes.txt", tmpdir);
    f = fopen(p, "wb"); fputs("this is not audio, just some text that is long enough\n", f); fclose(f);
    pl_audio *a = pl_audio_open(p);
    if (a) { /* ffmpeg is installed: it decodes nothing */
        float y[100];
        CHECK(pl_audio_read(a, y, 100) <= 0);
        pl_audio_close(a);
    } else {
        CHECK(strstr(pl_last_error(), "not a WAV") != NULL);
    }
    expect_bad("missing", "/nonexistent/x.wav", "No such file");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pl_audio_%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", tmpdir);
    if (system(cmd)) return 1;
    test_mel_golden();
    test_resample(16000, 440, 1e-4, false);   /* the same rate: samples copied (16-bit rounding only) */
    test_resample(44100, 1000, 2e-3, false);  /* pass band: the tone survives */
    test_resample(48000, 3000, 2e-3, false);
    test_resample(8000, 500, 2e-3, false);    /* upsampling */
    test_resample(44100, 12000, 1e-3, true);  /* above 8 kHz: filtered out (> 48 dB down) */
    test_formats();
    test_bad();
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) return 1;
    TEST_DONE();
}
