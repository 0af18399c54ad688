/* Fashion-MNIST, captions and a word-level tokenizer for plinth clip train (clip_data.h). */
#include "tasks/clip_data.h"
#include "core/common.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <zlib.h>

static const char *const k_labels[PL_FMNIST_CLASSES] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                                         "sandal", "shirt", "sneaker", "bag", "ankle boot"};
static const char *const k_templates[] = {"a photo of a {}.", "a picture of a {}.", "an image of a {}.", "a {}.",
                                          "a photo of the {}, a piece of clothing.", "a black and white photo of a {}.",
                                          "a low resolution photo of a {}.", "{}"};

const char *pl_fmnist_label(int k) { return k >= 0 && k < PL_FMNIST_CLASSES ? k_labels[k] : "?"; }
int pl_clip_n_templates(void) { return (int)PL_ARRAY_LEN(k_templates); }
const char *pl_clip_template(int i) { return k_templates[i]; }

char *pl_clip_caption(int template_i, const char *label) {
    const char *t = k_templates[template_i], *at = strstr(t, "{}");
    size_t n = strlen(t) + strlen(label);
    char *s = pl_malloc(n);
    if (s) snprintf(s, n, "%.*s%s%s", (int)(at - t), t, label, at + 2);
    return s;
}

/* a whole IDX file (gzipped or not): gzread reads both */
static uint8_t *read_idx(const char *dir, const char *name, size_t *len) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    gzFile f = gzopen(path, "rb");
    if (!f) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        f = gzopen(path, "rb");
    }
    if (!f) return pl_error_null(PL_ERR_IO, "cannot open %s/%s(.gz): Fashion-MNIST's IDX files are there after "
                                 "`apt install dataset-fashion-mnist`", dir, name);
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = pl_malloc(cap);
    int got;
    while (buf && (got = gzread(f, buf + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)got;
        if (n == cap) {
            uint8_t *nb = pl_realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; }
            buf = nb;
        }
    }
    gzclose(f);
    *len = n;
    return buf;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

int pl_fmnist_load(const char *dir, bool train, pl_fmnist *d) {
    *d = (pl_fmnist){0};
    size_t ni = 0, nl = 0;
    uint8_t *im = read_idx(dir, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte", &ni);
    uint8_t *lb = im ? read_idx(dir, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte", &nl) : NULL;
    int rc = im && lb ? PL_OK : PL_ERR_IO;
    if (!rc && (ni < 16 || nl < 8 || be32(im) != 0x803 || be32(lb) != 0x801))
        rc = pl_error(PL_ERR_FORMAT, "%s: not Fashion-MNIST's IDX files (magic numbers)", dir);
    if (!rc) {
        uint32_t n = be32(im + 4), h = be32(im + 8), w = be32(im + 12);
        if (be32(lb + 4) != n || n == 0 || h == 0 || w == 0 || h > 4096 || w > 4096 || ni < 16 + (size_t)n * h * w || nl < 8 + (size_t)n)
            rc = pl_error(PL_ERR_FORMAT, "%s: the IDX files are truncated or disagree (%u images of %u x %u)", dir, n, h, w);
        else {
            d->n = (int)n; d->h = (int)h; d->w = (int)w;
            d->pixels = pl_malloc((size_t)n * h * w);
            d->labels = pl_malloc(n);
            if (!d->pixels || !d->labels) rc = PL_ERR_NOMEM;
            else {
                memcpy(d->pixels, im + 16, (size_t)n * h * w);
                memcpy(d->labels, lb + 8, n);
                for (uint32_t i = 0; i < n && !rc; i++)
                    if (d->labels[i] >= PL_FMNIST_CLASSES) rc = pl_error(PL_ERR_FORMAT, "%s: label %d out of range", dir, d->labels[i]);
            }
        }
    }
    free(im);
    free(lb);
    if (rc) pl_fmnist_free(d);
    return rc;
}

void pl_fmnist_free(pl_fmnist *d) {
    free(d->pixels);
    free(d->labels);
    *d = (pl_fmnist){0};
}

/* ---- the word-level tokenizer ---------------------------------------------------------------------------- */
static bool has_word(cJSON *vocab, const char *w) { return cJSON_GetObjectItemCaseSensitive(vocab, w) != NULL; }

/* the words of text as BertPreTokenizer cuts them: runs of letters/digits, and each punctuation mark alone */
static void add_words(cJSON *vocab, const char *text, int *next) {
    char w[128];
    for (const char *p = text; *p;) {
        int n = 0;
        if (isalnum((unsigned char)*p)) {
            while (isalnum((unsigned char)*p) && n < 127) w[n++] = (char)tolower((unsigned char)*p++);
        } else if (ispunct((unsigned char)*p)) {
            w[n++] = *p++;
        } else {
            p++;
            continue;
        }
        w[n] = 0;
        if (!has_word(vocab, w)) cJSON_AddNumberToObject(vocab, w, (*next)++);
    }
}

static cJSON *special(const char *tok, int id) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", id);
    cJSON_AddStringToObject(o, "content", tok);
    cJSON_AddBoolToObject(o, "single_word", 0);
    cJSON_AddBoolToObject(o, "lstrip", 0);
    cJSON_AddBoolToObject(o, "rstrip", 0);
    cJSON_AddBoolToObject(o, "normalized", 0);
    cJSON_AddBoolToObject(o, "special", 1);
    return o;
}

static cJSON *template_piece(const char *kind, const char *id) {
    cJSON *o = cJSON_CreateObject(), *in = cJSON_AddObjectToObject(o, kind);
    cJSON_AddStringToObject(in, "id", id);
    cJSON_AddNumberToObject(in, "type_id", 0);
    return o;
}

int pl_clip_write_word_tokenizer(const char *dir, const char *const *texts, int n) {
    static const char *const specials[] = {"[PAD]", "[UNK]", "[MASK]", "[CLS]", "[SEP]"};
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int i = 0; i < 5; i++) cJSON_AddItemToArray(added, special(specials[i], i));
    cJSON *norm = cJSON_AddObjectToObject(root, "normalizer");
    cJSON_AddStringToObject(norm, "type", "BertNormalizer");
    cJSON_AddBoolToObject(norm, "clean_text", 1);
    cJSON_AddBoolToObject(norm, "handle_chinese_chars", 1);
    cJSON_AddNullToObject(norm, "strip_accents");
    cJSON_AddBoolToObject(norm, "lowercase", 1);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "pre_tokenizer"), "type", "BertPreTokenizer");
    cJSON *post = cJSON_AddObjectToObject(root, "post_processor");
    cJSON_AddStringToObject(post, "type", "TemplateProcessing");
    cJSON *single = cJSON_AddArrayToObject(post, "single");
    cJSON_AddItemToArray(single, template_piece("SpecialToken", "[CLS]"));
    cJSON_AddItemToArray(single, template_piece("Sequence", "A"));
    cJSON_AddItemToArray(single, template_piece("SpecialToken", "[SEP]"));
    cJSON *pair = cJSON_AddArrayToObject(post, "pair");
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", "[CLS]"));
    cJSON_AddItemToArray(pair, template_piece("Sequence", "A"));
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", "[SEP]"));
    cJSON_AddItemToArray(pair, template_piece("Sequence", "B"));
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", "[SEP]"));
    cJSON *st = cJSON_AddObjectToObject(post, "special_tokens");
    for (int i = 3; i < 5; i++) {
        cJSON *o = cJSON_AddObjectToObject(st, specials[i]);
        cJSON_AddStringToObject(o, "id", specials[i]);
        cJSON_AddItemToObject(o, "ids", cJSON_CreateIntArray((int[]){i}, 1));
        cJSON_AddItemToObject(o, "tokens", cJSON_CreateStringArray((const char *[]){specials[i]}, 1));
    }
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "WordPiece");
    cJSON_AddStringToObject(dec, "prefix", "##");
    cJSON_AddBoolToObject(dec, "cleanup", 1);
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "WordPiece");
    cJSON_AddStringToObject(model, "unk_token", "[UNK]");
    cJSON_AddStringToObject(model, "continuing_subword_prefix", "##");
    cJSON_AddNumberToObject(model, "max_input_chars_per_word", 100);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    int next = 0;
    for (int i = 0; i < 5; i++) cJSON_AddNumberToObject(vocab, specials[i], next++);
    for (int i = 0; i < n; i++) add_words(vocab, texts[i], &next);
    char *js = cJSON_Print(root);
    cJSON_Delete(root);
    if (!js) return PL_ERR_NOMEM;
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = pl_write_file_atomic(path, js, strlen(js));
    free(js);
    return rc;
}

/* ---- image-caption pairs from JSONL ------------------------------------------------------------------------ */
static int caption_index(pl_clip_pairs *p, const char *text, int *cap) {
    for (int i = p->n_captions - 1; i >= 0; i--) /* repeated captions tend to be near each other */
        if (!strcmp(p->captions[i], text)) return i;
    if (p->n_captions == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        char **c = pl_realloc(p->captions, (size_t)nc * sizeof *c);
        if (!c) return -1;
        p->captions = c;
        *cap = nc;
    }
    char *s = pl_malloc(strlen(text) + 1);
    if (!s) return -1;
    strcpy(s, text);
    p->captions[p->n_captions] = s;
    return p->n_captions++;
}

int pl_clip_pairs_load(const char *jsonl, pl_clip_pairs *p) {
    *p = (pl_clip_pairs){0};
    size_t len = 0;
    char *text = pl_read_file(jsonl, &len);
    if (!text) return PL_ERR_IO;
    const char *slash = strrchr(jsonl, '/');
    int dir_len = slash ? (int)(slash - jsonl) : 0, cap = 0, cap_c = 0, line = 0, rc = PL_OK;
    for (char *s = text; s < text + len && !rc;) {
        char *end = memchr(s, '\n', (size_t)(text + len - s));
        if (!end) end = text + len;
        *end = 0;
        line++;
        char *q = s;
        s = end + 1;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (!*q) continue;
        cJSON *o = cJSON_Parse(q);
        const cJSON *im = cJSON_GetObjectItemCaseSensitive(o, "image"), *ca = cJSON_GetObjectItemCaseSensitive(o, "caption");
        if (!ca) ca = cJSON_GetObjectItemCaseSensitive(o, "text");
        if (!cJSON_IsObject(o)) rc = pl_error(PL_ERR_FORMAT, "%s:%d: not a JSON object", jsonl, line);
        else if (!cJSON_IsString(im) || !*im->valuestring || !cJSON_IsString(ca) || !*ca->valuestring)
            rc = pl_error(PL_ERR_FORMAT, "%s:%d: expected {\"image\": PATH, \"caption\": TEXT} with both non-empty", jsonl, line);
        if (!rc && p->n == cap) {
            cap = cap ? 2 * cap : 256;
            char **np = pl_realloc(p->paths, (size_t)cap * sizeof *np);
            if (np) p->paths = np;
            int *nc = np ? pl_realloc(p->caption, (size_t)cap * sizeof *nc) : NULL;
            if (nc) p->caption = nc;
            if (!np || !nc) rc = PL_ERR_NOMEM;
        }
        if (!rc) {
            const char *path = im->valuestring;
            size_t n = strlen(path) + (size_t)dir_len + 2;
            char *full = pl_malloc(n);
            int ci = caption_index(p, ca->valuestring, &cap_c);
            if (!full || ci < 0) { free(full); rc = PL_ERR_NOMEM; }
            else {
                if (path[0] == '/' || !dir_len) snprintf(full, n, "%s", path);
                else snprintf(full, n, "%.*s/%s", dir_len, jsonl, path);
                p->paths[p->n] = full;
                p->caption[p->n++] = ci;
            }
        }
        cJSON_Delete(o);
    }
    free(text);
    if (!rc && !p->n) rc = pl_error(PL_ERR_FORMAT, "%s: no image-caption pairs in the file", jsonl);
    if (rc) pl_clip_pairs_free(p);
    return rc;
}

void pl_clip_pairs_free(pl_clip_pairs *p) {
    for (int i = 0; i < p->n; i++) free(p->paths[i]);
    for (int i = 0; i < p->n_captions; i++) free(p->captions[i]);
    free(p->paths);
    free(p->caption);
    free(p->captions);
    *p = (pl_clip_pairs){0};
}

int pl_clip_pairs_split(pl_clip_pairs *p, int n_tail, pl_clip_pairs *tail) {
    *tail = (pl_clip_pairs){0};
    if (n_tail < 1 || n_tail >= p->n) return pl_error(PL_ERR_ARG, "cannot hold out %d of %d pairs", n_tail, p->n);
    tail->paths = pl_malloc((size_t)n_tail * sizeof *tail->paths);
    tail->caption = pl_malloc((size_t)n_tail * sizeof *tail->caption);
    if (!tail->paths || !tail->caption) { pl_clip_pairs_free(tail); return PL_ERR_NOMEM; }
    int cap = 0, first = p->n - n_tail;
    for (int i = first; i < p->n; i++) {
        int ci = caption_index(tail, p->captions[p->caption[i]], &cap);
        if (ci < 0) { pl_clip_pairs_free(tail); return PL_ERR_NOMEM; }
        tail->paths[tail->n] = p->paths[i]; /* moved */
        tail->caption[tail->n++] = ci;
    }
    p->n = first;
    return PL_OK;
}
