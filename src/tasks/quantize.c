/* GGUF -> GGUF quantization (tasks/quantize.h). Per tensor: choose the type (llama.cpp's mixture rules and
 * fallbacks, pl_quant_tensor_type), decode the source to f32, encode rows in parallel with pl_quantize_tensor,
 * keep the result until the writer streams every tensor into OUT.tmp.PID and renames it into place. */
#include "tasks/quantize.h"
#include "tasks/imatrix.h"
#include "core/common.h"
#include "core/tensor.h"
#include "io/gguf.h"
#include "io/model_path.h"
#include "quant/quant.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

static const pl_quant_target targets[] = {
    {"Q8_0", PL_Q8_0, 7, 0},   {"Q4_0", PL_Q4_0, 2, 0},   {"Q4_1", PL_Q4_1, 3, 0},
    {"Q5_0", PL_Q5_0, 8, 0},   {"Q5_1", PL_Q5_1, 9, 0},   {"Q4_K_M", PL_Q4_K, 15, 1},
    {"Q5_K_M", PL_Q5_K, 17, 2}, {"Q6_K", PL_Q6_K, 18, 0}, {"F16", PL_F16, 1, 0},
    {"BF16", PL_BF16, 32, 0},  {"F32", PL_F32, 0, 0},
};

const char *pl_quant_target_list(void) {
    return "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_M, Q5_K_M, Q6_K, F16, BF16, F32";
}

const char *pl_quant_ftype_name(int ftype) {
    for (size_t i = 0; i < PL_ARRAY_LEN(targets); i++)
        if (targets[i].ftype == ftype) return targets[i].name;
    return NULL;
}

const pl_quant_target *pl_quant_target_find(const char *name) {
    for (size_t i = 0; name && i < PL_ARRAY_LEN(targets); i++)
        if (!strcasecmp(name, targets[i].name)) return &targets[i];
    return pl_error_null(PL_ERR_ARG, "unknown type '%s' (choose one of %s)", name ? name : "", pl_quant_target_list());
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* llama.cpp's use_more_bits: the first and last eighth of the layers, and every third one between. */
static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int layer_of(const char *name) {
    int l;
    return sscanf(name, "blk.%d.", &l) == 1 ? l : -1;
}

/* Only matrices named *weight are quantized; norms, position/type embeddings and rope factors stay as they are. */
static bool is_quantizable(const char *name, int n_dims) {
    return n_dims >= 2 && ends_with(name, "weight") && !strstr(name, "_norm.weight") && !strstr(name, "position_embd")
           && !strstr(name, "pos_embd") && !strstr(name, "token_types") && !strstr(name, "rope_freqs")
           && !strstr(name, "ffn_gate_inp");
}

/* The mixture rules (llama.cpp llama_tensor_get_type, the parts that apply to these targets). */
static pl_dtype mixture_type(const pl_quant_target *t, const char *name, int64_t ne0, int i_attn_v, int n_attn_v,
                             int n_layer, bool has_output) {
    pl_dtype ty = t->base;
    if (!pl_dtype_traits(ty)->is_quantized) return ty;
    if (!strcmp(name, "output.weight") || (!has_output && !strcmp(name, "token_embd.weight"))) {
        /* the LM head is the most sensitive matrix: Q6_K unless Q8_0 was asked (or rows do not fit) */
        if (ne0 % pl_dtype_traits(ty)->blck_size) return PL_Q8_0;
        return ty == PL_Q8_0 ? ty : PL_Q6_K;
    }
    if (!t->mix) return ty;
    if (strstr(name, "attn_v.weight")) return use_more_bits(i_attn_v, n_attn_v) ? PL_Q6_K : ty;
    if (strstr(name, "ffn_down")) {
        int l = layer_of(name);
        return l >= 0 && use_more_bits(l, n_layer) ? PL_Q6_K : ty;
    }
    if (strstr(name, "attn_qkv.weight")) return t->mix == 1 ? PL_Q5_K : PL_Q6_K;
    return ty;
}

int pl_quant_tensor_type(const pl_quant_target *t, const char *name, int n_dims, int64_t ne0, int i_attn_v,
                         int n_attn_v, int n_layer, bool has_output, int *wanted) {
    *wanted = -1;
    if (!is_quantizable(name, n_dims)) return -1;
    pl_dtype ty = mixture_type(t, name, ne0, i_attn_v, n_attn_v, n_layer, has_output);
    if (ne0 % pl_dtype_traits(ty)->blck_size == 0) return ty;
    *wanted = ty;
    /* llama.cpp's fallbacks: k-quants to the nearest 32-block type, then f16 (it refuses the _0/_1 types;
     * f16 is taken here instead) */
    if (ty == PL_Q4_K) ty = PL_Q5_0;
    else if (ty == PL_Q5_K) ty = PL_Q5_1;
    else if (ty == PL_Q6_K) ty = PL_Q8_0;
    if (ne0 % pl_dtype_traits(ty)->blck_size) ty = PL_F16;
    return ty;
}

/* ---- parallel decode / encode -------------------------------------------------------------------- */
typedef struct {
    pl_dtype from, to;
    const uint8_t *src;
    float *f32;
    uint8_t *dst;
    int64_t ncols;
    const float *imatrix; /* ncols importance weights, or NULL */
    int rc;
} conv_job;

static void decode_rows(void *arg, int64_t a, int64_t b, int ith) {
    (void)ith;
    conv_job *j = arg;
    const size_t rs = pl_row_size(j->from, j->ncols);
    for (int64_t r = a; r < b; r++) pl_dtype_traits(j->from)->to_float(j->src + r * rs, j->f32 + r * j->ncols, j->ncols);
}

static void encode_rows(void *arg, int64_t a, int64_t b, int ith) {
    (void)ith;
    conv_job *j = arg;
    int64_t rc = pl_quantize_tensor(j->to, j->f32 + a * j->ncols, j->dst + a * pl_row_size(j->to, j->ncols), b - a,
                                    j->ncols, j->imatrix);
    if (rc < 0) __atomic_store_n(&j->rc, (int)rc, __ATOMIC_RELAXED);
}

/* Convert one tensor to `to`; *out gets pl_malloc'ed data. */
static int convert_tensor(pl_ctx *ctx, const pl_gguf_tensor *gt, pl_dtype to, const float *imatrix, void **out) {
    const pl_type_traits *tf = pl_dtype_traits(gt->type);
    if (!tf || !tf->to_float)
        return pl_error(PL_ERR_UNSUPPORTED, "tensor '%s': cannot decode type %s", gt->name, pl_dtype_name(gt->type));
    const int64_t ncols = gt->ne[0], nrows = gt->ne[1] * gt->ne[2] * gt->ne[3];
    conv_job j = {.from = gt->type, .to = to, .src = gt->data, .ncols = ncols, .imatrix = imatrix};
    j.f32 = pl_malloc((size_t)(ncols * nrows) * sizeof(float) + 1);
    j.dst = pl_malloc(pl_row_size(to, ncols) * (size_t)nrows + 1);
    if (!j.f32 || !j.dst) { free(j.f32); free(j.dst); return PL_ERR_NOMEM; }
    pl_parallel_for(ctx, nrows, decode_rows, &j);
    pl_parallel_for(ctx, nrows, encode_rows, &j);
    free(j.f32);
    if (j.rc) { free(j.dst); return j.rc; }
    *out = j.dst;
    return PL_OK;
}

/* ---- the file ------------------------------------------------------------------------------------- */
static void note(const pl_quant_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const pl_quant_opts *o, const char *fmt, ...) {
    if (!o->on_note) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    o->on_note(buf, o->ud);
}

static int copy_kvs(pl_gguf_writer *w, const pl_gguf *g, const pl_quant_target *t) {
    for (int64_t i = 0; i < pl_gguf_n_kv(g); i++) {
        int rc = pl_gguf_writer_copy_kv(w, g, i);
        if (rc) return rc;
    }
    int rc = pl_gguf_writer_set_u32(w, "general.quantization_version", 2);
    return rc ? rc : pl_gguf_writer_set_u32(w, "general.file_type", (uint32_t)t->ftype);
}

/* a safetensors model (file, index or directory), as io/model_path.h classifies it; anything else goes to the
 * GGUF reader, which names what is wrong */
static bool is_safetensors(const char *path) {
    char *r = NULL;
    int kind = pl_model_path_resolve(path, &r);
    free(r);
    pl_clear_error();
    return kind == PL_MODEL_SAFETENSORS || kind == PL_MODEL_ST_INDEX || kind == PL_MODEL_HF_DIR;
}

int pl_quantize_file(const char *in, const char *out, const pl_quant_target *t, const pl_quant_opts *opts,
                     pl_quant_stats *st) {
    pl_quant_opts o0 = {0};
    const pl_quant_opts *o = opts ? opts : &o0;
    pl_quant_stats s = {0};
    double t0 = pl_time_s();
    if (is_safetensors(in))
        return pl_error(PL_ERR_UNSUPPORTED, "'%s': safetensors input is not supported yet; quantize a GGUF file", in);
    pl_gguf *g = pl_gguf_open(in);
    if (!g) return PL_ERR_IO;
    const int64_t n = pl_gguf_n_tensors(g);
    int n_attn_v = 0, n_layer = 0;
    bool has_output = pl_gguf_find_tensor(g, "output.weight") != NULL;
    for (int64_t i = 0; i < n; i++) {
        const char *name = pl_gguf_tensor_at(g, i)->name;
        n_attn_v += strstr(name, "attn_v.weight") != NULL;
        n_layer = PL_MAX(n_layer, layer_of(name) + 1);
    }
    pl_gguf_writer *w = pl_gguf_writer_new();
    void **owned = pl_calloc((size_t)n + 1, sizeof *owned);
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.arena_bytes = 1 << 16, .n_threads = o->n_threads});
    int rc = w && owned && ctx ? copy_kvs(w, g, t) : PL_ERR_NOMEM;
    for (int64_t i = 0, i_attn_v = 0; rc == PL_OK && i < n; i++) {
        const pl_gguf_tensor *gt = pl_gguf_tensor_at(g, i);
        int want = -1;
        int ty = pl_quant_tensor_type(t, gt->name, gt->n_dims, gt->ne[0], (int)i_attn_v, n_attn_v, n_layer,
                                      has_output, &want);
        if (strstr(gt->name, "attn_v.weight")) i_attn_v++;
        pl_dtype to = ty < 0 ? gt->type : (pl_dtype)ty;
        if (o->on_tensor) o->on_tensor((int)i, (int)n, gt->name, gt->type, to, o->ud);
        if (want >= 0) {
            s.n_fallback++;
            note(o, "%s: rows of %lld are not a multiple of %s's block of %lld - using fallback type %s", gt->name,
                 (long long)gt->ne[0], pl_dtype_name((pl_dtype)want),
                 (long long)pl_dtype_traits((pl_dtype)want)->blck_size, pl_dtype_name(to));
        }
        const void *data = gt->data;
        if (to != gt->type) {
            if (pl_dtype_traits(gt->type)->is_quantized) s.n_requantized++;
            const float *imp = NULL;
            if (o->imatrix && pl_dtype_traits(to)->is_quantized) {
                imp = gt->ne[2] == 1 && gt->ne[3] == 1 ? pl_imatrix_get(o->imatrix, gt->name, gt->ne[0]) : NULL;
                if (imp) s.n_imatrix++;
                else note(o, "%s: no importance matrix entry with %lld columns - quantized without one", gt->name,
                          (long long)gt->ne[0]);
            }
            rc = convert_tensor(ctx, gt, to, imp, &owned[i]);
            data = owned[i];
        }
        if (rc == PL_OK) rc = pl_gguf_writer_add_tensor(w, gt->name, to, gt->n_dims, gt->ne, data, false);
        int64_t nel = gt->ne[0] * gt->ne[1] * gt->ne[2] * gt->ne[3];
        s.bytes_in += gt->nbytes;
        s.bytes_out += pl_row_size(to, gt->ne[0]) * (size_t)(nel / gt->ne[0]);
        s.n_elements += (uint64_t)nel;
        if ((int)to < (int)PL_ARRAY_LEN(s.n_by_type)) s.n_by_type[to]++;
        s.n_tensors++;
    }
    if (rc == PL_OK) rc = pl_gguf_writer_write_file(w, out);
    for (int64_t i = 0; owned && i < n; i++) free(owned[i]);
    free(owned);
    pl_ctx_free(ctx);
    pl_gguf_writer_free(w);
    pl_gguf_close(g);
    s.seconds = pl_time_s() - t0;
    if (st) *st = s;
    return rc;
}
