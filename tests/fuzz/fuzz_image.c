/* libFuzzer target for image decoding and preprocessing: any bytes go to pl_image_decode; when they decode, the
 * image goes through a CLIP-style pipeline (shortest-edge bicubic resize, center crop, normalize) and a bilinear
 * resize to an odd size, so that the resampler's bounds are exercised on every shape a decoder yields.
 * Seeds: tests/fuzz/seeds/fuzz_image/. */
#include "io/image.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pl_image img, out;
    if (pl_image_decode(data, size, "fuzz", &img)) return 0;
    if (img.w <= 2048 && img.h <= 2048) { /* keep each input fast */
        pl_image_processor p = {.do_resize = true, .do_center_crop = true, .do_rescale = true, .do_normalize = true,
                                .shortest_edge = 37, .crop_h = 32, .crop_w = 29, .resample = PL_RESAMPLE_BICUBIC,
                                .rescale_factor = 1.0 / 255, .mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}};
        float px[3 * 32 * 29];
        int h, w;
        pl_image_preprocess(&p, &img, px, &h, &w);
        if (!pl_image_resize(&img, 13, 7, PL_RESAMPLE_BILINEAR, &out)) pl_image_free(&out);
    }
    pl_image_free(&img);
    return 0;
}
