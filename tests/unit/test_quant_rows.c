/* The four-row decode kernels (backend/cpu/quant_rows.c): every SIMD variant this machine has against the
 * scalar reference (four one-row scalar dots), on quantized random rows and on random bytes, with 1 to 7
 * blocks (every kind of tail step) and row lengths of real models; q5_0 at the bounds of its 16-bit block
 * sums; and pl_matmul's dot path with row counts that are not a multiple of four, against the one-row dot of
 * each row; the AVX-512 activation quantizers against the reference. */
#include "test.h"

#include "backend/cpu/quant_rows.h"
#include "core/common.h"
#include "core/cpu.h"
#include "core/tensor.h"
#include "quant/quant_kernels.h"

#include <string.h>

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) / 8388608.0 - 1.0);
}

static const pl_dtype types[] = {PL_Q4_0, PL_Q4_1, PL_Q5_0, PL_Q5_1, PL_Q8_0, PL_Q4_K, PL_Q6_K};

/* keep every fp16 field of random blocks finite (clear the top exponent bit) */
static void tame_halves(pl_dtype t, uint8_t *row, size_t bytes) {
    const pl_type_traits *tr = pl_dtype_traits(t);
    for (size_t b = 0; b < bytes / tr->type_size; b++) {
        uint8_t *blk = row + b * tr->type_size;
        if (t == PL_Q6_K) blk[209] &= 0x3f;
        else {
            blk[1] &= 0x3f;
            if (t == PL_Q4_1 || t == PL_Q5_1 || t == PL_Q4_K) blk[3] &= 0x3f;
        }
    }
}

static void test_type(pl_dtype t, int64_t n, bool random_bytes) {
    const pl_type_traits *tr = pl_dtype_traits(t), *at = pl_dtype_traits(tr->vec_dot_type);
    const size_t rb = pl_row_size(t, n) + 8; /* a row stride that is not the row size */
    uint8_t *w = calloc(4, rb);
    void *aq = malloc(pl_row_size(tr->vec_dot_type, n));
    float *f = malloc((size_t)n * sizeof(float)), *wd = malloc((size_t)n * sizeof(float)), *ad = malloc((size_t)n * sizeof(float));
    for (int r = 0; r < 4; r++) {
        if (random_bytes) {
            for (size_t i = 0; i < pl_row_size(t, n); i++) w[r * rb + i] = (uint8_t)(frand() * 128 + 128);
            tame_halves(t, w + r * rb, pl_row_size(t, n));
        } else {
            for (int64_t i = 0; i < n; i++) f[i] = 0.05f * frand() + (i % 61 == r ? 0.5f : 0.0f);
            tr->from_float(f, w + r * rb, n);
        }
    }
    for (int64_t i = 0; i < n; i++) f[i] = 2 * frand();
    at->from_float(f, aq, n);
    at->to_float(aq, ad, n);
    float ref[4], got[4];
    pl_vec_dot_rows_fn sc = pl_vec_dot_rows_scalar(t);
    CHECK(sc != NULL);
    sc(n, ref, w, rb, aq);
    for (int r = 0; r < 4; r++) {
        tr->to_float(w + r * rb, wd, n);
        double l1 = 0;
        for (int64_t i = 0; i < n; i++) l1 += fabs((double)wd[i] * ad[i]);
        pl_vec_dot_rows_fn simd[2] = {pl_cpu()->avx512f && pl_cpu()->avx512vnni ? pl_vec_dot_rows_avx512(t) : NULL,
                                      pl_cpu()->avx2 && pl_cpu()->fma ? pl_vec_dot_rows_avx2(t) : NULL};
        for (int v = 0; v < 2; v++) {
            if (!simd[v]) continue;
            simd[v](n, got, w, rb, aq);
            CHECKF(fabs(got[r] - ref[r]) <= 1e-5 * (l1 + fabs(ref[r])) + 1e-6, "%s n=%lld row %d%s: %s %.9g vs scalar %.9g",
                   tr->name, (long long)n, r, random_bytes ? " (random bytes)" : "", v ? "avx2" : "avx512", got[r], ref[r]);
        }
    }
    free(w), free(aq), free(f), free(wd), free(ad);
}

/* the largest integer sums: every q5_0 code at 0 (or 31) against activations all at +127 (or -127), so each
 * vpdpbusd lane is +-8128 and each block +-65024, the bounds the AVX-512 kernel's 16-bit block sums rely on */
static void test_q5_0_extremes(int64_t n) {
    pl_vec_dot_rows_fn simd = pl_cpu()->avx512f && pl_cpu()->avx512vnni ? pl_vec_dot_rows_avx512(PL_Q5_0) : NULL;
    if (!simd) return;
    const size_t rb = pl_row_size(PL_Q5_0, n);
    uint8_t *w = malloc(4 * rb);
    void *aq = malloc(pl_row_size(PL_Q8_0, n));
    float *f = malloc((size_t)n * sizeof(float));
    for (int pass = 0; pass < 4; pass++) {
        for (int r = 0; r < 4; r++) {
            uint8_t *row = w + r * rb;
            const bool high = (pass + r) & 1; /* rows alternate, so each call mixes both bounds */
            for (size_t b = 0; b < rb / 22; b++) {
                pl_fp16 d = pl_fp32_to_fp16(0.5f + 0.25f * (float)(b % 3));
                memcpy(row + 22 * b, &d, 2);
                memset(row + 22 * b + 2, high ? 0xFF : 0x00, 20);
            }
        }
        for (int64_t i = 0; i < n; i++) f[i] = pass < 2 ? 1.0f : -1.0f;
        pl_dtype_traits(PL_Q8_0)->from_float(f, aq, n);
        float ref[4], got[4];
        pl_vec_dot_rows_scalar(PL_Q5_0)(n, ref, w, rb, aq);
        simd(n, got, w, rb, aq);
        for (int r = 0; r < 4; r++)
            CHECKF(fabs(got[r] - ref[r]) <= 1e-5 * fabs(ref[r]), "q5_0 extremes n=%lld pass %d row %d: avx512 %.9g vs scalar %.9g",
                   (long long)n, pass, r, got[r], ref[r]);
    }
    free(w), free(aq), free(f);
}

/* pl_matmul (dot path, N = 1 and 3) with M rows: four-row groups plus a tail of single rows */
static void test_matmul(pl_ctx *ctx, pl_dtype t, int64_t M, int64_t K, int64_t N) {
    const pl_type_traits *tr = pl_dtype_traits(t), *at = pl_dtype_traits(tr->vec_dot_type);
    pl_tensor *a = pl_new_2d(ctx, t, K, M), *b = pl_new_2d(ctx, PL_F32, K, N);
    float *f = malloc((size_t)K * sizeof(float));
    void *aq = malloc(pl_row_size(tr->vec_dot_type, K));
    for (int64_t m = 0; m < M; m++) {
        for (int64_t k = 0; k < K; k++) f[k] = frand();
        tr->from_float(f, (char *)a->data + m * a->nb[1], K);
    }
    for (int64_t i = 0; i < N * K; i++) pl_f32(b)[i] = frand();
    pl_tensor *c = pl_matmul(ctx, a, b);
    pl_graph_forward(ctx, pl_graph_build(ctx, c, false));
    for (int64_t n = 0; n < N; n++) {
        at->from_float(pl_f32(b) + n * K, aq, K);
        for (int64_t m = 0; m < M; m++) {
            float want = pl_vec_dot(t, K, (char *)a->data + m * a->nb[1], aq), v = pl_f32(c)[n * M + m];
            CHECKF(fabs(v - want) <= 1e-5 * (fabs(want) + 1) * sqrt((double)K), "%s matmul M=%lld: [%lld][%lld] %.9g vs %.9g",
                   tr->name, (long long)M, (long long)n, (long long)m, v, want);
        }
    }
    free(f), free(aq);
}

/* the AVX-512 and AVX2 activation quantizers give the reference's bytes, ties and zero blocks included */
static void test_act_quant_isa(pl_dtype t, int64_t n, pl_from_float_fn simd, const char *isa) {
    if (!simd) return;
    const size_t bytes = pl_row_size(t, n);
    float *x = malloc((size_t)n * sizeof(float));
    uint8_t *want = malloc(bytes), *got = malloc(bytes);
    for (int pass = 0; pass < 3; pass++) {
        for (int64_t i = 0; i < n; i++) {
            x[i] = pass == 0 ? 3 * frand() : (float)((int)(frand() * 254)) * 0.5f; /* pass 1: many .5 ties */
            if (pass == 2 && i < n / 2) x[i] = 0; /* all-zero blocks */
        }
        x[0] = pass == 1 ? 127.0f : x[0];
        pl_dtype_traits(t)->from_float(x, want, n);
        memset(got, 0xAB, bytes);
        simd(x, got, n);
        CHECKF(!memcmp(want, got, bytes), "%s n=%lld pass %d: %s activation quantizer differs", pl_dtype_name(t),
               (long long)n, pass, isa);
    }
    free(x), free(want), free(got);
}
static void test_act_quant(pl_dtype t, int64_t n) {
    test_act_quant_isa(t, n, pl_cpu()->avx512f ? pl_quantize_act_avx512(t) : NULL, "AVX-512");
    test_act_quant_isa(t, n, pl_cpu()->avx2 && pl_cpu()->fma ? pl_quantize_act_avx2(t) : NULL, "AVX2");
}

/* the AVX2 q8_0 4 x 2 tile: eight dots, each the scalar reference's within float rounding */
static void test_tile(int64_t n) {
    pl_vec_dot_tile_fn tile = pl_cpu()->avx2 && pl_cpu()->fma ? pl_vec_dot_tile_avx2(PL_Q8_0) : NULL;
    if (!tile) return;
    const size_t rb = pl_row_size(PL_Q8_0, n);
    uint8_t *w = malloc(4 * rb), *y = malloc(2 * rb);
    float *f = malloc((size_t)n * sizeof(float)), got[8], ref;
    for (int r = 0; r < 6; r++) {
        for (int64_t i = 0; i < n; i++) f[i] = 2 * frand() - 1 + (i % 37 == r ? 3.0f : 0.0f);
        pl_dtype_traits(PL_Q8_0)->from_float(f, r < 4 ? w + r * rb : y + (r - 4) * rb, n);
    }
    tile(n, got, w, rb, y, rb);
    for (int c = 0; c < 2; c++)
        for (int r = 0; r < 4; r++) {
            pl_vec_dot_q8_0_q8_0_scalar(n, &ref, w + r * rb, y + c * rb);
            CHECKF(fabs(got[c * 4 + r] - ref) <= 1e-5 * (fabs(ref) + n), "q8_0 tile n=%lld row %d col %d: %.9g vs %.9g",
                   (long long)n, r, c, got[c * 4 + r], ref);
        }
    free(w), free(y), free(f);
}

/* the eight-row kernels' arithmetic, per row: the fma chain over the blocks of (float)integer dot x (d_w * d_y)
 * (q4_K: then minus (float)(sum of mins x activation sums) x (dmin * d_y)) — the same for any count of rows */
static float r8_ref(pl_dtype t, int64_t n, const void *vx, const void *vy) {
    float acc = 0;
    if (t == PL_Q8_0) {
        const pl_block_q8_0 *x = vx, *a = vy;
        for (int64_t b = 0; b < n / 32; b++) {
            int32_t isum = 0;
            for (int k = 0; k < 32; k++) isum += x[b].qs[k] * a[b].qs[k];
            acc = fmaf((float)isum, pl_fp16_to_fp32(x[b].d) * pl_fp16_to_fp32(a[b].d), acc);
        }
        return acc;
    }
    if (t == PL_Q4_0 || t == PL_Q4_1) { /* nibbles: value j low of qs[j], j + 16 high; q4_0 stored +8, q4_1 + m */
        const bool one = t == PL_Q4_1;
        for (int64_t b = 0; b < n / 32; b++) {
            const pl_block_q4_0 *x0 = (const pl_block_q4_0 *)vx + b;
            const pl_block_q4_1 *x1 = (const pl_block_q4_1 *)vx + b;
            const int8_t *qa = one ? ((const pl_block_q8_1 *)vy)[b].qs : ((const pl_block_q8_0 *)vy)[b].qs;
            const uint8_t *qs = one ? x1->qs : x0->qs;
            int32_t isum = 0;
            for (int j = 0; j < 32; j++) isum += ((j < 16 ? qs[j] & 15 : qs[j - 16] >> 4) - (one ? 0 : 8)) * qa[j];
            const float dy = pl_fp16_to_fp32(one ? ((const pl_block_q8_1 *)vy)[b].d : ((const pl_block_q8_0 *)vy)[b].d);
            acc = fmaf((float)isum, pl_fp16_to_fp32(one ? x1->d : x0->d) * dy, acc);
            if (one) acc = fmaf(pl_fp16_to_fp32(x1->m), pl_fp16_to_fp32(((const pl_block_q8_1 *)vy)[b].s), acc);
        }
        return acc;
    }
    if (t == PL_Q5_0 || t == PL_Q5_1) { /* codes 0..31: nibbles in qs (values j and j + 16), fifth bits in qh;
                                          * q5_0 stored +16, q5_1 + m */
        const bool one = t == PL_Q5_1;
        for (int64_t b = 0; b < n / 32; b++) {
            const pl_block_q5_0 *x0 = (const pl_block_q5_0 *)vx + b;
            const pl_block_q5_1 *x1 = (const pl_block_q5_1 *)vx + b;
            const int8_t *qa = one ? ((const pl_block_q8_1 *)vy)[b].qs : ((const pl_block_q8_0 *)vy)[b].qs;
            const uint8_t *qs = one ? x1->qs : x0->qs;
            int32_t isum = 0;
            uint32_t qh;
            memcpy(&qh, one ? x1->qh : x0->qh, 4);
            for (int j = 0; j < 32; j++) {
                const int nib = j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
                isum += ((nib | (int)((qh >> j) & 1) << 4) - (one ? 0 : 16)) * qa[j];
            }
            const float dy = pl_fp16_to_fp32(one ? ((const pl_block_q8_1 *)vy)[b].d : ((const pl_block_q8_0 *)vy)[b].d);
            acc = fmaf((float)isum, pl_fp16_to_fp32(one ? x1->d : x0->d) * dy, acc);
            if (one) acc = fmaf(pl_fp16_to_fp32(x1->m), pl_fp16_to_fp32(((const pl_block_q8_1 *)vy)[b].s), acc);
        }
        return acc;
    }
    if (t == PL_Q6_K) { /* codes stored +32; 16-value sub-blocks with signed scales */
        const pl_block_q6_K *x = vx;
        const pl_block_q8_K *a = vy;
        for (int64_t b = 0; b < n / 256; b++) {
            int32_t isum = 0;
            for (int p = 0; p < 256; p++) {
                const int h = p / 128, r = p % 128;
                const int lo = (x[b].ql[64 * h + r % 64] >> (4 * (r / 64))) & 0xF, hi = (x[b].qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
                isum += x[b].scales[p / 16] * ((lo | (hi << 4)) - 32) * a[b].qs[p];
            }
            acc = fmaf((float)isum, pl_fp16_to_fp32(x[b].d) * a[b].d, acc);
        }
        return acc;
    }
    const pl_block_q4_K *x = vx;
    const pl_block_q8_K *a = vy;
    for (int64_t b = 0; b < n / 256; b++) {
        int32_t isum = 0, msum = 0;
        for (int sb = 0; sb < 8; sb++) {
            uint8_t sc, m;
            quant_get_scale_min_k4(sb, x[b].scales, &sc, &m);
            int32_t part = 0;
            for (int j = 0; j < 32; j++) {
                const int i = 32 * sb + j, byte = x[b].qs[32 * (i / 64) + i % 32];
                part += (i % 64 < 32 ? byte & 15 : byte >> 4) * a[b].qs[i];
            }
            isum += sc * part;
            msum += m * (a[b].bsums[2 * sb] + a[b].bsums[2 * sb + 1]);
        }
        acc = fmaf((float)isum, pl_fp16_to_fp32(x[b].d) * a[b].d, acc);
        acc = fmaf(-(float)msum, pl_fp16_to_fp32(x[b].dmin) * a[b].d, acc);
    }
    return acc;
}

/* the AVX2 eight-row kernels (q8_0, q4_0, q4_1, q5_0, q5_1, q4_K, q6_K): for any count of activation rows, each sum bit for bit r8_ref's and
 * the scalar dot's within rounding; random bytes include q8_0's -128 codes (a file's q8_0 may hold them) */
static void test_r8(pl_dtype t, int64_t n, int n_act, bool random_bytes) {
    pl_vec_dot_r8_fn r8 = pl_cpu()->avx2 && pl_cpu()->fma && pl_cpu()->f16c ? pl_vec_dot_r8_avx2(t) : NULL;
    if (!r8) return;
    const pl_type_traits *tr = pl_dtype_traits(t);
    const size_t rb = pl_row_size(t, n), yb = pl_row_size(tr->vec_dot_type, n), lds = 11; /* lds is honoured */
    uint8_t *w = malloc(8 * rb), *y = malloc((size_t)n_act * yb);
    float *f = malloc((size_t)n * sizeof(float)), *got = malloc((size_t)n_act * lds * sizeof(float));
    for (int r = 0; r < 8 + n_act; r++) {
        for (int64_t i = 0; i < n; i++) f[i] = 2 * frand() - 1 + (i % 37 == r ? 3.0f : 0.0f);
        if (r >= 8) { pl_quantize_act(tr->vec_dot_type)(f, y + (r - 8) * yb, n); continue; }
        tr->from_float(f, w + r * rb, n);
        if (random_bytes && t == PL_Q8_0)
            for (int64_t b = 0; b < n / 32; b++)
                for (int k = 0; k < 32; k++) ((pl_block_q8_0 *)(w + r * rb))[b].qs[k] = (int8_t)(rand() & 0xff);
        if (random_bytes && (t == PL_Q4_0 || t == PL_Q4_1)) /* any nibbles */
            for (int64_t b = 0; b < n / 32; b++)
                for (int k = 0; k < 16; k++)
                    (t == PL_Q4_0 ? ((pl_block_q4_0 *)(w + r * rb))[b].qs : ((pl_block_q4_1 *)(w + r * rb))[b].qs)[k] = (uint8_t)rand();
        if (random_bytes && (t == PL_Q5_0 || t == PL_Q5_1)) /* any codes */
            for (int64_t b = 0; b < n / 32; b++) {
                uint8_t *qh = t == PL_Q5_0 ? ((pl_block_q5_0 *)(w + r * rb))[b].qh : ((pl_block_q5_1 *)(w + r * rb))[b].qh;
                uint8_t *qs = t == PL_Q5_0 ? ((pl_block_q5_0 *)(w + r * rb))[b].qs : ((pl_block_q5_1 *)(w + r * rb))[b].qs;
                for (int k = 0; k < 4; k++) qh[k] = (uint8_t)rand();
                for (int k = 0; k < 16; k++) qs[k] = (uint8_t)rand();
            }
        if (random_bytes && t == PL_Q6_K) /* any codes, any signed scales (-128 included) */
            for (int64_t b = 0; b < n / 256; b++) {
                pl_block_q6_K *x = (pl_block_q6_K *)(w + r * rb) + b;
                for (int k = 0; k < 16; k++) x->scales[k] = (int8_t)(rand() & 0xff);
                for (int k = 0; k < 128; k++) x->ql[k] = (uint8_t)rand();
                for (int k = 0; k < 64; k++) x->qh[k] = (uint8_t)rand();
            }
        if (random_bytes && t == PL_Q4_K) /* any scale and min codes, any nibbles */
            for (int64_t b = 0; b < n / 256; b++) {
                pl_block_q4_K *x = (pl_block_q4_K *)(w + r * rb) + b;
                for (int k = 0; k < 12; k++) x->scales[k] = (uint8_t)rand();
                for (int k = 0; k < 128; k++) x->qs[k] = (uint8_t)rand();
            }
    }
    r8(n, got, lds, w, rb, y, yb, n_act);
    bool exact = true;
    for (int c = 0; c < n_act; c++)
        for (int r = 0; r < 8; r++) {
            float ref;
            const float want = r8_ref(t, n, w + r * rb, y + c * yb), v = got[c * lds + r];
            exact &= v == want;
            tr->vec_dot(n, &ref, w + r * rb, y + c * yb);
            CHECKF(fabs(v - ref) <= 1e-5 * (fabs(ref) + n), "%s r8 n=%lld row %d col %d: %.9g vs %.9g", tr->name, (long long)n,
                   r, c, v, ref);
        }
    CHECKF(exact, "%s r8 n=%lld, %d activation rows%s: not the fma chain's bits", tr->name, (long long)n, n_act,
           random_bytes ? " (random bytes)" : "");
    free(w), free(y), free(f), free(got);
}

/* The AVX-512 VNNI packed kernel (where the CPU has VNNI): every sum the scalar dot's within rounding, random
 * bytes included (q8_0's -128 codes on both sides); a column's sums the same bits for any count of activation
 * rows, so a sequence decodes the same alone or in a batch; and pl_matmul over packed rows (decode's dot path, 3
 * columns) within rounding of the unpacked four-row kernels, rows of a partial group included. */
static void test_packed_vnni(int64_t n, int64_t rows) {
    pl_vec_dot_r8p_fn r8p = pl_cpu()->avx512vnni && pl_cpu_isa() >= PL_ISA_AVX512 ? pl_vec_dot_r8p_avx512(PL_Q8_0) : NULL;
    if (!r8p) return;
    const pl_type_traits *tr = pl_dtype_traits(PL_Q8_0);
    const size_t rb = pl_row_size(PL_Q8_0, n), bytes = pl_r8_packed_size(PL_Q8_0, rows, n);
    const int n_act = 13, lds = 19;
    uint8_t *w = malloc(rows * rb), *y = malloc(n_act * rb), *p = malloc(bytes);
    float *f = malloc((size_t)n * sizeof(float)), *all = malloc(lds * n_act * sizeof(float)), *some = malloc(lds * n_act * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < n; i++) f[i] = 2 * frand() - 1;
        tr->from_float(f, w + r * rb, n);
        for (int64_t i = r % 3 ? 0 : n; i < n; i++) ((pl_block_q8_0 *)(w + r * rb))[i / 32].qs[i % 32] = (int8_t)(rand() & 0xff);
    }
    for (int c = 0; c < n_act; c++) {
        for (int64_t i = 0; i < n; i++) f[i] = 2 * frand() - 1;
        pl_quantize_act(PL_Q8_0)(f, y + c * rb, n);
        if (c == n_act - 1) /* codes a quantizer never makes: -128 */
            for (int64_t i = 0; i < n; i += 5) ((pl_block_q8_0 *)(y + c * rb))[i / 32].qs[i % 32] = -128;
    }
    pl_r8_pack(PL_Q8_0, w, rb, rows, n, p);
    bool close = true, same = true;
    for (int64_t g = 0; g < rows / 8; g++) {
        const uint8_t *pg = p + pl_r8_packed_size(PL_Q8_0, 8 * g, n);
        r8p(n, all, lds, pg, y, rb, n_act);
        for (int c = 0; c < n_act; c++)
            for (int r = 0; r < 8; r++) {
                float ref;
                tr->vec_dot(n, &ref, w + (8 * g + r) * rb, y + c * rb);
                close &= fabs(all[c * lds + r] - ref) <= 1e-5 * (fabs(ref) + n);
            }
        for (int na = 1; na < n_act; na++) /* the first na columns alone, and the last na */
            for (int first = 0; first < 2; first++) {
                const int c0 = first ? 0 : n_act - na;
                r8p(n, some, lds, pg, y + c0 * rb, rb, na);
                for (int c = 0; c < na; c++) same &= memcmp(some + c * lds, all + (c0 + c) * lds, 8 * sizeof(float)) == 0;
            }
    }
    CHECKF(close, "q8_0 VNNI packed kernel n=%lld: a sum is not the scalar dot's within rounding", (long long)n);
    CHECKF(same, "q8_0 VNNI packed kernel n=%lld: a column's sums depend on the other columns", (long long)n);
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
    pl_tensor *wt = pl_new_2d(ctx, PL_Q8_0, n, rows), *wp = pl_new_2d(ctx, PL_Q8_0, n, rows), *x = pl_new_2d(ctx, PL_F32, n, 3);
    memcpy(wt->data, w, rows * rb), memcpy(wp->data, w, rows * rb);
    for (int64_t i = 0; i < 3 * n; i++) pl_f32(x)[i] = frand();
    CHECK(pl_matmul_pack(ctx, wp) == PL_OK && wp->packed && !wt->packed);
    pl_tensor *c0 = pl_matmul(ctx, wt, x), *c1 = pl_matmul(ctx, wp, x);
    pl_graph_forward(ctx, pl_graph_build(ctx, c0, false));
    pl_graph_forward(ctx, pl_graph_build(ctx, c1, false));
    double worst = 0;
    for (int64_t i = 0; i < 3 * rows; i++) worst = fmax(worst, fabs(pl_f32(c0)[i] - pl_f32(c1)[i]) / (fabs(pl_f32(c0)[i]) + 1));
    CHECKF(worst <= 1e-4, "q8_0 VNNI packed rows through pl_matmul n=%lld: %.3g from the unpacked kernels", (long long)n, worst);
    pl_ctx_free(ctx);
    free(w), free(y), free(p), free(f), free(all), free(some);
}

/* Packed rows (pl_r8_pack): the AVX2 packing gives the scalar reference's bytes; the packed kernel gives the
 * eight-row kernel's bits for any count of activation rows; unpacking gives the type's to_float of every row;
 * and pl_matmul reads the packed rows (decode's dot path and prefill's dequantized blocks) with the same bits as
 * without them, for rows that leave a partial group unpacked. Random bytes include q8_0's -128 codes. */
static void test_packed(int64_t n, int64_t rows) {
    pl_vec_dot_r8p_fn r8p = pl_vec_dot_r8p(PL_Q8_0);
    pl_vec_dot_r8_fn r8 = pl_vec_dot_r8(PL_Q8_0);
    if (!r8p || !r8) return;
    const pl_type_traits *tr = pl_dtype_traits(PL_Q8_0);
    const size_t rb = pl_row_size(PL_Q8_0, n), yb = pl_row_size(PL_Q8_0, n), bytes = pl_r8_packed_size(PL_Q8_0, rows, n);
    const int n_act = 13;
    uint8_t *w = malloc(rows * rb), *y = malloc(n_act * yb), *p = malloc(bytes), *ps = malloc(bytes);
    float *f = malloc((size_t)n * sizeof(float)), *a = malloc(8 * n_act * sizeof(float)), *b = malloc(8 * n_act * sizeof(float));
    float *u = malloc(8 * (size_t)n * sizeof(float)), *ref = malloc((size_t)n * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < n; i++) f[i] = 2 * frand() - 1;
        tr->from_float(f, w + r * rb, n);
        for (int64_t i = r % 3 ? 0 : n; i < n; i++) ((pl_block_q8_0 *)(w + r * rb))[i / 32].qs[i % 32] = (int8_t)(rand() & 0xff);
    }
    pl_vec_dot_r8w_fn r8w = pl_vec_dot_r8w(PL_Q8_0);
    const size_t ywb = (size_t)(n / 32) * sizeof(pl_block_q8_0w);
    uint8_t *yw = malloc(n_act * ywb);
    for (int c = 0; c < n_act; c++) {
        for (int64_t i = 0; i < n; i++) f[i] = 2 * frand() - 1;
        pl_quantize_act(PL_Q8_0)(f, y + c * yb, n);
        pl_q8_0_widen(y + c * yb, yw + c * ywb, n);
    }
    pl_r8_pack(PL_Q8_0, w, rb, rows, n, p);
    pl_r8_pack_scalar(PL_Q8_0, w, rb, rows, n, ps);
    CHECKF(memcmp(p, ps, bytes) == 0, "q8_0 packing n=%lld: the AVX2 bytes differ from the reference's", (long long)n);
    bool same = true, unpacked = true, wide = true;
    for (int64_t g = 0; g < rows / 8; g++) {
        const uint8_t *pg = p + pl_r8_packed_size(PL_Q8_0, 8 * g, n);
        for (int na = 1; na <= n_act; na += 4) {
            r8(n, a, 8, w + 8 * g * rb, rb, y, yb, na);
            r8p(n, b, 8, pg, y, yb, na);
            same &= memcmp(a, b, 8 * (size_t)na * sizeof(float)) == 0;
        }
        for (int na = 1; r8w && na <= n_act; na++) { /* every count: four-row passes and each remainder */
            r8(n, a, 8, w + 8 * g * rb, rb, y, yb, na);
            r8w(n, b, 8, pg, yw, ywb, na);
            wide &= memcmp(a, b, 8 * (size_t)na * sizeof(float)) == 0;
        }
        pl_r8_unpack(PL_Q8_0, pg, n, u, (size_t)n);
        for (int r = 0; r < 8; r++) {
            tr->to_float(w + (8 * g + r) * rb, ref, n);
            unpacked &= memcmp(ref, u + r * n, (size_t)n * sizeof(float)) == 0;
        }
    }
    CHECKF(same, "q8_0 packed kernel n=%lld: not the eight-row kernel's bits", (long long)n);
    CHECKF(wide, "q8_0 packed kernel, 16-bit activations, n=%lld: not the eight-row kernel's bits", (long long)n);
    CHECKF(unpacked, "q8_0 unpacked rows n=%lld: not to_float's values", (long long)n);
    /* through pl_matmul: decode's dot path (N = 3) and prefill's dequantized blocks (N = 40), packed and not */
    for (int pass = 0; pass < 2; pass++) {
        const int64_t N = pass ? 40 : 3;
        pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
        pl_tensor *wt = pl_new_2d(ctx, PL_Q8_0, n, rows), *wp = pl_new_2d(ctx, PL_Q8_0, n, rows), *x = pl_new_2d(ctx, PL_F32, n, N);
        memcpy(wt->data, w, rows * rb), memcpy(wp->data, w, rows * rb);
        for (int64_t i = 0; i < N * n; i++) pl_f32(x)[i] = frand();
        CHECK(pl_matmul_pack(ctx, wp) == PL_OK && wp->packed && !wt->packed);
        pl_tensor *c0 = pl_matmul(ctx, wt, x), *c1 = pl_matmul(ctx, wp, x);
        pl_graph_forward(ctx, pl_graph_build(ctx, c0, false)); /* apart: as siblings the first's kernels would serve both */
        pl_graph_forward(ctx, pl_graph_build(ctx, c1, false));
        CHECKF(memcmp(pl_f32(c0), pl_f32(c1), (size_t)(N * rows) * sizeof(float)) == 0,
               "q8_0 matmul over packed rows (%lld x %lld, N %lld): not the unpacked product's bits", (long long)rows, (long long)n, (long long)N);
        pl_ctx_free(ctx);
    }
    free(w), free(y), free(yw), free(p), free(ps), free(f), free(a), free(b), free(u), free(ref);
}

int main(void) {
    test_packed(32, 8), test_packed(576, 40), test_packed(1536, 100);
    test_packed_vnni(32, 8), test_packed_vnni(576, 40), test_packed_vnni(1536, 100);
    test_tile(32), test_tile(576), test_tile(1536);
    const int acts[] = {1, 2, 3, 8, 13, 40};
    for (size_t i = 0; i < PL_ARRAY_LEN(acts); i++) {
        test_r8(PL_Q8_0, 32, acts[i], false), test_r8(PL_Q8_0, 576, acts[i], false), test_r8(PL_Q8_0, 1536, acts[i], true);
        test_r8(PL_Q4_K, 256, acts[i], false), test_r8(PL_Q4_K, 1536, acts[i], false), test_r8(PL_Q4_K, 768, acts[i], true);
        test_r8(PL_Q4_0, 32, acts[i], false), test_r8(PL_Q4_0, 576, acts[i], false), test_r8(PL_Q4_0, 1536, acts[i], true);
        test_r8(PL_Q4_1, 32, acts[i], false), test_r8(PL_Q4_1, 576, acts[i], false), test_r8(PL_Q4_1, 1536, acts[i], true);
        test_r8(PL_Q5_0, 32, acts[i], false), test_r8(PL_Q5_0, 576, acts[i], false), test_r8(PL_Q5_0, 1536, acts[i], true);
        test_r8(PL_Q5_1, 32, acts[i], false), test_r8(PL_Q5_1, 576, acts[i], false), test_r8(PL_Q5_1, 1536, acts[i], true);
        test_r8(PL_Q6_K, 256, acts[i], false), test_r8(PL_Q6_K, 1536, acts[i], false), test_r8(PL_Q6_K, 768, acts[i], true);
    }
    test_act_quant(PL_Q8_0, 576), test_act_quant(PL_Q8_1, 1536), test_act_quant(PL_Q8_K, 1536);
    for (size_t i = 0; i < PL_ARRAY_LEN(types); i++) {
        const pl_dtype t = types[i];
        const int64_t blk = pl_dtype_traits(t)->blck_size;
        /* 1, 2, 3, 5 and 7 blocks: the tail step alone, one pair step, a pair and the tail, two pairs and the
         * tail (q5_0's four-block steps: tails of 1, 2, 3 blocks, alone and after a full step) */
        const int64_t ns[] = {blk, 2 * blk, 3 * blk, 5 * blk, 7 * blk, blk == 32 ? 576 : 1536, blk == 32 ? 1536 : 2560};
        for (size_t k = 0; k < PL_ARRAY_LEN(ns); k++) {
            test_type(t, ns[k], false);
            test_type(t, ns[k], true);
        }
    }
    test_q5_0_extremes(32), test_q5_0_extremes(160), test_q5_0_extremes(576);
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 2});
    for (size_t i = 0; i < PL_ARRAY_LEN(types); i++) {
        const int64_t K = pl_dtype_traits(types[i])->blck_size == 32 ? 96 : 512;
        test_matmul(ctx, types[i], 7, K, 1);
        test_matmul(ctx, types[i], 37, K, 3);
        pl_ctx_reset(ctx);
    }
    pl_ctx_free(ctx);
    TEST_DONE();
}
