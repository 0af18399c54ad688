/* Images (io/image.c, image_resize.c, image_processor.c) against transformers' PIL image processors
 * (tests/golden/clip/preprocess, tools/make_image_fixtures.py): real photos of several sizes (large gray, non-square,
 * RGBA, 7x5, 1x1) under CLIP and SigLIP configs give pixel_values within 1e-5. And bad input: empty, truncated,
 * corrupt, text, headers of 20000 x 20000 and 12000 x 12000 pixels (refused from the header alone, before any
 * pixel buffer is allocated). */
#include "io/image.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <string.h>

static char *fixture(const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/clip/preprocess/%s", test_root(), name);
    return pl_read_file(path, len);
}

static void check_case(const cJSON *c, double *worst) {
    const char *image = cJSON_GetObjectItem(c, "image")->valuestring, *config = cJSON_GetObjectItem(c, "config")->valuestring;
    int h = cJSON_GetObjectItem(c, "h")->valueint, w = cJSON_GetObjectItem(c, "w")->valueint;
    char path[1024];
    pl_image img;
    pl_image_processor p;
    snprintf(path, sizeof path, "%s/tests/golden/clip/preprocess/%s", test_root(), image);
    CHECKF(pl_image_load(path, &img) == PL_OK, "%s: %s", image, pl_last_error());
    snprintf(path, sizeof path, "%s/tests/golden/clip/preprocess/%s", test_root(), config);
    CHECKF(pl_image_processor_load(path, &p) == PL_OK, "%s: %s", config, pl_last_error());
    size_t len = 0;
    float *want = (float *)fixture(cJSON_GetObjectItem(c, "expected")->valuestring, &len);
    float *got = calloc((size_t)3 * h * w, sizeof *got);
    int gh = 0, gw = 0;
    CHECK(want && len == (size_t)3 * h * w * sizeof(float));
    CHECKF(pl_image_preprocess(&p, &img, got, &gh, &gw) == PL_OK && gh == h && gw == w, "%s %s: %d x %d", image, config, gh, gw);
    double mx = 0;
    for (size_t i = 0; want && gh == h && gw == w && i < (size_t)3 * h * w; i++) mx = fmax(mx, fabs(got[i] - want[i]));
    CHECKF(mx <= 1e-5, "%s with %s: max |diff| %.3g", image, config, mx);
    printf("%-22s %-22s %3d x %-3d max |diff| %.3g\n", image, config, w, h, mx);
    *worst = fmax(*worst, mx);
    free(got);
    free(want);
    pl_image_free(&img);
}

static void test_golden(void) {
    size_t len;
    char *text = fixture("manifest.json", &len);
    cJSON *m = text ? cJSON_ParseWithLength(text, len) : NULL;
    CHECK(cJSON_GetArraySize(m) >= 20);
    double worst = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, m) check_case(c, &worst);
    printf("worst max |diff| over %d cases: %.3g\n", cJSON_GetArraySize(m), worst);
    cJSON_Delete(m);
    free(text);
}

/* a PNG signature and IHDR chunk claiming w x h RGB pixels, with no pixel data after it */
static size_t png_header(uint8_t *b, uint32_t w, uint32_t h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[25] = {0, 0, 0, 13, 'I', 'H', 'D', 'R', w >> 24, w >> 16, w >> 8, w, h >> 24, h >> 16, h >> 8, h, 8, 2, 0, 0, 0};
    memcpy(b, sig, 8);
    memcpy(b + 8, ihdr, 25);
    return 33;
}

static void expect_error(const void *data, size_t len, const char *what, const char *words) {
    pl_image img;
    int rc = pl_image_decode(data, len, what, &img);
    CHECKF(rc != PL_OK && img.rgb == NULL && strstr(pl_last_error(), words), "%s: rc %d, '%s'", what, rc, pl_last_error());
}

static void test_bad_input(void) {
    uint8_t hdr[64];
    expect_error(hdr, png_header(hdr, 20000, 20000), "huge.png", "20000 x 20000 pixels, more than plinth decodes");
    expect_error(hdr, png_header(hdr, 12000, 12000), "big.png", "12000 x 12000 pixels, more than plinth decodes");
    expect_error(hdr, png_header(hdr, 64, 64), "headeronly.png", "corrupt or truncated");
    expect_error("", 0, "empty.png", "empty");
    expect_error("hello, world\n", 13, "text.png", "not an image");
    size_t len;
    char *png = fixture("chelsea_300x200.png", &len);
    CHECK(png != NULL);
    expect_error(png, len / 2, "truncated.png", "corrupt or truncated");
    for (size_t i = 100; i < len; i += 97) png[i] ^= 0x5a; /* pixel data scrambled, header intact */
    expect_error(png, len, "corrupt.png", "corrupt or truncated");
    free(png);
    pl_image img;
    CHECK(pl_image_load("/nonexistent/cat.png", &img) != PL_OK && strstr(pl_last_error(), "cat.png"));
}

/* resizing to the same size is the identity; a flat image stays flat under every filter and scale */
static void test_resize_invariants(void) {
    pl_image flat = {13, 7, malloc(13 * 7 * 3)}, out;
    memset(flat.rgb, 77, 13 * 7 * 3);
    int sizes[][2] = {{13, 7}, {5, 3}, {40, 21}, {1, 1}, {13, 30}};
    for (size_t s = 0; s < PL_ARRAY_LEN(sizes); s++)
        for (int f = PL_RESAMPLE_BILINEAR; f <= PL_RESAMPLE_BICUBIC; f++) {
            CHECK(pl_image_resize(&flat, sizes[s][0], sizes[s][1], f, &out) == PL_OK);
            int same = 1;
            for (int i = 0; i < out.w * out.h * 3; i++) same &= out.rgb[i] == 77;
            CHECKF(same, "flat image resized to %d x %d with filter %d", sizes[s][0], sizes[s][1], f);
            pl_image_free(&out);
        }
    CHECK(pl_image_resize(&flat, 0, 5, PL_RESAMPLE_BICUBIC, &out) != PL_OK);
    CHECK(pl_image_resize(&flat, 5, 5, 1, &out) == PL_ERR_UNSUPPORTED);
    pl_image_free(&flat);
}

int main(void) {
    test_golden();
    test_bad_input();
    test_resize_invariants();
    TEST_DONE();
}
