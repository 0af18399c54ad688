/* plinth transcribe: speech to text with a Whisper model (tasks/transcribe.h does the work). Parses the options,
 * prints the transcript of each audio file as text, SRT, WebVTT or JSON to standard output or, with -o, into a
 * file written whole (a temporary file renamed into place: nothing half-written on failure), and a progress
 * line on standard error with --progress. */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "core/cpu.h"
#include "tasks/transcribe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: plinth transcribe -m MODEL [options] AUDIO...\n"
            "  MODEL                  a Whisper model directory: CTranslate2 model.bin (faster-whisper's) or Hugging\n"
            "                         Face safetensors, with tokenizer.json (scripts/fetch-models.sh whisper-tiny-en)\n"
            "  AUDIO                  WAV (PCM 8/16/24/32-bit or float, any rate, mono or stereo); other formats\n"
            "                         through ffmpeg when it is installed\n"
            "  --output-format FMT    txt (default), srt, vtt or json\n"
            "  -o FILE                write the transcript to FILE (one AUDIO only) instead of standard output\n"
            "  --language xx          the spoken language (en, ko, fr, ...); default: detected (multilingual models)\n"
            "  --detect-language      only detect the language (first 30 s; multilingual models): prints the five\n"
            "                         likeliest with their probabilities (as JSON with --output-format json)\n"
            "  --task transcribe|translate   translate: English text from any language (multilingual models)\n"
            "  --no-timestamps        one segment per 30-s window, no timestamp tokens\n"
            "  --no-condition         do not prompt each window with the previous window's text\n"
            "  --no-speech-threshold P  skip a window whose <|nospeech|> probability is above P (default 0.6) and whose\n"
            "                         average log-probability is below -1; 0: never skip\n"
            "  --beam N               beam size: 1 (greedy) only for now\n"
            "  --max-seconds N        refuse audio longer than N seconds (default: no limit)\n"
            "  -t, --threads N        threads (default: the physical cores)\n"
            "  --decoder-threads N    threads for the decoder's token-by-token steps (default: -t's; 1 is faster on a\n"
            "                         host whose cores are oversubscribed: each step's ops are small)\n"
            "  --progress             a progress line on standard error\n");
}

static void progress(void *ud, double done, double total) {
    (void)ud;
    int w = 30, k = total > 0 ? (int)(w * done / total) : w;
    fprintf(stderr, "\r[%.*s%*s] %6.1f / %.1f s", k, "==============================", w - k, "", done, total);
    if (done >= total) fputc('\n', stderr);
}

typedef struct {
    const char *model, *out, *language, *format;
    bool translate, no_ts, no_cond, progress, detect;
    long long threads, beam, max_seconds, dec_threads;
    double no_speech;
    arg_rest files;
} tr_args;

static int parse_args(int argc, char **argv, tr_args *t) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *task = NULL;
        int k;
        bool ok = true;
        if ((k = arg_positional(argv, i, &t->files)) != 0) { if (k < 0) return 2; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return -1; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = arg_str(argc, argv, &i, &t->model);
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) ok = arg_str(argc, argv, &i, &t->out);
        else if (!strcmp(a, "--output-format") || !strcmp(a, "-f")) ok = arg_str(argc, argv, &i, &t->format);
        else if (!strcmp(a, "--language") || !strcmp(a, "-l")) ok = arg_str(argc, argv, &i, &t->language);
        else if (!strcmp(a, "--task")) {
            ok = arg_str(argc, argv, &i, &task);
            if (ok && strcmp(task, "transcribe") && strcmp(task, "translate")) {
                fprintf(stderr, "plinth transcribe: --task is transcribe or translate, not '%s'\n", task);
                return 2;
            }
            if (ok) t->translate = !strcmp(task, "translate");
        }
        else if (!strcmp(a, "--no-timestamps")) t->no_ts = true;
        else if (!strcmp(a, "--no-condition")) t->no_cond = true;
        else if (!strcmp(a, "--detect-language")) t->detect = true;
        else if (!strcmp(a, "--progress")) t->progress = true;
        else if (!strcmp(a, "--beam")) ok = arg_int(argc, argv, &i, 1, 16, &t->beam);
        else if (!strcmp(a, "--max-seconds")) ok = arg_int(argc, argv, &i, 1, 1000000, &t->max_seconds);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = arg_int(argc, argv, &i, 1, 1024, &t->threads);
        else if (!strcmp(a, "--no-speech-threshold")) ok = arg_float(argc, argv, &i, 0, 1, &t->no_speech);
        else if (!strcmp(a, "--decoder-threads")) ok = arg_int(argc, argv, &i, 1, 1024, &t->dec_threads);
        else { arg_unknown(argv, i); usage(stderr); return 2; }
        if (!ok) return 2;
    }
    if (!t->model || !t->files.n) { usage(stderr); return 2; }
    if (pl_tr_format_parse(t->format) < 0) {
        fprintf(stderr, "plinth transcribe: --output-format is txt, srt, vtt or json, not '%s'\n", t->format);
        return 2;
    }
    if (t->out && t->files.n > 1) { fprintf(stderr, "plinth transcribe: -o takes one AUDIO file\n"); return 2; }
    if (t->beam > 1) { fprintf(stderr, "plinth transcribe: beam search is not implemented yet (--beam 1)\n"); return 2; }
    return 0;
}

/* the transcript into path.tmp, then renamed to path */
static int write_file(const pl_transcript *tr, pl_tr_format fmt, const char *path) {
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return PL_ERR_NOMEM;
    snprintf(tmp, n, "%s.tmp%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    int rc = f ? pl_transcript_write(tr, fmt, f) : pl_error(PL_ERR_IO, "%s: cannot write", tmp);
    if (f && fclose(f) && rc == PL_OK) rc = pl_error(PL_ERR_IO, "%s: write failed", tmp);
    if (rc == PL_OK && rename(tmp, path)) rc = pl_error(PL_ERR_IO, "%s: cannot rename into place", path);
    if (rc != PL_OK) unlink(tmp);
    free(tmp);
    return rc;
}

int cmd_transcribe(int argc, char **argv) {
    tr_args t = {.format = "txt", .beam = 1, .no_speech = -1, .files = {.max = 8}};
    int rc = parse_args(argc, argv, &t);
    if (rc) return rc < 0 ? 0 : rc;
    pl_asr *asr = pl_asr_open(t.model, (int)t.threads);
    const int dec = (int)(t.dec_threads ? t.dec_threads : t.threads ? t.threads : pl_cpu_physical_cores());
    if (!asr || (dec > 1 && pl_asr_set_decoder_threads(asr, dec))) {
        fprintf(stderr, "plinth transcribe: %s\n", pl_last_error());
        pl_asr_free(asr);
        return 1;
    }
    pl_transcribe_opts o = pl_transcribe_defaults();
    o.language = t.language;
    o.translate = t.translate;
    o.no_timestamps = t.no_ts;
    o.condition_on_previous_text = !t.no_cond;
    o.max_seconds = (int)t.max_seconds;
    o.detect_only = t.detect;
    if (t.no_speech >= 0) o.no_speech_threshold = (float)t.no_speech;
    if (t.progress) o.progress = progress;
    pl_tr_format fmt = (pl_tr_format)pl_tr_format_parse(t.format);
    for (int i = 0; i < t.files.n && rc == 0; i++) {
        pl_transcript tr;
        int st = pl_transcribe_file(asr, t.files.v[i], &o, &tr);
        if (st == PL_OK && t.detect && fmt != PL_TR_JSON) { /* one line a language: code probability */
            if (!tr.n_lang_top) printf("%s: no speech to detect a language in\n", t.files.v[i]);
            for (int k = 0; k < tr.n_lang_top; k++) printf("%s %.6f\n", tr.lang_top[k].code, tr.lang_top[k].prob);
        } else if (st == PL_OK) st = t.out ? write_file(&tr, fmt, t.out) : pl_transcript_write(&tr, fmt, stdout);
        if (st != PL_OK) { fprintf(stderr, "plinth transcribe: %s\n", pl_last_error()); rc = 1; }
        pl_transcript_free(&tr);
    }
    pl_asr_free(asr);
    return rc;
}
