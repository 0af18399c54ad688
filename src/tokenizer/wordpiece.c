/* WordPiece model (BERT): greedy longest-match-first over each pre-tokenized word, continuation pieces
 * carrying the "##" prefix; a word longer than max_input_chars_per_word, or one that cannot be covered,
 * becomes a single [UNK]. */
#include "tokenizer/tokenizer.h"

static int wp_unk(const tk_model *m, tk_ids *out) {
    if (m->unk_id < 0) return pl_error(PL_ERR_FORMAT, "tokenizer: wordpiece vocabulary has no unk token");
    return tk_ids_push(out, m->unk_id);
}

int tk_wordpiece_encode(const tk_model *m, const char *s, size_t len, tk_ids *out) {
    size_t nchars = 0;
    for (size_t i = 0; i < len; i++) nchars += ((uint8_t)s[i] & 0xC0) != 0x80;
    if (nchars > (size_t)m->max_input_chars) return wp_unk(m, out);
    const char *prefix = m->prefix ? m->prefix : "";
    size_t plen = strlen(prefix);
    tk_buf key = {0};
    int start_n = out->n, rc = PL_OK;
    for (size_t start = 0; start < len;) {
        size_t end = len; int32_t found = -1;
        while (start < end) {
            key.n = 0;
            if ((start > 0 && tk_buf_put(&key, prefix, plen)) || tk_buf_put(&key, s + start, end - start)) {
                free(key.p); return PL_ERR_NOMEM;
            }
            found = tk_strmap_get(&m->vocab, key.p, key.n);
            if (found >= 0) break;
            end--;
            while (end > start && ((uint8_t)s[end] & 0xC0) == 0x80) end--;
        }
        if (found < 0) { out->n = start_n; free(key.p); return wp_unk(m, out); }
        if ((rc = tk_ids_push(out, found))) break;
        start = end;
    }
    free(key.p);
    return rc;
}
