/* libFuzzer target: tokenizer.json loading and encoding of arbitrary bytes. The input is split at the first
 * NUL byte: before it a tokenizer.json (loaded from a temp file), after it text to encode and decode. If the
 * JSON part does not load, the whole input is encoded with a small committed tokenizer instead, loaded once
 * at start (LLVMFuzzerInitialize), never per input. Encoding and one-shot decoding see every token; the streaming
 * decoder, whose state is a window of a few tokens, sees the first STREAM_IDS (a step costs a small decoding). */
#include "plinth.h"
#include "core/common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FALLBACK "tests/golden/tokenizers/spm_bpe.json"
#define STREAM_IDS 48

static pl_tokenizer *g_fallback;
static char g_path[64]; /* this process's temp file for the JSON part */

/* The fallback from the source tree: $PLINTH_ROOT, the working directory, or the tree this file was built from. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    const char *root = getenv("PLINTH_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/" FALLBACK, root ? root : ".");
    if (!(g_fallback = pl_tokenizer_load(path))) {
        snprintf(path, sizeof path, "%.*s/../../" FALLBACK, (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__);
        g_fallback = pl_tokenizer_load(path);
    }
    if (!g_fallback) { fprintf(stderr, "fuzz_tokenizer: cannot load %s: %s\n", FALLBACK, pl_last_error()); abort(); }
    snprintf(g_path, sizeof g_path, "/tmp/fuzz_tok_%d.json", (int)getpid());
    return 0;
}

static void roundtrip(const pl_tokenizer *t, const char *s, size_t n) {
    int32_t ids[1024];
    int k = pl_tokenize(t, s, n, ids, 1024, true);
    if (k < 0) return;
    if (k > 1024) k = 1024;
    char out[8192];
    pl_detokenize(t, ids, k, out, sizeof out, false);
    pl_detok_stream *st = pl_detok_stream_new(t, true);
    for (int i = 0; i < k && i < STREAM_IDS && st; i++) pl_detok_stream_step(st, ids[i], NULL);
    if (st) pl_detok_stream_flush(st, NULL);
    pl_detok_stream_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t jn = nul ? (size_t)(nul - data) : size;
    const char *text = nul ? (const char *)nul + 1 : "";
    size_t tn = nul ? size - jn - 1 : 0;
    pl_tokenizer *t = NULL;
    FILE *f = jn ? fopen(g_path, "wb") : NULL;   /* plain write: fsync per run would starve the fuzzer */
    if (f) { bool ok = fwrite(data, 1, jn, f) == jn; fclose(f); if (ok) t = pl_tokenizer_load(g_path); }
    if (t) { roundtrip(t, text, tn); pl_tokenizer_free(t); }
    else roundtrip(g_fallback, (const char *)data, size);
    return 0;
}
