/* The attention kernels of attn_kernels.h written once over a small vector abstraction; attn_kernels.c
 * includes this body once per ISA (AVX-512, then AVX2 + FMA) after defining:
 *   SFX(name)       the name with the ISA's suffix (pl_attn_gemm -> pl_attn_gemm_avx512)
 *   TGT, DRV_TGT    target attributes of the kernels and of the GEMM driver
 *   VLEN            floats a vector; MR, NV: rows and vectors of a GEMM tile; KC: k per GEMM chunk
 *   vec, vmask      the vector and lane-mask types; M_ALL, M_FIRST(n): all lanes, the first n (1 <= n <= VLEN)
 *   V_ZERO V_SET1 V_LOAD V_FMADD V_MUL V_ADD V_SUB V_MAX V_EXP V_HSUM V_HMAX
 *   V_LOADZ(m, p, part)      lanes m of p, others 0
 *   V_LOADKEEP(v, m, p, part) lanes m of p, others from v
 *   V_STOREM(p, m, x, part)  lanes m of x to p, the others left as they are
 *   V_MASKZ(m, x, part)      x with the lanes outside m set to 0
 *   V_SPLIT         1: row loops take whole vectors unmasked and only the tail masked
 * and it #undefs them all at its end.
 * `part` says whether m can be partial: the 512-bit forms ignore it (a mask register costs nothing, and every
 * vector goes masked, as these kernels were tuned), the 256-bit ones have no mask registers (masked loads and
 * stores through a vector of lane masks are slower) and use plain loads and stores where part is false. */

#define INL static inline __attribute__((always_inline))
#define BW (VLEN * NV) /* columns of C a tile covers */

typedef void (*SFX(tile_fn))(int64_t nk, float alpha, const float *A, int64_t sam, int64_t sak, const float *B,
                             int64_t ldb, float *C, int64_t ldc, bool acc, vmask ml);

/* C[mr x VLEN nv] (last vector masked by ml; partial where edge) = alpha * sum_{0 <= k < nk} A(r, k) B(k, :) (+ C) */
TGT INL void SFX(tile)(const int mr, const int nv, const bool edge, int64_t nk, float alpha, const float *A,
                       int64_t sam, int64_t sak, const float *B, int64_t ldb, float *C, int64_t ldc, bool acc,
                       vmask ml) {
    vec c[MR][NV];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) c[r][v] = V_ZERO();
    for (int64_t k = 0; k < nk; k++) {
        const float *b = B + k * ldb, *a = A + k * sak;
        vec bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) bv[v] = v == nv - 1 ? V_LOADZ(ml, b + VLEN * v, edge) : V_LOAD(b + VLEN * v);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            vec ar = V_SET1(a[r * sam]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) c[r][v] = V_FMADD(ar, bv[v], c[r][v]);
        }
    }
    vec al = V_SET1(alpha);
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            vmask m = v == nv - 1 ? ml : M_ALL;
            float *cp = C + r * ldc + VLEN * v;
            vec x = acc ? V_FMADD(c[r][v], al, V_LOADZ(m, cp, v == nv - 1 && edge)) : V_MUL(c[r][v], al);
            V_STOREM(cp, m, x, v == nv - 1 && edge);
        }
}

/* the tile shape is a compile-time instance per (rows, vectors, edge) so the accumulators stay in registers
 * for the tails too */
#define TILE(mr, nv, e)                                                                                        \
    TGT static void SFX(tile_##mr##_##nv##_##e)(int64_t nk, float alpha, const float *A, int64_t sam, int64_t sak, \
                                                const float *B, int64_t ldb, float *C, int64_t ldc, bool acc,      \
                                                vmask ml) {                                                         \
        SFX(tile)(mr, nv, e, nk, alpha, A, sam, sak, B, ldb, C, ldc, acc, ml);                                     \
    }

#if NV == 2
#define TILE_NV(mr, e) TILE(mr, 1, e) TILE(mr, 2, e)
#define TROW(mr, e) {SFX(tile_##mr##_1_##e), SFX(tile_##mr##_2_##e)}
#elif NV == 3
#define TILE_NV(mr, e) TILE(mr, 1, e) TILE(mr, 2, e) TILE(mr, 3, e)
#define TROW(mr, e) {SFX(tile_##mr##_1_##e), SFX(tile_##mr##_2_##e), SFX(tile_##mr##_3_##e)}
#elif NV == 4
#define TILE_NV(mr, e) TILE(mr, 1, e) TILE(mr, 2, e) TILE(mr, 3, e) TILE(mr, 4, e)
#define TROW(mr, e) {SFX(tile_##mr##_1_##e), SFX(tile_##mr##_2_##e), SFX(tile_##mr##_3_##e), SFX(tile_##mr##_4_##e)}
#endif
#if MR == 4
#define TILE_MR(e) TILE_NV(1, e) TILE_NV(2, e) TILE_NV(3, e) TILE_NV(4, e)
#define TTAB(e) {TROW(1, e), TROW(2, e), TROW(3, e), TROW(4, e)}
#elif MR == 6
#define TILE_MR(e) TILE_NV(1, e) TILE_NV(2, e) TILE_NV(3, e) TILE_NV(4, e) TILE_NV(5, e) TILE_NV(6, e)
#define TTAB(e) {TROW(1, e), TROW(2, e), TROW(3, e), TROW(4, e), TROW(5, e), TROW(6, e)}
#endif
TILE_MR(0)
TILE_MR(1)
/* [edge][rows - 1][vectors - 1] */
static const SFX(tile_fn) SFX(tiles)[2][MR][NV] = {TTAB(0), TTAB(1)};

/* Loop order: k in chunks of KC, then BW columns of B, then the row tiles, so that the row tiles take turns
 * on one KC x BW block of B. (Copying a block to a contiguous buffer first, against L1 set conflicts of B's
 * strided rows, measured slower with AVX-512.) */
DRV_TGT void SFX(pl_attn_gemm)(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t sam, int64_t sak,
                               const float *B, int64_t ldb, float *C, int64_t ldc, bool acc, pl_attn_band band,
                               pl_band_use use) {
    if (!band.on) use = PL_BAND_NONE;
    for (int64_t kc = 0; kc == 0 || kc < K; kc += KC) {
        bool add = acc || kc > 0; /* later chunks add to the first's sums */
        int64_t kend = imin(K, kc + KC);
        for (int64_t n0 = 0; n0 < N; n0 += BW) {
            for (int64_t r0 = 0; r0 < M; r0 += MR) {
                int mr = (int)imin(MR, M - r0);
                int64_t nlo = n0, nhi = imin(N, n0 + BW), klo = kc, khi = kend;
                /* rows r0 .. r0+mr-1 together see [lo(r0), diag + r0 + mr) */
                int64_t hi = band.diag + r0 + mr, lo = band.window > 0 ? imax(0, band.diag + r0 + 1 - band.window) : 0;
                if (use == PL_BAND_N) { nlo = imax(nlo, lo & ~(int64_t)(VLEN - 1)); nhi = imin(nhi, hi); } /* aligned */
                if (use == PL_BAND_K) { klo = imax(klo, lo); khi = imin(khi, hi); }
                if (use == PL_BAND_KT) { /* query i sees key j iff j - diag <= i < j - diag + window */
                    klo = imax(klo, r0 - band.diag);
                    if (band.window > 0) khi = imin(khi, r0 + mr - 1 - band.diag + band.window);
                }
                if (nlo >= nhi) continue; /* columns this tile never writes (the caller clears them) */
                if (klo > khi) klo = khi;
                if (klo == khi && add) continue; /* nothing to add */
                int64_t nw = nhi - nlo;
                int nv = (int)((nw + VLEN - 1) / VLEN), tail = (int)(nw - VLEN * (nv - 1));
                SFX(tiles)[V_SPLIT && tail < VLEN][mr - 1][nv - 1](khi - klo, alpha, A + r0 * sam + klo * sak, sam, sak,
                                                        B + klo * ldb + nlo, ldb, C + r0 * ldc + nlo, ldc, add,
                                                        M_FIRST(tail));
            }
        }
    }
}

/* the 4 dot products of a group of keys on d .. d+VLEN (lanes m) */
TGT INL void SFX(dots4)(const float *q, const float *k0, int64_t ldk, vec a[4], vmask m, const bool part) {
    vec x = V_LOADZ(m, q, part);
    a[0] = V_FMADD(x, V_LOADZ(m, k0, part), a[0]);
    a[1] = V_FMADD(x, V_LOADZ(m, k0 + ldk, part), a[1]);
    a[2] = V_FMADD(x, V_LOADZ(m, k0 + 2 * ldk, part), a[2]);
    a[3] = V_FMADD(x, V_LOADZ(m, k0 + 3 * ldk, part), a[3]);
}
TGT void SFX(pl_attn_dots)(int64_t D, int64_t j0, int64_t j1, const float *q, const float *K, int64_t ldk, float scale,
                           float *out) {
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        const float *k0 = K + j * ldk;
        vec a[4] = {V_ZERO(), V_ZERO(), V_ZERO(), V_ZERO()};
        int64_t d = 0;
        if (V_SPLIT)
            for (; d + VLEN <= D; d += VLEN) SFX(dots4)(q + d, k0 + d, ldk, a, M_ALL, false);
        for (; d < D; d += VLEN) SFX(dots4)(q + d, k0 + d, ldk, a, M_FIRST(imin(VLEN, D - d)), true);
        out[j] = scale * V_HSUM(a[0]);
        out[j + 1] = scale * V_HSUM(a[1]);
        out[j + 2] = scale * V_HSUM(a[2]);
        out[j + 3] = scale * V_HSUM(a[3]);
    }
    for (; j < j1; j++) {
        vec a = V_ZERO();
        int64_t d = 0;
        if (V_SPLIT)
            for (; d + VLEN <= D; d += VLEN) a = V_FMADD(V_LOAD(q + d), V_LOAD(K + j * ldk + d), a);
        for (; d < D; d += VLEN) {
            vmask m = M_FIRST(imin(VLEN, D - d));
            a = V_FMADD(V_LOADZ(m, q + d, true), V_LOADZ(m, K + j * ldk + d, true), a);
        }
        out[j] = scale * V_HSUM(a);
    }
}

/* out[j..j+8) of the row kernels below, rows[j + r] read with LOAD: eight independent chains, one reduction */
#define ROWS_DOTS8(LOAD)                                                                                      \
    do {                                                                                                      \
        vec a[8];                                                                                             \
        _Pragma("GCC unroll 8") for (int r = 0; r < 8; r++) a[r] = V_ZERO();                                  \
        for (int64_t d = 0; d < D; d += VLEN) {                                                               \
            const vec x = V_LOAD(q + d);                                                                      \
            _Pragma("GCC unroll 8") for (int r = 0; r < 8; r++) a[r] = V_FMADD(x, LOAD(rows[j + r] + d), a[r]); \
        }                                                                                                     \
        V_HSUM8(a, scale, out + j);                                                                           \
    } while (0)

/* Decode attention over rows that lie anywhere (a batch's KV cells): out[j] = scale * dot(q, rows[j]), four rows
 * at a time as pl_attn_dots (the same order of additions, so a row's score does not depend on where it lies). */
TGT void SFX(pl_attn_rows_dots)(int64_t D, int64_t n, const float *const *rows, const float *q, float scale, float *out) {
    int64_t j = 0;
#ifdef V_HSUM8
    /* eight rows at a time where the ISA reduces eight sums at once (each row's additions in the same order):
     * eight independent chains instead of four, and one reduction for eight rows */
    if (D % VLEN == 0)
        for (; j + 8 <= n; j += 8) ROWS_DOTS8(V_LOAD);
#endif
    for (; j + 4 <= n; j += 4) {
        vec a[4] = {V_ZERO(), V_ZERO(), V_ZERO(), V_ZERO()};
        for (int64_t d = 0; d < D; d += VLEN) {
            const bool part = D - d < VLEN;
            const vmask m = part ? M_FIRST(D - d) : M_ALL;
            const vec x = V_LOADZ(m, q + d, part);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) a[r] = V_FMADD(x, V_LOADZ(m, rows[j + r] + d, part), a[r]);
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) out[j + r] = scale * V_HSUM(a[r]);
    }
    for (; j < n; j++) {
        vec a = V_ZERO();
        for (int64_t d = 0; d < D; d += VLEN) {
            const bool part = D - d < VLEN;
            const vmask m = part ? M_FIRST(D - d) : M_ALL;
            a = V_FMADD(V_LOADZ(m, q + d, part), V_LOADZ(m, rows[j] + d, part), a);
        }
        out[j] = scale * V_HSUM(a);
    }
}

/* a strip of four vectors of out, a[0..4), over every row in order, rows[j] read with LOAD from column d0 */
#define WSUM_STRIP4(LOAD)                                                                                     \
    for (int64_t j = 0; j < n; j++) {                                                                         \
        const vec w = V_SET1(p[j]);                                                                           \
        _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) a[v] = V_FMADD(w, LOAD(rows[j] + d0 + v * VLEN), a[v]); \
    }

/* out[0..D) = sum_j p[j] rows[j] (acc: out + sum_j ..., the running sums resumed from out, so a run of rows
 * split in blocks gives the bits of one pass): a strip of up to four vectors of out stays in registers while
 * every row passes, in row order */
TGT void SFX(pl_attn_rows_wsum)(int64_t D, int64_t n, const float *const *rows, const float *p, float *out, bool acc) {
    for (int64_t d0 = 0; d0 < D; d0 += 4 * VLEN) {
        vec a[4] = {V_ZERO(), V_ZERO(), V_ZERO(), V_ZERO()};
        const int nv = (int)imin(4, (D - d0 + VLEN - 1) / VLEN);
        const bool part = (D - d0) % VLEN != 0 && D - d0 < 4 * VLEN;
        const vmask ml = part ? M_FIRST((D - d0) % VLEN) : M_ALL;
        for (int v = 0; acc && v < nv; v++) {
            const bool last = v == nv - 1 && part;
            a[v] = V_LOADZ(last ? ml : M_ALL, out + d0 + v * VLEN, last);
        }
        if (nv == 4 && !part) {
            WSUM_STRIP4(V_LOAD);
        } else {
            for (int64_t j = 0; j < n; j++) {
                const vec w = V_SET1(p[j]);
                const float *r = rows[j] + d0;
                for (int v = 0; v < nv; v++) {
                    const bool last = v == nv - 1 && part;
                    a[v] = V_FMADD(w, V_LOADZ(last ? ml : M_ALL, r + v * VLEN, last), a[v]);
                }
            }
        }
        for (int v = 0; v < nv; v++) {
            const bool last = v == nv - 1 && part;
            V_STOREM(out + d0 + v * VLEN, last ? ml : M_ALL, a[v], last);
        }
    }
}

/* The same two over f16 rows (an f16 KV cache read in place), D a multiple of VLEN: each value widened exactly on
 * load and met in the f32 kernels' order, so the results are the f32 kernels' on the rows widened first, bit for
 * bit, with half the bytes read. */
TGT_H void SFX(pl_attn_rows_dots_h)(int64_t D, int64_t n, const uint16_t *const *rows, const float *q, float scale,
                                    float *out) {
    int64_t j = 0;
#ifdef V_HSUM8
    for (; j + 8 <= n; j += 8) ROWS_DOTS8(V_LOADH);
#endif
    for (; j < n; j++) {
        vec a = V_ZERO();
        for (int64_t d = 0; d < D; d += VLEN) a = V_FMADD(V_LOAD(q + d), V_LOADH(rows[j] + d), a);
        out[j] = scale * V_HSUM(a);
    }
}
TGT_H void SFX(pl_attn_rows_wsum_h)(int64_t D, int64_t n, const uint16_t *const *rows, const float *p, float *out,
                                    bool acc) {
    for (int64_t d0 = 0; d0 < D; d0 += 4 * VLEN) {
        vec a[4] = {V_ZERO(), V_ZERO(), V_ZERO(), V_ZERO()};
        const int nv = (int)imin(4, (D - d0) / VLEN);
        for (int v = 0; acc && v < nv; v++) a[v] = V_LOAD(out + d0 + v * VLEN);
        if (nv == 4) {
            WSUM_STRIP4(V_LOADH);
        } else {
            for (int64_t j = 0; j < n; j++) {
                const vec w = V_SET1(p[j]);
                for (int v = 0; v < nv; v++) a[v] = V_FMADD(w, V_LOADH(rows[j] + d0 + v * VLEN), a[v]);
            }
        }
        for (int v = 0; v < nv; v++) V_STOREM(out + d0 + v * VLEN, M_ALL, a[v], false);
    }
}

/* di = sum_j P_ij dP_ij equals dO_i . O_i (O_i = sum_j P_ij V_j) and needs no read of O: the row pass makes P,
 * sums P dP while P and dP are in registers, then a second pass over the (L1-resident) row forms dS. */
TGT INL vec SFX(bwd_p)(float *p, const float *ds, vec l, vec acc, vmask m, const bool part) {
    vec e = V_MASKZ(m, V_EXP(V_SUB(V_LOADZ(m, p, part), l)), part);
    V_STOREM(p, m, e, part);
    return V_FMADD(e, V_LOADZ(m, ds, part), acc);
}
TGT INL void SFX(bwd_ds)(const float *p, float *ds, vec dv, vmask m, const bool part) {
    vec e = V_LOADZ(m, p, part);
    V_STOREM(ds, m, V_MUL(e, V_SUB(V_LOADZ(m, ds, part), dv)), part);
}
TGT void SFX(pl_attn_bwd_row)(int64_t n, float *p, float *ds, float lse) {
    vec l = V_SET1(lse), acc = V_ZERO();
    int64_t j = 0;
    if (V_SPLIT)
        for (; j + VLEN <= n; j += VLEN) acc = SFX(bwd_p)(p + j, ds + j, l, acc, M_ALL, false);
    for (; j < n; j += VLEN) acc = SFX(bwd_p)(p + j, ds + j, l, acc, M_FIRST(imin(VLEN, n - j)), true);
    vec dv = V_SET1(V_HSUM(acc));
    j = 0;
    if (V_SPLIT)
        for (; j + VLEN <= n; j += VLEN) SFX(bwd_ds)(p + j, ds + j, dv, M_ALL, false);
    for (; j < n; j += VLEN) SFX(bwd_ds)(p + j, ds + j, dv, M_FIRST(imin(VLEN, n - j)), true);
}

/* Masked tails instead of a scalar loop: attention rows have every length from 1 to Tk. */
TGT INL vec SFX(sm_exp)(float *x, vec mv, vec vs, vmask m, const bool part) {
    vec e = V_MASKZ(m, V_EXP(V_SUB(V_LOADZ(m, x, part), mv)), part);
    V_STOREM(x, m, e, part);
    return V_ADD(vs, e);
}
TGT INL void SFX(sm_scale)(float *x, vec inv, vmask m, const bool part) {
    V_STOREM(x, m, V_MUL(V_LOADZ(m, x, part), inv), part);
}
TGT float SFX(pl_attn_softmax)(int64_t n, float *x) {
    vec vm = V_SET1(-INFINITY);
    int64_t j = 0;
    if (V_SPLIT)
        for (; j + VLEN <= n; j += VLEN) vm = V_MAX(vm, V_LOAD(x + j));
    for (; j < n; j += VLEN) {
        vmask m = M_FIRST(imin(VLEN, n - j));
        vm = V_MAX(vm, V_LOADKEEP(vm, m, x + j, true));
    }
    float mx = V_HMAX(vm);
    vec mv = V_SET1(mx), vs = V_ZERO();
    j = 0;
    if (V_SPLIT)
        for (; j + VLEN <= n; j += VLEN) vs = SFX(sm_exp)(x + j, mv, vs, M_ALL, false);
    for (; j < n; j += VLEN) vs = SFX(sm_exp)(x + j, mv, vs, M_FIRST(imin(VLEN, n - j)), true);
    float l = V_HSUM(vs);
    vec inv = V_SET1(1.0f / l);
    j = 0;
    if (V_SPLIT)
        for (; j + VLEN <= n; j += VLEN) SFX(sm_scale)(x + j, inv, M_ALL, false);
    for (; j < n; j += VLEN) SFX(sm_scale)(x + j, inv, M_FIRST(imin(VLEN, n - j)), true);
    return mx + logf(l);
}

/* the parameters are used up: the next includer defines its own */
#undef ISA_SFX
#undef TGT
#undef DRV_TGT
#undef VLEN
#undef MR
#undef NV
#undef KC
#undef vec
#undef vmask
#undef M_ALL
#undef M_FIRST
#undef V_ZERO
#undef V_SET1
#undef V_LOAD
#undef V_FMADD
#undef V_MUL
#undef V_ADD
#undef V_SUB
#undef V_MAX
#undef V_EXP
#undef V_HSUM
#undef V_HMAX
#undef V_LOADZ
#undef V_LOADKEEP
#undef V_STOREM
#undef V_MASKZ
#undef V_SPLIT
#undef V_HSUM8
#undef V_LOADH
#undef ROWS_DOTS8
#undef WSUM_STRIP4
#undef TGT_H
#undef BW
#undef TILE
#undef TILE_NV
#undef TROW
#undef TILE_MR
#undef TTAB
#undef INL
