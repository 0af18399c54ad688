/* Transcription (see transcribe.h). The features are faster-whisper's: the log-mel of the audio with 160 zero
 * samples appended, clamped to the maximum over the whole file minus 8, each window's frames cut out and padded
 * with zeros (in feature space) to 3000 frames. The decoding per window is its greedy path: the prompt
 * [<|startofprev|> previous text] <|startoftranscript|> [language, task] [<|notimestamps|>], then argmax over the
 * logits after suppressing the model's listed tokens (and blank / end at the first step) and applying Whisper's
 * timestamp rules; segments are cut at pairs of timestamp tokens and seek advances to the last one. */
#include "tasks/transcribe.h"
#include "audio/audio.h"
#include "io/hfconfig.h"

#include <math.h>
#include <string.h>

#define WIN_FRAMES 3000        /* 30 s of 10-ms frames */
#define TIME_PRECISION 0.02    /* seconds per timestamp token */
#define INPUT_STRIDE 2         /* mel frames per encoder position */

struct pl_asr {
    pl_whisper *w;
    pl_tokenizer *tok;
    pl_mel *mel;
    int32_t eot, sot, sot_prev, transcribe, translate, no_timestamps, no_speech, ts_begin;
    int32_t *suppress; int n_suppress;
    int32_t *suppress_begin; int n_suppress_begin;
    int32_t *lang_ids; int n_lang;
    bool multilingual;
};

static int32_t tok_id(const pl_tokenizer *t, const char *s) { return pl_tokenizer_token_id(t, s); }

/* an int list from a config array (CTranslate2's config.json or HF's generation_config.json) */
static int read_ids(const pl_hfconfig *c, const char *key, int32_t **out) {
    int n = c ? pl_hfconfig_arr_n(c, key) : -1;
    if (n <= 0) return 0;
    *out = malloc((size_t)n * sizeof **out);
    if (!*out) return 0;
    for (int i = 0; i < n; i++) (*out)[i] = (int32_t)pl_hfconfig_arr_float(c, key, i, -1);
    return n;
}

pl_asr *pl_asr_open(const char *path, int n_threads) {
    pl_asr *a = calloc(1, sizeof *a);
    if (!a) return pl_error_null(PL_ERR_NOMEM, "out of memory");
    a->w = pl_whisper_load(path, n_threads, 1);
    if (!a->w) { free(a); return NULL; }
    char p[1200];
    snprintf(p, sizeof p, "%s/tokenizer.json", a->w->path);
    a->tok = pl_tokenizer_load(p);
    a->mel = pl_mel_new(a->w->hp.n_mels);
    if (!a->tok || !a->mel) { pl_asr_free(a); return NULL; }
    const pl_tokenizer *t = a->tok;
    a->eot = tok_id(t, "<|endoftext|>");
    a->sot = tok_id(t, "<|startoftranscript|>");
    a->sot_prev = tok_id(t, "<|startofprev|>");
    a->transcribe = tok_id(t, "<|transcribe|>");
    a->translate = tok_id(t, "<|translate|>");
    a->no_timestamps = tok_id(t, "<|notimestamps|>");
    a->no_speech = tok_id(t, "<|nospeech|>");
    if (a->no_speech < 0) a->no_speech = tok_id(t, "<|nocaptions|>");
    a->ts_begin = a->no_timestamps + 1;
    a->multilingual = a->w->hp.n_vocab >= 51865;
    if (a->eot < 0 || a->sot < 0 || a->no_timestamps < 0 || a->ts_begin >= a->w->hp.n_vocab) {
        pl_asr_free(a);
        return pl_error_null(PL_ERR_FORMAT, "%s: tokenizer.json lacks Whisper's special tokens", p);
    }
    /* the tokens never generated, and those not generated first */
    snprintf(p, sizeof p, "%s/%s", a->w->path, a->w->from_ct2 ? "config.json" : "generation_config.json");
    pl_hfconfig *c = pl_hfconfig_load(p);
    a->n_suppress = read_ids(c, a->w->from_ct2 ? "suppress_ids" : "suppress_tokens", &a->suppress);
    a->n_suppress_begin = read_ids(c, a->w->from_ct2 ? "suppress_ids_begin" : "begin_suppress_tokens", &a->suppress_begin);
    pl_hfconfig_free(c);
    if (!a->n_suppress_begin) { /* blank and end of text, as openai-whisper's suppress_blank */
        a->suppress_begin = malloc(2 * sizeof(int32_t));
        int32_t space = tok_id(t, "\xc4\xa0"); /* "Ġ": a lone space */
        if (a->suppress_begin) { a->suppress_begin[a->n_suppress_begin++] = a->eot; if (space >= 0) a->suppress_begin[a->n_suppress_begin++] = space; }
    }
    if (a->multilingual && a->translate > a->sot + 1) { /* the language tokens lie between them */
        a->n_lang = a->translate - a->sot - 1;
        a->lang_ids = malloc((size_t)a->n_lang * sizeof *a->lang_ids);
        for (int i = 0; a->lang_ids && i < a->n_lang; i++) a->lang_ids[i] = a->sot + 1 + i;
        if (!a->lang_ids) a->n_lang = 0;
    }
    pl_clear_error(); /* a missing config above is not an error */
    return a;
}

void pl_asr_free(pl_asr *a) {
    if (!a) return;
    if (a->w) { /* PLINTH_PROFILE=1: where the time went (the encoder and long prompts; the decoder's steps) */
        pl_ctx_profile_print(a->w->step, stderr);
        pl_ctx_profile_print(a->w->step_few, stderr);
    }
    pl_whisper_free(a->w);
    pl_tokenizer_free(a->tok);
    pl_mel_free(a->mel);
    free(a->suppress); free(a->suppress_begin); free(a->lang_ids);
    free(a);
}
bool pl_asr_multilingual(const pl_asr *a) { return a->multilingual; }
int pl_asr_set_decoder_threads(pl_asr *a, int n) { return pl_whisper_set_decoder_threads(a->w, n); }
pl_whisper *pl_asr_model(pl_asr *a) { return a->w; }

pl_transcribe_opts pl_transcribe_defaults(void) {
    return (pl_transcribe_opts){.condition_on_previous_text = true, .no_speech_threshold = 0.6f, .logprob_threshold = -1.0f};
}

/* ---- the audio, streamed through a buffer ---------------------------------------------------------------- */
typedef struct {
    pl_audio *au;
    float *buf; int64_t buf0, n, cap; /* samples [buf0, buf0 + n) */
    bool eof;
} stream;

static int stream_open(stream *s, const char *path) {
    memset(s, 0, sizeof *s);
    s->au = pl_audio_open(path);
    return s->au ? PL_OK : PL_ERR_FORMAT;
}
static void stream_close(stream *s) { pl_audio_close(s->au); free(s->buf); memset(s, 0, sizeof *s); }
/* samples before `from` are no longer needed; samples up to `upto` (exclusive) are wanted (fewer at the end) */
static int stream_fill(stream *s, int64_t from, int64_t upto) {
    if (from > s->buf0) {
        int64_t drop = PL_MIN(from - s->buf0, s->n);
        memmove(s->buf, s->buf + drop, (size_t)(s->n - drop) * sizeof(float));
        s->buf0 += drop; s->n -= drop;
    }
    while (!s->eof && s->buf0 + s->n < upto) {
        int64_t want = upto - s->buf0 - s->n;
        if (s->n + want > s->cap) {
            int64_t cap = PL_MAX(s->n + want, s->cap + s->cap / 2);
            float *b = realloc(s->buf, (size_t)cap * sizeof(float));
            if (!b) return pl_error(PL_ERR_NOMEM, "out of memory for audio");
            s->buf = b; s->cap = cap;
        }
        int64_t got = pl_audio_read(s->au, s->buf + s->n, want);
        if (got < 0) return (int)got;
        if (got == 0) s->eof = true;
        s->n += got;
    }
    return PL_OK;
}

/* raw log10 mel of frames [f0, f0 + nf) of the signal (audio + 160 zeros, len samples once known, else -1) */
static int stream_mel(pl_asr *a, stream *s, int64_t f0, int64_t nf, int64_t *len, float *out, double *vmax) {
    int64_t first = f0 * PL_MEL_HOP - PL_MEL_N_FFT / 2, last = (f0 + nf) * PL_MEL_HOP + PL_MEL_N_FFT / 2;
    int rc = stream_fill(s, PL_MAX(first, 0), last + 1);
    if (rc) return rc;
    if (s->eof) *len = s->buf0 + s->n + PL_MEL_HOP;
    return pl_mel_log10(a->mel, s->buf, s->buf0, s->n, *len > 0 ? *len : INT64_MAX / 4, f0, nf, out, vmax);
}

/* whether samples [f0, f0 + nf) frames * hop of the buffer are all exactly zero */
static bool digital_silence(const stream *s, int64_t f0, int64_t nf) {
    int64_t a = PL_MAX(f0 * PL_MEL_HOP - s->buf0, 0), b = PL_MIN((f0 + nf) * PL_MEL_HOP - s->buf0, s->n);
    for (int64_t i = a; i < b; i++) if (s->buf[i] != 0.0f) return false;
    return true;
}

/* ---- decoding one window --------------------------------------------------------------------------------- */
typedef struct {
    int32_t *tok; int n, cap;
} ids;
static int ids_push(ids *v, int32_t t) {
    if (v->n == v->cap) {
        int cap = v->cap ? 2 * v->cap : 256;
        int32_t *p = realloc(v->tok, (size_t)cap * sizeof *p);
        if (!p) return pl_error(PL_ERR_NOMEM, "out of memory");
        v->tok = p; v->cap = cap;
    }
    v->tok[v->n++] = t;
    return PL_OK;
}

static double log_softmax_at(const float *x, int n, int i) {
    float mx = -INFINITY;
    for (int k = 0; k < n; k++) if (x[k] > mx) mx = x[k];
    double s = 0;
    for (int k = 0; k < n; k++) s += exp((double)x[k] - mx);
    return (double)x[i] - mx - log(s);
}

/* Whisper's timestamp rules on the logits of the next token, given the tokens sampled so far in this window */
static void timestamp_rules(const pl_asr *a, float *lg, int V, const int32_t *smp, int n) {
    int tb = a->ts_begin;
    lg[a->no_timestamps] = -INFINITY;
    bool last_ts = n >= 1 && smp[n - 1] >= tb, penult_ts = n < 2 || smp[n - 2] >= tb;
    if (last_ts) {
        if (penult_ts) for (int k = tb; k < V; k++) lg[k] = -INFINITY;     /* a pair closed: text next */
        else for (int k = 0; k < a->eot; k++) lg[k] = -INFINITY;          /* a segment's end: no text */
    }
    int last = -1;
    for (int i = n - 1; i >= 0 && last < 0; i--) if (smp[i] >= tb) last = smp[i];
    if (last >= 0) { /* timestamps do not decrease, and a segment is not empty */
        int upto = last_ts && !penult_ts ? last : last + 1;
        for (int k = tb; k < upto && k < V; k++) lg[k] = -INFINITY;
    }
    if (n == 0) { /* the first token is a timestamp, at most 1 s in */
        for (int k = 0; k < tb; k++) lg[k] = -INFINITY;
        for (int k = tb + 50 + 1; k < V; k++) lg[k] = -INFINITY;
    }
    /* when the timestamps together are likelier than any one text token, a timestamp */
    float mx = -INFINITY;
    for (int k = 0; k < V; k++) if (lg[k] > mx) mx = lg[k];
    if (!isfinite(mx)) return;
    double s_all = 0, s_ts = 0, best_text = -INFINITY;
    for (int k = 0; k < V; k++) {
        double e = exp((double)lg[k] - mx);
        s_all += e;
        if (k >= tb) s_ts += e;
        else if (lg[k] > best_text) best_text = lg[k];
    }
    double ts_lp = log(s_ts) - log(s_all), text_lp = best_text - mx - log(s_all);
    if (s_ts > 0 && ts_lp > text_lp) for (int k = 0; k < tb; k++) lg[k] = -INFINITY;
}

typedef struct {
    ids out;              /* the window's sampled tokens (without the end of text) */
    double sum_logprob;
    float no_speech_prob;
} window_result;

static int decode_window(pl_asr *a, const int32_t *prompt, int np, int sot_index, bool no_ts, float *lg, window_result *r) {
    pl_whisper *w = a->w;
    int V = w->hp.n_vocab;
    memset(r, 0, sizeof *r);
    /* the prompt: logits at <|startoftranscript|> (no-speech probability) and at its last token */
    int32_t *seq = calloc((size_t)np, sizeof *seq);
    bool *want = calloc((size_t)np, sizeof *want);
    float *two = malloc(2 * (size_t)V * sizeof(float));
    if (!seq || !want || !two) { free(seq); free(want); free(two); return pl_error(PL_ERR_NOMEM, "out of memory"); }
    for (int i = 0; i < np; i++) seq[i] = w->seq0;
    want[sot_index] = want[np - 1] = true;
    pl_kv_seq_truncate(w->cache, w->seq0, 0);
    int rc = pl_whisper_decode(w, np, prompt, seq, want, two);
    if (rc == PL_OK) {
        r->no_speech_prob = a->no_speech >= 0 ? (float)exp(log_softmax_at(two, V, a->no_speech)) : 0.0f;
        memcpy(lg, two + (sot_index == np - 1 ? 0 : (size_t)V), (size_t)V * sizeof(float));
    }
    free(seq); free(want); free(two);
    int n_past = np;
    while (rc == PL_OK) {
        for (int i = 0; i < a->n_suppress; i++) if (a->suppress[i] >= 0 && a->suppress[i] < V) lg[a->suppress[i]] = -INFINITY;
        if (r->out.n == 0)
            for (int i = 0; i < a->n_suppress_begin; i++)
                if (a->suppress_begin[i] >= 0 && a->suppress_begin[i] < V) lg[a->suppress_begin[i]] = -INFINITY;
        if (!no_ts) timestamp_rules(a, lg, V, r->out.tok, r->out.n);
        else lg[a->no_timestamps] = -INFINITY;
        int best = 0;
        for (int k = 1; k < V; k++) if (lg[k] > lg[best]) best = k;
        r->sum_logprob += log_softmax_at(lg, V, best);
        if (best == a->eot || n_past >= w->hp.n_text_ctx) break;
        if ((rc = ids_push(&r->out, best))) break;
        rc = pl_whisper_eval(w, &r->out.tok[r->out.n - 1], 1, n_past, lg, false);
        n_past++;
    }
    return rc;
}

/* ---- the transcript ---------------------------------------------------------------------------------------- */
static int add_segment(pl_transcript *t, double start, double end, const char *text, float lp, float nsp) {
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        pl_segment *p = realloc(t->seg, (size_t)cap * sizeof *p);
        if (!p) return pl_error(PL_ERR_NOMEM, "out of memory");
        t->seg = p; t->cap = cap;
    }
    /* within the audio and in order, as subtitles need */
    double prev = t->n ? t->seg[t->n - 1].start : 0.0;
    start = fmin(fmax(start, prev), t->duration);
    end = fmin(fmax(end, start), t->duration);
    char *s = pl_strdup(text);
    if (!s) return pl_error(PL_ERR_NOMEM, "out of memory");
    t->seg[t->n++] = (pl_segment){.start = start, .end = end, .text = s, .avg_logprob = lp, .no_speech_prob = nsp};
    return PL_OK;
}

void pl_transcript_free(pl_transcript *t) {
    for (int i = 0; i < t->n; i++) free(t->seg[i].text);
    free(t->seg);
    memset(t, 0, sizeof *t);
}

static int decode_text(const pl_asr *a, const int32_t *tk, int n, char **out) {
    int32_t *txt = malloc((size_t)(n ? n : 1) * sizeof *txt);
    if (!txt) return pl_error(PL_ERR_NOMEM, "out of memory");
    int m = 0;
    for (int i = 0; i < n; i++) if (tk[i] < a->eot) txt[m++] = tk[i];
    int need = pl_detokenize(a->tok, txt, m, NULL, 0, true);
    if (need < 0) { free(txt); return need; }
    *out = malloc((size_t)need + 1);
    if (!*out) { free(txt); return pl_error(PL_ERR_NOMEM, "out of memory"); }
    pl_detokenize(a->tok, txt, m, *out, (size_t)need + 1, true);
    (*out)[need] = 0;
    free(txt);
    return PL_OK;
}

static bool blank(const char *s) {
    for (; *s; s++) if (*s != ' ' && *s != '\t' && *s != '\n') return false;
    return true;
}

/* the segments of one window's tokens (faster-whisper's split at consecutive timestamps); *seek advanced */
static int split_segments(pl_asr *a, pl_transcript *t, ids *all, const window_result *r, double offset, int seg_size,
                          int64_t *seek, float avg_lp) {
    const int32_t *tk = r->out.tok;
    int n = r->out.n, tb = a->ts_begin, rc = PL_OK;
    bool single_end = n >= 2 && tk[n - 2] < tb && tk[n - 1] >= tb;
    int cuts[512], nc = 0;
    for (int i = 1; i < n && nc < 511; i++) if (tk[i] >= tb && tk[i - 1] >= tb) cuts[nc++] = i;
    /* each piece: tokens [from, to), start / end from its first / last timestamp */
    int pieces[513][2], np = 0;
    double times[513][2];
    if (nc > 0) {
        if (single_end) cuts[nc++] = n;
        int last = 0;
        for (int c = 0; c < nc; c++) {
            pieces[np][0] = last; pieces[np][1] = cuts[c];
            times[np][0] = offset + (tk[last] - tb) * TIME_PRECISION;
            times[np][1] = offset + (tk[cuts[c] - 1] - tb) * TIME_PRECISION;
            np++;
            last = cuts[c];
        }
        *seek += single_end ? seg_size : (int64_t)(tk[last - 1] - tb) * INPUT_STRIDE;
    } else {
        double dur = seg_size * 0.01;
        int lastts = -1;
        for (int i = 0; i < n; i++) if (tk[i] >= tb) lastts = tk[i];
        if (lastts >= 0 && lastts != tb) dur = (lastts - tb) * TIME_PRECISION;
        pieces[0][0] = 0; pieces[0][1] = n;
        times[0][0] = offset; times[0][1] = offset + dur;
        np = 1;
        *seek += seg_size;
    }
    for (int p = 0; p < np && rc == PL_OK; p++) {
        char *text = NULL;
        if ((rc = decode_text(a, tk + pieces[p][0], pieces[p][1] - pieces[p][0], &text))) break;
        if (times[p][0] != times[p][1] && !blank(text)) {
            rc = add_segment(t, times[p][0], times[p][1], text, avg_lp, r->no_speech_prob);
            for (int i = pieces[p][0]; i < pieces[p][1] && rc == PL_OK; i++) rc = ids_push(all, tk[i]);
        }
        free(text);
    }
    return rc;
}

/* the raw log-mel of nf frames (at the front of mel, {M, nf}) put in place as the encoder's input: each band
 * normalized and zero-padded to 3000 frames in feature space (faster-whisper's pad_or_trim) */
static void place_window(int M, int nf, double vmax, float *mel) {
    for (int b = M - 1; b >= 0; b--) {
        memmove(mel + (size_t)b * WIN_FRAMES, mel + (size_t)b * nf, (size_t)nf * sizeof(float));
        pl_mel_normalize(mel + (size_t)b * WIN_FRAMES, nf, vmax);
        memset(mel + (size_t)b * WIN_FRAMES + nf, 0, (size_t)(WIN_FRAMES - nf) * sizeof(float));
    }
}

/* the language of the first window: the likeliest language token after <|startoftranscript|>, its probability a
 * softmax over the language tokens alone (as Whisper's detect_language); the 5 likeliest kept for the record */
static int lang_code(pl_asr *a, int32_t id, char *code, size_t cap) {
    size_t len;
    const char *str = pl_tokenizer_token_str(a->tok, id, &len);
    if (!str || len < 5) return pl_error(PL_ERR_FORMAT, "whisper: no language token");
    snprintf(code, cap, "%.*s", (int)(len - 4), str + 2);
    return PL_OK;
}
static int detect_language(pl_asr *a, pl_transcript *t, float *lg) {
    int rc = pl_whisper_eval(a->w, &a->sot, 1, 0, lg, false);
    if (rc) return rc;
    if (a->n_lang <= 0) return pl_error(PL_ERR_FORMAT, "whisper: no language token");
    float mx = -INFINITY;
    for (int i = 0; i < a->n_lang; i++) mx = fmaxf(mx, lg[a->lang_ids[i]]);
    double s = 0;
    for (int i = 0; i < a->n_lang; i++) s += exp((double)lg[a->lang_ids[i]] - mx);
    int top = PL_MIN(a->n_lang, 5);
    int32_t best[5];
    for (int k = 0; k < top; k++) { /* selection: the k-th likeliest not yet taken */
        int32_t b = -1;
        for (int i = 0; i < a->n_lang; i++) {
            int32_t id = a->lang_ids[i];
            bool taken = false;
            for (int j = 0; j < k; j++) taken |= best[j] == id;
            if (!taken && (b < 0 || lg[id] > lg[b])) b = id;
        }
        best[k] = b;
        if ((rc = lang_code(a, b, t->lang_top[k].code, sizeof t->lang_top[k].code))) return rc;
        t->lang_top[k].prob = (float)(exp((double)lg[b] - mx) / s);
    }
    t->n_lang_top = top;
    t->language_prob = t->lang_top[0].prob;
    snprintf(t->language, sizeof t->language, "%s", t->lang_top[0].code);
    return PL_OK;
}

int pl_transcribe_file(pl_asr *a, const char *path, const pl_transcribe_opts *o, pl_transcript *out) {
    memset(out, 0, sizeof *out);
    pl_whisper *w = a->w;
    int V = w->hp.n_vocab, M = w->hp.n_mels;
    int32_t lang_tok = -1;
    if (o->language && *o->language) {
        char s[64];
        snprintf(s, sizeof s, "<|%s|>", o->language);
        lang_tok = tok_id(a->tok, s);
        if (!a->multilingual && strcmp(o->language, "en"))
            return pl_error(PL_ERR_ARG, "%s is an English-only model: it cannot transcribe '%s'", w->path, o->language);
        if (a->multilingual && (lang_tok <= a->sot || lang_tok >= a->translate))
            return pl_error(PL_ERR_ARG, "unknown language '%s' (a code such as en, ko, fr, de, ja, zh)", o->language);
    }
    if (o->detect_only && (!a->multilingual || lang_tok >= 0))
        return pl_error(PL_ERR_ARG, "%s", !a->multilingual ? "an English-only model has no language to detect"
                                                           : "--language and language detection exclude each other");
    if (o->translate && !a->multilingual) return pl_error(PL_ERR_ARG, "%s is an English-only model: it cannot translate", w->path);
    /* pass 1: the log-mel maximum over the whole file, frame chunk by chunk */
    stream s;
    if (stream_open(&s, path)) return PL_ERR_FORMAT;
    const int CH = 1000;
    float *mel = malloc((size_t)M * WIN_FRAMES * sizeof(float));
    float *lg = malloc((size_t)V * sizeof(float));
    ids all = {0};
    if (!mel || !lg) { free(mel); free(lg); stream_close(&s); return pl_error(PL_ERR_NOMEM, "out of memory"); }
    double vmax = -INFINITY;
    int64_t len = -1, f = 0, n_frames = -1;
    int rc = PL_OK;
    while (rc == PL_OK && (n_frames < 0 || f < n_frames)) {
        int64_t nf = CH;
        if ((rc = stream_fill(&s, PL_MAX(f * PL_MEL_HOP - PL_MEL_N_FFT, 0), (f + nf) * PL_MEL_HOP + PL_MEL_N_FFT + 1))) break;
        if (s.eof) { len = s.buf0 + s.n + PL_MEL_HOP; n_frames = len / PL_MEL_HOP; nf = PL_MIN(nf, n_frames - f); }
        if (nf <= 0) break;
        if (o->max_seconds > 0 && (s.buf0 + s.n) > (int64_t)o->max_seconds * PL_AUDIO_RATE) {
            rc = pl_error(PL_ERR_ARG, "%s: longer than the %d s allowed", path, o->max_seconds);
            break;
        }
        rc = stream_mel(a, &s, f, nf, &len, mel, &vmax);
        f += nf;
    }
    int64_t n_samples = len - PL_MEL_HOP;
    stream_close(&s);
    if (rc == PL_OK && n_samples <= 0) rc = pl_error(PL_ERR_FORMAT, "%s: no audio samples decoded", path);
    if (rc) { free(mel); free(lg); return rc; }
    out->duration = (double)n_samples / PL_AUDIO_RATE;
    int64_t content = n_frames - 1, seek = 0;
    if (!a->multilingual || lang_tok >= 0) { /* else detected on the first window decoded */
        snprintf(out->language, sizeof out->language, "%s", o->language && *o->language ? o->language : "en");
        out->language_prob = 1.0f;
    }
    /* pass 2: window by window */
    if ((rc = stream_open(&s, path))) { free(mel); free(lg); return rc; }
    int prompt_cap = w->hp.n_text_ctx;
    int32_t *prompt = malloc((size_t)prompt_cap * sizeof *prompt);
    if (!prompt) rc = pl_error(PL_ERR_NOMEM, "out of memory");
    while (rc == PL_OK && seek < content) {
        int seg_size = (int)PL_MIN(WIN_FRAMES, content - seek);
        double offset = seek * 0.01;
        if ((rc = stream_mel(a, &s, seek, seg_size, &len, mel, &(double){0}))) break;
        if (digital_silence(&s, seek, seg_size)) { /* every sample 0: nothing to hear (Whisper would say "you") */
            seek += seg_size;
            if (o->progress) o->progress(o->progress_ud, fmin(seek * 0.01, out->duration), out->duration);
            continue;
        }
        bool detect = out->windows == 0 && a->multilingual && lang_tok < 0;
        if (detect) {
            /* faster-whisper detects the language on the features from here on (up to 3000 frames): one frame
             * more than the window decodes when the audio ends within it, encoded apart then */
            int det = (int)PL_MIN(WIN_FRAMES, n_frames - seek);
            if (det != seg_size && (rc = stream_mel(a, &s, seek, det, &len, mel, &(double){0}))) break;
            place_window(M, det, vmax, mel);
            if ((rc = pl_whisper_encode(w, mel, NULL)) || (rc = detect_language(a, out, lg))) break;
            char s2[64];
            snprintf(s2, sizeof s2, "<|%s|>", out->language);
            lang_tok = tok_id(a->tok, s2);
            if (o->detect_only) break;
            if (det != seg_size) {
                if ((rc = stream_mel(a, &s, seek, seg_size, &len, mel, &(double){0}))) break;
                place_window(M, seg_size, vmax, mel);
                if ((rc = pl_whisper_encode(w, mel, NULL))) break;
            }
        } else {
            place_window(M, seg_size, vmax, mel);
            if ((rc = pl_whisper_encode(w, mel, NULL))) break;
        }
        int np = 0;
        int n_prev = o->condition_on_previous_text ? PL_MIN(all.n, w->hp.n_text_ctx / 2 - 1) : 0;
        if (n_prev > 0) {
            prompt[np++] = a->sot_prev;
            memcpy(prompt + np, all.tok + all.n - n_prev, (size_t)n_prev * sizeof *prompt);
            np += n_prev;
        }
        int sot_index = np;
        prompt[np++] = a->sot;
        if (a->multilingual) {
            prompt[np++] = lang_tok;
            prompt[np++] = o->translate ? a->translate : a->transcribe;
        }
        if (o->no_timestamps) prompt[np++] = a->no_timestamps;
        window_result r;
        if ((rc = decode_window(a, prompt, np, sot_index, o->no_timestamps, lg, &r))) { free(r.out.tok); break; }
        out->windows++;
        float avg_lp = (float)(r.sum_logprob / (r.out.n + 1));
        bool skip = o->no_speech_threshold > 0 && r.no_speech_prob > o->no_speech_threshold && avg_lp <= o->logprob_threshold;
        if (skip) seek += seg_size;
        else rc = split_segments(a, out, &all, &r, offset, seg_size, &seek, avg_lp);
        free(r.out.tok);
        if (o->progress) o->progress(o->progress_ud, fmin(seek * 0.01, out->duration), out->duration);
    }
    free(prompt); free(mel); free(lg); free(all.tok);
    stream_close(&s);
    if (rc) pl_transcript_free(out);
    return rc;
}

/* ---- writing ---------------------------------------------------------------------------------------------------- */
int pl_tr_format_parse(const char *s) {
    if (!strcmp(s, "txt") || !strcmp(s, "text")) return PL_TR_TXT;
    if (!strcmp(s, "srt")) return PL_TR_SRT;
    if (!strcmp(s, "vtt")) return PL_TR_VTT;
    if (!strcmp(s, "json")) return PL_TR_JSON;
    return -1;
}

static void put_time(FILE *f, double t, char sep) {
    int64_t ms = (int64_t)llround(t * 1000.0);
    fprintf(f, "%02lld:%02lld:%02lld%c%03lld", (long long)(ms / 3600000), (long long)(ms / 60000 % 60),
            (long long)(ms / 1000 % 60), sep, (long long)(ms % 1000));
}
static const char *trimmed(const char *s, int *len) {
    while (*s == ' ') s++;
    int n = (int)strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n')) n--;
    *len = n;
    return s;
}
static void put_json_str(FILE *f, const char *s, int n) {
    fputc('"', f);
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

int pl_transcript_write(const pl_transcript *t, pl_tr_format fmt, FILE *f) {
    int n;
    const char *s;
    if (fmt == PL_TR_VTT) fputs("WEBVTT\n\n", f);
    if (fmt == PL_TR_JSON) { /* the segments' texts joined, then trimmed */
        size_t total = 1;
        for (int i = 0; i < t->n; i++) total += strlen(t->seg[i].text);
        char *all = malloc(total);
        if (!all) return pl_error(PL_ERR_NOMEM, "out of memory");
        all[0] = 0;
        for (int i = 0, at = 0; i < t->n; i++) { size_t l = strlen(t->seg[i].text); memcpy(all + at, t->seg[i].text, l + 1); at += (int)l; }
        s = trimmed(all, &n);
        fputs("{\"text\": ", f);
        put_json_str(f, s, n);
        free(all);
        fprintf(f, ", \"language\": \"%s\", ", t->language);
        if (t->n_lang_top > 0) {
            fputs("\"language_probs\": {", f);
            for (int i = 0; i < t->n_lang_top; i++)
                fprintf(f, "%s\"%s\": %.6f", i ? ", " : "", t->lang_top[i].code, t->lang_top[i].prob);
            fputs("}, ", f);
        }
        fprintf(f, "\"duration\": %.3f, \"segments\": [", t->duration);
    }
    for (int i = 0; i < t->n; i++) {
        const pl_segment *g = &t->seg[i];
        s = trimmed(g->text, &n);
        switch (fmt) {
        case PL_TR_TXT: fprintf(f, "%.*s\n", n, s); break;
        case PL_TR_SRT:
            fprintf(f, "%d\n", i + 1);
            put_time(f, g->start, ','); fputs(" --> ", f); put_time(f, g->end, ',');
            fprintf(f, "\n%.*s\n\n", n, s);
            break;
        case PL_TR_VTT:
            put_time(f, g->start, '.'); fputs(" --> ", f); put_time(f, g->end, '.');
            fprintf(f, "\n%.*s\n\n", n, s);
            break;
        case PL_TR_JSON:
            fprintf(f, "%s\n  {\"id\": %d, \"start\": %.3f, \"end\": %.3f, \"text\": ", i ? "," : "", i, g->start, g->end);
            put_json_str(f, g->text, (int)strlen(g->text));
            fprintf(f, ", \"avg_logprob\": %.4f, \"no_speech_prob\": %.4f}", g->avg_logprob, g->no_speech_prob);
            break;
        default: break;
        }
    }
    if (fmt == PL_TR_JSON) fputs(t->n ? "\n]}\n" : "]}\n", f);
    return ferror(f) ? pl_error(PL_ERR_IO, "could not write the transcript") : PL_OK;
}
