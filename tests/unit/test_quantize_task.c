/* tasks/quantize: llama.cpp's type-mixture and fallback rules on synthetic tensor names, and whole-file
 * quantization of the tiny llama fixture (tests/golden/lm/llama/model.gguf, f32) into every target type,
 * loaded back through pl_llm_load and compared with transformers' logits: the error grows as bits shrink. */
#include "test.h"
#include "core/common.h"
#include "io/gguf.h"
#include "models/llm.h"
#include "tasks/quantize.h"

#include <string.h>
#include <unistd.h>

static int ty(const char *target, const char *name, int n_dims, int64_t ne0, int i_v, bool has_output, int *want) {
    int w;
    return pl_quant_tensor_type(pl_quant_target_find(target), name, n_dims, ne0, i_v, 32, 32, has_output,
                                want ? want : &w);
}

static void test_rules(void) {
    int want;
    CHECK(pl_quant_target_find("q4_k_m") && pl_quant_target_find("Q4_K_M")->ftype == 15);
    CHECK(pl_quant_target_find("bf16")->ftype == 32 && pl_quant_target_find("F32")->ftype == 0);
    CHECK(pl_quant_target_find("Q3_K_S") == NULL && strstr(pl_last_error(), "Q4_K_M") != NULL);
    /* Q4_K_M on a 32-layer model with 4096-wide rows */
    CHECK(ty("Q4_K_M", "output.weight", 2, 4096, 0, true, NULL) == PL_Q6_K);
    CHECK(ty("Q4_K_M", "token_embd.weight", 2, 4096, 0, true, NULL) == PL_Q4_K);
    CHECK(ty("Q4_K_M", "token_embd.weight", 2, 4096, 0, false, NULL) == PL_Q6_K);  /* tied head */
    CHECK(ty("Q4_K_M", "blk.0.attn_v.weight", 2, 4096, 0, true, NULL) == PL_Q6_K);  /* first eighth */
    CHECK(ty("Q4_K_M", "blk.4.attn_v.weight", 2, 4096, 4, true, NULL) == PL_Q4_K);
    CHECK(ty("Q4_K_M", "blk.6.attn_v.weight", 2, 4096, 6, true, NULL) == PL_Q6_K);  /* (6-4) % 3 == 2 */
    CHECK(ty("Q4_K_M", "blk.28.attn_v.weight", 2, 4096, 28, true, NULL) == PL_Q6_K); /* last eighth */
    CHECK(ty("Q4_K_M", "blk.5.ffn_down.weight", 2, 4096, 0, true, NULL) == PL_Q4_K);
    CHECK(ty("Q4_K_M", "blk.6.ffn_down.weight", 2, 4096, 0, true, NULL) == PL_Q6_K);
    CHECK(ty("Q4_K_M", "blk.7.ffn_down.weight", 2, 4096, 0, true, NULL) == PL_Q4_K);
    CHECK(ty("Q4_K_M", "blk.31.ffn_down.weight", 2, 4096, 0, true, NULL) == PL_Q6_K);
    CHECK(ty("Q4_K_M", "blk.5.attn_q.weight", 2, 4096, 0, true, NULL) == PL_Q4_K);
    CHECK(ty("Q4_K_M", "blk.5.attn_qkv.weight", 2, 4096, 0, true, NULL) == PL_Q5_K);
    CHECK(ty("Q5_K_M", "blk.5.attn_qkv.weight", 2, 4096, 0, true, NULL) == PL_Q6_K);
    CHECK(ty("Q5_K_M", "blk.5.ffn_up.weight", 2, 4096, 0, true, NULL) == PL_Q5_K);
    CHECK(ty("Q5_K_M", "blk.0.attn_v.weight", 2, 4096, 0, true, NULL) == PL_Q6_K);
    /* 1-D tensors and norms stay as they are */
    CHECK(ty("Q4_K_M", "blk.0.attn_norm.weight", 1, 4096, 0, true, NULL) == -1);
    CHECK(ty("Q8_0", "blk.0.attn_q.bias", 1, 4096, 0, true, NULL) == -1);
    CHECK(ty("F16", "blk.0.ffn_norm.weight", 1, 4096, 0, true, NULL) == -1);
    CHECK(ty("F16", "output.weight", 2, 4096, 0, true, NULL) == PL_F16);
    /* plain types: the output tensor gets Q6_K except under Q8_0; no other mixing */
    CHECK(ty("Q8_0", "output.weight", 2, 4096, 0, true, NULL) == PL_Q8_0);
    CHECK(ty("Q4_0", "output.weight", 2, 4096, 0, true, NULL) == PL_Q6_K);
    CHECK(ty("Q4_0", "blk.0.attn_v.weight", 2, 4096, 0, true, NULL) == PL_Q4_0);
    CHECK(ty("Q6_K", "blk.0.ffn_down.weight", 2, 4096, 0, true, NULL) == PL_Q6_K);
    /* fallbacks for rows that do not divide into blocks */
    CHECK(ty("Q4_K_M", "blk.5.attn_q.weight", 2, 576, 0, true, &want) == PL_Q5_0 && want == PL_Q4_K);
    CHECK(ty("Q5_K_M", "blk.5.attn_q.weight", 2, 576, 0, true, &want) == PL_Q5_1 && want == PL_Q5_K);
    CHECK(ty("Q4_K_M", "blk.0.attn_v.weight", 2, 576, 0, true, &want) == PL_Q8_0 && want == PL_Q6_K);
    CHECK(ty("Q4_0", "output.weight", 2, 576, 0, true, &want) == PL_Q8_0 && want == PL_Q6_K);
    CHECK(ty("Q4_K_M", "output.weight", 2, 576, 0, true, &want) == PL_Q8_0 && want == -1); /* rule, not fallback */
    CHECK(ty("Q4_K_M", "blk.5.attn_q.weight", 2, 48, 0, true, &want) == PL_F16 && want == PL_Q4_K);
    CHECK(ty("Q8_0", "blk.5.attn_q.weight", 2, 48, 0, true, &want) == PL_F16 && want == PL_Q8_0);
    CHECK(ty("Q4_K_M", "blk.5.attn_q.weight", 2, 4096, 0, true, &want) == PL_Q4_K && want == -1);
}

/* Relative RMS error of prompt 2's logits (16 positions) from the quantized file vs transformers. */
static double logits_error(const char *path) {
    char fx[1024];
    snprintf(fx, sizeof fx, "%s/tests/golden/lm/llama/logits.f32", test_root());
    FILE *f = fopen(fx, "rb");
    static float ref[16 * 256], got[16 * 256];
    CHECK(f && fseek(f, 4096 * 4, SEEK_SET) == 0 && fread(ref, 4, 16 * 256, f) == 16 * 256);
    if (f) fclose(f);
    const int32_t ids[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 100, 101, 102, 103, 104, 105, 106};
    pl_llm *m = pl_llm_load(path, 1);
    CHECKF(m != NULL, "%s", pl_last_error());
    if (!m) return 1e9;
    CHECK(pl_llm_eval(m, ids, 16, 0, got, true) == PL_OK);
    pl_llm_free(m);
    double e = 0, r = 0;
    for (int i = 0; i < 16 * 256; i++) { e += (got[i] - ref[i]) * (double)(got[i] - ref[i]); r += ref[i] * (double)ref[i]; }
    return sqrt(e / r);
}

static int n_notes;
static void count_note(const char *msg, void *ud) { (void)ud; n_notes += strstr(msg, "fallback") != NULL; }

static void test_file(void) {
    char in[1024], out[256];
    snprintf(in, sizeof in, "%s/tests/golden/lm/llama/model.gguf", test_root());
    snprintf(out, sizeof out, "/tmp/plinth_quantize_test_%d.gguf", (int)getpid());
    /* tolerance on the relative RMS logit error, per target (weights N(0, 0.15^2) and activations quantized
     * to Q8_0/Q8_1 in the dots make the errors larger than on a trained model) */
    const struct { const char *type; double tol; pl_dtype matrix; } cases[] = {
        {"F32", 1e-5, PL_F32}, {"F16", 2e-3, PL_F16}, {"BF16", 1.5e-2, PL_BF16}, {"Q8_0", 5e-2, PL_Q8_0},
        {"Q6_K", 5e-2, PL_Q8_0}, {"Q5_1", 0.3, PL_Q5_1}, {"Q5_0", 0.3, PL_Q5_0}, {"Q4_1", 0.5, PL_Q4_1},
        {"Q4_0", 0.5, PL_Q4_0}, {"Q5_K_M", 0.3, PL_Q5_1}, {"Q4_K_M", 0.3, PL_Q5_0},
    };
    double err[PL_ARRAY_LEN(cases)];
    for (size_t c = 0; c < PL_ARRAY_LEN(cases); c++) {
        pl_quant_stats st;
        n_notes = 0;
        pl_quant_opts o = {.n_threads = 2, .on_note = count_note};
        int rc = pl_quantize_file(in, out, pl_quant_target_find(cases[c].type), &o, &st);
        CHECKF(rc == PL_OK, "%s: %s", cases[c].type, pl_last_error());
        CHECK(st.n_tensors == 21 && st.n_by_type[PL_F32] >= 5);
        pl_gguf *g = pl_gguf_open(out);
        CHECK(g != NULL);
        if (!g) continue;
        CHECK(pl_gguf_get_int(g, "general.file_type", -1) == pl_quant_target_find(cases[c].type)->ftype);
        CHECK(pl_gguf_find_tensor(g, "blk.0.attn_norm.weight")->type == PL_F32);
        /* the fixture's 64-wide rows do not fit 256-blocks: the k-quant targets fall back (and say so), and so
         * does the output tensor under every quantized type but Q8_0 (Q6_K wanted) */
        CHECKF(pl_gguf_find_tensor(g, "blk.0.attn_q.weight")->type == cases[c].matrix, "%s: %s", cases[c].type,
               pl_dtype_name(pl_gguf_find_tensor(g, "blk.0.attn_q.weight")->type));
        const pl_dtype base = pl_quant_target_find(cases[c].type)->base;
        CHECK((n_notes > 0) == (pl_dtype_traits(base)->is_quantized && base != PL_Q8_0));
        CHECK(st.n_fallback == n_notes);
        pl_gguf_close(g);
        err[c] = logits_error(out);
        printf("%-7s logits rel. RMS error %.2e (tolerance %.0e), %llu -> %llu bytes\n", cases[c].type, err[c],
               cases[c].tol, (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out);
        CHECK(err[c] <= cases[c].tol);
        unlink(out);
    }
    CHECK(err[0] < err[1] && err[1] < err[3] && err[3] < err[8]);   /* f32 < f16 < q8_0 < q4_0 */
    CHECK(err[5] < err[7]);                                          /* q5_1 < q4_1 */
    /* an input that is not GGUF, and a target that cannot be found, fail with a message and no output */
    CHECK(pl_quantize_file("/nonexistent.gguf", out, pl_quant_target_find("Q8_0"), NULL, NULL) < 0);
    CHECK(access(out, F_OK) != 0);
}

int main(void) {
    test_rules();
    test_file();
    TEST_DONE();
}
