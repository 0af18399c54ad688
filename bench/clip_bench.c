/* Timings for bench/bench_clip.py, one JSON line each:
 *   clip_bench loss clip|siglip B D THREADS   forward + backward of the contrastive loss (ops/contrastive.c) on B
 *                                             random unit pairs: seconds and the process's peak RSS
 *   clip_bench vit MODEL_DIR N BATCH THREADS  image embeddings/s of a CLIP/SigLIP model on N random images
 *                                             (preprocessed pixels), BATCH at a time, after two warm-up batches,
 *                                             per wall second and per CPU second of the process;
 *                                             PLINTH_PROFILE=1 prints the time per op */
#include "bench_common.h"
#include "models/clip.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static long peak_kib(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

static int bench_loss(bool siglip, int B, int D, int nt) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = nt});
    pl_tensor *img = pl_new_2d(ctx, PL_F32, D, B), *txt = pl_new_2d(ctx, PL_F32, D, B);
    pl_tensor *t = pl_new_1d(ctx, PL_F32, 1), *b = pl_new_1d(ctx, PL_F32, 1);
    uint64_t st = 1;
    for (int k = 0; k < 2; k++) {
        float *x = pl_f32(k ? txt : img);
        for (int i = 0; i < B; i++) {
            double n = 0;
            for (int c = 0; c < D; c++) { x[(size_t)i * D + c] = (float)((pl_splitmix64(&st) >> 40) / 16777216.0 - 0.5); n += x[(size_t)i * D + c] * x[(size_t)i * D + c]; }
            for (int c = 0; c < D; c++) x[(size_t)i * D + c] /= (float)sqrt(n);
        }
    }
    pl_f32(t)[0] = 2.3f; pl_f32(b)[0] = -10.0f;
    pl_param(ctx, img); pl_param(ctx, txt); pl_param(ctx, t); pl_param(ctx, b);
    pl_tensor *loss = pl_contrastive_loss(ctx, img, txt, t, b, siglip);
    pl_graph *g = pl_graph_build(ctx, loss, true);
    double t0 = now();
    pl_graph_forward(ctx, g);
    pl_graph_backward(ctx, g);
    double dt = now() - t0;
    printf("{\"loss\": \"%s\", \"B\": %d, \"D\": %d, \"seconds\": %.4f, \"peak_mib\": %.1f, \"value\": %.6f}\n",
           siglip ? "siglip" : "clip", B, D, dt, peak_kib() / 1024.0, pl_f32(loss)[0]);
    pl_ctx_free(ctx);
    return 0;
}

static int bench_vit(const char *dir, int n, int batch, int nt) {
    pl_ctx_set_defaults(&(pl_ctx_params){.profile = pl_profile_mode_parse(getenv("PLINTH_PROFILE"))});
    pl_clip *m = pl_clip_load(dir, nt);
    if (!m) { fprintf(stderr, "%s\n", pl_last_error()); return 1; }
    int S = m->vision.image_size;
    float *px = malloc((size_t)batch * 3 * S * S * sizeof(float)), *out = malloc((size_t)batch * m->dim * sizeof(float));
    uint64_t st = 2;
    for (size_t i = 0; i < (size_t)batch * 3 * S * S; i++) px[i] = (float)((pl_splitmix64(&st) >> 40) / 16777216.0 * 4 - 2);
    /* warm-up: two batches, as the context's arena settles in its second (pl_ctx_reset merges the first's chunks into
     * one fresh one, whose pages the kernel zeroes as they are first touched: a quarter of a batch's CPU time) */
    for (int w = 0; w < 2; w++) pl_clip_embed_images(m, px, batch, out);
    double t0 = now(), c0 = cpu_s();
    for (int done = 0; done < n; done += batch) pl_clip_embed_images(m, px, batch, out);
    double dt = now() - t0, dc = cpu_s() - c0;
    printf("{\"impl\": \"plinth\", \"images\": %d, \"batch\": %d, \"threads\": %d, \"seconds\": %.3f, \"images_per_s\": %.2f, "
           "\"cpu_seconds\": %.3f, \"images_per_cpu_s\": %.2f}\n", n, batch, nt, dt, n / dt, dc, n / dc);
    pl_ctx_profile_print(m->step, stderr); /* PLINTH_PROFILE=1: where the time went */
    free(px); free(out);
    pl_clip_free(m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "loss")) return bench_loss(!strcmp(argv[2], "siglip"), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc == 6 && !strcmp(argv[1], "vit")) return bench_vit(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: clip_bench loss clip|siglip B D THREADS | clip_bench vit MODEL_DIR N BATCH THREADS\n");
    return 2;
}
