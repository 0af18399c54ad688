/* The scalar half-precision conversions (f16 and bf16 to and from f32, round to nearest even). The
 * type-traits table that names each dtype's kernels lives above, in backend/cpu/dtype_table.c. */
#include "core/dtype.h"
#include "core/common.h"

float pl_fp16_to_fp32(pl_fp16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: normalize */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000 | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

pl_fp16 pl_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff);
    uint32_t man = x & 0x7fffff;
    if (exp == 0xff) return (pl_fp16)(sign | 0x7c00 | (man ? 0x200 | man >> 13 : 0)); /* inf / nan, quiet, its payload's top bits kept (as vcvtps2ph) */
    int32_t e = exp - 127 + 15;
    if (e >= 31) return (pl_fp16)(sign | 0x7c00);                     /* overflow -> inf */
    if (e <= 0) {                                                      /* subnormal or zero */
        if (e < -10) return (pl_fp16)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (pl_fp16)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* carries into the exponent correctly */
    return (pl_fp16)half;
}

float pl_bf16_to_fp32(pl_bf16 h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

pl_bf16 pl_fp32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (pl_bf16)((x >> 16) | 64); /* quiet nan */
    x += 0x7fff + ((x >> 16) & 1);
    return (pl_bf16)(x >> 16);
}
