/* Decode's kernels: four-row dots (four weight rows against one activation row per call, so the
 * activation's loads, its bias sums and the scale conversions are shared by the four rows), with a scalar
 * reference (four calls of the type's scalar dot), AVX-512 VNNI variants and an AVX2 one for q8_0; and the
 * activation quantizers
 * (AVX-512, bit-exact with the reference ones). Tests hold each variant to its reference. */
#ifndef PL_QUANT_ROWS_H
#define PL_QUANT_ROWS_H

#include "core/dtype.h"

#include <stddef.h>

#define PL_DOT_ROWS 4
/* s[r] = dot(row r of x, y) for r < 4; row r starts at (const char *)x + r * bx; y in wtype's vec_dot_type */
typedef void (*pl_vec_dot_rows_fn)(int64_t n, float *s, const void *x, size_t bx, const void *y);

/* Four weight rows against two activation rows: s[c * 4 + r] = dot(row r of x, row c of y), y rows by bytes
 * apart (several sequences decoded at once: each weight block loaded once for both) */
typedef void (*pl_vec_dot_tile_fn)(int64_t n, float *s, const void *x, size_t bx, const void *y, size_t by);
/* the 4 x 2 kernel for this CPU and weight type, or NULL (AVX2 q8_0 only) */
pl_vec_dot_tile_fn pl_vec_dot_tile(pl_dtype wtype);
pl_vec_dot_tile_fn pl_vec_dot_tile_avx2(pl_dtype wtype);

/* Eight weight rows against n_act activation rows (any count, one included): s[c * lds + r] = dot(row r of x,
 * row c of y) for r < 8, c < n_act; y rows by bytes apart. Each row's sum is the same for any n_act, bit for bit. */
#define PL_DOT_R8 8
typedef void (*pl_vec_dot_r8_fn)(int64_t n, float *s, size_t lds, const void *x, size_t bx, const void *y, size_t by,
                                 int64_t n_act);
/* the eight-row kernel for this CPU and weight type, or NULL (AVX2 without VNNI, q8_0 only) */
pl_vec_dot_r8_fn pl_vec_dot_r8(pl_dtype wtype);
pl_vec_dot_r8_fn pl_vec_dot_r8_avx2(pl_dtype wtype);

/* Rows packed for the eight-row kernels (pl_r8_pack, done once at load for a server's batched steps): the blocks
 * of each group of eight rows regrouped as the kernel uses them, so a step reads them with plain loads. q8_0:
 * per group and block, the eight f16 scales then eight 32-byte vectors (PL_R8_Q8_0_BLOCK bytes, the rows' own
 * size). The packed kernel gets the group's first block; its sums are pl_vec_dot_r8's, bit for bit. */
#define PL_R8_Q8_0_BLOCK (16 + 8 * 32)
typedef void (*pl_vec_dot_r8p_fn)(int64_t n, float *s, size_t lds, const void *xp, const void *y, size_t by, int64_t n_act);
/* bytes of the packed form of rows x n of type t (whole groups of eight; the rows after the last group are not
 * packed), 0 where the type has no packed kernel */
size_t pl_r8_packed_size(pl_dtype t, int64_t rows, int64_t n);
void pl_r8_pack(pl_dtype t, const void *x, size_t bx, int64_t rows, int64_t n, void *dst);
void pl_r8_pack_scalar(pl_dtype t, const void *x, size_t bx, int64_t rows, int64_t n, void *dst); /* the reference */
/* one packed group (eight rows) back to f32, as the type's to_float gives each row: out[r * ldo + i] */
void pl_r8_unpack(pl_dtype t, const void *xp, int64_t n, float *out, size_t ldo);
/* the packed kernel for this CPU and weight type, or NULL (where pl_vec_dot_r8 is NULL too) */
pl_vec_dot_r8p_fn pl_vec_dot_r8p(pl_dtype wtype);
pl_vec_dot_r8p_fn pl_vec_dot_r8p_avx2(pl_dtype wtype);
/* AVX-512 VNNI's (q8_0): the same product and layout, its own bits (the scalar dot's within rounding), the same
 * for any n_act */
pl_vec_dot_r8p_fn pl_vec_dot_r8p_avx512(pl_dtype wtype);

/* The packed kernel's product with 16-bit activations (pl_q8_0_widen: a q8_0 row's codes as int16 and its scale
 * as f32, exactly), faster with two or more activation rows where the integer units bound the step (AVX2 without
 * VNNI); the same bits as pl_vec_dot_r8p. NULL where pl_vec_dot_r8p is. */
typedef struct { float d; int16_t qs[32]; } pl_block_q8_0w;
typedef void (*pl_vec_dot_r8w_fn)(int64_t n, float *s, size_t lds, const void *xp, const void *yw, size_t byw, int64_t n_act);
pl_vec_dot_r8w_fn pl_vec_dot_r8w(pl_dtype wtype);
pl_vec_dot_r8w_fn pl_vec_dot_r8w_avx2(pl_dtype wtype);
void pl_q8_0_widen(const void *y, void *yw, int64_t n); /* n values: n / 32 blocks */

/* the best variant for this CPU, weight type and count of activation rows, or NULL (use the one-row vec_dot) */
pl_vec_dot_rows_fn pl_vec_dot_rows(pl_dtype wtype, int64_t n_act);

/* the activation quantizer for a vec_dot type (q8_0, q8_1, q8_K: AVX-512 when the CPU has it, giving the
 * reference quantizer's bytes exactly; any other type: its from_float) */
pl_from_float_fn pl_quantize_act(pl_dtype vt);

/* the variants, for tests (NULL where the type has none) */
pl_vec_dot_rows_fn pl_vec_dot_rows_scalar(pl_dtype wtype);
pl_vec_dot_rows_fn pl_vec_dot_rows_avx512(pl_dtype wtype);
pl_vec_dot_rows_fn pl_vec_dot_rows_avx2(pl_dtype wtype); /* q8_0 only */
pl_from_float_fn pl_quantize_act_avx512(pl_dtype vt);
pl_from_float_fn pl_quantize_act_avx2(pl_dtype vt);   /* q8_0, q8_1 */

#endif
