/* Quantized block types (GGUF-compatible layouts): block structs, reference quantizers, dequantizers
 * and dot kernels. PL_QUANT_TRAITS expands to their rows of the dtype table in core/dtype.c. */
#ifndef PL_QUANT_H
#define PL_QUANT_H

#include "core/dtype.h"

/* Filled in by the quantization work (issue 5); sizes are GGUF's so files with these types can be sized. */
#define PL_QUANT_TRAITS \
    [PL_Q4_0] = {.name = "q4_0", .blck_size = 32, .type_size = 18, .is_quantized = true}, \
    [PL_Q4_1] = {.name = "q4_1", .blck_size = 32, .type_size = 20, .is_quantized = true}, \
    [PL_Q5_0] = {.name = "q5_0", .blck_size = 32, .type_size = 22, .is_quantized = true}, \
    [PL_Q5_1] = {.name = "q5_1", .blck_size = 32, .type_size = 24, .is_quantized = true}, \
    [PL_Q8_0] = {.name = "q8_0", .blck_size = 32, .type_size = 34, .is_quantized = true}, \
    [PL_Q8_1] = {.name = "q8_1", .blck_size = 32, .type_size = 36, .is_quantized = true}, \
    [PL_Q2_K] = {.name = "q2_K", .blck_size = 256, .type_size = 84, .is_quantized = true}, \
    [PL_Q3_K] = {.name = "q3_K", .blck_size = 256, .type_size = 110, .is_quantized = true}, \
    [PL_Q4_K] = {.name = "q4_K", .blck_size = 256, .type_size = 144, .is_quantized = true}, \
    [PL_Q5_K] = {.name = "q5_K", .blck_size = 256, .type_size = 176, .is_quantized = true}, \
    [PL_Q6_K] = {.name = "q6_K", .blck_size = 256, .type_size = 210, .is_quantized = true}, \
    [PL_Q8_K] = {.name = "q8_K", .blck_size = 256, .type_size = 292, .is_quantized = true},

#endif
