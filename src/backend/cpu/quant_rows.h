/* Decode's kernels: four-row dots (four weight rows against one activation row per call, so the
 * activation's loads, its bias sums and the scale conversions are shared by the four rows), with a scalar
 * reference (four calls of the type's scalar dot) and AVX-512 VNNI variants; q8_0's eight-row kernel; and the
 * activation quantizers (AVX-512 and AVX2, bit-exact with the reference ones). Tests hold each variant to its
 * reference. */
#ifndef PL_QUANT_ROWS_H
#define PL_QUANT_ROWS_H

#include "core/dtype.h"

#include <stddef.h>

#define PL_DOT_ROWS 4
/* s[r] = dot(row r of x, y) for r < 4; row r starts at (const char *)x + r * bx; y in wtype's vec_dot_type */
typedef void (*pl_vec_dot_rows_fn)(int64_t n, float *s, const void *x, size_t bx, const void *y);

/* q8_0 (backend/cpu/q8_0_dot8.c): eight weight rows against n_act activation rows, s[c * 8 + r] = dot(row r of
 * x, row c of y), rows bx and by bytes apart. Every variant, and the scalar reference for 1..8 rows, gives the
 * same bits for a (row, activation) pair whatever n_act is: a sequence's logits do not depend on its batch. */
#define PL_DOT8_ROWS 8
typedef void (*pl_dot8_fn)(int64_t n, float *s, const void *x, size_t bx, const void *y, size_t by, int n_act);
pl_dot8_fn pl_dot8_q8_0(void);      /* this CPU's variant, or NULL (then the scalar one) */
pl_dot8_fn pl_dot8_q8_0_avx2(void); /* NULL where not built */
void pl_dot8_q8_0_scalar(int64_t n, float *s, const void *x, size_t bx, int rows, const void *y, size_t by, int n_act);

/* the best variant for this CPU, weight type and count of activation rows, or NULL (use the one-row vec_dot) */
pl_vec_dot_rows_fn pl_vec_dot_rows(pl_dtype wtype, int64_t n_act);

/* the activation quantizer for a vec_dot type (q8_0, q8_1, q8_K: AVX-512 when the CPU has it, giving the
 * reference quantizer's bytes exactly; any other type: its from_float) */
pl_from_float_fn pl_quantize_act(pl_dtype vt);

/* the variants, for tests (NULL where the type has none) */
pl_vec_dot_rows_fn pl_vec_dot_rows_scalar(pl_dtype wtype);
pl_vec_dot_rows_fn pl_vec_dot_rows_avx512(pl_dtype wtype);
pl_from_float_fn pl_quantize_act_avx512(pl_dtype vt);
pl_from_float_fn pl_quantize_act_avx2(pl_dtype vt);   /* q8_0, q8_1 */

#endif
