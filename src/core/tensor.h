/* The tensor engine's data structures: tensors (up to 4 dims, element counts + byte strides, so views cost
 * nothing), the context (arena + thread pool) and the graph. Ops record nodes (op + sources) as they are
 * called; pl_graph_forward computes them in order, pl_graph_backward runs each op's backward in reverse.
 * Convention: ne[0] is the innermost, contiguous dimension (a PyTorch (B, T, C) tensor is ne = {C, T, B}). */
#ifndef PL_TENSOR_H
#define PL_TENSOR_H

#include "core/common.h"
#include "core/dtype.h"

#include <stdint.h>

typedef enum {
    PL_OP_NONE = 0,  /* leaf: input, parameter or mapped weight */
    PL_OP_VIEW,      /* reshape / permute / transpose / slice of a base tensor; no data of its own */
    PL_OP_ADD, PL_OP_SUB, PL_OP_MUL, PL_OP_SCALE,
    PL_OP_MATMUL,
    PL_OP_GET_ROWS,
    PL_OP_RMSNORM, PL_OP_LAYERNORM,
    PL_OP_ROPE,
    PL_OP_SOFTMAX,
    PL_OP_ATTENTION,
    PL_OP_GELU, PL_OP_SILU, PL_OP_SWIGLU,
    PL_OP_CROSS_ENTROPY,
    PL_OP_SUM, PL_OP_MEAN,
    PL_OP_CONCAT,
    PL_OP_CONT,      /* contiguous copy (and type conversion to f32) */
    PL_OP_CPY,       /* copy src[0] into the view src[1] (KV cache writes); forward only */
    PL_OP_LAYERNORM_AFFINE, /* LayerNorm with weight and bias in one pass */
    PL_OP_KV_STORE,  /* one step's keys or values into their KV-cache cells; forward only */
    PL_OP_ATTENTION_CELLS, /* attention of each token over its sequence's cache cells; forward only */
    PL_OP_KL_TOPK,   /* distillation: KL(teacher's top-k || softmax(logits / T)) */
    PL_OP_IM2COL_1D, /* the windows of a 1-D convolution's input as rows (conv1d = im2col + matmul) */
    PL_OP_ATTENTION_SEGMENTS, /* full attention within each of several packed sequences (encoders); forward only */
    PL_OP_CONTRASTIVE, /* CLIP's or SigLIP's loss over a batch of image-text pairs */
    PL_OP_COUNT
} pl_op;

enum {
    PL_FLAG_PARAM = 1,     /* trainable: gradient kept and accumulated across backward passes */
    PL_FLAG_NEEDS_GRAD = 2, /* set by pl_graph_build on nodes a parameter flows into */
    PL_FLAG_GRAD_STALE = 4, /* during backward: the gradient buffer still holds the last pass's values; it is
                               zeroed (or overwritten, by matmul) right before the first op writes it */
    PL_FLAG_GRAD_ALIAS = 8, /* the gradient is (part of) grad_owner's buffer (set by pl_graph_build): a view's is
                               the matching window of its base's, an addend's that feeds only a same-shape sum is
                               the sum's; consumers write straight into it, the producer-side copy is skipped.
                               After backward it holds the owner's gradient (a view's window: every path's sum) */
    PL_FLAG_FUSED_FWD = 16, /* set by pl_graph_build: another node's forward computes this one (its epi_fwd or sib_fwd) */
    PL_FLAG_FUSED_BWD = 32  /* set by pl_graph_build: another node's backward does this one's (its epi_bwd) */
};

typedef struct pl_tensor pl_tensor;
struct pl_tensor {
    pl_dtype type;
    int n_dims;
    int64_t ne[PL_MAX_DIMS];  /* elements per dimension, ne[0] innermost */
    size_t nb[PL_MAX_DIMS];   /* bytes between consecutive elements of each dimension */
    void *data;
    pl_op op;
    union { int32_t i[8]; float f[8]; } p; /* op parameters */
    int64_t view_offs;        /* PL_OP_VIEW: byte offset into src[0] (always the base, never a view) */
    pl_tensor *src[PL_MAX_SRC];
    pl_tensor *grad;          /* f32, same ne; contiguous unless PL_FLAG_GRAD_ALIAS; NULL when no gradient flows */
    pl_tensor *grad_owner;    /* PL_FLAG_GRAD_ALIAS: whose gradient buffer grad lies in (reset through it) */
    float *saved;             /* what forward keeps for backward (row statistics, ...) */
    pl_tensor *epi_fwd;       /* a matmul's sole consumer whose forward it computes in its GEMM's write-back */
    pl_tensor *epi_bwd;       /* a matmul's GELU source whose backward it computes in its write-back */
    pl_tensor *sib_fwd;       /* a later matmul of the same input that this one's forward computes with it (core/fusion.c) */
    const void *packed;       /* a weight's rows also packed for the batched dot kernels (pl_r8_pack), or NULL; owned
                               * with the weight (its model's context) */
    uint32_t flags;
    char name[PL_MAX_NAME];
};

typedef struct pl_pool pl_pool;
typedef struct pl_arena pl_arena;

/* Per-context engine settings. The library reads no environment: the command line turns PLINTH_PROFILE and
 * PLINTH_FUSE into these once, at its top (src/cli/main.c). DEFAULT takes the process's setting (see
 * pl_ctx_set_defaults), for code that creates contexts without saying. */
typedef enum { PL_PROFILE_DEFAULT = 0, PL_PROFILE_OFF, PL_PROFILE_WALL, PL_PROFILE_CPU } pl_profile_mode;
typedef enum { PL_FUSE_DEFAULT = 0, PL_FUSE_ON, PL_FUSE_OFF } pl_fuse_mode;

typedef struct {
    size_t arena_bytes;      /* size of each arena chunk (more chunks are added as needed); 0 = 64 MiB */
    int n_threads;           /* 0 = physical cores */
    pl_profile_mode profile; /* time each op run in this context (WALL: wall clock, CPU: the thread's CPU time) */
    pl_fuse_mode fuse;       /* training graphs fuse element-wise work into GEMM write-backs (docs/engine.md) */
} pl_ctx_params;

/* Called by pl_graph_forward after each node is computed (collectors such as the importance matrix). */
struct pl_ctx;
typedef void (*pl_observe_fn)(void *ud, struct pl_ctx *ctx, const pl_tensor *node);

typedef struct pl_profile pl_profile;

typedef struct pl_ctx {
    pl_arena *arena;
    pl_pool *pool;
    int n_threads;
    pl_observe_fn observe; /* NULL: none */
    void *observe_ud;
    pl_profile *profile;   /* per-op timings (core/profile.c); NULL: not profiling */
    bool own_profile;      /* the context frees it */
    bool fuse;             /* pl_graph_build may fuse into GEMM write-backs (core/fusion.c) */
    bool rows_apart;       /* matrix products give every activation row the bits it gets alone, whatever the
                            * number of rows (one kernel per row, never the dequantize + GEMM or BLAS paths) */
} pl_ctx;

pl_ctx *pl_ctx_new(const pl_ctx_params *params);
/* What a DEFAULT setting of later contexts means (at start: profiling off, fusion on). Set once at the top of
 * the program, before any context exists. Transitional: contexts created without settings by
 * models/llm.c and tasks/train.c then share one process-wide profile, which the context-free calls below read. */
void pl_ctx_set_defaults(const pl_ctx_params *defaults);
void pl_ctx_free(pl_ctx *ctx);
void pl_ctx_reset(pl_ctx *ctx);                 /* free every tensor of the context in one call */
void *pl_ctx_alloc(pl_ctx *ctx, size_t bytes);  /* 64-byte aligned, lives until reset/free; NULL + error */
size_t pl_ctx_arena_bytes(const pl_ctx *ctx);   /* what the arena holds from the system (its chunks' sizes) */

/* ---- tensors ---------------------------------------------------------------------------------- */
pl_tensor *pl_new(pl_ctx *ctx, pl_dtype type, int n_dims, const int64_t *ne);
pl_tensor *pl_new_1d(pl_ctx *ctx, pl_dtype type, int64_t ne0);
pl_tensor *pl_new_2d(pl_ctx *ctx, pl_dtype type, int64_t ne0, int64_t ne1);
pl_tensor *pl_new_3d(pl_ctx *ctx, pl_dtype type, int64_t ne0, int64_t ne1, int64_t ne2);
pl_tensor *pl_new_4d(pl_ctx *ctx, pl_dtype type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3);
/* A tensor over memory owned elsewhere (an mmap'ed weight): contiguous, read-only by convention. */
pl_tensor *pl_new_mapped(pl_ctx *ctx, pl_dtype type, int n_dims, const int64_t *ne, void *data);
void pl_set_name(pl_tensor *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* t's name = the first 50 bytes of base, then suffix (no printf: graphs rebuilt every decode step name each node) */
void pl_name_suffixed(pl_tensor *t, const char *base, const char *suffix);
/* Mark trainable: allocates a zeroed gradient in the context unless t->grad was set by the caller. */
void pl_param(pl_ctx *ctx, pl_tensor *t);

int64_t pl_nelements(const pl_tensor *t);
int64_t pl_nrows(const pl_tensor *t);            /* ne[1]*ne[2]*ne[3] */
size_t pl_nbytes(const pl_tensor *t);            /* bytes spanned by the data */
bool pl_is_contiguous(const pl_tensor *t);
bool pl_same_shape(const pl_tensor *a, const pl_tensor *b);
static inline float *pl_f32(const pl_tensor *t) { return (float *)t->data; }
/* address of element (i0,i1,i2,i3) */
static inline void *pl_at(const pl_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return (char *)t->data + i0 * t->nb[0] + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
}

/* ---- views (no copies) -------------------------------------------------------------------------- */
pl_tensor *pl_view(pl_ctx *ctx, pl_tensor *t, int n_dims, const int64_t *ne, const size_t *nb, size_t offset);
pl_tensor *pl_reshape(pl_ctx *ctx, pl_tensor *t, int n_dims, const int64_t *ne); /* t must be contiguous */
pl_tensor *pl_reshape_2d(pl_ctx *ctx, pl_tensor *t, int64_t ne0, int64_t ne1);
pl_tensor *pl_reshape_3d(pl_ctx *ctx, pl_tensor *t, int64_t ne0, int64_t ne1, int64_t ne2);
pl_tensor *pl_reshape_4d(pl_ctx *ctx, pl_tensor *t, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3);
/* axis i of t becomes axis axes[i] of the result (ggml's convention) */
pl_tensor *pl_permute(pl_ctx *ctx, pl_tensor *t, int a0, int a1, int a2, int a3);
pl_tensor *pl_transpose(pl_ctx *ctx, pl_tensor *t); /* swap dims 0 and 1 */
/* elements [start, start+len) of dimension dim */
pl_tensor *pl_slice(pl_ctx *ctx, pl_tensor *t, int dim, int64_t start, int64_t len);

/* ---- ops (src/ops/) ----------------------------------------------------------------------------- */
/* out[n][m] = sum_k a[m][k] * b[n][k]: a ne={K,M,A2,A3}, b ne={K,N,B2,B3} with B2%A2==0, B3%A3==0 -> {M,N,B2,B3}.
 * a may be any dtype with a vec_dot (weights: f16, bf16, quantized); b is f32. Transposed views allowed. */
pl_tensor *pl_matmul(pl_ctx *ctx, pl_tensor *a, pl_tensor *b);
/* pl_matmul + bias (f32 {M}) added to every output row, fused into the product where BLAS runs it */
pl_tensor *pl_matmul_bias(pl_ctx *ctx, pl_tensor *a, pl_tensor *b, pl_tensor *bias);
/* Pack a weight matrix's rows for the batched dot kernels (t->packed, memory from ctx, which must live as long
 * as t: the weights' own context), where this CPU has a packed kernel for its type; products then read the packed
 * rows, with the same results. PL_OK also when there is nothing to pack. */
int pl_matmul_pack(pl_ctx *ctx, pl_tensor *t);
pl_tensor *pl_add(pl_ctx *ctx, pl_tensor *a, pl_tensor *b); /* b broadcasts: b->ne[i] divides a->ne[i] */
pl_tensor *pl_sub(pl_ctx *ctx, pl_tensor *a, pl_tensor *b);
pl_tensor *pl_mul(pl_ctx *ctx, pl_tensor *a, pl_tensor *b);
pl_tensor *pl_scale(pl_ctx *ctx, pl_tensor *a, float s);
pl_tensor *pl_get_rows(pl_ctx *ctx, pl_tensor *w, pl_tensor *ids); /* w {C,V}, ids i32 {N[,B]} -> {C,N[,B]} */
pl_tensor *pl_rmsnorm(pl_ctx *ctx, pl_tensor *x, float eps);    /* per row of ne[0] */
pl_tensor *pl_layernorm(pl_ctx *ctx, pl_tensor *x, float eps);  /* per row, no affine */
/* nn.LayerNorm: per row, times w plus b (b may be NULL); w, b f32 vectors of ne[0] */
pl_tensor *pl_layernorm_affine(pl_ctx *ctx, pl_tensor *x, pl_tensor *w, pl_tensor *b, float eps);
enum { PL_ROPE_NORMAL = 0, PL_ROPE_NEOX = 2 };
/* x {D,H,T,B} rotated by positions pos (i32 {T}); first n_rot dims; freq_factors (f32 {n_rot/2}) or NULL */
pl_tensor *pl_rope(pl_ctx *ctx, pl_tensor *x, pl_tensor *pos, int n_rot, int mode, float theta,
                   float freq_scale, pl_tensor *freq_factors);
/* softmax(scale * x) per row; causal: row i (of ne[1]) sees columns j <= i + n_past */
pl_tensor *pl_softmax(pl_ctx *ctx, pl_tensor *x, float scale, bool causal, int n_past);
/* fused scaled-dot-product attention. q {D,Tq,Hq,B}, k and v {D,Tk,Hkv,B}, Hq%Hkv==0 (grouped-query);
 * causal: query i sits at position Tk-Tq+i. -> {D,Hq,Tq,B} (heads next to D: reshape to {D*Hq,Tq,B}) */
pl_tensor *pl_attention(pl_ctx *ctx, pl_tensor *q, pl_tensor *k, pl_tensor *v, float scale, bool causal);
/* causal pl_attention that also hides keys `window` or more positions behind the query (sliding-window
 * attention: query at position p sees keys p-window+1 .. p); window <= 0: plain causal */
pl_tensor *pl_attention_window(pl_ctx *ctx, pl_tensor *q, pl_tensor *k, pl_tensor *v, float scale, int window);
pl_tensor *pl_gelu(pl_ctx *ctx, pl_tensor *x, bool tanh_approx);  /* p.i[0]: 1 tanh, 0 erf */
/* QuickGELU, x sigmoid(1.702 x) (OpenAI CLIP's): a GELU node with p.i[0] = PL_GELU_QUICK, so that the GEMM's
 * write-back computes it beside the product as it does the other two (core/fusion.c) */
enum { PL_GELU_QUICK = 2 };
pl_tensor *pl_quick_gelu(pl_ctx *ctx, pl_tensor *x);
pl_tensor *pl_silu(pl_ctx *ctx, pl_tensor *x);
pl_tensor *pl_swiglu(pl_ctx *ctx, pl_tensor *gate, pl_tensor *up); /* silu(gate) * up */
/* mean over rows with target != ignore_index of -log softmax(logits)[target]; logits {V,N..}, targets i32 {N..}; or
 * targets {T, B..} for logits {V, L, B..}, T < L: each sequence's last T rows, its first L - T carrying none (virtual
 * tokens). Targets are read when the graph runs. */
pl_tensor *pl_cross_entropy(pl_ctx *ctx, pl_tensor *logits, pl_tensor *targets, int ignore_index);
/* the same sum divided by n instead of the rows' own target count (n > 0; 0: their count): the loss of a chunk of
 * rows of a batch with n targets in all, so that the chunks' losses and gradients add up to the batch's */
pl_tensor *pl_cross_entropy_over(pl_ctx *ctx, pl_tensor *logits, pl_tensor *targets, int ignore_index, int64_t n);
/* mean over rows of KL(p || q), q = softmax(logits / temperature), p a teacher's sparse distribution: ids i32 and
 * probs f32 {k, rows..} (k distinct tokens a row, k <= 1024; a row whose ids[0] < 0 carries none and is skipped).
 * Where the k probabilities sum to less than 1, the rest, p_r, is one more outcome ("another token") against the
 * student's mass on the other tokens, q_r: KL over k + 1 outcomes, so the tail is not pushed to zero. */
pl_tensor *pl_kl_topk(pl_ctx *ctx, pl_tensor *logits, pl_tensor *ids, pl_tensor *probs, float temperature);
/* loss of B image-text pairs, img and txt {D, B} unit vectors (row i of each a pair), t and b f32 scalars:
 * CLIP (siglip false): symmetric cross-entropy over exp(t) img txt^T, both directions averaged (b unused, may be
 * NULL); SigLIP: -(1/B) sum log sigmoid(+-(exp(t) <img_i, txt_j> + b)), + on the diagonal. B x B never held. */
pl_tensor *pl_contrastive_loss(pl_ctx *ctx, pl_tensor *img, pl_tensor *txt, pl_tensor *t, pl_tensor *b, bool siglip);
pl_tensor *pl_sum(pl_ctx *ctx, pl_tensor *x);  /* -> scalar */
pl_tensor *pl_mean(pl_ctx *ctx, pl_tensor *x); /* -> scalar */
pl_tensor *pl_concat(pl_ctx *ctx, pl_tensor *a, pl_tensor *b, int dim);
pl_tensor *pl_cont(pl_ctx *ctx, pl_tensor *x); /* contiguous f32 copy of any view / dtype */
pl_tensor *pl_cpy(pl_ctx *ctx, pl_tensor *src, pl_tensor *dst); /* dst (a view, f32 or f16) <- src; returns dst's node */
/* KV cache of cells (models/kv_cache.c). map (i32): [0] tokens N, [1] runs R, [2..2+N) each token's cell, then R
 * records {q0, nq, p0, off}: nq consecutive tokens of one sequence from token q0 at positions p0.., whose
 * sequence's cells for positions 0 .. p0+nq-1 are listed in position order at map[off..].
 * pl_kv_store: cache {D, cells, Hkv} (f32/f16) <- cur {D, Hkv, N} at the tokens' cells; returns the cache's node.
 * pl_attention_cells: q {D, Hq, N} over the stored k, v: token i at position p sees its sequence's cells for
 * positions max(0, p-window+1) .. p (window <= 0: all up to p) -> {D, Hq, N} */
pl_tensor *pl_kv_store(pl_ctx *ctx, pl_tensor *cache, pl_tensor *cur, pl_tensor *map);
pl_tensor *pl_attention_cells(pl_ctx *ctx, pl_tensor *q, pl_tensor *k, pl_tensor *v, pl_tensor *map, float scale, int window);
/* 1-D convolution as torch.nn.Conv1d computes it (ops/conv.c). x {T, C} (torch's (C, T): each channel a row; may be
 * a transposed view), w {K, C, O} (torch's (O, C, K) as stored), bias {O} or NULL -> {O, T'} (time-major: each
 * output position a row), T' = (T + 2 pad - K) / stride + 1. pl_im2col_1d gives the {C*K, T'} windows alone. */
pl_tensor *pl_im2col_1d(pl_ctx *ctx, pl_tensor *x, int k, int stride, int pad);
pl_tensor *pl_conv1d(pl_ctx *ctx, pl_tensor *w, pl_tensor *bias, pl_tensor *x, int stride, int pad);
/* Bidirectional attention over sequences packed one after another (an encoder's batch, no padding): q, k, v
 * {D, H, N} (rows contiguous; e.g. views of projections {H*D, N}); seg i32 {S+1}: sequence s holds tokens
 * seg[s] .. seg[s+1]-1 and each of its tokens sees exactly those keys -> {D, H, N}. Forward only. */
pl_tensor *pl_attention_segments(pl_ctx *ctx, pl_tensor *q, pl_tensor *k, pl_tensor *v, pl_tensor *seg, float scale);

/* ---- graph ---------------------------------------------------------------------------------------- */
typedef struct {
    pl_tensor **nodes; /* topological order: every source before its users */
    int n_nodes;
    pl_tensor *out;
    bool backward;     /* gradients allocated for nodes that need them */
} pl_graph;

/* Collect the nodes `out` depends on. With backward, allocate gradients of every node a parameter flows
 * into (out must then be a scalar). The graph lives in ctx's arena. */
pl_graph *pl_graph_build(pl_ctx *ctx, pl_tensor *out, bool backward);
/* Several outputs (e.g. logits and the KV-cache writes of one step). */
pl_graph *pl_graph_build_multi(pl_ctx *ctx, pl_tensor **outs, int n_outs, bool backward);
/* A forward-only graph whose intermediate values nobody reads once it has run (an encoder's pass): as
 * pl_graph_build(ctx, out, false), with its matmuls' consumers fused into their GEMM write-backs as a training
 * graph's are (core/fusion.c: a GELU, tanh or erf, computed beside the product; a residual sum written instead
 * of it), which saves a pass over memory and a thread-pool round each. The same bits as unfused. */
pl_graph *pl_graph_build_fused(pl_ctx *ctx, pl_tensor *out);
void pl_graph_forward(pl_ctx *ctx, pl_graph *g);
/* d out / d node for every node that needs it; parameters' gradients accumulate (+=), zero them yourself. */
void pl_graph_backward(pl_ctx *ctx, pl_graph *g);
/* The same, with the parameters' gradients set (=) rather than added to: as if zeroed first, without the sweep
 * (each is reset just before its first writer, or written by it). A trainer's first micro-batch of a step. */
void pl_graph_backward_reset(pl_ctx *ctx, pl_graph *g);
/* A graph that is one piece of a larger one (a transformer layer of a checkpointed training step, models/llm_train.c):
 * backward for an output of any shape, whose gradient d loss / d out the caller gives to pl_graph_backward_seed
 * (pl_nelements(out) floats); parameters' gradients accumulate as in pl_graph_backward. */
pl_graph *pl_graph_build_seeded(pl_ctx *ctx, pl_tensor *out);
void pl_graph_backward_seed(pl_ctx *ctx, pl_graph *g, const float *seed);
const char *pl_op_name(pl_op op);
/* Whether two elements of view t can be the same element of its base (a stride of 0, overlapping windows). */
bool pl_view_overlaps(const pl_tensor *t);

/* ---- profile (core/profile.c) ------------------------------------------------------------------------ */
/* A context made with .profile = WALL or CPU keeps the time each op took in it (forward and backward) and what
 * its caller adds (time outside the ops); CPU counts the calling thread's CPU time (steadier on a shared host). */
pl_profile_mode pl_profile_mode_parse(const char *s); /* PLINTH_PROFILE's value: NULL off, "cpu" CPU, else WALL */
bool pl_ctx_profiling(const pl_ctx *ctx);
double pl_ctx_profile_clock(const pl_ctx *ctx);        /* seconds on the profile's clock (wall when off) */
void pl_ctx_profile_add(pl_ctx *ctx, const char *what, double seconds); /* what: a string literal */
void pl_ctx_profile_print(const pl_ctx *ctx, FILE *f); /* the table; nothing when not profiling */

/* ---- threads ---------------------------------------------------------------------------------------- */
/* Split [0, n) into contiguous chunks run by the context's pool; fn(arg, start, end, thread_index). */
typedef void (*pl_range_fn)(void *arg, int64_t start, int64_t end, int ith);
void pl_parallel_for(pl_ctx *ctx, int64_t n, pl_range_fn fn, void *arg);
/* the same, but units [u, u+1) go one at a time to whichever thread is free (for work whose units take long
 * enough to pay for an atomic each, on cores that may run at different speeds); fn must not depend on ith
 * for what it computes */
void pl_parallel_for_dynamic(pl_ctx *ctx, int64_t n, pl_range_fn fn, void *arg);
/* the same with [0, n) cut into contiguous ranges that shrink as the work is handed out (each half of what is
 * left over the threads): threads that run take more of them than one the OS has set aside, and finish close
 * together (fn must not depend on ith for what it computes) */
void pl_parallel_for_chunks(pl_ctx *ctx, int64_t n, pl_range_fn fn, void *arg);

#endif
