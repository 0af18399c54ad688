/* LoRA export (lora_export.h): load the base (its shapes, and the row order of its Q / K), the adapter onto it,
 * and write the GGUF. */
#include "tasks/lora_export.h"
#include "models/lora.h"
#include "tasks/bundle.h"

#include <stdlib.h>
#include <string.h>

int pl_lora_export_gguf(const char *base, const char *adapter, const char *out_path) {
    char dir[4096], *path = NULL;
    float scale;
    if (pl_adapter_spec(adapter, dir, sizeof dir, &scale)) return PL_ERR_ARG;
    if (pl_bundle_resolve(base, &path) != 1) { free(path); return pl_last_error()[0] ? PL_ERR_ARG : pl_error(PL_ERR_ARG, "'%s' is not a model", base); }
    pl_llm *m = pl_llm_load_ex(path, &(pl_llm_params){.n_threads = 1, .n_ctx = 16});
    pl_lora *l = m ? pl_lora_load(m, dir) : NULL;
    int rc = l ? PL_OK : PL_ERR_FORMAT;
    if (!rc) {
        const char *slash = strrchr(path, '/');
        l->scale *= scale;
        rc = pl_lora_save_gguf(l, m, out_path, slash ? slash + 1 : path);
    }
    pl_lora_free(l);
    pl_llm_free(m);
    free(path);
    return rc;
}
