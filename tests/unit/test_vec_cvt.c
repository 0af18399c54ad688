/* The F16C f16 -> f32 row conversion (backend/cpu/vec_cvt.c) is bit-exact against the scalar reference
 * for all 65536 halves (subnormals and infinities included; a signalling nan comes out quieted by the
 * hardware, so nans only have to stay nans), on a ragged length to reach the tail. */
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
    TEST_DONE();
}
