/* LoRA merge (lora_merge.h): load the base as f32 parameters, add s * B A to each adapted weight, save. */
#include "tasks/lora_merge.h"
#include "models/lora.h"
#include "tasks/bundle.h"
#include "tasks/checkpoint.h"

#include <stdlib.h>

int pl_lora_merge_model(const char *base, const char *adapter, const char *out_dir) {
    char dir[4096], *path = NULL;
    float scale;
    if (pl_adapter_spec(adapter, dir, sizeof dir, &scale)) return PL_ERR_ARG;
    if (pl_bundle_resolve(base, &path) != 1) { free(path); return pl_last_error()[0] ? PL_ERR_ARG : pl_error(PL_ERR_ARG, "'%s' is not a model", base); }
    pl_llm *m = pl_llm_load_ex(path, &(pl_llm_params){.n_threads = 1, .n_ctx = 16, .train = true});
    pl_tokenizer *tok = m ? pl_tokenizer_load(path) : NULL;
    pl_lora *l = tok ? pl_lora_load(m, dir) : NULL;
    int rc = l ? pl_lora_merge_into(m, l, scale) : PL_ERR_FORMAT;
    if (!rc) rc = pl_mkdir_p(out_dir);
    if (!rc) rc = pl_llm_save_hf(m, out_dir, pl_tokenizer_bos(tok), pl_tokenizer_eos(tok));
    if (!rc) rc = pl_tokenizer_save_hf(tok, out_dir);
    pl_lora_free(l);
    pl_tokenizer_free(tok);
    pl_llm_free(m);
    free(path);
    return rc;
}
