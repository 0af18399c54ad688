/* BPE model: byte-level (GPT-2, Llama-3, Qwen2, SmolLM) and SentencePiece-style (byte fallback, fuse_unk,
 * merges by rank or, for GGUF "llama" vocabularies without merges, by score). The merge loop keeps the
 * symbols in a linked list and candidate pairs in a binary heap ordered by (rank, position), as HF's
 * Word::merge_all does, so long words cost O(n log n), not O(n^2). Byte-level vocabularies are also indexed
 * by their raw bytes, so the text is never mapped to GPT-2's printable alphabet on the way in. */
#include "tokenizer/tokenizer.h"

/* GPT-2's bytes_to_unicode(): printable bytes map to themselves, the rest to U+0100 onwards. */
static int32_t byte_to_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    int n = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255))) n++;
    return 256 + n;
}

static int cp_to_byte(int32_t cp) {
    static int16_t table[324]; static int ready;   /* filled once; idempotent, so benign if raced */
    if (!ready) {
        for (int i = 0; i < 324; i++) table[i] = -1;
        for (int b = 0; b < 256; b++) table[byte_to_cp(b)] = (int16_t)b;
        ready = 1;
    }
    return cp >= 0 && cp < 324 ? table[cp] : -1;
}

/* Map a byte-level token ("Ġhello") to raw bytes (" hello"); false if a char is outside the alphabet. */
bool tk_bytelevel_to_bytes(const char *s, size_t n, tk_buf *out) {
    for (size_t i = 0; i < n;) {
        int32_t cp; int l = tk_utf8_decode(s + i, n - i, &cp);
        int b = l ? cp_to_byte(cp) : -1;
        if (b < 0) return false;
        if (tk_buf_putc(out, (char)b)) return false;
        i += l;
    }
    return true;
}

int tk_bpe_prepare(tk_model *m) {
    char name[8];
    for (int b = 0; b < 256; b++) {
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->byte_ids[b] = tk_strmap_get(&m->vocab, name, 6);
    }
    if (!m->byte_level) return PL_OK;
    m->btokens = pl_calloc((size_t)m->n_vocab, sizeof *m->btokens);
    m->btoken_len = pl_calloc((size_t)m->n_vocab, sizeof *m->btoken_len);
    if (!m->btokens || !m->btoken_len) return PL_ERR_NOMEM;
    tk_buf b = {0};
    for (int id = 0; id < m->n_vocab; id++) {
        if (!m->tokens[id]) continue;
        b.n = 0;
        if (!tk_bytelevel_to_bytes(m->tokens[id], m->token_len[id], &b) || !b.n) continue;
        m->btokens[id] = pl_malloc(b.n + 1);
        if (!m->btokens[id]) { free(b.p); return PL_ERR_NOMEM; }
        memcpy(m->btokens[id], b.p, b.n + 1);
        m->btoken_len[id] = (uint32_t)b.n;
    }
    free(b.p);
    /* Lower ids win when two tokens share bytes (HF would look the string up, which is unique). */
    for (int id = m->n_vocab - 1; id >= 0; id--)
        if (m->btokens[id] && tk_strmap_put(&m->bvocab, m->btokens[id], m->btoken_len[id], id)) return PL_ERR_NOMEM;
    return PL_OK;
}

/* ---- work space ------------------------------------------------------------------------------------ */
typedef struct { int32_t id, prev, next, len; } bpe_sym;
typedef struct { int32_t rank, pos, new_id; } bpe_merge;

#define CACHE_MAX_KEY 48
#define CACHE_KEY_BYTES (1 << 20)
#define CACHE_ID_CAP (1 << 18)
#define CACHE_MAX_ENTRIES (1 << 17)

struct tk_bpe_work {
    bpe_sym *sym; int n_sym, cap_sym;
    bpe_merge *heap; int n_heap, cap_heap;
    tk_buf key;                                   /* prefix/suffix assembly, score-mode pair strings */
    bool cached;                                  /* word cache: key bytes and ids in fixed arrays, */
    tk_strmap cache; char *ckeys; size_t ckeys_n; /* cleared when full so pointers never move */
    int32_t *cids; size_t cids_n; uint64_t *centry; size_t n_entry;
};

tk_bpe_work *tk_bpe_work_new(bool with_cache) {
    tk_bpe_work *w = pl_calloc(1, sizeof *w);
    if (!w) return NULL;
    if (with_cache) {
        w->ckeys = pl_malloc(CACHE_KEY_BYTES);
        w->cids = pl_malloc(CACHE_ID_CAP * sizeof *w->cids);
        w->centry = pl_malloc(CACHE_MAX_ENTRIES * sizeof *w->centry);
        w->cached = w->ckeys && w->cids && w->centry;
    }
    return w;
}

void tk_bpe_work_free(tk_bpe_work *w) {
    if (!w) return;
    free(w->sym); free(w->heap); free(w->key.p);
    tk_strmap_free(&w->cache); free(w->ckeys); free(w->cids); free(w->centry);
    free(w);
}

static int sym_add(tk_bpe_work *w, int32_t id, int32_t len) {
    if (w->n_sym == w->cap_sym) {
        int cap = w->cap_sym ? w->cap_sym * 2 : 64;
        bpe_sym *s = pl_realloc(w->sym, (size_t)cap * sizeof *s);
        if (!s) return PL_ERR_NOMEM;
        w->sym = s; w->cap_sym = cap;
    }
    int i = w->n_sym++;
    w->sym[i] = (bpe_sym){id, i - 1, i + 1, len};
    return PL_OK;
}

static bool merge_less(bpe_merge a, bpe_merge b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static int heap_push(tk_bpe_work *w, bpe_merge m) {
    if (w->n_heap == w->cap_heap) {
        int cap = w->cap_heap ? w->cap_heap * 2 : 64;
        bpe_merge *h = pl_realloc(w->heap, (size_t)cap * sizeof *h);
        if (!h) return PL_ERR_NOMEM;
        w->heap = h; w->cap_heap = cap;
    }
    int i = w->n_heap++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!merge_less(m, w->heap[p])) break;
        w->heap[i] = w->heap[p]; i = p;
    }
    w->heap[i] = m;
    return PL_OK;
}

static bpe_merge heap_pop(tk_bpe_work *w) {
    bpe_merge top = w->heap[0], last = w->heap[--w->n_heap];
    int i = 0, n = w->n_heap;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && merge_less(w->heap[c + 1], w->heap[c])) c++;
        if (!merge_less(w->heap[c], last)) break;
        w->heap[i] = w->heap[c]; i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

/* The merge of pair (a, b): rank + merged id, or false. */
static bool pair_lookup(const tk_model *m, tk_bpe_work *w, int32_t a, int32_t b, int32_t *rank, int32_t *id) {
    if (!m->merges_by_score) {
        const tk_pairslot *s = tk_pairmap_get(&m->merges, a, b);
        if (!s) return false;
        *rank = s->rank; *id = s->id;
        return true;
    }
    w->key.n = 0;
    if (tk_buf_put(&w->key, m->tokens[a], m->token_len[a]) || tk_buf_put(&w->key, m->tokens[b], m->token_len[b]))
        return false;
    int32_t t = tk_strmap_get(&m->vocab, w->key.p, w->key.n);
    if (t < 0) return false;
    *rank = m->score_rank[t]; *id = t;
    return true;
}

static int push_pair(const tk_model *m, tk_bpe_work *w, int pos) {
    int nx = w->sym[pos].next;
    if (nx >= w->n_sym) return PL_OK;
    int32_t rank, id;
    if (!pair_lookup(m, w, w->sym[pos].id, w->sym[nx].id, &rank, &id)) return PL_OK;
    return heap_push(w, (bpe_merge){rank, pos, id});
}

static int merge_all(const tk_model *m, tk_bpe_work *w) {
    w->n_heap = 0;
    for (int i = 0; i + 1 < w->n_sym; i++)
        if (push_pair(m, w, i)) return PL_ERR_NOMEM;
    while (w->n_heap) {
        bpe_merge top = heap_pop(w);
        bpe_sym *cur = &w->sym[top.pos];
        if (!cur->len || cur->next >= w->n_sym) continue;
        int32_t rank, id;
        bpe_sym *right = &w->sym[cur->next];
        if (!pair_lookup(m, w, cur->id, right->id, &rank, &id) || id != top.new_id) continue;
        cur->id = top.new_id;
        cur->len += right->len;
        right->len = 0;
        cur->next = right->next;
        if (cur->next < w->n_sym) w->sym[cur->next].prev = top.pos;
        if (cur->prev >= 0 && push_pair(m, w, cur->prev)) return PL_ERR_NOMEM;
        if (push_pair(m, w, top.pos)) return PL_ERR_NOMEM;
    }
    return PL_OK;
}

/* Initial symbols of a word: one per byte (byte-level) or per character, with the continuing-subword
 * prefix / end-of-word suffix, <0xNN> byte fallback and (fused) unknowns, in HF's order. */
static int word_symbols(const tk_model *m, tk_bpe_work *w, const char *s, size_t len) {
    w->n_sym = 0;
    int32_t unk = -1, unk_len = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp; int l = m->byte_level ? 1 : tk_utf8_decode(s + i, len - i, &cp);
        if (!l) l = 1;
        const char *k = s + i; size_t kn = (size_t)l;
        if ((m->prefix && i > 0) || (m->suffix && i + l == len)) {
            w->key.n = 0;
            if (m->prefix && i > 0 && tk_buf_put(&w->key, m->prefix, strlen(m->prefix))) return PL_ERR_NOMEM;
            if (tk_buf_put(&w->key, s + i, l)) return PL_ERR_NOMEM;
            if (m->suffix && i + l == len && tk_buf_put(&w->key, m->suffix, strlen(m->suffix))) return PL_ERR_NOMEM;
            k = w->key.p; kn = w->key.n;
        }
        int32_t id = tk_strmap_get(m->byte_level ? &m->bvocab : &m->vocab, k, kn);
        if (id >= 0) {
            if (unk >= 0 && sym_add(w, unk, unk_len)) return PL_ERR_NOMEM;
            unk = -1;
            if (sym_add(w, id, l)) return PL_ERR_NOMEM;
            i += l;
            continue;
        }
        if (m->byte_fallback) {
            bool all = true;
            for (size_t j = 0; j < kn; j++) all = all && m->byte_ids[(uint8_t)k[j]] >= 0;
            if (all) {
                /* k may point into w->key, which sym_add does not touch */
                for (size_t j = 0; j < kn; j++) if (sym_add(w, m->byte_ids[(uint8_t)k[j]], 1)) return PL_ERR_NOMEM;
                i += l;
                continue;
            }
        }
        if (m->unk_id >= 0) {
            if (unk >= 0 && m->fuse_unk) unk_len += l;
            else {
                if (unk >= 0 && sym_add(w, unk, unk_len)) return PL_ERR_NOMEM;
                unk = m->unk_id; unk_len = l;
            }
        }
        i += l;
    }
    if (unk >= 0 && sym_add(w, unk, unk_len)) return PL_ERR_NOMEM;
    return PL_OK;
}

static int cache_get(tk_bpe_work *w, const char *s, size_t len, tk_ids *out) {
    if (!w->cached || len > CACHE_MAX_KEY) return 0;
    int32_t e = tk_strmap_get(&w->cache, s, len);
    if (e < 0) return 0;
    uint64_t ent = w->centry[e];
    for (uint32_t i = 0; i < (uint32_t)ent; i++)
        if (tk_ids_push(out, w->cids[(ent >> 32) + i])) return -1;
    return 1;
}

static void cache_put(tk_bpe_work *w, const char *s, size_t len, const int32_t *ids, int n) {
    if (!w->cached || len > CACHE_MAX_KEY) return;
    if (w->ckeys_n + len > CACHE_KEY_BYTES || w->cids_n + (size_t)n > CACHE_ID_CAP || w->n_entry >= CACHE_MAX_ENTRIES) {
        tk_strmap_free(&w->cache);    /* full: start over rather than evict */
        w->ckeys_n = w->cids_n = w->n_entry = 0;
    }
    memcpy(w->ckeys + w->ckeys_n, s, len);
    memcpy(w->cids + w->cids_n, ids, (size_t)n * sizeof *ids);
    if (tk_strmap_put(&w->cache, w->ckeys + w->ckeys_n, len, (int32_t)w->n_entry)) { w->cached = false; return; }
    w->centry[w->n_entry++] = (uint64_t)w->cids_n << 32 | (uint32_t)n;
    w->ckeys_n += len; w->cids_n += (size_t)n;
}

int tk_bpe_encode(const tk_model *m, tk_bpe_work *w, const char *s, size_t len, tk_ids *out) {
    if (!len) return PL_OK;
    if (m->ignore_merges) {
        int32_t id = tk_strmap_get(m->byte_level ? &m->bvocab : &m->vocab, s, len);
        if (id >= 0) return tk_ids_push(out, id);
    }
    int hit = cache_get(w, s, len, out);
    if (hit) return hit < 0 ? PL_ERR_NOMEM : PL_OK;
    int rc = word_symbols(m, w, s, len);
    if (!rc) rc = merge_all(m, w);
    if (rc) return rc;
    int start = out->n;
    for (int i = 0; i < w->n_sym; i = w->sym[i].next)
        if (tk_ids_push(out, w->sym[i].id)) return PL_ERR_NOMEM;
    cache_put(w, s, len, out->v + start, out->n - start);
    return PL_OK;
}
