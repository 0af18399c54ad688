/* Decoding images into 8-bit RGB (image.h): the file is read whole, stb_image reads its header and the size is
 * checked before the pixels are decoded, then the pixels become RGB as transformers' convert_to_rgb makes them
 * for a PIL image: gray replicated, and any alpha composited onto opaque white with PIL's alpha_composite. */
#include "io/image.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

/* PIL's AlphaComposite.c for an opaque white destination: its 7-bit fixed point and its division by 255 */
static uint8_t composite_on_white(uint8_t c, uint8_t a) {
    if (a == 0) return 255;
    enum { PREC = 7 };
    uint32_t blend = 255u * (255u - a), outa255 = a * 255u + blend;
    uint32_t coef1 = a * 255u * 255u * (1u << PREC) / outa255, coef2 = 255u * (1u << PREC) - coef1;
    uint32_t t = c * coef1 + 255u * coef2 + (0x80u << PREC);
    return (uint8_t)((((t >> 8) + t) >> 8) >> PREC);
}

static int check_size(int w, int h, const char *what) {
    if (w < 1 || h < 1) return pl_error(PL_ERR_FORMAT, "%s: the image has no pixels (%d x %d)", what, w, h);
    if (w > PL_IMAGE_MAX_SIDE || h > PL_IMAGE_MAX_SIDE || (long long)w * h > PL_IMAGE_MAX_PIXELS)
        return pl_error(PL_ERR_FORMAT, "%s: the image is %d x %d pixels, more than plinth decodes (%d on a side, %lld in all)",
                        what, w, h, PL_IMAGE_MAX_SIDE, (long long)PL_IMAGE_MAX_PIXELS);
    return PL_OK;
}

/* A PNG's size from its IHDR chunk: stb_image refuses a huge one in its header scan without saying so */
static bool png_size(const uint8_t *b, size_t len, int *w, int *h) {
    if (len < 24 || memcmp(b, "\x89PNG\r\n\x1a\n", 8) || memcmp(b + 12, "IHDR", 4)) return false;
    uint32_t pw = (uint32_t)b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19];
    uint32_t ph = (uint32_t)b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23];
    *w = pw > INT32_MAX ? INT32_MAX : (int)pw;
    *h = ph > INT32_MAX ? INT32_MAX : (int)ph;
    return true;
}

static const char *reason(void) {
    const char *r = stbi_failure_reason();
    return r && *r ? r : "no reason given";
}

int pl_image_decode(const void *data, size_t len, const char *what, pl_image *img) {
    *img = (pl_image){0};
    int w = 0, h = 0, comp = 0;
    if (len == 0) return pl_error(PL_ERR_FORMAT, "%s: the file is empty", what);
    if (len > INT32_MAX) return pl_error(PL_ERR_FORMAT, "%s: the file is larger than 2 GiB", what);
    if (png_size(data, len, &w, &h) && check_size(w, h, what)) return PL_ERR_FORMAT;
    if (!stbi_info_from_memory(data, (int)len, &w, &h, &comp))
        return pl_error(PL_ERR_FORMAT, "%s: not an image plinth can read (PNG, JPEG, BMP, GIF; stb_image: %s)", what,
                        reason());
    int rc = check_size(w, h, what);
    if (rc) return rc;
    bool alpha = comp == 2 || comp == 4;
    uint8_t *px = stbi_load_from_memory(data, (int)len, &w, &h, &comp, alpha ? 4 : 3);
    if (!px) return pl_error(PL_ERR_FORMAT, "%s: the image is corrupt or truncated (stb_image: %s)", what, reason());
    size_t n = (size_t)w * h;
    img->rgb = pl_malloc(n * 3);
    if (!img->rgb) { stbi_image_free(px); return PL_ERR_NOMEM; }
    if (alpha) {
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) img->rgb[i * 3 + c] = composite_on_white(px[i * 4 + c], px[i * 4 + 3]);
    } else {
        memcpy(img->rgb, px, n * 3);
    }
    stbi_image_free(px);
    img->w = w;
    img->h = h;
    return PL_OK;
}

int pl_image_load(const char *path, pl_image *img) {
    *img = (pl_image){0};
    size_t len = 0;
    char *data = pl_read_file(path, &len);
    if (!data) return PL_ERR_IO;
    int rc = pl_image_decode(data, len, path, img);
    free(data);
    return rc;
}

/* ---- writing --------------------------------------------------------------------------------------- */
typedef struct { uint8_t *p; size_t n, cap; bool failed; } png_buf;
static void png_append(void *ctx, void *data, int size) {
    png_buf *b = ctx;
    if (b->failed || size <= 0) return;
    if (b->n + (size_t)size > b->cap) {
        size_t cap = PL_MAX(2 * b->cap, b->n + (size_t)size + 4096);
        uint8_t *p = pl_realloc(b->p, cap);
        if (!p) { b->failed = true; return; }
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

int pl_image_write_png(const char *path, const pl_image *img) {
    int rc = check_size(img->w, img->h, path);
    if (rc) return rc;
    png_buf b = {0};
    if (!stbi_write_png_to_func(png_append, &b, img->w, img->h, 3, img->rgb, 3 * img->w) || b.failed) {
        free(b.p);
        return pl_error(PL_ERR_NOMEM, "%s: cannot encode the PNG", path);
    }
    rc = pl_write_file_atomic(path, b.p, b.n);
    free(b.p);
    return rc;
}

void pl_image_free(pl_image *img) {
    if (!img) return;
    free(img->rgb);
    *img = (pl_image){0};
}
