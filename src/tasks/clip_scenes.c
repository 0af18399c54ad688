/* The synthetic scenes of clip_data.h (plinth clip scenes): one shape of one colour in one quadrant a picture,
 * drawn here with a seeded generator so that anyone can remake the set offline, and captioned from the three
 * attributes. Some combinations are kept out of train.jsonl: a model that retrieves their captions has learned to
 * compose the words, not to memorize the pictures. Sits in tasks/, writing PNGs through io/image.h. */
#include "io/image.h"
#include "tasks/clip_data.h"

#include <errno.h>
#include <math.h>
#include <sys/stat.h>

enum { N_SHAPES = 4, N_COLOURS = 5, N_PLACES = 4 };
static const char *const k_shapes[N_SHAPES] = {"circle", "square", "triangle", "cross"};
static const char *const k_colours[N_COLOURS] = {"red", "green", "blue", "yellow", "purple"};
static const uint8_t k_rgb[N_COLOURS][3] = {{215, 35, 35}, {35, 165, 50}, {40, 70, 215}, {225, 200, 25}, {145, 45, 175}};
static const char *const k_places[N_PLACES] = {"top left", "top right", "bottom left", "bottom right"};

static double uniform(uint64_t *st) { return (double)(pl_splitmix64(st) >> 11) / 9007199254740992.0; }

/* whether the point (dx, dy) from the centre lies in the shape of half-size r */
static bool inside(int shape, double dx, double dy, double r) {
    switch (shape) {
    case 0: return dx * dx + dy * dy <= r * r;
    case 1: return fabs(dx) <= 0.85 * r && fabs(dy) <= 0.85 * r;
    case 2: return dy >= -r && dy <= r && fabs(dx) <= (dy + r) / 2; /* apex up, base 2r wide */
    default: return (fabs(dx) <= r / 3 && fabs(dy) <= r) || (fabs(dy) <= r / 3 && fabs(dx) <= r);
    }
}

static void draw(pl_image *img, int shape, int colour, int place, uint64_t *st) {
    int S = img->w;
    double bg = 190 + 50 * uniform(st), q = S / 4.0;
    for (int i = 0; i < S * S * 3; i++) img->rgb[i] = (uint8_t)fmin(255, fmax(0, bg + 24 * (uniform(st) - 0.5)));
    double r = S * (0.12 + 0.06 * uniform(st));
    double cx = q * (place % 2 ? 3 : 1) + q * 0.3 * (2 * uniform(st) - 1);
    double cy = q * (place / 2 ? 3 : 1) + q * 0.3 * (2 * uniform(st) - 1);
    double shade[3];
    for (int c = 0; c < 3; c++) shade[c] = fmin(255, fmax(0, k_rgb[colour][c] + 30 * (uniform(st) - 0.5)));
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            if (inside(shape, x + 0.5 - cx, y + 0.5 - cy, r))
                for (int c = 0; c < 3; c++) img->rgb[(y * S + x) * 3 + c] = (uint8_t)shade[c];
}

static int append_line(char **buf, size_t *len, size_t *cap, const char *image, const char *caption) {
    size_t need = strlen(image) + strlen(caption) + 40;
    if (*len + need > *cap) {
        size_t nc = PL_MAX(2 * *cap, *len + need + 4096);
        char *b = pl_realloc(*buf, nc);
        if (!b) return PL_ERR_NOMEM;
        *buf = b;
        *cap = nc;
    }
    *len += (size_t)snprintf(*buf + *len, *cap - *len, "{\"image\": \"%s\", \"caption\": \"%s\"}\n", image, caption);
    return PL_OK;
}

int pl_clip_scenes_write(const char *dir, int per_combo, int side, uint64_t seed, pl_clip_scenes_stats *st) {
    *st = (pl_clip_scenes_stats){0};
    if (per_combo < 1 || per_combo > 100000) return pl_error(PL_ERR_ARG, "scenes: %d images per combination (1 .. 100000)", per_combo);
    if (side < 16 || side > 1024) return pl_error(PL_ERR_ARG, "scenes: side %d pixels (16 .. 1024)", side);
    char path[1200];
    snprintf(path, sizeof path, "%s/images", dir);
    if ((mkdir(dir, 0755) && errno != EEXIST) || (mkdir(path, 0755) && errno != EEXIST))
        return pl_error(PL_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    pl_image img = {side, side, pl_malloc((size_t)side * side * 3)};
    char *lines[2] = {NULL, NULL};
    size_t len[2] = {0, 0}, cap[2] = {0, 0};
    int rc = img.rgb ? PL_OK : PL_ERR_NOMEM, k = 0;
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < per_combo && !rc; i++) /* combination by combination within each round: files interleave */
        for (int s = 0; s < N_SHAPES && !rc; s++)
            for (int c = 0; c < N_COLOURS && !rc; c++)
                for (int p = 0; p < N_PLACES && !rc; p++, k++) {
                    bool held = (s + c + p) % 5 == 0;
                    char name[64], caption[96];
                    snprintf(name, sizeof name, "images/scene_%05d.png", k);
                    snprintf(caption, sizeof caption, "a %s %s at the %s.", k_colours[c], k_shapes[s], k_places[p]);
                    draw(&img, s, c, p, &rng);
                    snprintf(path, sizeof path, "%s/%s", dir, name);
                    rc = pl_image_write_png(path, &img);
                    if (!rc) rc = append_line(&lines[held], &len[held], &cap[held], name, caption);
                    if (held) st->heldout++;
                    else st->train++;
                    if (i == 0) { st->combos++; st->heldout_combos += held; }
                }
    const char *files[2] = {"train.jsonl", "heldout.jsonl"};
    for (int f = 0; f < 2 && !rc; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        rc = pl_write_file_atomic(path, lines[f], len[f]);
    }
    free(lines[0]);
    free(lines[1]);
    pl_image_free(&img);
    return rc;
}
