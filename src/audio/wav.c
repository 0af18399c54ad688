/* pl_audio: 16-kHz mono samples from a file. WAV is parsed here (RIFF chunks: "fmt " then "data"; PCM 8/16/24/32
 * bits, IEEE float 32/64, WAVE_FORMAT_EXTENSIBLE with a PCM or float sub-format) and read a block at a time;
 * channels are averaged; pl_resampler brings any rate to 16 kHz. A file that is not RIFF/WAVE goes through
 * ffmpeg (`ffmpeg -i FILE -f f32le -ac 1 -ar 16000 -`) when ffmpeg is on PATH, else is refused with a message. */
#include "audio/audio.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAV_BLOCK 4096 /* frames read at a time */

struct pl_audio {
    pl_audio_info info;
    FILE *f;
    bool pipe;             /* f is ffmpeg's stdout (16 kHz mono f32 already) */
    int64_t left;          /* frames of the data chunk not read yet */
    int bytes;             /* per sample of one channel */
    int fmt;               /* 1 PCM, 3 float */
    pl_resampler *rs;
    unsigned char *raw;    /* one block of file frames */
    float *mono;           /* the block as mono floats */
    char path[1024];
};

static uint32_t rd32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static bool ffmpeg_available(void) {
    const char *path = getenv("PATH");
    if (!path) return false;
    char dir[4096];
    for (const char *p = path; *p;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && n < sizeof dir - 8) {
            snprintf(dir, sizeof dir, "%.*s/ffmpeg", (int)n, p);
            if (access(dir, X_OK) == 0) return true;
        }
        if (!e) break;
        p = e + 1;
    }
    return false;
}

static pl_audio *open_ffmpeg(pl_audio *a, const char *path) {
    if (strchr(path, '\'')) { free(a); return pl_error_null(PL_ERR_UNSUPPORTED, "%s: a quote in the file name", path); }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -i '%s' -f f32le -ac 1 -ar %d -", path, PL_AUDIO_RATE);
    a->f = popen(cmd, "r");
    if (!a->f) { free(a); return pl_error_null(PL_ERR_IO, "%s: could not run ffmpeg", path); }
    a->pipe = true;
    a->info = (pl_audio_info){.rate = PL_AUDIO_RATE, .channels = 1, .bits = 32, .is_float = true, .n_frames = -1,
                              .seconds = -1};
    return a;
}

static pl_audio *fail(pl_audio *a, int status, const char *msg, const char *path) {
    if (a->f) fclose(a->f);
    free(a);
    return pl_error_null(status, "%s: %s", path, msg);
}

pl_audio *pl_audio_open(const char *path) {
    pl_audio *a = calloc(1, sizeof *a);
    if (!a) return pl_error_null(PL_ERR_NOMEM, "audio: out of memory");
    snprintf(a->path, sizeof a->path, "%s", path);
    struct stat st;
    if (stat(path, &st) != 0) { free(a); return pl_error_null(PL_ERR_IO, "%s: %s", path, strerror(errno)); }
    if (S_ISDIR(st.st_mode)) return fail(a, PL_ERR_ARG, "is a directory, not an audio file", path);
    if (st.st_size == 0) return fail(a, PL_ERR_FORMAT, "empty file (no audio)", path);
    a->f = fopen(path, "rb");
    if (!a->f) { free(a); return pl_error_null(PL_ERR_IO, "%s: %s", path, strerror(errno)); }
    unsigned char h[12];
    size_t got = fread(h, 1, 12, a->f);
    if (got < 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4)) {
        if (ffmpeg_available()) { fclose(a->f); a->f = NULL; return open_ffmpeg(a, path); }
        return fail(a, PL_ERR_UNSUPPORTED, "not a WAV file (no RIFF/WAVE header); other formats are read through "
                    "ffmpeg, which is not installed", path);
    }
    /* chunks until "data" */
    int fmt = 0, ch = 0, bits = 0, align = 0;
    uint32_t rate = 0;
    bool have_fmt = false;
    int64_t pos = 12, data_bytes = -1;
    while (data_bytes < 0) {
        unsigned char c[8];
        if (fread(c, 1, 8, a->f) != 8) return fail(a, PL_ERR_FORMAT, "WAV without a data chunk", path);
        uint32_t sz = rd32(c + 4);
        pos += 8;
        if (!memcmp(c, "fmt ", 4)) {
            unsigned char b[40] = {0};
            if (sz < 16 || fread(b, 1, PL_MIN(sz, 40u), a->f) != PL_MIN(sz, 40u))
                return fail(a, PL_ERR_FORMAT, "WAV with a truncated fmt chunk", path);
            fmt = rd16(b); ch = rd16(b + 2); rate = rd32(b + 4); align = rd16(b + 12); bits = rd16(b + 14);
            if (fmt == 0xFFFE && sz >= 26) fmt = rd16(b + 24); /* WAVE_FORMAT_EXTENSIBLE: the sub-format's tag */
            have_fmt = true;
            if (sz > 40 && fseek(a->f, (long)(sz - 40), SEEK_CUR)) return fail(a, PL_ERR_FORMAT, "WAV truncated", path);
        } else if (!memcmp(c, "data", 4)) {
            data_bytes = sz;
        } else if (fseek(a->f, (long)(sz + (sz & 1)), SEEK_CUR)) {
            return fail(a, PL_ERR_FORMAT, "WAV truncated inside a chunk", path);
        }
        if (data_bytes < 0) pos += sz + (!memcmp(c, "fmt ", 4) ? 0 : (sz & 1));
    }
    if (!have_fmt) return fail(a, PL_ERR_FORMAT, "WAV without a fmt chunk before its data", path);
    if (rate == 0) return fail(a, PL_ERR_FORMAT, "WAV with a sample rate of 0 Hz", path);
    if (rate > 1000000) return fail(a, PL_ERR_FORMAT, "WAV with a sample rate above 1 MHz", path);
    if (ch < 1 || ch > 2) {
        char msg[128];
        snprintf(msg, sizeof msg, "WAV with %d channels (mono or stereo only: mix it down first)", ch);
        return fail(a, PL_ERR_UNSUPPORTED, msg, path);
    }
    bool pcm_ok = fmt == 1 && (bits == 8 || bits == 16 || bits == 24 || bits == 32);
    bool flt_ok = fmt == 3 && (bits == 32 || bits == 64);
    if (!pcm_ok && !flt_ok) {
        char msg[128];
        snprintf(msg, sizeof msg, "WAV sample format %d with %d bits (PCM 8/16/24/32 or float 32/64 only)", fmt, bits);
        return fail(a, PL_ERR_UNSUPPORTED, msg, path);
    }
    a->bytes = bits / 8;
    if (align != a->bytes * ch) return fail(a, PL_ERR_FORMAT, "WAV whose block align disagrees with its format", path);
    int64_t pos_data = ftell(a->f);
    if (pos_data < 0) pos_data = pos;
    int64_t avail = (int64_t)st.st_size - pos_data;
    /* 0xFFFFFFFF (or 0) is what streaming writers put before they know the length: read to the end of the file */
    if (data_bytes == 0xFFFFFFFFLL || data_bytes == 0) data_bytes = avail;
    else if (data_bytes > avail) {
        char msg[200];
        snprintf(msg, sizeof msg, "WAV header says %lld bytes of audio but the file holds %lld after the header "
                 "(truncated or corrupt)", (long long)data_bytes, (long long)avail);
        return fail(a, PL_ERR_FORMAT, msg, path);
    }
    a->fmt = fmt;
    a->left = data_bytes / align;
    if (a->left == 0) return fail(a, PL_ERR_FORMAT, "WAV with no audio samples", path);
    a->info = (pl_audio_info){.rate = (int)rate, .channels = ch, .bits = bits, .is_float = fmt == 3,
                              .n_frames = a->left, .seconds = (double)a->left / rate};
    a->raw = malloc((size_t)WAV_BLOCK * align);
    a->mono = malloc(WAV_BLOCK * sizeof(float));
    a->rs = pl_resampler_new((int)rate, PL_AUDIO_RATE);
    if (!a->raw || !a->mono || !a->rs) { pl_audio_close(a); return pl_error_null(PL_ERR_NOMEM, "%s: out of memory", path); }
    return a;
}

const pl_audio_info *pl_audio_get_info(const pl_audio *a) { return &a->info; }

static float sample_at(const pl_audio *a, const unsigned char *p) {
    switch (a->fmt == 3 ? -a->bytes : a->bytes) {
    case 1: return ((int)p[0] - 128) / 128.0f;
    case 2: return (int16_t)rd16(p) / 32768.0f;
    case 3: return (float)((int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24) / 2147483648.0);
    case 4: return (float)((int32_t)rd32(p) / 2147483648.0);
    case -4: { float f; memcpy(&f, p, 4); return isfinite(f) ? f : 0.0f; }
    case -8: { double d; memcpy(&d, p, 8); return isfinite(d) ? (float)d : 0.0f; }
    }
    return 0.0f;
}

/* the next block of the file into the resampler; false at the end (the resampler is told) or on error */
static int feed_block(pl_audio *a) {
    if (a->left <= 0) return pl_resampler_push(a->rs, NULL, 0, true) == PL_OK ? 0 : PL_ERR_NOMEM;
    int ch = a->info.channels, fb = a->bytes * ch;
    int64_t want = PL_MIN(a->left, WAV_BLOCK);
    size_t got = fread(a->raw, (size_t)fb, (size_t)want, a->f);
    if (got == 0) return pl_error(PL_ERR_IO, "%s: read error or unexpected end of the file", a->path);
    for (size_t i = 0; i < got; i++) {
        float s = 0;
        for (int c = 0; c < ch; c++) s += sample_at(a, a->raw + i * fb + c * a->bytes);
        a->mono[i] = s / ch;
    }
    a->left -= (int64_t)got;
    if (pl_resampler_push(a->rs, a->mono, (int64_t)got, a->left == 0) != PL_OK) return PL_ERR_NOMEM;
    return 1;
}

int64_t pl_audio_read(pl_audio *a, float *out, int64_t n) {
    if (a->pipe) {
        size_t got = fread(out, sizeof(float), (size_t)n, a->f);
        for (size_t i = 0; i < got; i++) if (!isfinite(out[i])) out[i] = 0;
        return (int64_t)got;
    }
    int64_t got = 0;
    while (got < n) {
        got += pl_resampler_pull(a->rs, out + got, n - got);
        if (got == n) break;
        int r = feed_block(a);
        if (r < 0) return r;
        if (r == 0) { got += pl_resampler_pull(a->rs, out + got, n - got); break; }
    }
    return got;
}

void pl_audio_close(pl_audio *a) {
    if (!a) return;
    if (a->f) {
        if (a->pipe) pclose(a->f);
        else fclose(a->f);
    }
    pl_resampler_free(a->rs);
    free(a->raw); free(a->mono); free(a);
}
