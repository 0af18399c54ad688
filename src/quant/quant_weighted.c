/* Importance-weighted quantizers for the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), used by
 * pl_quantize_tensor when an imatrix is given. Same GGUF blocks as the round-to-nearest (RTN) quantizers in
 * quant_ref.c; only the choice of scale (and min) differs: per block, the one with the smallest
 * sum_j w_j (x_j - xhat_j)^2, xhat being what the dequantizer returns from the fp16-rounded scale and min.
 * Candidates are scales swept around the RTN one, each refit by weighted least squares; the RTN block is
 * always a candidate too, so the weighted error is never worse than RTN's. */
#include "quant/quant.h"
#include "core/common.h"

#include <math.h>
#include <string.h>

#define QK PL_QK

static inline float fp16_round(float v) { return pl_fp16_to_fp32(pl_fp32_to_fp16(v)); }

/* Nearest integer to v within [lo, hi], as a float (NaN -> lo). 1.5 * 2^23 added and taken away rounds to
 * nearest for |v| < 2^22 without an int conversion, so the candidate loops vectorize. */
static inline float code(float v, float lo, float hi) {
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    return (v + 12582912.0f) - 12582912.0f;
}

/* Pairwise sum of 32 floats (vectorizable; the order is fixed, so results do not depend on the ISA). */
static inline float sum32(float *a) {
    for (int j = 0; j < 16; j++) a[j] += a[j + 16];
    for (int j = 0; j < 8; j++) a[j] += a[j + 8];
    for (int j = 0; j < 4; j++) a[j] += a[j + 4];
    return (a[0] + a[2]) + (a[1] + a[3]);
}

/* The block's weights scaled to a maximum of 1 (keeps the float sums finite), or all ones when there are
 * none, when one is negative or not finite, or when all are zero. */
static void block_weights(const float *w, float out[QK]) {
    float mx = 0;
    int ok = w != NULL;
    for (int j = 0; ok && j < QK; j++) {
        if (!(w[j] >= 0.0f) || !isfinite(w[j])) ok = 0;
        else if (w[j] > mx) mx = w[j];
    }
    if (!ok || !(mx > 0.0f)) {
        for (int j = 0; j < QK; j++) out[j] = 1.0f;
        return;
    }
    for (int j = 0; j < QK; j++) out[j] = w[j] / mx;
}

/* ---- symmetric types: x ~ d * q, q an integer in [lo, hi] ----------------------------------------- */

typedef struct { float e, sxq, sqq; } sym_fit; /* weighted error; sums for the refit d = sxq / sqq */

static sym_fit sym_eval(const float *x, const float *w, float d, float lo, float hi) {
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    float e[QK], a[QK], b[QK];
    for (int j = 0; j < QK; j++) {
        const float q = code(x[j] * id, lo, hi), r = x[j] - d * q, wq = w[j] * q;
        e[j] = w[j] * r * r, a[j] = wq * x[j], b[j] = wq * q;
    }
    return (sym_fit){sum32(e), sum32(a), sum32(b)};
}

typedef struct { float lo, hi, step; int sweep; } sym_type;

/* Keeps d (already fp16-exact) if its error beats *best; returns its fit for the refit. */
static sym_fit sym_try(const float *x, const float *w, const sym_type *t, float d, float *best, float *best_d) {
    sym_fit f = {0};
    if (!isfinite(d) || d == 0.0f) return f;
    f = sym_eval(x, w, d, t->lo, t->hi);
    if (f.e < *best) *best = f.e, *best_d = d;
    return f;
}

/* The fp16-exact scale with the smallest weighted error among: the largest |x| mapped onto the levels
 * near lo (as RTN does for Q4_0/Q5_0) and near hi, in steps of t->step, each followed by its refit. */
static float sym_search(const float *x, const float *w, const sym_type *t) {
    float vmax = 0, amax = 0;
    for (int j = 0; j < QK; j++)
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]), vmax = x[j];
    float best_d = 0, best = sym_eval(x, w, 0.0f, t->lo, t->hi).e;
    if (amax == 0.0f) return 0.0f;
    const float ends[2] = {t->lo, t->hi};
    const int nends = t->lo == -t->hi ? 1 : 2; /* symmetric levels: -d does what d does */
    for (int e = 0; e < nends; e++)
        for (int k = -t->sweep; k <= t->sweep; k++) {
            const float level = ends[e] + (ends[e] < 0 ? -1.0f : 1.0f) * t->step * (float)k;
            if (level == 0.0f) continue;
            const sym_fit f = sym_try(x, w, t, fp16_round(vmax / level), &best, &best_d);
            if (f.sqq > 0.0f) sym_try(x, w, t, fp16_round(f.sxq / f.sqq), &best, &best_d);
        }
    return best_d;
}

/* Integer codes in [lo, hi] for the stored scale d, as sym_eval chose them. */
static void sym_codes(const float *x, float d, float lo, float hi, int q[QK]) {
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++) q[j] = (int)code(x[j] * id, lo, hi);
}

/* ---- affine types: x ~ d * q + m, q an integer in [0, nmax] --------------------------------------- */

typedef struct { float e, sq, sqq, sqx; } aff_fit;

static aff_fit aff_eval(const float *x, const float *w, float d, float m, float nmax) {
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    float e[QK], a[QK], b[QK], c[QK];
    for (int j = 0; j < QK; j++) {
        const float q = code((x[j] - m) * id, 0.0f, nmax), r = x[j] - (d * q + m), wq = w[j] * q;
        e[j] = w[j] * r * r, a[j] = wq, b[j] = wq * q, c[j] = wq * x[j];
    }
    return (aff_fit){sum32(e), sum32(a), sum32(b), sum32(c)};
}

typedef struct { float best, d, m, sw, sx; } aff_state;

/* Rounds (d, m) to fp16, keeps them if their error is the best so far; returns their fit. */
static aff_fit aff_try(const float *x, const float *w, float nmax, float d, float m, aff_state *s) {
    aff_fit f = {0};
    d = fp16_round(d), m = fp16_round(m);
    if (!isfinite(d) || !isfinite(m)) return f;
    f = aff_eval(x, w, d, m, nmax);
    if (f.e < s->best) s->best = f.e, s->d = d, s->m = m;
    return f;
}

/* The weighted least-squares (d, m) for the codes behind f, tried in turn. */
static void aff_refit(const float *x, const float *w, float nmax, const aff_fit *f, aff_state *s) {
    const double det = (double)s->sw * f->sqq - (double)f->sq * f->sq;
    if (!(det > 1e-12 * (double)s->sw * f->sqq)) return; /* all codes equal: no scale to fit */
    const double d = ((double)s->sw * f->sqx - (double)f->sq * s->sx) / det;
    const double m = ((double)f->sqq * s->sx - (double)f->sq * f->sqx) / det;
    aff_try(x, w, nmax, (float)d, (float)m, s);
}

/* Best fp16 (d, m): scales (max - min) / (nmax + step k) from the min, each refit jointly. */
static void aff_search(const float *x, const float *w, float nmax, float step, int sweep, float *d, float *m) {
    float mn = x[0], mx = x[0], sw[QK], sx[QK];
    for (int j = 1; j < QK; j++) mn = fminf(mn, x[j]), mx = fmaxf(mx, x[j]);
    for (int j = 0; j < QK; j++) sw[j] = w[j], sx[j] = w[j] * x[j];
    aff_state s = {.sw = sum32(sw), .sx = sum32(sx)};
    s.m = fp16_round(mn), s.d = 0.0f;
    s.best = isfinite(s.m) ? aff_eval(x, w, 0.0f, s.m, nmax).e : INFINITY;
    if (mx > mn)
        for (int k = -sweep; k <= sweep; k++) {
            const aff_fit f = aff_try(x, w, nmax, (mx - mn) / (nmax + step * (float)k), mn, &s);
            aff_refit(x, w, nmax, &f, &s);
        }
    /* a second refit from the best codes found */
    const aff_fit f = aff_eval(x, w, s.d, s.m, nmax);
    aff_refit(x, w, nmax, &f, &s);
    *d = s.d, *m = s.m;
}

static void aff_codes(const float *x, float d, float m, float nmax, int q[QK]) {
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++) q[j] = (int)code((x[j] - m) * id, 0.0f, nmax);
}

/* ---- per-type block encoders, and the row driver that holds each block to RTN ---------------------- */

static void pack_q4(const int q[QK], uint8_t qs[16]) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(q[j] | (q[j + 16] << 4));
}

/* Same packing as quant_ref.c's: low nibbles as Q4, fifth bits into a little-endian 32-bit mask. */
static void pack_q5(const int q[QK], uint8_t qs[16], uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    for (int j = 0; j < QK; j++) h |= (uint32_t)((q[j] >> 4) & 1) << j;
    for (int b = 0; b < 4; b++) qh[b] = (uint8_t)(h >> (8 * b));
}

/* Sweeps: Q8_0 in whole levels 117..137 cost 4.4 us a block and kept the weighted error on SmolLM2's attn_v
 * within 0.5% of quarter-level steps (3x slower); halving Q4_0/Q5_0's sweeps changed nothing measurable. */
static const sym_type Q4_0 = {-8, 7, 0.2f, 5}, Q5_0 = {-16, 15, 0.4f, 5}, Q8_0 = {-127, 127, 1.0f, 10};

static void enc_q4_0(const float *x, const float *w, void *vy) {
    pl_block_q4_0 *y = vy;
    const float d = sym_search(x, w, &Q4_0);
    int q[QK];
    sym_codes(x, d, Q4_0.lo, Q4_0.hi, q);
    for (int j = 0; j < QK; j++) q[j] += 8;
    y->d = pl_fp32_to_fp16(d);
    pack_q4(q, y->qs);
}

static void enc_q5_0(const float *x, const float *w, void *vy) {
    pl_block_q5_0 *y = vy;
    const float d = sym_search(x, w, &Q5_0);
    int q[QK];
    sym_codes(x, d, Q5_0.lo, Q5_0.hi, q);
    for (int j = 0; j < QK; j++) q[j] += 16;
    y->d = pl_fp32_to_fp16(d);
    pack_q5(q, y->qs, y->qh);
}

static void enc_q8_0(const float *x, const float *w, void *vy) {
    pl_block_q8_0 *y = vy;
    const float d = sym_search(x, w, &Q8_0);
    int q[QK];
    sym_codes(x, d, Q8_0.lo, Q8_0.hi, q);
    y->d = pl_fp32_to_fp16(d);
    for (int j = 0; j < QK; j++) y->qs[j] = (int8_t)q[j];
}

static void enc_q4_1(const float *x, const float *w, void *vy) {
    pl_block_q4_1 *y = vy;
    float d, m;
    int q[QK];
    aff_search(x, w, 15.0f, 0.1f, 10, &d, &m);
    aff_codes(x, d, m, 15.0f, q);
    y->d = pl_fp32_to_fp16(d), y->m = pl_fp32_to_fp16(m);
    pack_q4(q, y->qs);
}

static void enc_q5_1(const float *x, const float *w, void *vy) {
    pl_block_q5_1 *y = vy;
    float d, m;
    int q[QK];
    aff_search(x, w, 31.0f, 0.2f, 10, &d, &m);
    aff_codes(x, d, m, 31.0f, q);
    y->d = pl_fp32_to_fp16(d), y->m = pl_fp32_to_fp16(m);
    pack_q5(q, y->qs, y->qh);
}

_Static_assert(sizeof(pl_block_q8_0) >= sizeof(pl_block_q5_1), "quantize_row_w's block buffer");

typedef struct {
    size_t size;                                         /* bytes per block */
    void (*enc)(const float *x, const float *w, void *y); /* weighted search, one block */
    void (*rtn)(const float *x, void *y, int64_t n);
    void (*deq)(const void *x, float *y, int64_t n);
} wtype;

static double block_err(const wtype *t, const void *blk, const float *x, const float *w) {
    float xh[QK];
    t->deq(blk, xh, QK);
    double e = 0;
    for (int j = 0; j < QK; j++) e += (double)w[j] * ((double)x[j] - xh[j]) * ((double)x[j] - xh[j]);
    return e;
}

/* Each block: the search's result unless RTN's, decoded by the real dequantizer, is at least as good. */
static void quantize_row_w(const wtype *t, const float *x, void *vy, int64_t n, const float *w) {
    uint8_t *y = vy, cand[sizeof(pl_block_q8_0)]; /* the largest of the five blocks */
    for (int64_t i = 0; i < n / QK; i++, x += QK, y += t->size) {
        float wb[QK];
        block_weights(w ? w + i * QK : NULL, wb);
        t->rtn(x, y, QK);
        t->enc(x, wb, cand);
        if (block_err(t, cand, x, wb) < block_err(t, y, x, wb)) memcpy(y, cand, t->size);
    }
}

#define DEFINE_WEIGHTED(T)                                                                              \
    void pl_quantize_##T##_w(const float *x, void *y, int64_t n, const float *w) {                      \
        static const wtype t = {sizeof(pl_block_##T), enc_##T, pl_quantize_##T, pl_dequantize_##T};     \
        quantize_row_w(&t, x, y, n, w);                                                                 \
    }
DEFINE_WEIGHTED(q4_0)
DEFINE_WEIGHTED(q4_1)
DEFINE_WEIGHTED(q5_0)
DEFINE_WEIGHTED(q5_1)
DEFINE_WEIGHTED(q8_0)
