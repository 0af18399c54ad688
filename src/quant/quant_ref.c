/* Reference quantizers for the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1): plain
 * round-to-nearest, written so that the bytes match the gguf package's quantizer exactly (same float ops in
 * the same order, same tie rules). Activation rows are quantized with Q8_0 / Q8_1 on every matmul. */
#include "quant/quant.h"
#include "core/common.h"

#include <math.h>

/* Largest |x| in the block, keeping its sign; the first one wins ties, as numpy's argmax does. */
static float block_signed_absmax(const float *x, int n) {
    float amax = 0, vmax = 0;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); vmax = x[j]; }
    return vmax;
}

static void block_min_max(const float *x, int n, float *mn, float *mx) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo, *mx = hi;
}

static inline float safe_inv(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

void pl_quantize_q4_0(const float *x, void *vy, int64_t n) {
    pl_block_q4_0 *y = vy;
    for (int64_t i = 0; i < n / PL_QK; i++, x += PL_QK) {
        const float d = block_signed_absmax(x, PL_QK) / -8.0f, id = safe_inv(d);
        y[i].d = pl_fp32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
            const int q0 = PL_MIN(15, (int)(x[j] * id + 8.5f)), q1 = PL_MIN(15, (int)(x[j + 16] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void pl_quantize_q4_1(const float *x, void *vy, int64_t n) {
    pl_block_q4_1 *y = vy;
    for (int64_t i = 0; i < n / PL_QK; i++, x += PL_QK) {
        float mn, mx;
        block_min_max(x, PL_QK, &mn, &mx);
        const float d = (mx - mn) / 15.0f, id = safe_inv(d);
        y[i].d = pl_fp32_to_fp16(d);
        y[i].m = pl_fp32_to_fp16(mn);
        for (int j = 0; j < 16; j++) {
            const int q0 = PL_MIN(15, (int)((x[j] - mn) * id + 0.5f));
            const int q1 = PL_MIN(15, (int)((x[j + 16] - mn) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Pack 32 five-bit values: low nibbles as Q4 does, fifth bits into a little-endian 32-bit mask. */
static void pack_q5(const int *q, uint8_t qs[16], uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    for (int j = 0; j < 32; j++) h |= (uint32_t)((q[j] >> 4) & 1) << j;
    for (int b = 0; b < 4; b++) qh[b] = (uint8_t)(h >> (8 * b));
}

void pl_quantize_q5_0(const float *x, void *vy, int64_t n) {
    pl_block_q5_0 *y = vy;
    for (int64_t i = 0; i < n / PL_QK; i++, x += PL_QK) {
        const float d = block_signed_absmax(x, PL_QK) / -16.0f, id = safe_inv(d);
        int q[PL_QK];
        for (int j = 0; j < PL_QK; j++) q[j] = PL_MIN(31, (int)(x[j] * id + 16.5f));
        y[i].d = pl_fp32_to_fp16(d);
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

void pl_quantize_q5_1(const float *x, void *vy, int64_t n) {
    pl_block_q5_1 *y = vy;
    for (int64_t i = 0; i < n / PL_QK; i++, x += PL_QK) {
        float mn, mx;
        block_min_max(x, PL_QK, &mn, &mx);
        const float d = (mx - mn) / 31.0f, id = safe_inv(d);
        int q[PL_QK];
        for (int j = 0; j < PL_QK; j++) q[j] = PL_MIN(31, (int)((x[j] - mn) * id + 0.5f));
        y[i].d = pl_fp32_to_fp16(d);
        y[i].m = pl_fp32_to_fp16(mn);
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

/* Symmetric 8-bit: d = max|x| / 127, q = round-half-away(x / d). Returns sum(q) for Q8_1's s. */
static int quantize_block_q8(const float *x, float *d_out, int8_t *qs) {
    float amax = 0;
    for (int j = 0; j < PL_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f, id = safe_inv(d);
    int sum = 0;
    for (int j = 0; j < PL_QK; j++) {
        qs[j] = (int8_t)roundf(x[j] * id);
        sum += qs[j];
    }
    *d_out = d;
    return sum;
}

void pl_quantize_q8_0(const float *x, void *vy, int64_t n) {
    pl_block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / PL_QK; i++, x += PL_QK) {
        float d;
        quantize_block_q8(x, &d, y[i].qs);
        y[i].d = pl_fp32_to_fp16(d);
    }
}

void pl_quantize_q8_1(const float *x, void *vy, int64_t n) {
    pl_block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / PL_QK; i++, x += PL_QK) {
        float d;
        const int sum = quantize_block_q8(x, &d, y[i].qs);
        y[i].d = pl_fp32_to_fp16(d);
        /* s from the stored d, so m*s is as close as fp16 allows to m * sum(dequantized activations) */
        y[i].s = pl_fp32_to_fp16(pl_fp16_to_fp32(y[i].d) * (float)sum);
    }
}

void pl_quantize_q8_K(const float *x, void *vy, int64_t n) {
    pl_block_q8_K *y = vy;
    for (int64_t i = 0; i < n / PL_QK_K; i++, x += PL_QK_K) {
        float amax = 0;
        for (int j = 0; j < PL_QK_K; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f, id = safe_inv(d);
        y[i].d = d;
        for (int j = 0; j < PL_QK_K; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += y[i].qs[16 * g + j];
            y[i].bsums[g] = (int16_t)s;
        }
    }
}
