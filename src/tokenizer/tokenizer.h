/* Tokenizer internals: the pipeline Hugging Face `tokenizers` runs (added tokens -> normalizer ->
 * pre-tokenizer -> model -> post-processor; decoder chain on the way back), as plain data that both loaders
 * (tokenizer.json in load_json.c, GGUF metadata in load_gguf.c) fill in. Model code: bpe.c, unigram.c,
 * wordpiece.c; text transforms: normalize.c, pretokenize.c; decoding: decode.c; driver: tokenizer.c. */
#ifndef PL_TOKENIZER_INTERNAL_H
#define PL_TOKENIZER_INTERNAL_H

#include "core/common.h"
#include "plinth.h"
#include <pcre2.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- small containers ------------------------------------------------------------------------- */
typedef struct { char *p; size_t n, cap; } tk_buf;             /* growable byte buffer */
int tk_buf_put(tk_buf *b, const void *s, size_t n);            /* PL_OK or PL_ERR_NOMEM */
int tk_buf_putc(tk_buf *b, char c);

/* Open-addressing hash map from byte strings to int32. Keys are NOT copied: they must outlive the map. */
typedef struct { const char *key; uint32_t len, hash; int32_t val; } tk_slot;
typedef struct { tk_slot *slots; size_t cap, n; } tk_strmap;
uint32_t tk_hash(const char *s, size_t n);
int tk_strmap_put(tk_strmap *m, const char *key, size_t len, int32_t val); /* replaces an existing value */
int32_t tk_strmap_get(const tk_strmap *m, const char *key, size_t len);     /* -1 if absent */
void tk_strmap_free(tk_strmap *m);

/* Hash map from a pair of ids to (rank, merged id): BPE merges. */
typedef struct { uint64_t key; int32_t rank, id; } tk_pairslot;
typedef struct { tk_pairslot *slots; size_t cap, n; } tk_pairmap;
int tk_pairmap_put(tk_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
const tk_pairslot *tk_pairmap_get(const tk_pairmap *m, int32_t a, int32_t b);
void tk_pairmap_free(tk_pairmap *m);

/* ---- UTF-8 helpers ---------------------------------------------------------------------------- */
/* Decode one code point at s (n bytes left, n >= 1); returns its byte length, or 0 if invalid there. */
int tk_utf8_decode(const char *s, size_t n, int32_t *cp);
int tk_utf8_encode(int32_t cp, char out[4]);
/* Append s to out with every maximal invalid subsequence replaced by U+FFFD (as Python's
 * bytes.decode("utf-8", "replace") and Rust's String::from_utf8_lossy do). */
int tk_utf8_lossy(tk_buf *out, const char *s, size_t n);
/* Length of the longest prefix of s[0..n) that does not end inside an incomplete (but so far valid)
 * UTF-8 sequence. Used by the streaming decoder. */
size_t tk_utf8_complete_prefix(const char *s, size_t n);
bool tk_is_whitespace(int32_t cp);   /* Rust char::is_whitespace (Unicode White_Space) */
bool tk_is_punct(int32_t cp);        /* ASCII punctuation or Unicode P* (BERT's definition) */

/* ---- normalizers -------------------------------------------------------------------------------- */
typedef enum {
    TK_NORM_NFC, TK_NORM_NFD, TK_NORM_NFKC, TK_NORM_NFKD, TK_NORM_LOWERCASE, TK_NORM_STRIP_ACCENTS,
    TK_NORM_PREPEND, TK_NORM_REPLACE, TK_NORM_BERT, TK_NORM_STRIP, TK_NORM_SEQUENCE,
} tk_norm_kind;

typedef struct tk_norm {
    tk_norm_kind kind;
    char *a, *b;                  /* Prepend: a; Replace: a -> b (string pattern) */
    pcre2_code *re;               /* Replace with a Regex pattern */
    char *re_src;                 /* ... and its source, as the file gave it (for save_json.c) */
    bool clean_text, chinese, strip_accents, lowercase;   /* BertNormalizer */
    bool left, right;             /* Strip */
    struct tk_norm *items; int n_items;                  /* Sequence */
} tk_norm;

int tk_normalize(const tk_norm *n, const char *s, size_t len, tk_buf *out);
void tk_norm_free(tk_norm *n);

/* ---- pre-tokenizers ----------------------------------------------------------------------------- */
typedef enum { TK_SPLIT_REMOVED, TK_SPLIT_ISOLATED, TK_SPLIT_MERGED_PREV, TK_SPLIT_MERGED_NEXT,
               TK_SPLIT_CONTIGUOUS } tk_split_behavior;
typedef enum { TK_PREPEND_ALWAYS, TK_PREPEND_NEVER, TK_PREPEND_FIRST } tk_prepend_scheme;
typedef enum {
    TK_PRE_BYTELEVEL, TK_PRE_SPLIT, TK_PRE_METASPACE, TK_PRE_WHITESPACE, TK_PRE_WHITESPACE_SPLIT,
    TK_PRE_BERT, TK_PRE_DIGITS, TK_PRE_PUNCT, TK_PRE_SEQUENCE,
} tk_pre_kind;

typedef struct tk_pre {
    tk_pre_kind kind;
    pcre2_code *re;               /* ByteLevel (use_regex), Split (Regex), Whitespace */
    char *re_src;                 /* Split (Regex): the pattern's source, for save_json.c */
    char *str; size_t str_len;    /* Split with a String pattern; Metaspace replacement */
    tk_split_behavior behavior;
    bool invert, add_prefix_space, individual_digits, split;
    tk_prepend_scheme prepend;
    struct tk_pre *items; int n_items;
} tk_pre;

/* A list of pieces of text (byte ranges into buf); `first`: the piece starts at offset 0 of the input. */
typedef struct { uint32_t start, len; bool first; } tk_piece;
typedef struct { tk_buf text; tk_piece *p; int n, cap; } tk_pieces;
int tk_pieces_add(tk_pieces *ps, const char *s, size_t len, bool first);
void tk_pieces_clear(tk_pieces *ps);
void tk_pieces_free(tk_pieces *ps);
/* Replace the pieces in *ps by their pre-tokenization (scratch is a work list). */
int tk_pretokenize(const tk_pre *pre, tk_pieces *ps, tk_pieces *scratch);
void tk_pre_free(tk_pre *p);
pcre2_code *tk_regex_compile(const char *pattern, size_t len);   /* UTF + UCP, JIT when available */
bool tk_pre_has_bytelevel(const tk_pre *p);

/* ---- models ------------------------------------------------------------------------------------- */
typedef enum { TK_MODEL_BPE, TK_MODEL_UNIGRAM, TK_MODEL_WORDPIECE } tk_model_kind;

typedef struct {
    tk_model_kind kind;
    int n_vocab;                  /* model ids are 0..n_vocab-1 (sparse vocabularies leave NULL holes) */
    char **tokens; uint32_t *token_len;   /* id -> token string as in the file (e.g. "Ġhello", "▁hi") */
    tk_strmap vocab;              /* token string -> id (keys: tokens[]) */
    int32_t unk_id;               /* -1 if none */
    /* BPE */
    bool byte_level;              /* pieces are raw bytes; vocab also indexed by raw bytes (bvocab) */
    char **btokens; uint32_t *btoken_len; tk_strmap bvocab;
    tk_pairmap merges;
    bool merges_by_score;         /* SentencePiece BPE without merges: merge the pair with the best score */
    float *scores;                /* SPM/Unigram scores (NULL if none) */
    char *prefix, *suffix;        /* BPE continuing_subword_prefix / end_of_word_suffix; WordPiece "##" */
    bool fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_ids[256];        /* byte fallback <0xNN> ids (-1 if absent) */
    /* Unigram */
    double *uscores; double min_score; int max_piece_bytes;
    /* WordPiece */
    int max_input_chars;
    int32_t *score_rank;          /* merges_by_score: id -> rank (0 = best score) */
} tk_model;

/* Encode one pre-tokenized piece; appends ids to *out (grown as needed). */
typedef struct { int32_t *v; int n, cap; } tk_ids;
int tk_ids_push(tk_ids *ids, int32_t id);
/* Per-call BPE work space (symbols, merge queue, an optional word cache): keeps the tokenizer read-only
 * so that one pl_tokenizer can encode on many threads at once. */
typedef struct tk_bpe_work tk_bpe_work;
tk_bpe_work *tk_bpe_work_new(bool with_cache);
void tk_bpe_work_free(tk_bpe_work *w);
int tk_bpe_encode(const tk_model *m, tk_bpe_work *w, const char *s, size_t len, tk_ids *out);
int tk_unigram_encode(const tk_model *m, const char *s, size_t len, tk_ids *out);
int tk_wordpiece_encode(const tk_model *m, const char *s, size_t len, tk_ids *out);
int tk_bpe_prepare(tk_model *m);
/* Byte-level token ("Ġhi") -> raw bytes (" hi"); false if a char is outside GPT-2's byte alphabet. */
bool tk_bytelevel_to_bytes(const char *s, size_t n, tk_buf *out);        /* after loading: raw-byte vocab, byte-fallback ids */
void tk_model_free(tk_model *m);

/* ---- decoders ------------------------------------------------------------------------------------ */
typedef enum { TK_DEC_BYTELEVEL, TK_DEC_METASPACE, TK_DEC_WORDPIECE, TK_DEC_BYTEFALLBACK, TK_DEC_FUSE,
               TK_DEC_STRIP, TK_DEC_REPLACE, TK_DEC_BPE, TK_DEC_SEQUENCE } tk_dec_kind;
typedef struct tk_dec {
    tk_dec_kind kind;
    char *a, *b;                  /* Metaspace replacement; WordPiece prefix; Replace a -> b; BPE suffix; Strip content */
    tk_prepend_scheme prepend;
    bool cleanup;
    int start, stop;              /* Strip */
    struct tk_dec *items; int n_items;
} tk_dec;
void tk_dec_free(tk_dec *d);

/* ---- post-processor (what add_special adds) ------------------------------------------------------- */
typedef struct { int32_t *pre; int n_pre; int32_t *post; int n_post; } tk_post;

/* ---- added tokens -------------------------------------------------------------------------------- */
typedef struct {
    char *content; uint32_t len; int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
} tk_added;

struct pl_tokenizer {
    tk_model model;
    tk_norm *norm;                /* NULL: none */
    tk_pre *pre;                  /* NULL: none */
    tk_dec *dec;                  /* NULL: join tokens with " " (HF's default) */
    tk_post post;
    tk_added *added; int n_added;  /* sorted longest first by tk_finish */
    uint8_t added_fb[256];        /* first bytes of added tokens: bit 1 raw-matched, bit 2 normalized */
    int n_total;                  /* max id + 1 over model + added tokens */
    char **id_str; uint32_t *id_len; /* id -> string for decoding (model or added) */
    bool *id_special;
    int32_t bos_id, eos_id, pad_id;
    /* Carried for pl_tokenizer_save_hf only (encoding never reads them): GGUF tokenizer.chat_template and
     * <arch>.context_length, or a model directory's tokenizer_config.json / chat_template.jinja. */
    char *chat_template;          /* NULL: none */
    int64_t model_max_length;     /* -1: unknown */
};

/* Loaders fill a zeroed pl_tokenizer; tokenizer.c finishes it (tk_finish). */
int tk_load_json(pl_tokenizer *t, const char *json, size_t len);
int tk_load_gguf(pl_tokenizer *t, const char *path);
int tk_finish(pl_tokenizer *t);
int tk_add_added(pl_tokenizer *t, const char *content, size_t len, int32_t id, bool special, bool lstrip,
                 bool rstrip, bool single_word, bool normalized);
int tk_decode_tokens(const pl_tokenizer *t, const int32_t *ids, int n, bool skip_special, tk_buf *out);
bool tk_decode_tail_open(const pl_tokenizer *t, const int32_t *ids, int n, bool skip_special);

#endif
