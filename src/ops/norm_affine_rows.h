/* The SIMD row kernels of ops/norm_affine.c, written once over a small vector vocabulary and included once per
 * instruction set. The includer defines:
 *   LN_TGT          the function target attribute;     LN_SFX(name)  the name with the ISA's suffix;
 *   LN_V, LN_W      the vector type and its lanes;
 *   LN_LD(p, i, n)  p[i..] with lanes at or past n read as 0;  LN_ST(p, i, n, v)  lanes below n stored;
 *   LN_TAIL0(v, i, n)  v with lanes at or past n set to 0;
 *   LN_SET1, LN_ZERO, LN_ADD, LN_SUB, LN_MUL, LN_FMA (a * b + c), LN_SUM (sum of the lanes).
 * Sums run in another order than the scalar reference's: equal to it up to float rounding. */

/* one row forward: y = (x - mean) * rstd * w + b; out = mean, rstd */
LN_TGT static void LN_SFX(ln_row)(const float *x, float *y, const float *w, const float *b, int64_t n, float eps,
                                  float *out) {
    LN_V s = LN_ZERO(), q = s;
    for (int64_t i = 0; i < n; i += LN_W) s = LN_ADD(s, LN_LD(x, i, n));
    float mean = LN_SUM(s) / (float)n;
    LN_V vm = LN_SET1(mean);
    for (int64_t i = 0; i < n; i += LN_W) {
        LN_V d = LN_TAIL0(LN_SUB(LN_LD(x, i, n), vm), i, n);
        q = LN_FMA(d, d, q);
    }
    float rstd = 1.0f / sqrtf(LN_SUM(q) / (float)n + eps);
    LN_V vr = LN_SET1(rstd);
    for (int64_t i = 0; i < n; i += LN_W) {
        LN_V v = LN_MUL(LN_MUL(LN_SUB(LN_LD(x, i, n), vm), vr), LN_LD(w, i, n));
        LN_ST(y, i, n, b ? LN_ADD(v, LN_LD(b, i, n)) : v);
    }
    out[0] = mean;
    out[1] = rstd;
}

/* one row backward: dx += rstd * (g w - mean(g w) - xh mean(g w xh)); pw += g xh; pb += g */
LN_TGT static void LN_SFX(ln_grad_row)(const float *x, const float *g, const float *w, float mean, float rstd,
                                       int64_t n, float *dx, float *pw, float *pb) {
    LN_V vm = LN_SET1(mean), vr = LN_SET1(rstd), sg = LN_ZERO(), sgx = sg;
    for (int64_t i = 0; i < n; i += LN_W) {
        LN_V xh = LN_MUL(LN_SUB(LN_LD(x, i, n), vm), vr), gv = LN_LD(g, i, n), gy = LN_MUL(gv, LN_LD(w, i, n));
        if (pw) {
            LN_ST(pw, i, n, LN_FMA(gv, xh, LN_LD(pw, i, n)));
            LN_ST(pb, i, n, LN_ADD(gv, LN_LD(pb, i, n)));
        }
        sg = LN_ADD(sg, gy);
        sgx = LN_FMA(gy, xh, sgx);
    }
    if (!dx) return;
    LN_V vsg = LN_SET1(LN_SUM(sg) / (float)n), vsgx = LN_SET1(LN_SUM(sgx) / (float)n);
    for (int64_t i = 0; i < n; i += LN_W) {
        LN_V xh = LN_MUL(LN_SUB(LN_LD(x, i, n), vm), vr);
        LN_V t = LN_SUB(LN_SUB(LN_MUL(LN_LD(g, i, n), LN_LD(w, i, n)), vsg), LN_MUL(xh, vsgx));
        LN_ST(dx, i, n, LN_FMA(vr, t, LN_LD(dx, i, n)));
    }
}
