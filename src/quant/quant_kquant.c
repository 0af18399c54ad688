/* Reference quantizers for the k-quants (Q4_K, Q5_K, Q6_K): a per-sub-block search for the scale (and
 * min) that minimize the (importance-weighted) squared error, then 6-bit (Q4_K/Q5_K) or 8-bit (Q6_K)
 * quantization of those scales against one fp16 super-block scale, with a last +-1 search on each
 * quantized scale. Written from the math: for fixed integer codes q, the best a, b in x ~ a q + b are a
 * 2x2 weighted least-squares solve; the codes come from a sweep of candidate scales around the range. */
#include "quant/quant_kernels.h"
#include "core/common.h"

#include <float.h>
#include <math.h>

#define KQ_SWEEP 10 /* candidate scales (nmax + 0.1 t) / range, t = -KQ_SWEEP..KQ_SWEEP */

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline int round_int(float v) { return (int)roundf(v); }

/* Weighted least squares for x ~ a q + b with b <= 0 (the min is stored as a non-negative offset).
 * Returns false when the codes cannot determine a scale (all equal). */
static bool solve_scale_min(int n, const float *x, const float *w, const uint8_t *q, float *a, float *b) {
    double sw = 0, sq = 0, sqq = 0, sx = 0, sqx = 0;
    for (int l = 0; l < n; l++) {
        const double wl = w[l], ql = q[l];
        sw += wl, sq += wl * ql, sqq += wl * ql * ql, sx += wl * x[l], sqx += wl * ql * x[l];
    }
    const double det = sw * sqq - sq * sq;
    if (det <= 1e-12 * sw * sqq || sqq <= 0) return false;
    double aa = (sw * sqx - sq * sx) / det, bb = (sqq * sx - sq * sqx) / det;
    if (bb > 0) bb = 0, aa = sqx / sqq;
    if (aa < 0) aa = 0;
    *a = (float)aa, *b = (float)bb;
    return true;
}

static float err_scale_min(int n, const float *x, const float *w, const uint8_t *q, float a, float b) {
    float e = 0;
    for (int l = 0; l < n; l++) {
        const float r = a * (float)q[l] + b - x[l];
        e += w[l] * r * r;
    }
    return e;
}

/* Best a >= 0, b <= 0 and codes q in [0, nmax] for x ~ a q + b over one sub-block. */
static void fit_scale_min(int n, const float *x, const float *w, int nmax, float *a_out, float *b_out) {
    float xmin = x[0], xmax = x[0];
    for (int l = 1; l < n; l++) xmin = fminf(xmin, x[l]), xmax = fmaxf(xmax, x[l]);
    if (xmin > 0) xmin = 0;
    *a_out = (xmax - xmin) / nmax, *b_out = xmin;
    if (!(xmax > xmin)) { *a_out = 0; return; }
    uint8_t q[32];
    float best = FLT_MAX;
    for (int t = -KQ_SWEEP; t <= KQ_SWEEP + 2; t++) {
        float a, b;
        if (t <= KQ_SWEEP) { /* sweep the scale around the range */
            const float iscale = ((float)nmax + 0.1f * (float)t) / (xmax - xmin);
            for (int l = 0; l < n; l++) q[l] = (uint8_t)clampi(round_int(iscale * (x[l] - xmin)), 0, nmax);
        } else { /* then re-round twice with the best so far */
            if (*a_out <= 0) break;
            for (int l = 0; l < n; l++) q[l] = (uint8_t)clampi(round_int((x[l] - *b_out) / *a_out), 0, nmax);
        }
        if (!solve_scale_min(n, x, w, q, &a, &b)) continue;
        const float e = err_scale_min(n, x, w, q, a, b);
        if (e < best) best = e, *a_out = a, *b_out = b;
    }
}

/* Codes for x ~ dl q - ml and their error, for quantized dl, ml. */
static float codes_scale_min(int n, const float *x, const float *w, int nmax, float dl, float ml, uint8_t *q) {
    float e = 0;
    for (int l = 0; l < n; l++) {
        q[l] = dl > 0 ? (uint8_t)clampi(round_int((x[l] + ml) / dl), 0, nmax) : 0;
        const float r = dl * (float)q[l] - ml - x[l];
        e += w[l] * r * r;
    }
    return e;
}

static inline float fp16_round(float v) { return pl_fp16_to_fp32(pl_fp32_to_fp16(v)); }

/* One q4_K/q5_K super-block: 8 sub-blocks of 32, codes in [0, nmax]. Outputs d, dmin, 6-bit sc/m, codes. */
static void quantize_superblock_k(const float *x, const float *w, int nmax, pl_fp16 *d_out, pl_fp16 *dmin_out,
                                  uint8_t sc[8], uint8_t mn[8], uint8_t q[256]) {
    float a[8], b[8], amax = 0, mmax = 0;
    for (int j = 0; j < 8; j++) {
        fit_scale_min(32, x + 32 * j, w + 32 * j, nmax, &a[j], &b[j]);
        amax = fmaxf(amax, a[j]), mmax = fmaxf(mmax, -b[j]);
    }
    *d_out = pl_fp32_to_fp16(amax / 63.0f);
    *dmin_out = pl_fp32_to_fp16(mmax / 63.0f);
    const float d = pl_fp16_to_fp32(*d_out), dmin = pl_fp16_to_fp32(*dmin_out);
    for (int j = 0; j < 8; j++) {
        const int s0 = d > 0 ? clampi(round_int(a[j] / d), 0, 63) : 0;
        const int m0 = dmin > 0 ? clampi(round_int(-b[j] / dmin), 0, 63) : 0;
        float best = FLT_MAX;
        uint8_t qt[32];
        for (int ds = -1; ds <= 1; ds++)
            for (int dm = -1; dm <= 1; dm++) {
                const int s = s0 + ds, m = m0 + dm;
                if (s < 0 || s > 63 || m < 0 || m > 63) continue;
                const float e = codes_scale_min(32, x + 32 * j, w + 32 * j, nmax, d * (float)s, dmin * (float)m, qt);
                if (e < best) best = e, sc[j] = (uint8_t)s, mn[j] = (uint8_t)m, memcpy(q + 32 * j, qt, 32);
            }
    }
}

/* Inverse of quant_get_scale_min_k4. */
static void pack_scales_k4(const uint8_t sc[8], const uint8_t mn[8], uint8_t out[12]) {
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = (uint8_t)((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
        out[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
    }
}

/* Per-element weights for a super-block: the imatrix columns, or all ones. */
static const float *kq_weights(const float *imatrix, int64_t col, float ones[256]) {
    if (imatrix) return imatrix + col;
    for (int l = 0; l < 256; l++) ones[l] = 1.0f;
    return ones;
}

void pl_quantize_q4_K_w(const float *x, void *vy, int64_t n, const float *imatrix) {
    pl_block_q4_K *y = vy;
    float ones[256];
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        uint8_t sc[8], mn[8], q[256];
        quantize_superblock_k(x + 256 * i, kq_weights(imatrix, 256 * i, ones), 15, &y[i].d, &y[i].dmin, sc, mn, q);
        pack_scales_k4(sc, mn, y[i].scales);
        for (int j = 0; j < 8; j += 2)
            for (int l = 0; l < 32; l++) y[i].qs[16 * j + l] = (uint8_t)(q[32 * j + l] | (q[32 * (j + 1) + l] << 4));
    }
}

void pl_quantize_q5_K_w(const float *x, void *vy, int64_t n, const float *imatrix) {
    pl_block_q5_K *y = vy;
    float ones[256];
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        uint8_t sc[8], mn[8], q[256];
        quantize_superblock_k(x + 256 * i, kq_weights(imatrix, 256 * i, ones), 31, &y[i].d, &y[i].dmin, sc, mn, q);
        pack_scales_k4(sc, mn, y[i].scales);
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 32; l++) y[i].qh[l] |= (uint8_t)(((q[32 * j + l] >> 4) & 1) << j);
        for (int j = 0; j < 8; j += 2)
            for (int l = 0; l < 32; l++)
                y[i].qs[16 * j + l] = (uint8_t)((q[32 * j + l] & 0xF) | ((q[32 * (j + 1) + l] & 0xF) << 4));
    }
}

/* Symmetric fit for q6_K: x ~ a q, q in [-32, 31]; the extreme value is mapped near -32 to use the
 * wider negative side. Returns a (signed). */
static float fit_scale_sym(int n, const float *x, const float *w) {
    float amax = 0, vmax = 0;
    for (int l = 0; l < n; l++)
        if (fabsf(x[l]) > amax) amax = fabsf(x[l]), vmax = x[l];
    if (amax == 0) return 0;
    float best = FLT_MAX, best_a = vmax / -32.0f;
    for (int t = -KQ_SWEEP; t <= KQ_SWEEP + 2; t++) {
        if (t > KQ_SWEEP && best_a == 0) break;
        const float iscale = t <= KQ_SWEEP ? -(32.0f + 0.1f * (float)t) / vmax : 1.0f / best_a;
        double sqq = 0, sqx = 0;
        int q[16];
        for (int l = 0; l < n; l++) {
            q[l] = clampi(round_int(iscale * x[l]), -32, 31);
            sqq += (double)w[l] * q[l] * q[l], sqx += (double)w[l] * q[l] * x[l];
        }
        if (sqq <= 0) continue;
        const float a = (float)(sqx / sqq);
        float e = 0;
        for (int l = 0; l < n; l++) {
            const float r = a * (float)q[l] - x[l];
            e += w[l] * r * r;
        }
        if (e < best) best = e, best_a = a;
    }
    return best_a;
}

static float codes_sym(int n, const float *x, const float *w, float dl, int8_t *q) {
    float e = 0;
    for (int l = 0; l < n; l++) {
        q[l] = dl != 0 ? (int8_t)clampi(round_int(x[l] / dl), -32, 31) : 0;
        const float r = dl * (float)q[l] - x[l];
        e += w[l] * r * r;
    }
    return e;
}

void pl_quantize_q6_K_w(const float *x, void *vy, int64_t n, const float *imatrix) {
    pl_block_q6_K *y = vy;
    float ones[256];
    for (int64_t i = 0; i < n / PL_QK_K; i++, x += PL_QK_K) {
        const float *w = kq_weights(imatrix, 256 * i, ones);
        float a[16], amax = 0, smax = 0;
        for (int g = 0; g < 16; g++) {
            a[g] = fit_scale_sym(16, x + 16 * g, w + 16 * g);
            if (fabsf(a[g]) > amax) amax = fabsf(a[g]), smax = a[g];
        }
        /* the largest scale maps to -128, the full int8 range */
        y[i].d = pl_fp32_to_fp16(smax / -128.0f);
        const float d = pl_fp16_to_fp32(y[i].d);
        int8_t q[256];
        for (int g = 0; g < 16; g++) {
            const int s0 = d != 0 ? clampi(round_int(a[g] / d), -128, 127) : 0;
            float best = FLT_MAX;
            int8_t qt[16];
            for (int ds = -1; ds <= 1; ds++) {
                const int s = s0 + ds;
                if (s < -128 || s > 127) continue;
                const float e = codes_sym(16, x + 16 * g, w + 16 * g, d * (float)s, qt);
                if (e < best) best = e, y[i].scales[g] = (int8_t)s, memcpy(q + 16 * g, qt, 16);
            }
        }
        memset(y[i].ql, 0, sizeof y[i].ql);
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int p = 0; p < 256; p++) {
            const int v = q[p] + 32, h = p / 128, r = p % 128;
            y[i].ql[64 * h + r % 64] |= (uint8_t)((v & 0xF) << (4 * (r / 64)));
            y[i].qh[32 * h + r % 32] |= (uint8_t)((v >> 4) << (2 * (r / 32)));
        }
    }
}

void pl_quantize_q4_K(const float *x, void *y, int64_t n) { pl_quantize_q4_K_w(x, y, n, NULL); }
void pl_quantize_q5_K(const float *x, void *y, int64_t n) { pl_quantize_q5_K_w(x, y, n, NULL); }
void pl_quantize_q6_K(const float *x, void *y, int64_t n) { pl_quantize_q6_K_w(x, y, n, NULL); }
