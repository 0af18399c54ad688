/* Scalar reference kernels for the quantized types: dequantize (to_float) and the dot products of each
 * weight type with its activation type. Integer sums per block, then one float multiply-add per block;
 * the SIMD variants (quant_avx2.c, quant_avx512.c) are tested against these. */
#include "quant/quant_kernels.h"

/* ---- dequantize ----------------------------------------------------------------------------------- */

void pl_dequantize_q4_0_scalar(const void *vx, float *y, int64_t n) {
    const pl_block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++, y += PL_QK) {
        const float d = quant_fp16(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)((x[i].qs[j] & 0xF) - 8);
            y[j + 16] = d * (float)((x[i].qs[j] >> 4) - 8);
        }
    }
}

void pl_dequantize_q4_1_scalar(const void *vx, float *y, int64_t n) {
    const pl_block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++, y += PL_QK) {
        const float d = quant_fp16(x[i].d), m = quant_fp16(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)(x[i].qs[j] & 0xF) + m;
            y[j + 16] = d * (float)(x[i].qs[j] >> 4) + m;
        }
    }
}

static inline uint32_t load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The 32 five-bit values of a Q5 block, 0..31. */
static inline void unpack_q5(const uint8_t qs[16], const uint8_t qh[4], int q[32]) {
    const uint32_t h = load_u32le(qh);
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0xF) | (int)(((h >> j) & 1) << 4);
        q[j + 16] = (qs[j] >> 4) | (int)(((h >> (j + 16)) & 1) << 4);
    }
}

void pl_dequantize_q5_0_scalar(const void *vx, float *y, int64_t n) {
    const pl_block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++, y += PL_QK) {
        const float d = quant_fp16(x[i].d);
        int q[32];
        unpack_q5(x[i].qs, x[i].qh, q);
        for (int j = 0; j < 32; j++) y[j] = d * (float)(q[j] - 16);
    }
}

void pl_dequantize_q5_1_scalar(const void *vx, float *y, int64_t n) {
    const pl_block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++, y += PL_QK) {
        const float d = quant_fp16(x[i].d), m = quant_fp16(x[i].m);
        int q[32];
        unpack_q5(x[i].qs, x[i].qh, q);
        for (int j = 0; j < 32; j++) y[j] = d * (float)q[j] + m;
    }
}

void pl_dequantize_q8_0_scalar(const void *vx, float *y, int64_t n) {
    const pl_block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++, y += PL_QK) {
        const float d = quant_fp16(x[i].d);
        for (int j = 0; j < 32; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

void pl_dequantize_q8_1(const void *vx, float *y, int64_t n) {
    const pl_block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / PL_QK; i++, y += PL_QK) {
        const float d = quant_fp16(x[i].d);
        for (int j = 0; j < 32; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

void pl_dequantize_q8_K(const void *vx, float *y, int64_t n) {
    const pl_block_q8_K *x = vx;
    for (int64_t i = 0; i < n / PL_QK_K; i++, y += PL_QK_K)
        for (int j = 0; j < PL_QK_K; j++) y[j] = x[i].d * (float)x[i].qs[j];
}

/* q4_K / q5_K: the 4-bit value of element l of sub-block j sits in qs[32*(j/2) + l], nibble j%2. */
void pl_dequantize_q4_K_scalar(const void *vx, float *y, int64_t n) {
    const pl_block_q4_K *x = vx;
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        const float d = quant_fp16(x[i].d), dmin = quant_fp16(x[i].dmin);
        for (int j = 0; j < 8; j++, y += 32) {
            uint8_t sc, m;
            quant_get_scale_min_k4(j, x[i].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            const uint8_t *q = x[i].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) y[l] = dl * (float)((q[l] >> shift) & 0xF) - ml;
        }
    }
}

void pl_dequantize_q5_K_scalar(const void *vx, float *y, int64_t n) {
    const pl_block_q5_K *x = vx;
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        const float d = quant_fp16(x[i].d), dmin = quant_fp16(x[i].dmin);
        for (int j = 0; j < 8; j++, y += 32) {
            uint8_t sc, m;
            quant_get_scale_min_k4(j, x[i].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            const uint8_t *q = x[i].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) {
                const int v = ((q[l] >> shift) & 0xF) | (((x[i].qh[l] >> j) & 1) << 4);
                y[l] = dl * (float)v - ml;
            }
        }
    }
}

/* q6_K: element p of a super-block (h = p/128, r = p%128): low 4 bits in ql[64h + r%64] >> 4*(r/64),
 * high 2 bits in qh[32h + r%32] >> 2*(r/32); scale scales[p/16]. */
static inline int q6k_value(const pl_block_q6_K *b, int p) {
    const int h = p / 128, r = p % 128;
    const int lo = (b->ql[64 * h + r % 64] >> (4 * (r / 64))) & 0xF;
    const int hi = (b->qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
    return (lo | (hi << 4)) - 32;
}

void pl_dequantize_q6_K_scalar(const void *vx, float *y, int64_t n) {
    const pl_block_q6_K *x = vx;
    for (int64_t i = 0; i < n / PL_QK_K; i++, y += PL_QK_K) {
        const float d = quant_fp16(x[i].d);
        for (int p = 0; p < PL_QK_K; p++) y[p] = (d * (float)x[i].scales[p / 16]) * (float)q6k_value(&x[i], p);
    }
}

/* ---- dot products ---------------------------------------------------------------------------------- */

void pl_vec_dot_q4_0_q8_0_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q4_0 *x = vx;
    const pl_block_q8_0 *y = vy;
    float acc = 0;
    for (int64_t i = 0; i < n / PL_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        acc += (quant_fp16(x[i].d) * quant_fp16(y[i].d)) * (float)sumi;
    }
    *s = acc;
}

void pl_vec_dot_q4_1_q8_1_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q4_1 *x = vx;
    const pl_block_q8_1 *y = vy;
    float acc = 0;
    for (int64_t i = 0; i < n / PL_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) sumi += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        /* sum (d q + m) (dy qy) = d dy sum(q qy) + m * (dy sum qy), the last factor stored as s */
        acc += (quant_fp16(x[i].d) * quant_fp16(y[i].d)) * (float)sumi + quant_fp16(x[i].m) * quant_fp16(y[i].s);
    }
    *s = acc;
}

void pl_vec_dot_q5_0_q8_0_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q5_0 *x = vx;
    const pl_block_q8_0 *y = vy;
    float acc = 0;
    for (int64_t i = 0; i < n / PL_QK; i++) {
        int q[32], sumi = 0;
        unpack_q5(x[i].qs, x[i].qh, q);
        for (int j = 0; j < 32; j++) sumi += (q[j] - 16) * y[i].qs[j];
        acc += (quant_fp16(x[i].d) * quant_fp16(y[i].d)) * (float)sumi;
    }
    *s = acc;
}

void pl_vec_dot_q5_1_q8_1_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q5_1 *x = vx;
    const pl_block_q8_1 *y = vy;
    float acc = 0;
    for (int64_t i = 0; i < n / PL_QK; i++) {
        int q[32], sumi = 0;
        unpack_q5(x[i].qs, x[i].qh, q);
        for (int j = 0; j < 32; j++) sumi += q[j] * y[i].qs[j];
        acc += (quant_fp16(x[i].d) * quant_fp16(y[i].d)) * (float)sumi + quant_fp16(x[i].m) * quant_fp16(y[i].s);
    }
    *s = acc;
}

void pl_vec_dot_q8_0_q8_0_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q8_0 *x = vx;
    const pl_block_q8_0 *y = vy;
    float acc = 0;
    for (int64_t i = 0; i < n / PL_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += x[i].qs[j] * y[i].qs[j];
        acc += (quant_fp16(x[i].d) * quant_fp16(y[i].d)) * (float)sumi;
    }
    *s = acc;
}

/* k-quants: per super-block, sum_j sc_j * (q . qy over sub-block j) in integers, and the min term from
 * Q8_K's per-16 sums: x = d sc q - dmin m  =>  dot = d dy sum_j sc_j S_j - dmin dy sum_j m_j B_j. */
/* One super-block of q4_K or q5_K (qh = the fifth bits, NULL for q4_K) against q8_K. */
static float dot_k4_block(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, pl_fp16 d, pl_fp16 dmin,
                          const pl_block_q8_K *y) {
    int sum_q = 0, sum_m = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        quant_get_scale_min_k4(j, scales, &sc, &m);
        const uint8_t *q = qs + 32 * (j / 2);
        const int8_t *qy = y->qs + 32 * j;
        const int shift = 4 * (j % 2);
        int sj = 0;
        for (int l = 0; l < 32; l++) sj += (((q[l] >> shift) & 0xF) | (qh ? ((qh[l] >> j) & 1) << 4 : 0)) * qy[l];
        sum_q += sc * sj;
        sum_m += m * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    return (quant_fp16(d) * y->d) * (float)sum_q - (quant_fp16(dmin) * y->d) * (float)sum_m;
}

void pl_vec_dot_q4_K_q8_K_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q4_K *x = vx;
    const pl_block_q8_K *y = vy;
    float acc = 0;
    for (int64_t i = 0; i < n / PL_QK_K; i++) acc += dot_k4_block(x[i].scales, x[i].qs, NULL, x[i].d, x[i].dmin, &y[i]);
    *s = acc;
}

void pl_vec_dot_q5_K_q8_K_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q5_K *x = vx;
    const pl_block_q8_K *y = vy;
    float acc = 0;
    for (int64_t i = 0; i < n / PL_QK_K; i++) acc += dot_k4_block(x[i].scales, x[i].qs, x[i].qh, x[i].d, x[i].dmin, &y[i]);
    *s = acc;
}

void pl_vec_dot_q6_K_q8_K_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const pl_block_q6_K *x = vx;
    const pl_block_q8_K *y = vy;
    float acc = 0;
    for (int64_t i = 0; i < n / PL_QK_K; i++) {
        int sum_q = 0;
        for (int g = 0; g < 16; g++) {
            int sg = 0;
            for (int l = 0; l < 16; l++) sg += q6k_value(&x[i], 16 * g + l) * y[i].qs[16 * g + l];
            sum_q += x[i].scales[g] * sg;
        }
        acc += (quant_fp16(x[i].d) * y[i].d) * (float)sum_q;
    }
    *s = acc;
}
