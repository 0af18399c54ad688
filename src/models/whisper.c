/* Whisper's encoder and decoder on plinth's graph (see whisper.h): loading (HF safetensors or CTranslate2
 * model.bin, through the role table of io/whisper_names.c), the encoder graph of one 30-s window, which also
 * fills every decoder layer's cross-attention keys and values, and the decoder step over a batch of text tokens
 * whose self-attention keys and values go into the KV cache of cells (models/kv_cache.c). */
#include "models/whisper.h"
#include "io/ct2.h"
#include "io/hfconfig.h"
#include "io/safetensors.h"
#include "io/whisper_names.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- loading ------------------------------------------------------------------------------------------------- */
typedef struct {
    pl_whisper *w;
    pl_ct2 *ct2;
    pl_st_model *st;
    bool failed;
} wh_loader;


/* The decoder's per-token weights (and the token embedding, which also gives the logits): one row of activations
 * meets each of them per step, so their bytes, not their arithmetic, bound a step's time. Stored as f16 in the file,
 * they stay f16 in memory (half the bytes read per token); the dot products widen each weight to f32 and accumulate
 * in f32 with f32 activations (pl_vec_dot_f16_f32), so the values multiplied are those of the f32 copy. */
static bool wh_per_token(pl_whisper_role r) {
    return r == WH_TOK || r == WH_D_Q_W || r == WH_D_K_W || r == WH_D_V_W || r == WH_D_O_W || r == WH_D_XQ_W ||
           r == WH_D_XO_W || r == WH_D_FC1_W || r == WH_D_FC2_W;
}

/* The weight of a role (layer l) as a tensor of shape ne (torch order reversed: ne[0] innermost): f32, or f16 for a
 * per-token decoder weight stored as f16 (wh_per_token); the file's tensor must have exactly that many elements per
 * the role's share of it, and the same torch shape. */
static pl_tensor *wh_get(wh_loader *L, pl_whisper_role role, int l, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2) {
    if (L->failed) return NULL;
    pl_whisper *w = L->w;
    const pl_whisper_name *nm = pl_whisper_name_of(role);
    char name[256];
    snprintf(name, sizeof name, L->ct2 ? nm->ct2 : nm->hf, l);
    int64_t want[3] = {ne0, ne1, ne2}, n = 1;
    for (int d = 0; d < n_dims; d++) n *= want[d];
    int64_t shape[4] = {1, 1, 1, 1}; /* the file's, torch order */
    int rank;
    int parts = L->ct2 ? nm->parts : 1, part = L->ct2 ? nm->part : 0;
    bool half = false;
    if (wh_per_token(role)) {
        const pl_ct2_var *v = L->ct2 ? pl_ct2_find(L->ct2, name) : NULL;
        const pl_st_tensor *t = L->ct2 ? NULL : pl_st_model_find(L->st, name);
        half = v ? v->type == PL_F16 : t ? t->type == PL_F16 : false;
    }
    float *f = pl_owned_alloc(&w->owned, (half ? (size_t)(n + 1) / 2 : (size_t)n) * sizeof(float));
    if (!f) { L->failed = true; pl_error(PL_ERR_NOMEM, "out of memory for weight '%s'", name); return NULL; }
    if (L->ct2) {
        const pl_ct2_var *v = pl_ct2_find(L->ct2, name);
        if (!v) { L->failed = true; return pl_error_null(PL_ERR_FORMAT, "%s: tensor '%s' is missing", w->path, name); }
        rank = v->rank;
        memcpy(shape, v->shape, sizeof shape);
        if (rank >= 1 && shape[0] % parts == 0) shape[0] /= parts; /* our share: a block of rows */
        else if (parts > 1) rank = -1;
        int64_t vn = 1;
        for (int d = 0; d < rank; d++) vn *= shape[d];
        if (rank == n_dims && vn == n && half) memcpy(f, (const char *)v->data + (size_t)(part * n) * 2, (size_t)n * 2);
        else if (rank == n_dims && vn == n && pl_ct2_to_f32(v, part * n, n, f) != PL_OK) { L->failed = true; return NULL; }
    } else {
        const pl_st_tensor *t = pl_st_model_find(L->st, name);
        if (!t) { L->failed = true; return pl_error_null(PL_ERR_FORMAT, "%s: tensor '%s' is missing", w->path, name); }
        rank = t->n_dims;
        for (int d = 0; d < rank && d < 4; d++) shape[d] = t->shape[d];
        const pl_type_traits *tr = pl_dtype_traits(t->type);
        if (rank == n_dims && t->numel == n) {
            if (!tr || !tr->to_float || (t->type != PL_F32 && t->type != PL_F16 && t->type != PL_BF16)) {
                L->failed = true;
                return pl_error_null(PL_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s", w->path, name, t->dtype_name);
            }
            if (half) memcpy(f, t->data, (size_t)n * 2);
            else tr->to_float(t->data, f, n);
        }
    }
    bool ok = rank == n_dims;
    for (int d = 0; ok && d < n_dims; d++) ok = shape[n_dims - 1 - d] == want[d];
    if (!ok) {
        L->failed = true;
        return pl_error_null(PL_ERR_FORMAT, "%s: tensor '%s'%s has shape [%lld, %lld, %lld] (rank %d), expected [%lld, %lld, "
                             "%lld] from the hyper-parameters", w->path, name, parts > 1 ? " (its share)" : "",
                             (long long)shape[0], (long long)shape[1], (long long)shape[2], rank,
                             (long long)(n_dims > 2 ? ne2 : n_dims > 1 ? ne1 : ne0), (long long)(n_dims > 2 ? ne1 : n_dims > 1 ? ne0 : 0),
                             (long long)(n_dims > 2 ? ne0 : 0));
    }
    pl_tensor *t = pl_new_mapped(w->wctx, half ? PL_F16 : PL_F32, n_dims, want, f);
    if (!t) { L->failed = true; return NULL; }
    pl_set_name(t, "%s", name);
    return t;
}

static int wh_count_layers(wh_loader *L, const char *ct2_fmt, const char *hf_fmt) {
    char name[256];
    for (int l = 0; l < 1000; l++) {
        snprintf(name, sizeof name, L->ct2 ? ct2_fmt : hf_fmt, l);
        if (L->ct2 ? !pl_ct2_find(L->ct2, name) : !pl_st_model_find(L->st, name)) return l;
    }
    return 0;
}

static int64_t wh_dim(wh_loader *L, pl_whisper_role role, int d) { /* torch-order dim d of a whole-model weight */
    const pl_whisper_name *nm = pl_whisper_name_of(role);
    if (L->ct2) {
        const pl_ct2_var *v = pl_ct2_find(L->ct2, nm->ct2);
        return v && d < v->rank ? v->shape[d] : 0;
    }
    const pl_st_tensor *t = pl_st_model_find(L->st, nm->hf);
    return t && d < t->n_dims ? t->shape[d] : 0;
}

static int wh_hparams(wh_loader *L, const char *dir) {
    pl_whisper_hparams *h = &L->w->hp;
    h->n_audio_state = (int)wh_dim(L, WH_CONV1_W, 0);
    h->n_mels = (int)wh_dim(L, WH_CONV1_W, 1);
    h->n_audio_ctx = (int)wh_dim(L, WH_ENC_POS, 0);
    h->n_vocab = (int)wh_dim(L, WH_TOK, 0);
    h->n_text_state = (int)wh_dim(L, WH_TOK, 1);
    h->n_text_ctx = (int)wh_dim(L, WH_DEC_POS, 0);
    h->n_audio_layer = wh_count_layers(L, "encoder/layer_%d/ffn/linear_0/weight", "model.encoder.layers.%d.fc1.weight");
    h->n_text_layer = wh_count_layers(L, "decoder/layer_%d/ffn/linear_0/weight", "model.decoder.layers.%d.fc1.weight");
    if (L->ct2) {
        h->n_audio_head = (int)pl_ct2_get_int(L->ct2, "encoder/num_heads", 0);
        h->n_text_head = (int)pl_ct2_get_int(L->ct2, "decoder/num_heads", 0);
        const pl_ct2_var *fe = pl_ct2_find(L->ct2, "encoder/layer_0/ffn/linear_0/weight");
        const pl_ct2_var *fd = pl_ct2_find(L->ct2, "decoder/layer_0/ffn/linear_0/weight");
        h->n_ff_enc = fe ? (int)fe->shape[0] : 0;
        h->n_ff_dec = fd ? (int)fd->shape[0] : 0;
    } else {
        pl_hfconfig *c = pl_hfconfig_load(dir);
        if (!c) return PL_ERR_FORMAT;
        const char *mt = pl_hfconfig_get_str(c, "model_type");
        if (!mt || strcmp(mt, "whisper")) {
            int rc = pl_error(PL_ERR_UNSUPPORTED, "%s: model_type '%s' is not whisper", dir, mt ? mt : "(none)");
            pl_hfconfig_free(c);
            return rc;
        }
        h->n_audio_head = (int)pl_hfconfig_get_int(c, "encoder_attention_heads", 0);
        h->n_text_head = (int)pl_hfconfig_get_int(c, "decoder_attention_heads", 0);
        h->n_ff_enc = (int)pl_hfconfig_get_int(c, "encoder_ffn_dim", 0);
        h->n_ff_dec = (int)pl_hfconfig_get_int(c, "decoder_ffn_dim", 0);
        pl_hfconfig_free(c);
    }
    if (h->n_audio_state <= 0 || h->n_mels <= 0 || h->n_audio_ctx <= 0 || h->n_vocab <= 0 || h->n_text_ctx <= 0 ||
        h->n_audio_layer <= 0 || h->n_text_layer <= 0 || h->n_audio_head <= 0 || h->n_text_head <= 0 ||
        h->n_audio_state % h->n_audio_head || h->n_text_state % h->n_text_head || h->n_ff_enc <= 0 || h->n_ff_dec <= 0 ||
        h->n_text_state != h->n_audio_state)
        return pl_error(PL_ERR_FORMAT, "%s: not a complete Whisper model (missing or inconsistent hyper-parameters)", dir);
    return PL_OK;
}

static void wh_attn_weights(wh_loader *L, pl_whisper_layer *y, int l, bool dec, int64_t C) {
    int o = dec ? WH_D_LN1_W - WH_E_LN1_W : 0;
    y->ln1_w = wh_get(L, WH_E_LN1_W + o, l, 1, C, 0, 0);
    y->ln1_b = wh_get(L, WH_E_LN1_B + o, l, 1, C, 0, 0);
    y->q_w = wh_get(L, WH_E_Q_W + o, l, 2, C, C, 0);
    y->q_b = wh_get(L, WH_E_Q_B + o, l, 1, C, 0, 0);
    y->k_w = wh_get(L, WH_E_K_W + o, l, 2, C, C, 0);
    y->v_w = wh_get(L, WH_E_V_W + o, l, 2, C, C, 0);
    y->v_b = wh_get(L, WH_E_V_B + o, l, 1, C, 0, 0);
    y->o_w = wh_get(L, WH_E_O_W + o, l, 2, C, C, 0);
    y->o_b = wh_get(L, WH_E_O_B + o, l, 1, C, 0, 0);
}

static int wh_weights(wh_loader *L) {
    pl_whisper *w = L->w;
    const pl_whisper_hparams *h = &w->hp;
    int64_t C = h->n_audio_state;
    w->conv1_w = wh_get(L, WH_CONV1_W, 0, 3, 3, h->n_mels, C);
    w->conv1_b = wh_get(L, WH_CONV1_B, 0, 1, C, 0, 0);
    w->conv2_w = wh_get(L, WH_CONV2_W, 0, 3, 3, C, C);
    w->conv2_b = wh_get(L, WH_CONV2_B, 0, 1, C, 0, 0);
    w->enc_pos = wh_get(L, WH_ENC_POS, 0, 2, C, h->n_audio_ctx, 0);
    w->enc_ln_w = wh_get(L, WH_ENC_LN_W, 0, 1, C, 0, 0);
    w->enc_ln_b = wh_get(L, WH_ENC_LN_B, 0, 1, C, 0, 0);
    w->tok = wh_get(L, WH_TOK, 0, 2, C, h->n_vocab, 0);
    w->dec_pos = wh_get(L, WH_DEC_POS, 0, 2, C, h->n_text_ctx, 0);
    w->dec_ln_w = wh_get(L, WH_DEC_LN_W, 0, 1, C, 0, 0);
    w->dec_ln_b = wh_get(L, WH_DEC_LN_B, 0, 1, C, 0, 0);
    for (int l = 0; l < h->n_audio_layer; l++) {
        pl_whisper_layer *y = &w->enc[l];
        wh_attn_weights(L, y, l, false, C);
        y->ln2_w = wh_get(L, WH_E_LN2_W, l, 1, C, 0, 0);
        y->ln2_b = wh_get(L, WH_E_LN2_B, l, 1, C, 0, 0);
        y->fc1_w = wh_get(L, WH_E_FC1_W, l, 2, C, h->n_ff_enc, 0);
        y->fc1_b = wh_get(L, WH_E_FC1_B, l, 1, h->n_ff_enc, 0, 0);
        y->fc2_w = wh_get(L, WH_E_FC2_W, l, 2, h->n_ff_enc, C, 0);
        y->fc2_b = wh_get(L, WH_E_FC2_B, l, 1, C, 0, 0);
    }
    for (int l = 0; l < h->n_text_layer; l++) {
        pl_whisper_layer *y = &w->dec[l];
        wh_attn_weights(L, y, l, true, C);
        y->lnx_w = wh_get(L, WH_D_LNX_W, l, 1, C, 0, 0);
        y->lnx_b = wh_get(L, WH_D_LNX_B, l, 1, C, 0, 0);
        y->xq_w = wh_get(L, WH_D_XQ_W, l, 2, C, C, 0);
        y->xq_b = wh_get(L, WH_D_XQ_B, l, 1, C, 0, 0);
        y->xk_w = wh_get(L, WH_D_XK_W, l, 2, C, C, 0);
        y->xv_w = wh_get(L, WH_D_XV_W, l, 2, C, C, 0);
        y->xv_b = wh_get(L, WH_D_XV_B, l, 1, C, 0, 0);
        y->xo_w = wh_get(L, WH_D_XO_W, l, 2, C, C, 0);
        y->xo_b = wh_get(L, WH_D_XO_B, l, 1, C, 0, 0);
        y->ln2_w = wh_get(L, WH_D_LN2_W, l, 1, C, 0, 0);
        y->ln2_b = wh_get(L, WH_D_LN2_B, l, 1, C, 0, 0);
        y->fc1_w = wh_get(L, WH_D_FC1_W, l, 2, C, h->n_ff_dec, 0);
        y->fc1_b = wh_get(L, WH_D_FC1_B, l, 1, h->n_ff_dec, 0, 0);
        y->fc2_w = wh_get(L, WH_D_FC2_W, l, 2, h->n_ff_dec, C, 0);
        y->fc2_b = wh_get(L, WH_D_FC2_B, l, 1, C, 0, 0);
    }
    return L->failed ? PL_ERR_FORMAT : PL_OK;
}

/* dir: the model directory; *bin: whether it holds a CTranslate2 model.bin */
static bool wh_locate(const char *path, char *dir, size_t cap, bool *bin) {
    struct stat st;
    if (stat(path, &st) != 0) return false;
    snprintf(dir, cap, "%s", path);
    if (!S_ISDIR(st.st_mode)) { /* a file: its directory */
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, cap, ".");
    }
    char p[1100];
    snprintf(p, sizeof p, "%s/model.bin", dir);
    *bin = stat(p, &st) == 0;
    if (*bin) return true;
    snprintf(p, sizeof p, "%s/config.json", dir);
    return stat(p, &st) == 0;
}

bool pl_whisper_path_ok(const char *path) {
    char dir[1024];
    bool bin;
    if (!wh_locate(path, dir, sizeof dir, &bin)) return false;
    if (bin) {
        char p[1100];
        snprintf(p, sizeof p, "%s/model.bin", dir);
        pl_ct2 *m = pl_ct2_open(p);
        bool ok = m && !strcmp(pl_ct2_spec(m), "WhisperSpec");
        pl_ct2_close(m);
        return ok;
    }
    pl_hfconfig *c = pl_hfconfig_load(dir);
    const char *mt = c ? pl_hfconfig_get_str(c, "model_type") : NULL;
    bool ok = mt && !strcmp(mt, "whisper");
    pl_hfconfig_free(c);
    return ok;
}

pl_whisper *pl_whisper_load(const char *path, int n_threads, int n_seq) {
    char dir[1024];
    bool bin;
    if (!wh_locate(path, dir, sizeof dir, &bin))
        return pl_error_null(PL_ERR_IO, "%s: no Whisper model there (a directory with model.bin, or config.json + "
                             "*.safetensors)", path);
    pl_whisper *w = calloc(1, sizeof *w);
    if (!w) return pl_error_null(PL_ERR_NOMEM, "out of memory");
    snprintf(w->path, sizeof w->path, "%s", dir);
    wh_loader L = {.w = w};
    char p[1100];
    int rc = PL_OK;
    if (bin) {
        snprintf(p, sizeof p, "%s/model.bin", dir);
        L.ct2 = pl_ct2_open(p);
        if (!L.ct2) rc = PL_ERR_FORMAT;
        else if (strcmp(pl_ct2_spec(L.ct2), "WhisperSpec"))
            rc = pl_error(PL_ERR_UNSUPPORTED, "%s: a CTranslate2 %s, not a Whisper model", p, pl_ct2_spec(L.ct2));
        w->from_ct2 = true;
    } else {
        L.st = pl_st_model_open(dir);
        if (!L.st) rc = PL_ERR_FORMAT;
    }
    if (rc == PL_OK) rc = wh_hparams(&L, dir);
    if (rc == PL_OK) {
        w->wctx = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 1 << 20, .n_threads = 1});
        w->step = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 64u << 20, .n_threads = n_threads});
        w->step_few = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 4u << 20, .n_threads = 1});
        w->enc = calloc((size_t)w->hp.n_audio_layer, sizeof *w->enc);
        w->dec = calloc((size_t)w->hp.n_text_layer, sizeof *w->dec);
        w->cross_k = calloc((size_t)w->hp.n_text_layer, sizeof *w->cross_k);
        w->cross_v = calloc((size_t)w->hp.n_text_layer, sizeof *w->cross_v);
        rc = w->wctx && w->step && w->step_few && w->enc && w->dec && w->cross_k && w->cross_v ? wh_weights(&L)
                                                                              : pl_error(PL_ERR_NOMEM, "out of memory");
    }
    pl_ct2_close(L.ct2);
    pl_st_model_close(L.st);
    if (rc == PL_OK) {
        const pl_whisper_hparams *h = &w->hp;
        int64_t D = h->n_text_state / h->n_text_head;
        if (n_seq < 1) n_seq = 1;
        w->cache = pl_kv_cache_new(w->wctx, h->n_text_layer, D, h->n_text_head, n_seq * h->n_text_ctx, PL_F32);
        for (int l = 0; w->cache && l < h->n_text_layer; l++) {
            w->cross_k[l] = pl_new_3d(w->wctx, PL_F32, D, h->n_audio_ctx, h->n_text_head);
            w->cross_v[l] = pl_new_3d(w->wctx, PL_F32, D, h->n_audio_ctx, h->n_text_head);
            if (!w->cross_k[l] || !w->cross_v[l]) { rc = PL_ERR_NOMEM; break; }
        }
        if (!w->cache) rc = PL_ERR_NOMEM;
        else w->seq0 = pl_kv_seq_new(w->cache);
    }
    if (rc != PL_OK) { pl_whisper_free(w); return NULL; }
    return w;
}

void pl_whisper_free(pl_whisper *w) {
    if (!w) return;
    pl_kv_cache_free(w->cache);
    pl_ctx_free(w->step);
    pl_ctx_free(w->step_few);
    pl_ctx_free(w->wctx);
    pl_owned_free(&w->owned);
    free(w->enc); free(w->dec); free(w->cross_k); free(w->cross_v);
    free(w);
}

/* ---- the graph ------------------------------------------------------------------------------------------------- */
static pl_tensor *linear(pl_ctx *ctx, pl_tensor *x, pl_tensor *wt, pl_tensor *b) {
    return b ? pl_matmul_bias(ctx, wt, x, b) : pl_matmul(ctx, wt, x);
}
/* {C, T} -> {D, T, H}: each head's rows together, as pl_attention takes them */
static pl_tensor *heads(pl_ctx *ctx, pl_tensor *x, int H) {
    int64_t C = x->ne[0], T = x->ne[1];
    return pl_permute(ctx, pl_reshape_3d(ctx, x, C / H, H, T), 0, 2, 1, 3);
}
static pl_tensor *mlp(pl_ctx *ctx, const pl_whisper_layer *y, pl_tensor *x) {
    pl_tensor *h = pl_layernorm_affine(ctx, x, y->ln2_w, y->ln2_b, 1e-5f);
    return pl_add(ctx, x, linear(ctx, pl_gelu(ctx, linear(ctx, h, y->fc1_w, y->fc1_b), false), y->fc2_w, y->fc2_b));
}

/* mel {T = 2 n_audio_ctx, n_mels} -> the encoder's output {C, n_audio_ctx} */
static pl_tensor *build_encoder(pl_ctx *ctx, pl_whisper *w, pl_tensor *mel) {
    const pl_whisper_hparams *h = &w->hp;
    int H = h->n_audio_head;
    float scale = 1.0f / sqrtf((float)(h->n_audio_state / H));
    pl_tensor *x = pl_gelu(ctx, pl_conv1d(ctx, w->conv1_w, w->conv1_b, mel, 1, 1), false);   /* {C, T}     */
    x = pl_gelu(ctx, pl_conv1d(ctx, w->conv2_w, w->conv2_b, pl_transpose(ctx, x), 2, 1), false); /* {C, T/2} */
    x = pl_add(ctx, x, w->enc_pos);
    for (int l = 0; l < h->n_audio_layer; l++) {
        const pl_whisper_layer *y = &w->enc[l];
        pl_tensor *a = pl_layernorm_affine(ctx, x, y->ln1_w, y->ln1_b, 1e-5f);
        pl_tensor *q = heads(ctx, linear(ctx, a, y->q_w, y->q_b), H), *k = heads(ctx, linear(ctx, a, y->k_w, NULL), H);
        pl_tensor *v = heads(ctx, linear(ctx, a, y->v_w, y->v_b), H);
        pl_tensor *o = pl_attention(ctx, q, k, v, scale, false);                                  /* {D, H, T} */
        x = pl_add(ctx, x, linear(ctx, pl_reshape_2d(ctx, o, h->n_audio_state, o->ne[2]), y->o_w, y->o_b));
        x = mlp(ctx, y, x);
    }
    return pl_layernorm_affine(ctx, x, w->enc_ln_w, w->enc_ln_b, 1e-5f);
}

int pl_whisper_encode(pl_whisper *w, const float *mel, float *enc_out) {
    const pl_whisper_hparams *h = &w->hp;
    pl_ctx *ctx = w->step;
    pl_ctx_reset(ctx);
    int64_t T = 2 * (int64_t)h->n_audio_ctx;
    pl_tensor *in = pl_new_2d(ctx, PL_F32, T, h->n_mels); /* torch's (n_mels, T): a row per bin */
    if (!in) return PL_ERR_NOMEM;
    memcpy(in->data, mel, (size_t)T * h->n_mels * sizeof(float));
    pl_tensor *enc = build_encoder(ctx, w, in);
    int n_out = 1 + 2 * h->n_text_layer;
    pl_tensor **outs = pl_ctx_alloc(ctx, (size_t)n_out * sizeof *outs);
    if (!enc || !outs) return pl_last_error()[0] ? PL_ERR_ARG : PL_ERR_NOMEM;
    outs[0] = enc;
    for (int l = 0; l < h->n_text_layer; l++) { /* every decoder layer's cross-attention keys and values */
        const pl_whisper_layer *y = &w->dec[l];
        outs[1 + 2 * l] = pl_cpy(ctx, heads(ctx, linear(ctx, enc, y->xk_w, NULL), h->n_text_head), w->cross_k[l]);
        outs[2 + 2 * l] = pl_cpy(ctx, heads(ctx, linear(ctx, enc, y->xv_w, y->xv_b), h->n_text_head), w->cross_v[l]);
        if (!outs[1 + 2 * l] || !outs[2 + 2 * l]) return PL_ERR_ARG;
    }
    pl_graph *g = pl_graph_build_multi(ctx, outs, n_out, false);
    if (!g) return PL_ERR_NOMEM;
    double t0 = pl_ctx_profile_clock(ctx);
    pl_graph_forward(ctx, g);
    pl_ctx_profile_add(ctx, "encoder (whole windows)", pl_ctx_profile_clock(ctx) - t0);
    if (enc_out) memcpy(enc_out, enc->data, (size_t)h->n_audio_state * h->n_audio_ctx * sizeof(float));
    w->have_audio = true;
    pl_kv_clear(w->cache);
    w->seq0 = pl_kv_seq_new(w->cache);
    return PL_OK;
}

/* tokens ids {N} at positions pos {N}, cells described by map -> logits {V, rows} of the wanted rows */
static pl_tensor *build_decoder(pl_ctx *ctx, pl_whisper *w, pl_tensor *ids, pl_tensor *pos, pl_tensor *map, pl_tensor *rows) {
    const pl_whisper_hparams *h = &w->hp;
    int H = h->n_text_head;
    int64_t C = h->n_text_state, D = C / H, N = ids->ne[0];
    float scale = 1.0f / sqrtf((float)D);
    pl_tensor *x = pl_add(ctx, pl_get_rows(ctx, w->tok, ids), pl_get_rows(ctx, w->dec_pos, pos)); /* {C, N} */
    for (int l = 0; l < h->n_text_layer; l++) {
        const pl_whisper_layer *y = &w->dec[l];
        /* causal self-attention over the sequence's cells */
        pl_tensor *a = pl_layernorm_affine(ctx, x, y->ln1_w, y->ln1_b, 1e-5f);
        pl_tensor *q = pl_reshape_3d(ctx, linear(ctx, a, y->q_w, y->q_b), D, H, N);
        pl_tensor *k = pl_reshape_3d(ctx, linear(ctx, a, y->k_w, NULL), D, H, N);
        pl_tensor *v = pl_reshape_3d(ctx, linear(ctx, a, y->v_w, y->v_b), D, H, N);
        pl_tensor *ks = pl_kv_store(ctx, w->cache->k[l], k, map), *vs = pl_kv_store(ctx, w->cache->v[l], v, map);
        pl_tensor *o = pl_attention_cells(ctx, q, ks, vs, map, scale, 0);                          /* {D, H, N} */
        x = pl_add(ctx, x, linear(ctx, pl_reshape_2d(ctx, o, C, N), y->o_w, y->o_b));
        /* cross-attention: every token sees the whole window */
        a = pl_layernorm_affine(ctx, x, y->lnx_w, y->lnx_b, 1e-5f);
        o = pl_attention(ctx, heads(ctx, linear(ctx, a, y->xq_w, y->xq_b), H), w->cross_k[l], w->cross_v[l], scale, false);
        x = pl_add(ctx, x, linear(ctx, pl_reshape_2d(ctx, o, C, N), y->xo_w, y->xo_b));
        x = mlp(ctx, y, x);
    }
    if (rows) x = pl_get_rows(ctx, x, rows);
    x = pl_layernorm_affine(ctx, x, w->dec_ln_w, w->dec_ln_b, 1e-5f);
    return pl_matmul(ctx, w->tok, x);                                                             /* {V, rows} */
}

#define FEW_TOKENS 8 /* decoder calls of up to this many tokens run on step_few */
int pl_whisper_set_decoder_threads(pl_whisper *w, int n) {
    pl_ctx *c = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 4u << 20, .n_threads = n > 0 ? n : 1});
    if (!c) return pl_error(PL_ERR_NOMEM, "out of memory");
    pl_ctx_free(w->step_few);
    w->step_few = c;
    return PL_OK;
}

int pl_whisper_decode(pl_whisper *w, int n, const int32_t *tokens, const int32_t *seq, const bool *want, float *logits) {
    const pl_whisper_hparams *h = &w->hp;
    if (!w->have_audio) return pl_error(PL_ERR_ARG, "whisper: decode before any audio was encoded");
    if (n <= 0) return pl_error(PL_ERR_ARG, "whisper: no tokens to decode");
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= h->n_vocab)
            return pl_error(PL_ERR_ARG, "token id %d is outside the vocabulary (%d)", tokens[i], h->n_vocab);
        int len = pl_kv_seq_len(w->cache, seq[i]);
        if (len < 0) return pl_error(PL_ERR_ARG, "whisper: no sequence %d", seq[i]);
        for (int j = 0; j < i; j++) len += seq[j] == seq[i]; /* its earlier tokens in this batch */
        if (len >= h->n_text_ctx) return pl_error(PL_ERR_ARG, "whisper: the text passes the decoder's %d positions", h->n_text_ctx);
    }
    pl_ctx *ctx = n <= FEW_TOKENS ? w->step_few : w->step;
    pl_ctx_reset(ctx);
    pl_tensor *ids = pl_new_1d(ctx, PL_I32, n), *pos = pl_new_1d(ctx, PL_I32, n);
    if (!ids || !pos) return PL_ERR_NOMEM;
    memcpy(ids->data, tokens, (size_t)n * sizeof(int32_t));
    pl_tensor *map = pl_kv_place(w->cache, ctx, seq, n, pos->data, 0);
    if (!map) return PL_ERR_ARG;
    for (int i = 0; i < n; i++)
        if (((int32_t *)pos->data)[i] >= h->n_text_ctx) {
            pl_kv_unplace(w->cache, map);
            return pl_error(PL_ERR_ARG, "whisper: the text passes the decoder's %d positions", h->n_text_ctx);
        }
    int n_rows = 0;
    for (int i = 0; i < n; i++) n_rows += !want || want[i];
    pl_tensor *rows = NULL;
    if (n_rows < n) {
        rows = pl_new_1d(ctx, PL_I32, n_rows > 0 ? n_rows : 1);
        if (!rows) { pl_kv_unplace(w->cache, map); return PL_ERR_NOMEM; }
        for (int i = 0, r = 0; i < n; i++) if (want[i]) ((int32_t *)rows->data)[r++] = i;
    }
    pl_tensor *out = build_decoder(ctx, w, ids, pos, map, rows);
    pl_graph *g = out ? pl_graph_build(ctx, out, false) : NULL;
    if (!g) { pl_kv_unplace(w->cache, map); return PL_ERR_NOMEM; }
    double t0 = pl_ctx_profile_clock(ctx);
    pl_graph_forward(ctx, g);
    pl_ctx_profile_add(ctx, "decoder (all steps)", pl_ctx_profile_clock(ctx) - t0);
    if (logits && n_rows) memcpy(logits, out->data, (size_t)n_rows * h->n_vocab * sizeof(float));
    return PL_OK;
}

int pl_whisper_eval(pl_whisper *w, const int32_t *tokens, int n, int n_past, float *logits, bool all) {
    if (n <= 0) return pl_error(PL_ERR_ARG, "whisper: no tokens to evaluate");
    int held = pl_kv_seq_len(w->cache, w->seq0);
    if (n_past < 0 || n_past > held) return pl_error(PL_ERR_ARG, "whisper: %d tokens held, not %d", held, n_past);
    pl_kv_seq_truncate(w->cache, w->seq0, n_past);
    int32_t *seq = pl_malloc((size_t)n * (sizeof *seq + sizeof(bool)));
    if (!seq) return PL_ERR_NOMEM;
    bool *want = (bool *)(seq + n);
    for (int i = 0; i < n; i++) { seq[i] = w->seq0; want[i] = all || i == n - 1; }
    int rc = pl_whisper_decode(w, n, tokens, seq, want, logits);
    free(seq);
    return rc;
}
