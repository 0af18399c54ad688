/* The F16C row conversions (backend/cpu/vec_cvt.c) are bit-exact against the scalar references: f16 -> f32 for
 * all 65536 halves (subnormals and infinities included; a signalling nan comes out quieted by the hardware, so
 * nans only have to stay nans), f32 -> f16 for every 61st float bit pattern, every tie between two neighbouring
 * halves and the floats either side of it (round to nearest even, overflow to inf, subnormal results), and nans
 * with payloads; on ragged lengths to reach the tails. */
#include "backend/cpu/vec_cvt.h"
#include "core/cpu.h"
#include "test.h"

#include <string.h>

int main(void) {
    static pl_fp16 h[65536 + 3];
    static float r[65536 + 3], y[65536 + 3];
    for (int i = 0; i < 65536 + 3; i++) h[i] = (pl_fp16)(i & 0xffff);
    pl_vec_f16_to_f32_scalar(65539, h, r);
    if (pl_cpu()->f16c) {
        pl_vec_f16_to_f32_f16c(65539, h, y);
        int bad = 0;
        for (int i = 0; i < 65539; i++) bad += isnan(r[i]) ? !isnan(y[i]) : memcmp(&r[i], &y[i], 4) != 0;
        CHECKF(bad == 0, "%d of 65539 halves convert differently", bad);
    }
    pl_vec_f16_to_f32(65539, h, y);
    CHECK(memcmp(r, y, 0x7c00 * sizeof(float)) == 0); /* the finite positives, whichever variant runs */
    CHECK(r[0x3c00] == 1.0f && r[0xc000] == -2.0f);

    /* f32 -> f16: ties and their neighbours (the float halfway between half i and i + 1, one ulp below and above) */
    enum { NT = 3 * 0x7bff * 2 + 5 };
    static float f[(size_t)1 << 16 > NT ? (size_t)1 << 16 : NT];
    static pl_fp16 a[sizeof f / sizeof f[0]], b[sizeof f / sizeof f[0]];
    int n = 0;
    for (uint32_t i = 0; i < 0x7bff; i++)
        for (uint32_t sgn = 0; sgn < 2; sgn++) {
            uint32_t lo, hi, mid;
            float x0 = pl_fp16_to_fp32((pl_fp16)(i | sgn << 15)), x1 = pl_fp16_to_fp32((pl_fp16)((i + 1) | sgn << 15));
            memcpy(&lo, &x0, 4); memcpy(&hi, &x1, 4);
            mid = lo + (hi - lo) / 2; /* same sign: the bit patterns are ordered, the midpoint is exact */
            for (int d = -1; d <= 1; d++) { uint32_t u = mid + (uint32_t)d; memcpy(&f[n++], &u, 4); }
        }
    const uint32_t special[5] = {0x477ff000u, 0x477fefffu, 0x7f800001u, 0xffc12345u, 0x7fbfffffu}; /* 65520: inf; nans */
    for (int i = 0; i < 5; i++) memcpy(&f[n++], &special[i], 4);
    pl_vec_f32_to_f16_scalar(n, f, a);
    CHECK(a[n - 5] == 0x7c00 && a[n - 4] == 0x7bff);
    int bad = 0, checked = n;
    if (pl_cpu()->f16c) {
        pl_vec_f32_to_f16_f16c(n, f, b);
        bad += memcmp(a, b, (size_t)n * sizeof a[0]) != 0;
        for (uint64_t base = 0; base < ((uint64_t)1 << 32); base += (uint64_t)61 << 16) { /* 61-apart patterns */
            for (int i = 0; i < 65536; i++) { uint32_t u = (uint32_t)(base + (uint64_t)61 * i); memcpy(&f[i], &u, 4); }
            pl_vec_f32_to_f16_scalar(65533, f, a);
            pl_vec_f32_to_f16_f16c(65533, f, b);
            for (int i = 0; i < 65533; i++) bad += a[i] != b[i];
            checked += 65533;
        }
    }
    CHECKF(bad == 0, "%d of %d floats convert to f16 differently", bad, checked);
    TEST_DONE();
}
