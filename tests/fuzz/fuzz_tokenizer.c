/* libFuzzer target: tokenizer.json loading and encoding of arbitrary bytes. The input is split at the first
 * NUL byte: before it a tokenizer.json (loaded from a temp file), after it text to encode and decode. If the
 * JSON part does not load, the text is encoded with a small committed tokenizer instead. */
#include "plinth.h"
#include "core/common.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

static pl_tokenizer *g_fallback;

static void roundtrip(const pl_tokenizer *t, const char *s, size_t n) {
    int32_t ids[1024];
    int k = pl_tokenize(t, s, n, ids, 1024, true);
    if (k < 0) return;
    if (k > 1024) k = 1024;
    char out[8192];
    pl_detokenize(t, ids, k, out, sizeof out, false);
    pl_detok_stream *st = pl_detok_stream_new(t, true);
    for (int i = 0; i < k && st; i++) pl_detok_stream_step(st, ids[i], NULL);
    if (st) pl_detok_stream_flush(st, NULL);
    pl_detok_stream_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_fallback) g_fallback = pl_tokenizer_load("tests/golden/tokenizers/spm_bpe.json");
    const uint8_t *nul = memchr(data, 0, size);
    size_t jn = nul ? (size_t)(nul - data) : size;
    const char *text = nul ? (const char *)nul + 1 : "";
    size_t tn = nul ? size - jn - 1 : 0;
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_tok_%d.json", (int)getpid());
    pl_tokenizer *t = NULL;
    FILE *f = jn ? fopen(path, "wb") : NULL;   /* plain write: fsync per run would starve the fuzzer */
    if (f) { bool ok = fwrite(data, 1, jn, f) == jn; fclose(f); if (ok) t = pl_tokenizer_load(path); }
    if (t) { roundtrip(t, text, tn); pl_tokenizer_free(t); }
    else if (g_fallback) roundtrip(g_fallback, (const char *)data, size);
    return 0;
}
