/* Speech to text with Whisper: the model and its tokenizer opened together (pl_asr), an audio file transcribed
 * 30-s window by window with seek (the audio is streamed twice: once for the log-mel maximum, once to decode, so
 * memory does not grow with the file's length), greedy decoding with Whisper's timestamp rules and token
 * suppression, language detection on multilingual models, no-speech skipping (a window whose samples are all
 * exactly zero is skipped without running the model: Whisper hallucinates "you" on digital silence, and
 * faster-whisper with it); and the transcript written as
 * text, SRT, WebVTT or JSON. The decoding follows faster-whisper's (beam 1, temperature 0) step for step, so the
 * transcripts agree word for word (bench/whisper_compare.sh). Called by `plinth transcribe` (src/cli). */
#ifndef PL_TASKS_TRANSCRIBE_H
#define PL_TASKS_TRANSCRIBE_H

#include "models/whisper.h"
#include "plinth.h"

#include <stdio.h>

typedef struct pl_asr pl_asr;
/* a model directory (CTranslate2 model.bin or HF safetensors) with tokenizer.json; NULL + pl_last_error() */
pl_asr *pl_asr_open(const char *path, int n_threads);
void pl_asr_free(pl_asr *a);
bool pl_asr_multilingual(const pl_asr *a);
/* threads for the decoder's steps (pl_whisper_set_decoder_threads: 1 unless set) */
int pl_asr_set_decoder_threads(pl_asr *a, int n);
pl_whisper *pl_asr_model(pl_asr *a);

typedef struct {
    const char *language;   /* "en", "ko", ...; NULL: detected (multilingual models), English (.en models) */
    bool translate;         /* --task translate: English text from any language (multilingual models) */
    bool no_timestamps;     /* decode without timestamp tokens: one segment per window */
    bool condition_on_previous_text; /* the previous window's text as the prompt (faster-whisper's default) */
    float no_speech_threshold;   /* skip a window whose <|nospeech|> probability is above this ... (0.6) */
    float logprob_threshold;     /* ... unless its average log-probability is above this (-1) */
    int max_seconds;        /* refuse audio longer than this (0: no limit) */
    bool detect_only;       /* only detect the language on the first 30 s (multilingual models): no segments */
    void (*progress)(void *ud, double done_s, double total_s); /* after each window; NULL: none */
    void *progress_ud;
} pl_transcribe_opts;
pl_transcribe_opts pl_transcribe_defaults(void);

typedef struct {
    double start, end;      /* seconds, within the audio, non-decreasing */
    char *text;             /* as decoded (a leading space kept) */
    float avg_logprob, no_speech_prob;
} pl_segment;

typedef struct {
    pl_segment *seg; int n, cap;
    char language[16];      /* the language decoded ("en", ...) */
    float language_prob;    /* its probability when detected; 1 when given */
    struct { char code[16]; float prob; } lang_top[5]; /* when detected: the 5 likeliest languages, likeliest first */
    int n_lang_top;
    double duration;        /* seconds of audio */
    int windows;            /* 30-s windows decoded */
} pl_transcript;

/* Transcribe an audio file (pl_audio_open: WAV, or anything ffmpeg reads). PL_OK, or a negative status with a
 * message (bad audio, no audio, a language the model does not know) and out left empty. */
int pl_transcribe_file(pl_asr *a, const char *path, const pl_transcribe_opts *o, pl_transcript *out);
void pl_transcript_free(pl_transcript *t);

typedef enum { PL_TR_TXT, PL_TR_SRT, PL_TR_VTT, PL_TR_JSON, PL_TR_FORMAT_COUNT } pl_tr_format;
/* "txt" "text" "srt" "vtt" "json" -> the format, or -1 */
int pl_tr_format_parse(const char *s);
/* Write t in the format to f: txt one segment a line; srt / vtt numbered cues with their times; json
 * {"text", "language", ["language_probs",] "duration", "segments": [{"id", "start", "end", "text"}]}. PL_OK or PL_ERR_IO. */
int pl_transcript_write(const pl_transcript *t, pl_tr_format fmt, FILE *f);

#endif
