/* ops/contrastive.c: CLIP's and SigLIP's losses over more pairs than one block (B = 300 > 256 rows), held to a
 * direct double-precision computation over the whole B x B logits (loss and every gradient: both embeddings, the
 * temperature, the bias), and the temperature's gradient to a finite difference. */
#include "core/tensor.h"
#include "test.h"

#include <string.h>

enum { B = 300, D = 6 };

static double logsig(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }

/* the loss and its gradients the plain way: gi, gt (B x D), gts, gb */
static double reference(const float *img, const float *txt, double t, double b, bool siglip, double *gi, double *gt,
                        double *gts, double *gb) {
    static double L[B][B], G[B][B];
    double s = exp(t), loss = 0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            double d = 0;
            for (int c = 0; c < D; c++) d += (double)img[i * D + c] * txt[j * D + c];
            L[i][j] = s * d + (siglip ? b : 0);
        }
    memset(G, 0, sizeof G);
    if (siglip) {
        for (int i = 0; i < B; i++)
            for (int j = 0; j < B; j++) {
                double z = i == j ? 1 : -1;
                loss -= logsig(z * L[i][j]) / B;
                G[i][j] = -z / (1 + exp(z * L[i][j])) / B;
            }
    } else {
        for (int dir = 0; dir < 2; dir++)
            for (int i = 0; i < B; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < B; j++) mx = fmax(mx, dir ? L[j][i] : L[i][j]);
                for (int j = 0; j < B; j++) sum += exp((dir ? L[j][i] : L[i][j]) - mx);
                loss += (mx + log(sum) - L[i][i]) / (2.0 * B);
                for (int j = 0; j < B; j++) {
                    double p = exp((dir ? L[j][i] : L[i][j]) - mx) / sum - (i == j);
                    if (dir) G[j][i] += p / (2.0 * B); else G[i][j] += p / (2.0 * B);
                }
            }
    }
    *gts = *gb = 0;
    memset(gi, 0, sizeof(double) * B * D);
    memset(gt, 0, sizeof(double) * B * D);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            *gts += G[i][j] * (L[i][j] - (siglip ? b : 0));
            *gb += G[i][j];
            for (int c = 0; c < D; c++) {
                gi[i * D + c] += s * G[i][j] * txt[j * D + c];
                gt[j * D + c] += s * G[i][j] * img[i * D + c];
            }
        }
    return loss;
}

static void check(bool siglip) {
    pl_ctx *ctx = pl_ctx_new(&(pl_ctx_params){.n_threads = 1});
    pl_tensor *img = pl_new_2d(ctx, PL_F32, D, B), *txt = pl_new_2d(ctx, PL_F32, D, B);
    pl_tensor *t = pl_new_1d(ctx, PL_F32, 1), *b = pl_new_1d(ctx, PL_F32, 1);
    uint64_t st = 7;
    for (int k = 0; k < 2; k++) { /* unit rows, each image near its text so the diagonal matters */
        float *x = pl_f32(k ? txt : img);
        for (int i = 0; i < B; i++) {
            double n = 0;
            for (int c = 0; c < D; c++) {
                uint64_t base = pl_hash64((uint64_t)i * 31 + c);
                float r = (float)((pl_splitmix64(&st) >> 40) / 16777216.0 - 0.5);
                x[i * D + c] = (float)((base >> 40) / 16777216.0 - 0.5) + 0.3f * r;
                n += x[i * D + c] * x[i * D + c];
            }
            for (int c = 0; c < D; c++) x[i * D + c] /= (float)sqrt(n);
        }
    }
    pl_f32(t)[0] = 2.0f;
    pl_f32(b)[0] = -3.0f;
    pl_param(ctx, img); pl_param(ctx, txt); pl_param(ctx, t); pl_param(ctx, b);
    pl_tensor *loss = pl_contrastive_loss(ctx, img, txt, t, siglip ? b : NULL, siglip);
    pl_graph *g = pl_graph_build(ctx, loss, true);
    CHECK(g != NULL);
    pl_graph_forward(ctx, g);
    pl_graph_backward(ctx, g);
    static double gi[B * D], gt[B * D];
    double gts, gb;
    double want = reference(pl_f32(img), pl_f32(txt), 2.0, -3.0, siglip, gi, gt, &gts, &gb);
    double mi = 0, mt = 0;
    for (int k = 0; k < B * D; k++) {
        mi = fmax(mi, fabs(pl_f32(img->grad)[k] - gi[k]));
        mt = fmax(mt, fabs(pl_f32(txt->grad)[k] - gt[k]));
    }
    printf("%s: loss %.6f (reference %.6f), max |diff| d img %.2g, d txt %.2g, d t %.2g, d b %.2g\n", siglip ? "siglip" : "clip",
           pl_f32(loss)[0], want, mi, mt, fabs(pl_f32(t->grad)[0] - gts), siglip ? fabs(pl_f32(b->grad)[0] - gb) : 0.0);
    CHECK_NEAR(pl_f32(loss)[0], want, 1e-5 * fmax(1, fabs(want)));
    CHECK(mi < 1e-6 && mt < 1e-6);
    CHECK_NEAR(pl_f32(t->grad)[0], gts, 1e-5);
    if (siglip) CHECK_NEAR(pl_f32(b->grad)[0], gb, 1e-5);
    else CHECK(pl_f32(b->grad)[0] == 0);
    /* the temperature's gradient against a central difference of the op's own loss */
    double h = 1e-2, lp, lm;
    pl_f32(t)[0] = 2.0f + (float)h; pl_graph_forward(ctx, g); lp = pl_f32(loss)[0];
    pl_f32(t)[0] = 2.0f - (float)h; pl_graph_forward(ctx, g); lm = pl_f32(loss)[0];
    CHECK_NEAR((lp - lm) / (2 * h), gts, 1e-3 * fmax(1, fabs(gts)));
    /* mismatched batches are refused */
    pl_tensor *short_txt = pl_new_2d(ctx, PL_F32, D, B - 1);
    CHECK(pl_contrastive_loss(ctx, img, short_txt, t, b, siglip) == NULL);
    pl_ctx_free(ctx);
}

int main(void) {
    check(false);
    check(true);
    TEST_DONE();
}
