/* Images in: decoding (PNG, JPEG, BMP, GIF's first frame through stb_image; the header's size is checked
 * before any pixel buffer is allocated), RGB conversion as Hugging Face's processors do it (gray replicated,
 * transparency composited onto white by PIL's integer formula), PIL's separable resampling (bicubic or
 * bilinear, antialiased when shrinking, uint8 rounding after each pass), and CLIPImageProcessor /
 * SiglipImageProcessor's pipeline driven by preprocessor_config.json. Sits in io/, below models and tasks. */
#ifndef PL_IO_IMAGE_H
#define PL_IO_IMAGE_H

#include "core/common.h"

#include <stdbool.h>
#include <stdint.h>

#define PL_IMAGE_MAX_SIDE 16384              /* pixels on a side */
#define PL_IMAGE_MAX_PIXELS (64LL << 20)      /* width * height */

/* An 8-bit RGB image, rows top to bottom, pixels RGBRGB... */
typedef struct { int w, h; uint8_t *rgb; } pl_image;

/* Decode a file or a buffer into RGB. PL_OK, else a status + pl_last_error() (missing, truncated, corrupt, not an
 * image, larger than the limits above). img->rgb is malloc'd: free with pl_image_free. */
int pl_image_load(const char *path, pl_image *img);
int pl_image_decode(const void *data, size_t len, const char *what, pl_image *img);
void pl_image_free(pl_image *img);
/* img as an 8-bit RGB PNG file (written whole or not at all). PL_OK or a status + message. */
int pl_image_write_png(const char *path, const pl_image *img);

/* PIL's filters (Image.Resampling values, as preprocessor_config.json's "resample" gives them) */
enum { PL_RESAMPLE_BILINEAR = 2, PL_RESAMPLE_BICUBIC = 3 };

/* PIL's Image.resize(box = the whole image): out gets a new w x h image. PL_OK or a status. */
int pl_image_resize(const pl_image *in, int w, int h, int filter, pl_image *out);

/* preprocessor_config.json of CLIPImageProcessor / SiglipImageProcessor (and ViT's, which is the same
 * pipeline): resize (shortest edge, or height x width), center crop, rescale, normalize. */
typedef struct {
    bool do_resize, do_center_crop, do_rescale, do_normalize;
    int shortest_edge;       /* > 0: resize the shorter side to this, the other by the aspect ratio */
    int resize_h, resize_w;  /* else: to this size */
    int crop_h, crop_w;
    int resample;            /* PL_RESAMPLE_* */
    double rescale_factor;
    float mean[3], std[3];
} pl_image_processor;

/* path: a preprocessor_config.json or a directory holding one. PL_OK or a status + message. */
int pl_image_processor_load(const char *path, pl_image_processor *p);
/* The fixed output size, or PL_ERR_FORMAT when it depends on the image (shortest-edge resize, no crop). */
int pl_image_processor_size(const pl_image_processor *p, int *h, int *w);
/* img -> out (3 x h x w floats, channel planes, as pixel_values); *h, *w: the size written. out must hold
 * 3 * h * w of pl_image_processor_size's answer. PL_OK or a status. */
int pl_image_preprocess(const pl_image_processor *p, const pl_image *img, float *out, int *h, int *w);

#endif
