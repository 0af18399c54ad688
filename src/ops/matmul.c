/* Matrix multiplication out[n][m] = sum_k a[m][k] * b[n][k], batched with broadcasting of a (grouped heads).
 * f32 with large enough sizes goes to plinth's GEMM (backend/cpu/sgemm.c, AVX2 or AVX-512), else to OpenBLAS
 * (sgemm, transposed views passed as transposes, no copies);
 * small f32 and every other weight type (f16, bf16, quantized) use row dot products on the thread pool,
 * with activations converted once to the weight type's vec_dot partner. */
#include "backend/cpu/quant_rows.h"
#include "backend/cpu/sgemm.h"
#include "backend/cpu/vec.h"
#include "ops/ops.h"

#include <cblas.h>

/* pl_matmul plus a bias vector (f32, M elements) added to every output row, in the same pass where sgemm
 * allows it (linear layers: x @ w.T + b) */
pl_tensor *pl_matmul_bias(pl_ctx *ctx, pl_tensor *a, pl_tensor *b, pl_tensor *bias) {
    pl_tensor *t = pl_matmul(ctx, a, b);
    if (!t || !bias) return t;
    OP_REQUIRE(bias->type == PL_F32 && pl_is_contiguous(bias) && pl_nelements(bias) == t->ne[0],
               "matmul: the bias must be an f32 vector of %lld elements", (long long)t->ne[0]);
    t->src[2] = bias;
    return t;
}

int pl_matmul_pack(pl_ctx *ctx, pl_tensor *t) {
    size_t bytes = t && !t->packed && t->n_dims == 2 && pl_vec_dot_r8p(t->type) ? pl_r8_packed_size(t->type, t->ne[1], t->ne[0]) : 0;
    if (!bytes) return PL_OK;
    void *p = pl_ctx_alloc(ctx, bytes);
    if (!p) return pl_error(PL_ERR_NOMEM, "out of memory packing %s's rows (%zu bytes)", t->name, bytes);
    pl_r8_pack(t->type, t->data, t->nb[1], t->ne[1], t->ne[0], p);
    t->packed = p;
    return PL_OK;
}

pl_tensor *pl_matmul(pl_ctx *ctx, pl_tensor *a, pl_tensor *b) {
    if (!a || !b) return NULL;
    const pl_type_traits *tr = pl_dtype_traits(a->type);
    OP_REQUIRE(tr && tr->vec_dot, "matmul: no dot kernel for weight type %s", pl_dtype_name(a->type));
    OP_REQUIRE(b->type == PL_F32, "matmul: the right operand must be f32");
    OP_REQUIRE(a->ne[0] == b->ne[0], "matmul: inner sizes differ (%lld vs %lld) for %s", (long long)a->ne[0],
               (long long)b->ne[0], a->name);
    OP_REQUIRE(b->ne[2] % a->ne[2] == 0 && b->ne[3] % a->ne[3] == 0, "matmul: batch dims of a must divide b's");
    OP_REQUIRE(a->type == PL_F32 || a->nb[0] == tr->type_size, "matmul: rows of a non-f32 matrix must be contiguous");
    int64_t ne[4] = {a->ne[1], b->ne[1], b->ne[2], b->ne[3]};
    return op_new_node(ctx, PL_OP_MATMUL, PL_F32, PL_MAX(b->n_dims, 2), ne, a, b, NULL, NULL);
}

typedef pl_mat mat; /* a strided f32 matrix: element (r, c) at p[r*rs + c*cs] */

/* C (rows x cols, row-major, ldc) = alpha * X (rows x k) . Y (k x cols) + beta * C. false if not BLAS-able. */
static bool gemm(float *c, int64_t ldc, mat x, mat y, float alpha, float beta) {
    CBLAS_TRANSPOSE tx, ty;
    int64_t lx, ly;
    if (x.cs == 1 && (x.rs >= x.cols || x.rows == 1)) { tx = CblasNoTrans; lx = x.rows == 1 ? x.cols : x.rs; }
    else if (x.rs == 1 && (x.cs >= x.rows || x.cols == 1)) { tx = CblasTrans; lx = x.cols == 1 ? x.rows : x.cs; }
    else return false;
    if (y.cs == 1 && (y.rs >= y.cols || y.rows == 1)) { ty = CblasNoTrans; ly = y.rows == 1 ? y.cols : y.rs; }
    else if (y.rs == 1 && (y.cs >= y.rows || y.cols == 1)) { ty = CblasTrans; ly = y.cols == 1 ? y.rows : y.cs; }
    else return false;
    cblas_sgemm(CblasRowMajor, tx, ty, (int)x.rows, (int)y.cols, (int)x.cols, alpha, x.p, (int)PL_MAX(lx, 1), y.p,
                (int)PL_MAX(ly, 1), beta, c, (int)ldc);
    return true;
}
/* the plain loop, for layouts BLAS cannot take */
static void gemm_loop(float *c, int64_t ldc, mat x, mat y, float alpha, float beta) {
    for (int64_t r = 0; r < x.rows; r++)
        for (int64_t q = 0; q < y.cols; q++) {
            double s = 0;
            for (int64_t k = 0; k < x.cols; k++) s += (double)x.p[r * x.rs + k * x.cs] * y.p[k * y.rs + q * y.cs];
            c[r * ldc + q] = (float)(alpha * s + (beta != 0 ? beta * c[r * ldc + q] : 0));
        }
}
static void gemm_any(float *c, int64_t ldc, mat x, mat y, float alpha, float beta) {
    if (pl_sgemm(c, ldc, x, y, alpha, beta)) return; /* plinth's own kernel, where the CPU has AVX2 or AVX-512 */
    if (!gemm(c, ldc, x, y, alpha, beta)) gemm_loop(c, ldc, x, y, alpha, beta);
}

/* Split C's rows over the pool, each thread one single-threaded sgemm (OpenBLAS's own threads spin and
 * fight the pool; one scheduler for all the work is faster and deterministic). */
#define GEMM_UNIT 12 /* rows per work unit: a multiple of the kernels' tile heights (12, 6), so that splits cut no tile */
typedef struct { float *c; int64_t ldc; mat x, y; float alpha, beta; } gemm_job;
static void gemm_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    gemm_job *j = arg;
    mat x = j->x;
    s *= GEMM_UNIT;
    e = PL_MIN(e * GEMM_UNIT, x.rows);
    x.p += s * x.rs;
    x.rows = e - s;
    gemm_any(j->c + s * j->ldc, j->ldc, x, j->y, j->alpha, j->beta);
}
static void gemm_par(pl_ctx *ctx, float *c, int64_t ldc, mat x, mat y, float alpha, float beta) {
    gemm_job j = {c, ldc, x, y, alpha, beta};
    int64_t units = (x.rows + GEMM_UNIT - 1) / GEMM_UNIT;
    if (x.rows * y.cols * x.cols < (1 << 18)) gemm_rows(&j, 0, units, 0);
    else if (!pl_sgemm_par(ctx, c, ldc, x, y, alpha, beta)) pl_parallel_for(ctx, units, gemm_rows, &j);
}

static mat mat_of(const pl_tensor *t, int64_t i2, int64_t i3, bool transposed) {
    mat m = {(const float *)((const char *)t->data + i2 * t->nb[2] + i3 * t->nb[3]), t->ne[1], t->ne[0],
             (int64_t)(t->nb[1] / 4), (int64_t)(t->nb[0] / 4)};
    if (transposed) { int64_t r = m.rows; m.rows = m.cols; m.cols = r; r = m.rs; m.rs = m.cs; m.cs = r; }
    return m;
}
static mat mat_dense(const float *p, int64_t rows, int64_t cols) { return (mat){p, rows, cols, cols, 1}; }

/* ---- the dot-product path (quantized / half weights, and small f32) ------------------------------------ */
typedef struct {
    pl_tensor *t;
    const char *bq;     /* b's rows converted to the vec_dot type, per batch: [B3][B2][N] rows */
    size_t bq_row;      /* bytes per converted row */
    pl_vec_dot_rows_fn rows; /* the four-row kernel of a's type, or NULL */
    pl_vec_dot_tile_fn tile; /* the four-row, two-column kernel, or NULL */
    pl_vec_dot_r8_fn r8;     /* the eight-row kernel for any number of columns, or NULL */
    pl_vec_dot_r8p_fn r8p;   /* the same over rows packed at load (a->packed), or NULL */
    pl_vec_dot_r8w_fn r8w;   /* the packed kernel with 16-bit activations (two or more columns), or NULL */
    const char *bw;          /* b's converted rows widened for r8w (pl_q8_0_widen), [B3][B2][N] rows, or NULL */
    size_t bw_row;
} dot_job;

/* the packed rows (pl_matmul_pack: 2-D weights only) of the group of eight that starts at row m */
static const char *packed_group(const pl_tensor *a, int64_t m) {
    return (const char *)a->packed + pl_r8_packed_size(a->type, m, a->ne[0]);
}

/* rows m..mend of a (one block) against all N converted columns of batch bat */
static void dot_block(const dot_job *j, pl_tensor *t, const char *abase, int64_t bat, int64_t m, int64_t mend) {
    pl_tensor *a = t->src[0];
    const pl_type_traits *tr = pl_dtype_traits(a->type);
    int64_t M = t->ne[0], N = t->ne[1];
    if (j->r8w && a->packed) /* the same from the packed rows with 16-bit activations: group m / 8 */
        for (; m + PL_DOT_R8 <= mend; m += PL_DOT_R8)
            j->r8w(a->ne[0], pl_f32(t) + bat * N * M + m, (size_t)M, packed_group(a, m), j->bw + bat * N * j->bw_row, j->bw_row, N);
    if (j->r8p && a->packed) /* the same with the 8-bit activations: group m / 8 */
        for (; m + PL_DOT_R8 <= mend; m += PL_DOT_R8)
            j->r8p(a->ne[0], pl_f32(t) + bat * N * M + m, (size_t)M, packed_group(a, m), j->bq + bat * N * j->bq_row, j->bq_row, N);
    for (; j->r8 && m + PL_DOT_R8 <= mend; m += PL_DOT_R8) /* eight rows against all N columns at once */
        j->r8(a->ne[0], pl_f32(t) + bat * N * M + m, (size_t)M, abase + m * a->nb[1], a->nb[1], j->bq + bat * N * j->bq_row,
              j->bq_row, N);
    for (; j->rows && m + PL_DOT_ROWS <= mend; m += PL_DOT_ROWS) { /* four rows share each activation load */
        int64_t n = 0;
        for (; j->tile && n + 2 <= N; n += 2) { /* and two activation rows each weight load */
            float v[2 * PL_DOT_ROWS];
            j->tile(a->ne[0], v, abase + m * a->nb[1], a->nb[1], j->bq + (bat * N + n) * j->bq_row, j->bq_row);
            memcpy(pl_f32(t) + (bat * N + n) * M + m, v, sizeof v / 2);
            memcpy(pl_f32(t) + (bat * N + n + 1) * M + m, v + PL_DOT_ROWS, sizeof v / 2);
        }
        for (; n < N; n++) {
            float v[PL_DOT_ROWS];
            j->rows(a->ne[0], v, abase + m * a->nb[1], a->nb[1], j->bq + (bat * N + n) * j->bq_row);
            memcpy(pl_f32(t) + (bat * N + n) * M + m, v, sizeof v);
        }
    }
    for (; m < mend; m++) {
        const char *arow = abase + m * a->nb[1];
        for (int64_t n = 0; n < N; n++) {
            float v;
            if (a->type == PL_F32 && a->nb[0] == 4)
                v = pl_vec_dot_f32(a->ne[0], (const float *)arow, (const float *)(j->bq + (bat * N + n) * j->bq_row));
            else tr->vec_dot(a->ne[0], &v, arow, j->bq + (bat * N + n) * j->bq_row);
            pl_f32(t)[(bat * N + n) * M + m] = v;
        }
    }
}

static void dot_range(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    dot_job *j = arg;
    pl_tensor *t = j->t, *a = t->src[0];
    int64_t M = t->ne[0], B2 = t->ne[2];
    int64_t r2 = t->ne[2] / a->ne[2], r3 = t->ne[3] / a->ne[3];
    /* work item = (batch, block of 16 rows of a): each a row is read once for all N columns */
    int64_t nblk = (M + 15) / 16, blk = s % nblk - 1, bat = s / nblk; /* stepped, not divided, per item */
    const char *abase = NULL;
    for (int64_t w = s; w < e; w++) {
        if (++blk == nblk || !abase) {
            if (blk == nblk) blk = 0, bat++;
            int64_t i2 = bat % B2, i3 = bat / B2;
            abase = (const char *)a->data + (i2 / r2) * a->nb[2] + (i3 / r3) * a->nb[3];
        }
        dot_block(j, t, abase, bat, blk * 16, PL_MIN(M, blk * 16 + 16));
    }
}

/* b's rows converted to the dot kernels' type (quantized activations), rows s..e of all batches; with bw, each
 * also widened for the 16-bit kernel (pl_q8_0_widen) */
typedef struct { const pl_tensor *b; pl_from_float_fn quant; char *bq; size_t row; char *bw; size_t wrow; } act_job;
static void act_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    act_job *j = arg;
    const pl_tensor *b = j->b;
    int64_t K = b->ne[0], N = b->ne[1];
    float *tmp = b->nb[0] != 4 ? malloc((size_t)K * sizeof(float)) : NULL;
    for (int64_t r = s; r < e; r++) {
        int64_t n = r % N, bat = r / N, i2 = bat % b->ne[2], i3 = bat / b->ne[2];
        const char *src = (const char *)b->data + n * b->nb[1] + i2 * b->nb[2] + i3 * b->nb[3];
        const float *x = (const float *)src;
        if (b->nb[0] != 4) {
            if (!tmp) { memset(j->bq + r * j->row, 0, j->row); continue; } /* TODO: report */
            for (int64_t k = 0; k < K; k++) tmp[k] = *(const float *)(src + k * b->nb[0]);
            x = tmp;
        }
        j->quant(x, j->bq + r * j->row, K);
        if (j->bw) pl_q8_0_widen(j->bq + r * j->row, j->bw + r * j->wrow, K);
    }
    free(tmp);
}

#define ACT_PAR_MIN (32 * 1024) /* activation values below which one thread converts them (a job costs a few us) */

/* b's rows converted to the dot kernels' partner type of a (malloc'd; NULL out of memory), and the kernels */
static char *dot_setup(pl_ctx *ctx, pl_tensor *t, dot_job *j) {
    pl_tensor *a = t->src[0], *b = t->src[1];
    const pl_type_traits *tr = pl_dtype_traits(a->type);
    pl_dtype vt = a->type == PL_F32 ? PL_F32 : tr->vec_dot_type;
    int64_t K = b->ne[0], N = b->ne[1], nbat = b->ne[2] * b->ne[3];
    size_t row = pl_row_size(vt, K);
    /* packed rows and two or more columns: the columns widened to 16 bits too, after the converted ones */
    pl_vec_dot_r8w_fn r8w = a->packed && N >= 2 ? pl_vec_dot_r8w(a->type) : NULL;
    size_t wrow = r8w ? (size_t)(K / 32) * sizeof(pl_block_q8_0w) : 0;
    const size_t wide_at = (row * (size_t)(N * nbat) + 63) & ~(size_t)63; /* the widened rows' offset, aligned */
    char *bq = malloc(wrow ? wide_at + wrow * (size_t)(N * nbat) : row * (size_t)(N * nbat));
    if (!bq) return NULL;
    char *bw = r8w ? bq + wide_at : NULL;
    act_job aj = {b, pl_quantize_act(vt), bq, row, bw, wrow};
    if (N * nbat * K >= ACT_PAR_MIN) pl_parallel_for(ctx, N * nbat, act_rows, &aj); /* a server's prompt chunks */
    else act_rows(&aj, 0, N * nbat, 0);
    *j = (dot_job){t, bq, row, a->type == PL_F32 ? NULL : pl_vec_dot_rows(a->type, N * nbat),
                   a->type == PL_F32 || N < 2 ? NULL : pl_vec_dot_tile(a->type), a->type == PL_F32 ? NULL : pl_vec_dot_r8(a->type),
                   a->packed ? pl_vec_dot_r8p(a->type) : NULL, r8w, bw, wrow};
    return bq;
}

static void matmul_dots(pl_ctx *ctx, pl_tensor *t) {
    dot_job j;
    char *bq = dot_setup(ctx, t, &j);
    if (!bq) { memset(t->data, 0, pl_nbytes(t)); return; } /* TODO: report */
    pl_parallel_for_chunks(ctx, t->ne[2] * t->ne[3] * ((t->ne[0] + 15) / 16), dot_range, &j);
    free(bq);
}

/* ---- sibling products (t->sib_fwd, core/fusion.c): one input, several weights, one job ----------------- */
#define SIB_MAX 8
typedef struct { dot_job j; pl_tensor *t[SIB_MAX]; int64_t first[SIB_MAX + 1]; int n; } sib_job;
static void sib_range(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    sib_job *g = arg;
    int i = 0;
    for (int64_t w = s; w < e; w++) {
        while (w >= g->first[i + 1]) i++;
        pl_tensor *t = g->t[i];
        int64_t m = (w - g->first[i]) * 16;
        dot_block(&g->j, t, t->src[0]->data, 0, m, PL_MIN(t->ne[0], m + 16));
    }
}
static bool matmul_dot_path(const pl_ctx *ctx, const pl_tensor *t);
/* false when the chain cannot go as one job (then each is computed alone) */
static bool matmul_siblings(pl_ctx *ctx, pl_tensor *t) {
    sib_job g = {.n = 0};
    for (pl_tensor *u = t; u; u = u->sib_fwd) {
        if (g.n == SIB_MAX || !matmul_dot_path(ctx, u) || u->ne[2] * u->ne[3] != 1 || u->src[0]->type != t->src[0]->type ||
            u->src[1] != t->src[1])
            return false;
        g.t[g.n] = u;
        g.first[g.n + 1] = g.first[g.n] + (u->ne[0] + 15) / 16;
        g.n++;
    }
    char *bq = dot_setup(ctx, t, &g.j);
    if (!bq) return false;
    pl_parallel_for_chunks(ctx, g.first[g.n], sib_range, &g);
    free(bq);
    return true;
}

/* ---- the batched path for low-precision weights (prefill) ---------------------------------------------- */
/* With many activation rows, dequantizing blocks of a's rows to f32 and multiplying with sgemm beats the dot
 * kernels, and is more accurate (activations stay f32) - what llama.cpp does with a BLAS backend. */
#define DEQ_FLOATS (256 * 1024) /* at most 1 MiB of dequantized weights per thread: stays in L2 for sgemm */
#define DEQ_MIN_N 32
/* q8_0 weights stay on the dot path up to 192 rows where the 16-bit kernel (pl_vec_dot_r8w) runs their packed
 * rows, unpacked ones too (the same bits whether packed or not): plinth bench -p N
 * on SmolLM2-135M Q8_0, one thread, AMD EPYC (Zen 3): dot kernel / dequantized sgemm 398 / 228 tok/s at 32 rows,
 * 371 / 293 at 64, 364 / 342 at 128, 334 / 352 at 256 */
#define DEQ_MIN_N_R8W 192
/* scratch: blk*K floats per thread; blk: rows per work item */
typedef struct { pl_tensor *t; int64_t i2, i3, blk; float *scratch; } deq_job;
static void deq_gemm_range(void *arg, int64_t s, int64_t e, int ith) {
    deq_job *j = arg;
    pl_tensor *t = j->t, *a = t->src[0], *b = t->src[1];
    const pl_type_traits *tr = pl_dtype_traits(a->type);
    int64_t M = t->ne[0], K = a->ne[0];
    const char *abase = (const char *)a->data + (j->i2 / (t->ne[2] / a->ne[2])) * a->nb[2] +
                        (j->i3 / (t->ne[3] / a->ne[3])) * a->nb[3];
    float *c = pl_f32(t) + (j->i3 * t->ne[2] + j->i2) * M * t->ne[1];
    float *w = j->scratch + (size_t)ith * j->blk * K;
    for (int64_t blk = s; blk < e; blk++) {
        int64_t m0 = blk * j->blk, rows = PL_MIN(j->blk, M - m0);
        if (rows <= 0) break;
        int64_t r = 0;
        if (a->packed) /* whole groups from the packed rows (the ones decode reads) */
            for (; r + PL_DOT_R8 <= rows && (m0 + r) % PL_DOT_R8 == 0; r += PL_DOT_R8)
                pl_r8_unpack(a->type, packed_group(a, m0 + r), K, w + r * K, (size_t)K);
        for (; r < rows; r++) tr->to_float(abase + (m0 + r) * a->nb[1], w + r * K, K);
        mat wt = {w, K, rows, 1, K}; /* (K x rows): element (k, r) at w[r*K + k] */
        gemm_any(c + m0, M, mat_of(b, j->i2, j->i3, false), wt, 1.0f, 0.0f);
    }
}
/* Rows of a per work item: each thread's share of M in as few equal blocks (multiples of 16 rows) as fit
 * DEQ_FLOATS, so that threads finish together and each sgemm call is as large as it can be (every call
 * packs all the activations again). 576 x 576 on 2 threads: 2 x 288, not 256 + 256 + 64. */
static int64_t deq_block_rows(int64_t M, int64_t K, int n_threads) {
    int64_t cap = PL_MAX(16, DEQ_FLOATS / K / 16 * 16), per = (M + n_threads - 1) / n_threads;
    int64_t nblk = (per + cap - 1) / cap, rows = (per + nblk - 1) / nblk;
    return PL_MIN((rows + 15) / 16 * 16, PL_MAX(cap, 16));
}
static bool matmul_dequant_gemm(pl_ctx *ctx, pl_tensor *t) {
    int64_t K = t->src[0]->ne[0], blk = deq_block_rows(t->ne[0], K, ctx->n_threads);
    float *scratch = malloc((size_t)ctx->n_threads * (size_t)(blk * K) * sizeof(float));
    if (!scratch) return false; /* the dot kernels need no scratch of this size */
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++) {
            deq_job j = {t, i2, i3, blk, scratch};
            pl_parallel_for(ctx, (t->ne[0] + blk - 1) / blk, deq_gemm_range, &j);
        }
    free(scratch);
    return true;
}

/* a is one 2-D matrix shared by all of b's batches, and b's rows follow each other across batches with one
 * stride: the batches then form one matrix of N*B2*B3 rows (how activations (C, T, B) meet a weight). */
static bool a_shared(const pl_tensor *t) {
    const pl_tensor *a = t->src[0], *b = t->src[1];
    if (a->ne[2] != 1 || a->ne[3] != 1 || (t->ne[2] == 1 && t->ne[3] == 1) || b->nb[0] != sizeof(float)) return false;
    return (b->ne[2] == 1 || b->nb[2] == (size_t)b->ne[1] * b->nb[1]) &&
           (b->ne[3] == 1 || b->nb[3] == (size_t)b->ne[2] * b->nb[2]);
}
/* one plain product C = A B: a weight shared by every batch, or 2-D operands (an encoder's packed tokens) - the
 * products that plinth's GEMM can give a write-back (bias, fused consumer) */
static bool one_product(const pl_tensor *t) {
    const pl_tensor *a = t->src[0], *b = t->src[1];
    bool flat = t->ne[2] == 1 && t->ne[3] == 1 && a->ne[2] == 1 && a->ne[3] == 1 && b->ne[2] == 1 && b->ne[3] == 1;
    return a_shared(t) || (flat && b->nb[0] == sizeof(float));
}
static mat b_rows(const pl_tensor *b) {
    mat m = mat_of(b, 0, 0, false);
    m.rows = b->ne[1] * b->ne[2] * b->ne[3];
    return m;
}

/* f32: BLAS when big enough to pay for the call, and whenever a is a transposed view */
static bool f32_blas(const pl_ctx *ctx, const pl_tensor *t) {
    const pl_tensor *a = t->src[0];
    int64_t M = t->ne[0], N = t->ne[1], K = a->ne[0];
    if (ctx->rows_apart && a->nb[0] == 4) return false; /* one dot per row and column, at any N */
    return a->type == PL_F32 && ((N >= 8 && M * N * K >= (1 << 16)) || a->nb[0] != 4);
}

/* the bias of pl_matmul_bias, per output row: copied in before an sgemm that adds to it, or added after */
typedef struct { pl_tensor *t; bool copy; } bias_job;
static void bias_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    bias_job *j = arg;
    int64_t M = j->t->ne[0];
    const float *bias = pl_f32(j->t->src[2]);
    for (int64_t r = s; r < e; r++) {
        float *o = pl_f32(j->t) + r * M;
        if (j->copy) memcpy(o, bias, (size_t)M * sizeof(float));
        else pl_vec_axpy_f32(M, 1.0f, bias, o);
    }
}
/* d bias[m] += sum over rows of dC[row][m]: threads take column ranges */
static void bias_grad_cols(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    pl_tensor *t = arg;
    int64_t M = t->ne[0], rows = pl_nrows(t);
    float *gbias = op_grad(t->src[2]);
    const float *dc = pl_f32(t->grad);
    for (int64_t r = 0; r < rows; r++) pl_vec_axpy_f32(e - s, 1.0f, dc + r * M + s, gbias + s);
}

static void matmul_product(pl_ctx *ctx, pl_tensor *t, float beta);
static void matmul_forward(pl_ctx *ctx, pl_tensor *t) {
    if (!t->src[2]) { matmul_product(ctx, t, 0.0f); return; }
    if (f32_blas(ctx, t) && one_product(t) && /* one f32 weight: plinth's GEMM adds the bias in its write-back */
        pl_sgemm_bias_par(ctx, pl_f32(t), t->ne[0], b_rows(t->src[1]), mat_of(t->src[0], 0, 0, true), pl_f32(t->src[2])))
        return;
    bool into = f32_blas(ctx, t); /* sgemm adds to what is there: start from the bias */
    bias_job j = {t, into};
    if (into) pl_parallel_for(ctx, pl_nrows(t), bias_rows, &j);
    matmul_product(ctx, t, into ? 1.0f : 0.0f);
    if (!into) pl_parallel_for(ctx, pl_nrows(t), bias_rows, &j);
}
/* A consumer fused into this product by the graph (t->epi_fwd, core/fusion.c): a GELU (tanh or erf) of the output, written
 * beside it, or a residual sum, written instead of it - in the GEMM's write-back where plinth's GEMM takes the
 * product, else by the consumer's own forward right after. Not while an observer watches every node. */
void op_matmul_forward(pl_ctx *ctx, pl_tensor *t) {
    if (t->sib_fwd && !ctx->observe) { /* and the later products of the same input (fusion.c: no bias, no consumer) */
        if (matmul_siblings(ctx, t)) return;
        for (pl_tensor *u = t; u; u = u->sib_fwd) matmul_forward(ctx, u);
        return;
    }
    pl_tensor *u = ctx->observe ? NULL : t->epi_fwd;
    if (u && f32_blas(ctx, t) && one_product(t)) {
        pl_sgemm_epi e = {.bias = t->src[2] ? pl_f32(t->src[2]) : NULL};
        float *c = pl_f32(t);
        if (u->op == PL_OP_GELU)
            e.gelu = pl_f32(u), e.ld_gelu = t->ne[0], e.gelu_erf = !u->p.i[0], e.gelu_quick = u->p.i[0] == PL_GELU_QUICK;
        else e.add = pl_f32(u->src[u->src[0] == t]), e.ld_add = t->ne[0], c = pl_f32(u);
        if (pl_sgemm_epi_par(ctx, c, t->ne[0], b_rows(t->src[1]), mat_of(t->src[0], 0, 0, true), 0.0f, &e)) return;
    }
    matmul_forward(ctx, t);
    if (u) (u->op == PL_OP_GELU ? op_gelu_forward : op_add_forward)(ctx, u);
}

/* many activation rows of a low-precision weight: dequantized blocks and sgemm */
static bool dequant_path(const pl_ctx *ctx, const pl_tensor *t) {
    const pl_tensor *a = t->src[0], *b = t->src[1];
    const int64_t min_n = pl_vec_dot_r8w(a->type) ? DEQ_MIN_N_R8W : DEQ_MIN_N; /* packed or not: the same bits */
    return a->type != PL_F32 && t->ne[1] >= min_n && !ctx->rows_apart && b->nb[0] == sizeof(float) &&
           pl_dtype_traits(a->type)->to_float;
}
/* the products matmul_product gives to the dot kernels */
static bool matmul_dot_path(const pl_ctx *ctx, const pl_tensor *t) { return !dequant_path(ctx, t) && !f32_blas(ctx, t); }

/* beta applies to the f32 BLAS products only (the other paths write) */
static void matmul_product(pl_ctx *ctx, pl_tensor *t, float beta) {
    pl_tensor *a = t->src[0], *b = t->src[1];
    int64_t M = t->ne[0], N = t->ne[1];
    if (dequant_path(ctx, t) && matmul_dequant_gemm(ctx, t)) return;
    if (!f32_blas(ctx, t)) { matmul_dots(ctx, t); return; }
    if (a_shared(t)) { /* one weight for every batch: one tall product instead of a loop of short ones */
        gemm_par(ctx, pl_f32(t), M, b_rows(b), mat_of(a, 0, 0, true), 1.0f, beta);
        return;
    }
    int64_t r2 = t->ne[2] / a->ne[2], r3 = t->ne[3] / a->ne[3];
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++) {
            float *c = pl_f32(t) + (i3 * t->ne[2] + i2) * M * N;
            gemm_par(ctx, c, M, mat_of(b, i2, i3, false), mat_of(a, i2 / r2, i3 / r3, true), 1.0f, beta);
        }
}

/* A frozen low-precision weight a shared by every batch (LoRA / prompt tuning over a quantized base): dB (rows x K)
 * = dC (rows x M) . A (M x K), A dequantized a block of rows at a time (a few hundred KiB, not the whole matrix)
 * and multiplied into dB by one GEMM per block over all the batch's rows. */
typedef struct { const pl_tensor *a; float *w; int64_t m0; } deq_rows_job;
static void deq_rows(void *arg, int64_t s, int64_t e, int ith) {
    (void)ith;
    const deq_rows_job *j = arg;
    const pl_type_traits *tr = pl_dtype_traits(j->a->type);
    for (int64_t r = s; r < e; r++)
        tr->to_float((const char *)j->a->data + (j->m0 + r) * j->a->nb[1], j->w + r * j->a->ne[0], j->a->ne[0]);
}
static bool frozen_input_grad(pl_ctx *ctx, pl_tensor *t) {
    pl_tensor *a = t->src[0], *b = t->src[1];
    float *gb = op_grad(b);
    int64_t M = t->ne[0], K = a->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
    int64_t blk = PL_MAX(16, DEQ_FLOATS / K / 16 * 16);
    float *w = malloc((size_t)(PL_MIN(blk, M) * K) * sizeof(float));
    if (!w) return false;
    float beta = op_grad_beta(ctx, b, true);
    const float *dc = pl_f32(t->grad);
    for (int64_t m0 = 0; m0 < M; m0 += blk) {
        int64_t nb = PL_MIN(blk, M - m0);
        deq_rows_job j = {a, w, m0};
        pl_parallel_for(ctx, nb, deq_rows, &j);
        gemm_par(ctx, gb, K, (mat){dc + m0, rows, nb, M, 1}, mat_dense(w, nb, K), 1.0f, m0 ? 1.0f : beta);
    }
    free(w);
    return true;
}

/* dA (M x K) += dC^T . B ;  dB (N x K) += dC . A  (per batch; broadcast batches of a accumulate). With a GELU
 * fused in (t->epi_bwd, core/fusion.c), dB is its output's gradient, and the product that writes it whole multiplies by
 * gelu'(the GELU's input) on the way, which is the input's gradient (the buffer they share): returns true then. */
static bool matmul_backward(pl_ctx *ctx, pl_tensor *t) {
    pl_tensor *a = t->src[0], *b = t->src[1];
    float *ga = op_grad(a), *gb = op_grad(b);
    int64_t M = t->ne[0], N = t->ne[1], K = a->ne[0];
    int64_t r2 = t->ne[2] / a->ne[2], r3 = t->ne[3] / a->ne[3];
    float *adense = NULL;
    op_grad_beta(ctx, t->src[2], false);
    float *gbias = op_grad(t->src[2]);
    bool self = a == b; /* x x^T: both products go to one buffer */
    if (!ga && gb && !gbias && !t->epi_bwd && a->type != PL_F32 && a_shared(t) && pl_dtype_traits(a->type)->to_float &&
        frozen_input_grad(ctx, t))
        return false;
    if (a_shared(t) && (a->type == PL_F32 || !gb)) {
        int64_t rows = N * t->ne[2] * t->ne[3];
        const float *dc = pl_f32(t->grad);
        float ba = op_grad_beta(ctx, a, !self), bb = op_grad_beta(ctx, b, !self);
        mat dct = {dc, M, rows, 1, M}; /* dC^T */
        /* the weight's gradient, with the bias's (dC's column sums) gathered as the GEMM packs dC^T */
        if (ga && gbias && pl_sgemm_rowsum_par(ctx, ga, K, dct, b_rows(b), ba, gbias)) gbias = NULL;
        else if (ga) gemm_par(ctx, ga, K, dct, b_rows(b), 1.0f, ba);
        if (gbias) pl_parallel_for(ctx, M, bias_grad_cols, t);
        pl_tensor *gl = t->epi_bwd;
        if (gb && gl && bb == 0.0f &&
            pl_sgemm_epi_par(ctx, gb, K, mat_dense(dc, rows, M), mat_of(a, 0, 0, false), 0.0f,
                             &(pl_sgemm_epi){.gelu_x = pl_f32(gl->src[0]), .ld_gelu_x = K}))
            return true;
        if (gb) gemm_par(ctx, gb, K, mat_dense(dc, rows, M), mat_of(a, 0, 0, false), 1.0f, bb);
        return false;
    }
    if (gbias) pl_parallel_for(ctx, M, bias_grad_cols, t);
    float ba = op_grad_beta(ctx, a, !self && r2 == 1 && r3 == 1);
    float bb = op_grad_beta(ctx, b, !self); /* b's batches: one product each */
    if (gb && a->type != PL_F32) adense = malloc((size_t)(M * K) * sizeof(float)); /* frozen low-precision weights */
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++) {
            const float *dc = pl_f32(t->grad) + (i3 * t->ne[2] + i2) * M * N;
            int64_t a2 = i2 / r2, a3 = i3 / r3;
            if (ga) {
                float *da = ga + (a3 * a->ne[2] + a2) * M * K;
                mat dct = {dc, M, N, 1, M}; /* dC^T */
                gemm_par(ctx, da, K, dct, mat_of(b, i2, i3, false), 1.0f, ba);
            }
            if (gb) {
                float *db = gb + (i3 * b->ne[2] + i2) * N * K;
                mat am;
                if (a->type == PL_F32) am = mat_of(a, a2, a3, false);
                else {
                    const pl_type_traits *tr = pl_dtype_traits(a->type);
                    for (int64_t m = 0; m < M; m++)
                        tr->to_float((const char *)a->data + m * a->nb[1] + a2 * a->nb[2] + a3 * a->nb[3], adense + m * K, K);
                    am = mat_dense(adense, M, K);
                }
                gemm_par(ctx, db, K, mat_dense(dc, N, M), am, 1.0f, bb);
            }
        }
    free(adense);
    return false;
}
void op_matmul_backward(pl_ctx *ctx, pl_tensor *t) {
    if (!matmul_backward(ctx, t) && t->epi_bwd) op_gelu_backward(ctx, t->epi_bwd); /* then the GELU's own pass */
}
