/* CLIPImageProcessor's and SiglipImageProcessor's pipeline (image.h) from preprocessor_config.json: resize
 * (the shorter side to size.shortest_edge, the longer one int(s * long / short) as transformers computes it, or
 * to size.height x size.width), center crop (top = (h - crop_h) // 2, zero padding where the image is smaller),
 * rescale (in double, then f32, as numpy does) and normalize ((x - mean) / std in f32). Keys a config leaves out
 * take the defaults of the processor class it names. */
#include "io/image.h"
#include "io/hfconfig.h"

#include <sys/stat.h>

static const float k_clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float k_clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

/* "size": 224 (old configs), {"shortest_edge": 224} or {"height": .., "width": ..} */
static int read_size(const pl_hfconfig *c, const char *key, bool square, int *edge, int *h, int *w) {
    char k[64];
    int64_t v = pl_hfconfig_get_int(c, key, -1);
    if (v > 0) {
        if (square) { *h = *w = (int)v; } else { *edge = (int)v; }
        return PL_OK;
    }
    snprintf(k, sizeof k, "%s.shortest_edge", key);
    if (!square && (v = pl_hfconfig_get_int(c, k, -1)) > 0) { *edge = (int)v; return PL_OK; }
    snprintf(k, sizeof k, "%s.height", key);
    int64_t hh = pl_hfconfig_get_int(c, k, -1);
    snprintf(k, sizeof k, "%s.width", key);
    int64_t ww = pl_hfconfig_get_int(c, k, -1);
    if (hh > 0 && ww > 0 && hh <= PL_IMAGE_MAX_SIDE && ww <= PL_IMAGE_MAX_SIDE) { *h = (int)hh; *w = (int)ww; return PL_OK; }
    return pl_hfconfig_has(c, key) ? pl_error(PL_ERR_FORMAT, "preprocessor_config.json: '%s' is not a size plinth reads", key)
                                   : PL_OK;
}

static void read_triple(const pl_hfconfig *c, const char *key, float *v) {
    if (pl_hfconfig_arr_n(c, key) == 3)
        for (int i = 0; i < 3; i++) v[i] = (float)pl_hfconfig_arr_float(c, key, i, v[i]);
    else if (pl_hfconfig_has(c, key))
        v[0] = v[1] = v[2] = (float)pl_hfconfig_get_float(c, key, v[0]);
}

static void set_defaults(pl_image_processor *p, bool siglip) {
    *p = (pl_image_processor){.do_resize = true, .do_center_crop = !siglip, .do_rescale = true, .do_normalize = true,
                              .resample = PL_RESAMPLE_BICUBIC, .rescale_factor = 1.0 / 255};
    if (siglip) {
        p->resize_h = p->resize_w = 224;
        for (int i = 0; i < 3; i++) p->mean[i] = p->std[i] = 0.5f;
    } else {
        p->shortest_edge = 224;
        p->crop_h = p->crop_w = 224;
        memcpy(p->mean, k_clip_mean, sizeof p->mean);
        memcpy(p->std, k_clip_std, sizeof p->std);
    }
}

int pl_image_processor_load(const char *path, pl_image_processor *p) {
    char file[1100];
    struct stat sb;
    bool dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    snprintf(file, sizeof file, dir ? "%s/preprocessor_config.json" : "%s", path);
    pl_hfconfig *c = pl_hfconfig_load(file);
    if (!c) return PL_ERR_FORMAT;
    const char *type = pl_hfconfig_get_str(c, "image_processor_type");
    set_defaults(p, type && strstr(type, "Siglip"));
    p->do_resize = pl_hfconfig_get_bool(c, "do_resize", p->do_resize);
    p->do_center_crop = pl_hfconfig_get_bool(c, "do_center_crop", p->do_center_crop);
    p->do_rescale = pl_hfconfig_get_bool(c, "do_rescale", p->do_rescale);
    p->do_normalize = pl_hfconfig_get_bool(c, "do_normalize", p->do_normalize);
    p->resample = (int)pl_hfconfig_get_int(c, "resample", p->resample);
    p->rescale_factor = pl_hfconfig_get_float(c, "rescale_factor", p->rescale_factor);
    read_triple(c, "image_mean", p->mean);
    read_triple(c, "image_std", p->std);
    int rc = PL_OK;
    if (pl_hfconfig_has(c, "size")) {
        p->shortest_edge = p->resize_h = p->resize_w = 0;
        rc = read_size(c, "size", false, &p->shortest_edge, &p->resize_h, &p->resize_w);
    }
    if (!rc) rc = read_size(c, "crop_size", true, NULL, &p->crop_h, &p->crop_w);
    pl_hfconfig_free(c);
    if (rc) return rc;
    if (p->resample != PL_RESAMPLE_BICUBIC && p->resample != PL_RESAMPLE_BILINEAR)
        return pl_error(PL_ERR_UNSUPPORTED, "%s: resample %d is not supported (2: bilinear, 3: bicubic)", file, p->resample);
    if (p->do_resize && p->shortest_edge <= 0 && p->resize_h <= 0)
        return pl_error(PL_ERR_FORMAT, "%s: do_resize without a size", file);
    if (p->shortest_edge > PL_IMAGE_MAX_SIDE) return pl_error(PL_ERR_FORMAT, "%s: size %d is too large", file, p->shortest_edge);
    if (p->do_center_crop && p->crop_h <= 0) return pl_error(PL_ERR_FORMAT, "%s: do_center_crop without a crop_size", file);
    for (int i = 0; i < 3; i++)
        if (p->do_normalize && !(p->std[i] > 0)) return pl_error(PL_ERR_FORMAT, "%s: image_std must be positive", file);
    return PL_OK;
}

int pl_image_processor_size(const pl_image_processor *p, int *h, int *w) {
    if (p->do_center_crop) { *h = p->crop_h; *w = p->crop_w; return PL_OK; }
    if (p->do_resize && p->shortest_edge <= 0) { *h = p->resize_h; *w = p->resize_w; return PL_OK; }
    return pl_error(PL_ERR_FORMAT, "the image processor's output size depends on the image (no crop, no fixed size)");
}

/* transformers' get_resize_output_image_size(default_to_square=False) */
static void shortest_edge_size(int w, int h, int edge, int *nw, int *nh) {
    int s = w <= h ? w : h, l = w <= h ? h : w;
    int nl = (int)((double)edge * l / s);
    if (w <= h) { *nw = edge; *nh = nl; } else { *nw = nl; *nh = edge; }
}

/* numpy's center_crop: the crop window, zero where it falls outside the image */
static void center_crop(const pl_image *in, int ch, int cw, uint8_t *out) {
    int top = in->h >= ch ? (in->h - ch) / 2 : -((ch - in->h + 1) / 2);
    int left = in->w >= cw ? (in->w - cw) / 2 : -((cw - in->w + 1) / 2);
    for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw; x++)
            for (int c = 0; c < 3; c++) {
                int sy = y + top, sx = x + left;
                bool inside = sy >= 0 && sy < in->h && sx >= 0 && sx < in->w;
                out[((size_t)y * cw + x) * 3 + c] = inside ? in->rgb[((size_t)sy * in->w + sx) * 3 + c] : 0;
            }
}

int pl_image_preprocess(const pl_image_processor *p, const pl_image *img, float *out, int *h, int *w) {
    pl_image sized = {0}, cropped = {0};
    const pl_image *cur = img;
    int rc = PL_OK;
    if (p->do_resize) {
        int nw = p->resize_w, nh = p->resize_h;
        if (p->shortest_edge > 0) shortest_edge_size(img->w, img->h, p->shortest_edge, &nw, &nh);
        rc = nw == img->w && nh == img->h ? PL_OK : pl_image_resize(img, nw, nh, p->resample, &sized);
        if (sized.rgb) cur = &sized;
    }
    if (!rc && p->do_center_crop) {
        cropped = (pl_image){p->crop_w, p->crop_h, pl_malloc((size_t)p->crop_w * p->crop_h * 3)};
        if (cropped.rgb) { center_crop(cur, p->crop_h, p->crop_w, cropped.rgb); cur = &cropped; }
        else rc = PL_ERR_NOMEM;
    }
    if (!rc) {
        size_t n = (size_t)cur->w * cur->h;
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < n; i++) {
                float x = p->do_rescale ? (float)(cur->rgb[i * 3 + c] * p->rescale_factor) : (float)cur->rgb[i * 3 + c];
                out[(size_t)c * n + i] = p->do_normalize ? (x - p->mean[c]) / p->std[c] : x;
            }
        *h = cur->h;
        *w = cur->w;
    }
    pl_image_free(&sized);
    pl_image_free(&cropped);
    return rc;
}
