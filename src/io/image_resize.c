/* PIL's Image.resize for 8-bit images (its Resample.c, written from its behaviour): separable, horizontal pass
 * first into an 8-bit image, then vertical. Each output pixel's weights come from the filter stretched by the
 * downscale factor (the antialiasing when shrinking), are normalized to sum 1, then turned into 22-bit fixed
 * point; sums start at one half and are shifted back and clipped to 0..255. The pass order is Pillow 13's. Matching this bit for bit is what
 * keeps plinth's pixel values equal to CLIPImageProcessor's (clip.cpp's bilinear resize is where it drifts). */
#include "io/image.h"

#include <math.h>

enum { PRECISION_BITS = 32 - 8 - 2 };

static double bicubic(double x) { /* Keys' cubic, a = -0.5 */
    const double a = -0.5;
    if (x < 0) x = -x;
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

static double bilinear(double x) {
    if (x < 0) x = -x;
    return x < 1 ? 1 - x : 0;
}

/* For each of n_out outputs along an axis of n_in pixels: the first source pixel bounds[2i], the count
 * bounds[2i+1], and ksize fixed-point weights at k[i * ksize]. Returns ksize, or 0 when out of memory. */
static int coeffs(int n_in, int n_out, int filter, int **bounds, int32_t **k) {
    double (*f)(double) = filter == PL_RESAMPLE_BILINEAR ? bilinear : bicubic;
    double support = filter == PL_RESAMPLE_BILINEAR ? 1.0 : 2.0;
    double scale = (double)n_in / n_out, fscale = scale < 1 ? 1 : scale, ss = 1.0 / fscale;
    support *= fscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *w = pl_malloc((size_t)ksize * sizeof *w);
    *bounds = pl_malloc((size_t)n_out * 2 * sizeof **bounds);
    *k = pl_calloc((size_t)n_out * ksize, sizeof **k);
    if (!w || !*bounds || !*k) { free(w); return 0; }
    for (int i = 0; i < n_out; i++) {
        double center = (i + 0.5) * scale, sum = 0;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > n_in) hi = n_in;
        int n = hi - lo;
        for (int j = 0; j < n; j++) sum += w[j] = f((j + lo - center + 0.5) * ss);
        for (int j = 0; j < n; j++) {
            double c = sum != 0 ? w[j] / sum : w[j];
            (*k)[(size_t)i * ksize + j] = (int32_t)(c < 0 ? -0.5 + c * (1 << PRECISION_BITS) : 0.5 + c * (1 << PRECISION_BITS));
        }
        (*bounds)[2 * i] = lo;
        (*bounds)[2 * i + 1] = n;
    }
    free(w);
    return ksize;
}

static uint8_t clip8(int64_t s) {
    s >>= PRECISION_BITS;
    return (uint8_t)(s < 0 ? 0 : s > 255 ? 255 : s);
}

/* one pass along x (step 3 bytes, rows of `stride`) or y (step `stride`) from in (w_in x h) into out */
static void pass(const uint8_t *in, uint8_t *out, int n_out, int n_lines, size_t in_step, size_t in_line,
                 size_t out_step, size_t out_line, const int *bounds, const int32_t *k, int ksize) {
    for (int line = 0; line < n_lines; line++)
        for (int i = 0; i < n_out; i++) {
            const int32_t *ki = k + (size_t)i * ksize;
            const uint8_t *src = in + (size_t)line * in_line + (size_t)bounds[2 * i] * in_step;
            for (int c = 0; c < 3; c++) {
                int64_t s = 1 << (PRECISION_BITS - 1);
                for (int j = 0; j < bounds[2 * i + 1]; j++) s += (int64_t)src[(size_t)j * in_step + c] * ki[j];
                out[(size_t)line * out_line + (size_t)i * out_step + c] = clip8(s);
            }
        }
}

static int resize_axis(const pl_image *in, pl_image *out, int w, int h, int filter, bool horizontal) {
    int n_in = horizontal ? in->w : in->h, n_out = horizontal ? w : h;
    int *bounds = NULL;
    int32_t *k = NULL;
    int ksize = coeffs(n_in, n_out, filter, &bounds, &k);
    out->w = w; out->h = h;
    out->rgb = ksize ? pl_malloc((size_t)w * h * 3) : NULL;
    if (out->rgb) {
        size_t row_in = (size_t)in->w * 3, row_out = (size_t)w * 3;
        if (horizontal) pass(in->rgb, out->rgb, w, h, 3, row_in, 3, row_out, bounds, k, ksize);
        else pass(in->rgb, out->rgb, h, w, row_in, 3, row_out, 3, bounds, k, ksize);
    }
    free(bounds);
    free(k);
    return out->rgb ? PL_OK : PL_ERR_NOMEM;
}

/* Pillow 13 (its PR 9549) runs the vertical pass first when the height shrinks by more than twice as many pixels
 * as the width; the order changes the 8-bit intermediate, so it is copied exactly */
static bool vertical_first(const pl_image *in, int w, int h) {
    return w != in->w && h != in->h && in->h - h > 0 && in->h - h > 2 * (in->w - w);
}

static int copy_image(const pl_image *in, pl_image *out) {
    *out = (pl_image){in->w, in->h, pl_malloc((size_t)in->w * in->h * 3)};
    if (!out->rgb) return PL_ERR_NOMEM;
    memcpy(out->rgb, in->rgb, (size_t)in->w * in->h * 3);
    return PL_OK;
}

int pl_image_resize(const pl_image *in, int w, int h, int filter, pl_image *out) {
    *out = (pl_image){0};
    if (w < 1 || h < 1 || w > PL_IMAGE_MAX_SIDE || h > PL_IMAGE_MAX_SIDE)
        return pl_error(PL_ERR_ARG, "cannot resize to %d x %d pixels", w, h);
    if (filter != PL_RESAMPLE_BICUBIC && filter != PL_RESAMPLE_BILINEAR)
        return pl_error(PL_ERR_UNSUPPORTED, "resample filter %d is not supported (2: bilinear, 3: bicubic)", filter);
    if (w == in->w && h == in->h) return copy_image(in, out);
    if (w == in->w || h == in->h) return resize_axis(in, out, w, h, filter, w != in->w);
    pl_image tmp = {0};
    bool v = vertical_first(in, w, h);
    int rc = v ? resize_axis(in, &tmp, in->w, h, filter, false) : resize_axis(in, &tmp, w, in->h, filter, true);
    if (!rc) rc = resize_axis(&tmp, out, w, h, filter, v);
    pl_image_free(&tmp);
    return rc;
}
