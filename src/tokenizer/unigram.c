/* Unigram model (SentencePiece): Viterbi over the lattice of vocabulary pieces, scoring each path by the
 * sum of piece log-probabilities; characters no piece covers become <unk> with HF's penalty (min score
 * - 10), consecutive unknowns are fused, and with byte_fallback an unknown becomes its <0xNN> bytes. */
#include "tokenizer/tokenizer.h"

typedef struct { double score; int32_t start, id; } uni_node;

static int emit(const tk_model *m, const char *s, size_t len, int32_t id, tk_ids *out) {
    if (id < 0) id = tk_strmap_get(&m->vocab, s, len);
    if (id >= 0) return tk_ids_push(out, id);
    if (m->byte_fallback) {
        bool all = true;
        for (size_t i = 0; i < len; i++) all = all && m->byte_ids[(uint8_t)s[i]] >= 0;
        if (all) {
            for (size_t i = 0; i < len; i++) if (tk_ids_push(out, m->byte_ids[(uint8_t)s[i]])) return PL_ERR_NOMEM;
            return PL_OK;
        }
    }
    if (m->unk_id < 0) return pl_error(PL_ERR_FORMAT, "tokenizer: unigram needs an unk token for this text");
    return tk_ids_push(out, m->unk_id);
}

int tk_unigram_encode(const tk_model *m, const char *s, size_t len, tk_ids *out) {
    if (!len) return PL_OK;
    uni_node *best = pl_malloc((len + 1) * sizeof *best);
    int32_t *path = pl_malloc((len + 1) * sizeof *path);
    if (!best || !path) { free(best); free(path); return PL_ERR_NOMEM; }
    for (size_t i = 0; i <= len; i++) best[i] = (uni_node){0, -1, -1};
    best[0].start = 0;
    double unk_score = m->min_score - 10.0;
    for (size_t i = 0; i < len;) {
        int32_t cp; int l = tk_utf8_decode(s + i, len - i, &cp);
        if (!l) l = 1;
        double base = best[i].score;
        bool single = false;
        size_t maxj = PL_MIN(len, i + (size_t)m->max_piece_bytes);
        for (size_t j = i + l; j <= maxj;) {
            int32_t id = tk_strmap_get(&m->vocab, s + i, j - i);
            if (id >= 0) {
                double c = base + m->uscores[id];
                if (best[j].start < 0 || c > best[j].score) best[j] = (uni_node){c, (int32_t)i, id};
                if (j == i + (size_t)l) single = true;
            }
            if (j == len) break;
            int32_t cp2; int l2 = tk_utf8_decode(s + j, len - j, &cp2);
            j += l2 ? (size_t)l2 : 1;
        }
        if (!single) {
            double c = base + unk_score;
            size_t j = i + l;
            if (best[j].start < 0 || c > best[j].score) best[j] = (uni_node){c, (int32_t)i, m->unk_id};
        }
        i += l;
    }
    /* Walk back from the end, fusing consecutive unknowns. */
    int n = 0;
    for (size_t e = len; e > 0; e = (size_t)best[e].start) path[n++] = (int32_t)e;
    int rc = PL_OK;
    size_t unk_start = 0; bool in_unk = false;
    for (int k = n - 1; k >= 0 && !rc; k--) {
        size_t e = (size_t)path[k], b = (size_t)best[e].start;
        int32_t id = best[e].id;
        if (id == m->unk_id && m->unk_id >= 0) {
            if (!in_unk) { in_unk = true; unk_start = b; }
            continue;
        }
        if (in_unk) { rc = emit(m, s + unk_start, b - unk_start, -1, out); in_unk = false; if (rc) break; }
        rc = emit(m, s + b, e - b, id, out);
    }
    if (!rc && in_unk) rc = emit(m, s + unk_start, len - unk_start, -1, out);
    free(best); free(path);
    return rc;
}
