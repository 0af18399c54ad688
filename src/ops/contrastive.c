/* Contrastive losses of a batch of B matching image-text pairs (row i of each is a pair), on unit vectors:
 * CLIP's (Radford et al. 2021) symmetric cross-entropy over logits exp(t) <img_i, txt_j>, each image against all
 * texts and each text against all images, and SigLIP's (Zhai et al. 2023) pairwise sigmoid loss over
 * exp(t) <img_i, txt_j> + b, label +1 on the diagonal and -1 elsewhere, summed and divided by B. The B x B logits
 * are never held: forward and backward run over blocks of image rows (one GEMM each), keeping only each row's and
 * each column's log-sum-exp (CLIP, 2B floats) for backward. Gradients reach both embeddings, t and b. */
#include "ops/ops.h"

#include <cblas.h>
#include <math.h>

enum { BLOCK = 256 }; /* image rows per block: the block's logits are BLOCK x B floats */

pl_tensor *pl_contrastive_loss(pl_ctx *ctx, pl_tensor *img, pl_tensor *txt, pl_tensor *t, pl_tensor *b, bool siglip) {
    if (!img || !txt || !t || (siglip && !b)) return NULL;
    OP_REQUIRE(img->type == PL_F32 && txt->type == PL_F32 && pl_is_contiguous(img) && pl_is_contiguous(txt),
               "contrastive loss: contiguous f32 embeddings expected");
    OP_REQUIRE(img->ne[0] == txt->ne[0] && img->ne[1] == txt->ne[1] && pl_nrows(img) == img->ne[1],
               "contrastive loss: images {D, B} and texts {D, B} of the same shape expected");
    OP_REQUIRE(pl_nelements(t) == 1 && t->type == PL_F32 && (!b || (pl_nelements(b) == 1 && b->type == PL_F32)),
               "contrastive loss: the temperature and the bias are f32 scalars");
    pl_tensor *n = op_new_node(ctx, PL_OP_CONTRASTIVE, PL_F32, 1, (int64_t[]){1}, img, txt, t, siglip ? b : NULL);
    if (n) n->p.i[0] = siglip;
    return n;
}

/* logits of image rows [i0, i0 + r) against every text: L = exp(t) img txt^T + bias, r x B row-major */
static void block_logits(const pl_tensor *node, int64_t i0, int64_t r, float *L) {
    const pl_tensor *img = node->src[0], *txt = node->src[1];
    int64_t D = img->ne[0], B = img->ne[1];
    float s = expf(pl_f32(node->src[2])[0]), bias = node->src[3] ? pl_f32(node->src[3])[0] : 0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)r, (int)B, (int)D, s, pl_f32(img) + i0 * D, (int)D,
                pl_f32(txt), (int)D, 0.0f, L, (int)B);
    if (bias != 0)
        for (int64_t k = 0; k < r * B; k++) L[k] += bias;
}

static double log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }

void op_contrastive_forward(pl_ctx *ctx, pl_tensor *node) {
    int64_t B = node->src[0]->ne[1];
    bool siglip = node->p.i[0];
    float *L = pl_ctx_alloc(ctx, (size_t)PL_MIN(BLOCK, B) * B * sizeof(float));
    /* CLIP: saved[0 .. B) each image row's log-sum-exp, saved[B .. 2B) each text column's (kept for backward) */
    node->saved = siglip ? NULL : pl_ctx_alloc(ctx, (size_t)2 * B * sizeof(float));
    double *cmax = siglip ? NULL : pl_ctx_alloc(ctx, (size_t)2 * B * sizeof(double)), *csum = cmax ? cmax + B : NULL;
    if (!L || (!siglip && (!node->saved || !cmax))) { pl_f32(node)[0] = NAN; return; }
    for (int64_t j = 0; !siglip && j < B; j++) { cmax[j] = -INFINITY; csum[j] = 0; }
    double loss = 0;
    for (int64_t i0 = 0; i0 < B; i0 += BLOCK) {
        int64_t r = PL_MIN(BLOCK, B - i0);
        block_logits(node, i0, r, L);
        for (int64_t i = 0; i < r; i++) {
            const float *row = L + i * B;
            if (siglip) {
                for (int64_t j = 0; j < B; j++) loss -= log_sigmoid(i0 + i == j ? row[j] : -row[j]);
                continue;
            }
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < B; j++) mx = fmax(mx, row[j]);
            for (int64_t j = 0; j < B; j++) sum += exp(row[j] - mx);
            node->saved[i0 + i] = (float)(mx + log(sum));
            loss += mx + log(sum) - row[i0 + i];
            for (int64_t j = 0; j < B; j++) { /* the columns' log-sum-exp, online over the blocks */
                if (row[j] > cmax[j]) { csum[j] = csum[j] * exp(cmax[j] - row[j]) + 1; cmax[j] = row[j]; }
                else csum[j] += exp(row[j] - cmax[j]);
            }
        }
        if (!siglip)
            for (int64_t i = 0; i < r; i++) loss -= L[i * B + i0 + i]; /* the text side's diagonal term */
    }
    for (int64_t j = 0; !siglip && j < B; j++) {
        node->saved[B + j] = (float)(cmax[j] + log(csum[j]));
        loss += node->saved[B + j];
    }
    pl_f32(node)[0] = (float)(siglip ? loss / B : loss / (2.0 * B));
}

void op_contrastive_backward(pl_ctx *ctx, pl_tensor *node) {
    pl_tensor *img = node->src[0], *txt = node->src[1];
    int64_t D = img->ne[0], B = img->ne[1];
    bool siglip = node->p.i[0];
    float g = pl_f32(node->grad)[0], s = expf(pl_f32(node->src[2])[0]), bias = node->src[3] ? pl_f32(node->src[3])[0] : 0;
    float *gi = op_grad(img), *gt = op_grad(txt), *gs = op_grad(node->src[2]), *gb = op_grad(node->src[3]);
    float *L = pl_ctx_alloc(ctx, (size_t)PL_MIN(BLOCK, B) * B * sizeof(float));
    if (!L) return;
    double dt = 0, db = 0;
    for (int64_t i0 = 0; i0 < B; i0 += BLOCK) {
        int64_t r = PL_MIN(BLOCK, B - i0);
        block_logits(node, i0, r, L);
        for (int64_t i = 0; i < r; i++) /* L becomes dloss/dlogits, times the output's gradient */
            for (int64_t j = 0; j < B; j++) {
                float l = L[i * B + j], d;
                bool diag = i0 + i == j;
                if (siglip) {
                    float z = diag ? 1.0f : -1.0f; /* d/dl of -log sigmoid(z l) / B */
                    d = -z / (1.0f + expf(z * l)) / (float)B;
                } else {
                    d = (expf(l - node->saved[i0 + i]) + expf(l - node->saved[B + j]) - (diag ? 2.0f : 0.0f)) / (2.0f * B);
                }
                d *= g;
                dt += (double)d * (l - bias); /* l - bias = exp(t) <img, txt>: its derivative in t */
                db += d;
                L[i * B + j] = d;
            }
        if (gi) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)D, (int)B, s, L, (int)B, pl_f32(txt), (int)D,
                            1.0f, gi + i0 * D, (int)D);
        if (gt) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)B, (int)D, (int)r, s, L, (int)B, pl_f32(img) + i0 * D,
                            (int)D, 1.0f, gt, (int)D);
    }
    if (gs) gs[0] += (float)dt;
    if (gb) gb[0] += (float)db;
}
