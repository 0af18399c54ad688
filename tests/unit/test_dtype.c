/* The dtype table and the f16/bf16 conversions: exact round trips, rounding, specials. */
#include "core/common.h"
#include "core/dtype.h"
#include "test.h"

#include <string.h>

int main(void) {
    /* every f16 bit pattern converts to f32 and back unchanged (NaNs stay NaN) */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = pl_fp16_to_fp32((pl_fp16)h);
        pl_fp16 back = pl_fp32_to_fp16(f);
        if (isnan(f)) { if (!isnan(pl_fp16_to_fp32(back))) bad++; }
        else if (back != h) bad++;
    }
    CHECKF(bad == 0, "%d f16 patterns failed the round trip", bad);
    CHECK(pl_fp16_to_fp32(0x3c00) == 1.0f);
    CHECK(pl_fp16_to_fp32(0xc000) == -2.0f);
    CHECK(pl_fp32_to_fp16(65504.0f) == 0x7bff);
    CHECK(pl_fp32_to_fp16(1e6f) == 0x7c00);             /* overflow -> inf */
    CHECK(pl_fp32_to_fp16(1.0f + 1.0f / 2048) == 0x3c00); /* tie rounds to even */
    CHECK(pl_fp32_to_fp16(5.96046448e-08f) == 0x0001);  /* smallest subnormal */
    CHECK(pl_bf16_to_fp32(pl_fp32_to_bf16(3.140625f)) == 3.140625f);
    CHECK(pl_fp32_to_bf16(1.00390625f) == 0x3f80);       /* tie to even */
    CHECK(isnan(pl_bf16_to_fp32(pl_fp32_to_bf16(NAN))));

    CHECK(pl_row_size(PL_F32, 10) == 40);
    CHECK(pl_row_size(PL_Q8_0, 64) == 68);
    CHECK(pl_row_size(PL_Q4_K, 512) == 288);
    CHECK(pl_dtype_from_name("Q4_K") == PL_Q4_K);
    CHECK(pl_dtype_from_name("nope") == -1);
    CHECK(!pl_dtype_valid(4) && !pl_dtype_valid(-1) && !pl_dtype_valid(1000));
    CHECK(strcmp(pl_dtype_name(PL_BF16), "bf16") == 0);
    TEST_DONE();
}
