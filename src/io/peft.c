/* PEFT's LoRA adapter files: the config and the tensor names (peft.h). */
#include "io/peft.h"
#include "core/common.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

const pl_weight_role pl_lora_roles[PL_LORA_ROLES_N] = {PL_W_Q, PL_W_K, PL_W_V, PL_W_O, PL_W_GATE, PL_W_UP, PL_W_DOWN};
const char *const pl_lora_modules[PL_LORA_ROLES_N] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
static const char *const k_short[PL_LORA_ROLES_N] = {"q", "k", "v", "o", "gate", "up", "down"};

int pl_lora_role_of(const char *module) {
    for (int i = 0; i < PL_LORA_ROLES_N; i++)
        if (!strcmp(module, pl_lora_modules[i]) || !strcmp(module, k_short[i])) return (int)pl_lora_roles[i];
    return -1;
}

static bool empty_or_null(const cJSON *v) {
    return !v || cJSON_IsNull(v) || (cJSON_IsObject(v) && !v->child) || (cJSON_IsArray(v) && !v->child);
}

static int parse(const cJSON *j, const char *path, pl_peft_config *c) {
    const cJSON *type = cJSON_GetObjectItem(j, "peft_type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "LORA"))
        return pl_error(PL_ERR_UNSUPPORTED, "%s: peft_type %s: only LORA adapters are supported", path,
                        cJSON_IsString(type) ? type->valuestring : "(missing)");
    const cJSON *r = cJSON_GetObjectItem(j, "r"), *alpha = cJSON_GetObjectItem(j, "lora_alpha");
    if (!cJSON_IsNumber(r) || r->valueint < 1 || !cJSON_IsNumber(alpha))
        return pl_error(PL_ERR_FORMAT, "%s: r and lora_alpha must be numbers (r >= 1)", path);
    c->r = r->valueint;
    c->alpha = (float)alpha->valuedouble;
    c->rslora = cJSON_IsTrue(cJSON_GetObjectItem(j, "use_rslora"));
    const cJSON *drop = cJSON_GetObjectItem(j, "lora_dropout");
    c->dropout = cJSON_IsNumber(drop) ? (float)drop->valuedouble : 0.0f;
    static const char *refused[][2] = {{"use_dora", "DoRA"}, {"fan_in_fan_out", "fan_in_fan_out weights (GPT-2's Conv1D)"}};
    for (size_t i = 0; i < PL_ARRAY_LEN(refused); i++)
        if (cJSON_IsTrue(cJSON_GetObjectItem(j, refused[i][0]))) return pl_error(PL_ERR_UNSUPPORTED, "%s: %s is not supported", path, refused[i][1]);
    static const char *patterns[] = {"rank_pattern", "alpha_pattern", "layers_to_transform", "modules_to_save"};
    for (size_t i = 0; i < PL_ARRAY_LEN(patterns); i++)
        if (!empty_or_null(cJSON_GetObjectItem(j, patterns[i])))
            return pl_error(PL_ERR_UNSUPPORTED, "%s: %s is not supported (one rank and alpha for every targeted layer)", path, patterns[i]);
    const cJSON *bias = cJSON_GetObjectItem(j, "bias");
    if (cJSON_IsString(bias) && strcmp(bias->valuestring, "none"))
        return pl_error(PL_ERR_UNSUPPORTED, "%s: bias \"%s\": adapters that train biases are not supported", path, bias->valuestring);
    const cJSON *t = cJSON_GetObjectItem(j, "target_modules");
    c->roles = 0;
    if (cJSON_IsString(t)) {
        if (!strcmp(t->valuestring, "all-linear")) for (int i = 0; i < PL_LORA_ROLES_N; i++) c->roles |= 1u << pl_lora_roles[i];
        else return pl_error(PL_ERR_UNSUPPORTED, "%s: target_modules \"%s\" (a regular expression) is not supported; list the modules", path, t->valuestring);
    } else if (cJSON_IsArray(t)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, t) {
            int role = cJSON_IsString(e) ? pl_lora_role_of(e->valuestring) : -1;
            if (role < 0) return pl_error(PL_ERR_UNSUPPORTED, "%s: target module %s is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj",
                                          path, cJSON_IsString(e) ? e->valuestring : "(not a string)");
            c->roles |= 1u << role;
        }
    }
    if (!c->roles) return pl_error(PL_ERR_FORMAT, "%s: no target_modules", path);
    const cJSON *base = cJSON_GetObjectItem(j, "base_model_name_or_path");
    snprintf(c->base, sizeof c->base, "%s", cJSON_IsString(base) ? base->valuestring : "");
    return PL_OK;
}

static cJSON *read_config(const char *dir, char *path, size_t cap) {
    snprintf(path, cap, "%s/adapter_config.json", dir);
    char *js = pl_read_file(path, NULL);
    if (!js) return pl_error_null(PL_ERR_IO, "%s: cannot read (an adapter is a directory with adapter_config.json and adapter_model.safetensors)", path);
    cJSON *j = cJSON_Parse(js);
    free(js);
    return j ? j : pl_error_null(PL_ERR_FORMAT, "%s: not valid JSON", path);
}

int pl_peft_config_read(const char *dir, pl_peft_config *c) {
    char path[4096];
    cJSON *j = read_config(dir, path, sizeof path);
    if (!j) return PL_ERR_FORMAT;
    memset(c, 0, sizeof *c);
    int rc = parse(j, path, c);
    cJSON_Delete(j);
    return rc;
}

int pl_peft_prompt_config_read(const char *dir, pl_peft_prompt_config *c) {
    char path[4096];
    cJSON *j = read_config(dir, path, sizeof path);
    if (!j) return PL_ERR_FORMAT;
    memset(c, 0, sizeof *c);
    const cJSON *type = cJSON_GetObjectItem(j, "peft_type"), *n = cJSON_GetObjectItem(j, "num_virtual_tokens"),
                *dim = cJSON_GetObjectItem(j, "token_dim"), *sub = cJSON_GetObjectItem(j, "num_transformer_submodules"),
                *text = cJSON_GetObjectItem(j, "prompt_tuning_init_text"), *base = cJSON_GetObjectItem(j, "base_model_name_or_path");
    int rc = PL_OK;
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "PROMPT_TUNING"))
        rc = pl_error(PL_ERR_UNSUPPORTED, "%s: peft_type %s: a prompt adapter is PROMPT_TUNING", path, cJSON_IsString(type) ? type->valuestring : "(missing)");
    else if (!cJSON_IsNumber(n) || n->valueint < 1 || n->valueint > 4096 || !cJSON_IsNumber(dim) || dim->valueint < 1)
        rc = pl_error(PL_ERR_FORMAT, "%s: num_virtual_tokens (1..4096) and token_dim must be numbers", path);
    else if (cJSON_IsNumber(sub) && sub->valueint != 1)
        rc = pl_error(PL_ERR_UNSUPPORTED, "%s: num_transformer_submodules %d: only decoder-only models (1)", path, sub->valueint);
    else {
        c->n_virtual = n->valueint;
        c->token_dim = dim->valueint;
        snprintf(c->init_text, sizeof c->init_text, "%s", cJSON_IsString(text) ? text->valuestring : "");
        snprintf(c->base, sizeof c->base, "%s", cJSON_IsString(base) ? base->valuestring : "");
    }
    cJSON_Delete(j);
    return rc;
}

int pl_peft_prompt_config_write(const char *dir, const pl_peft_prompt_config *c) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "peft_type", "PROMPT_TUNING");
    cJSON_AddStringToObject(j, "task_type", "CAUSAL_LM");
    cJSON_AddNumberToObject(j, "num_virtual_tokens", c->n_virtual);
    cJSON_AddNumberToObject(j, "token_dim", c->token_dim);
    cJSON_AddNumberToObject(j, "num_transformer_submodules", 1);
    cJSON_AddStringToObject(j, "prompt_tuning_init", c->init_text[0] ? "TEXT" : "RANDOM");
    if (c->init_text[0]) cJSON_AddStringToObject(j, "prompt_tuning_init_text", c->init_text);
    else cJSON_AddNullToObject(j, "prompt_tuning_init_text");
    cJSON_AddBoolToObject(j, "inference_mode", true);
    cJSON_AddStringToObject(j, "base_model_name_or_path", c->base);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s) return PL_ERR_NOMEM;
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    int rc = pl_write_file_atomic(path, s, strlen(s));
    free(s);
    return rc;
}

int pl_peft_config_write(const char *dir, const pl_peft_config *c) {
    cJSON *j = cJSON_CreateObject(), *t = cJSON_AddArrayToObject(j, "target_modules");
    for (int i = 0; i < PL_LORA_ROLES_N; i++)
        if (c->roles & 1u << pl_lora_roles[i]) cJSON_AddItemToArray(t, cJSON_CreateString(pl_lora_modules[i]));
    cJSON_AddStringToObject(j, "peft_type", "LORA");
    cJSON_AddStringToObject(j, "task_type", "CAUSAL_LM");
    cJSON_AddNumberToObject(j, "r", c->r);
    cJSON_AddNumberToObject(j, "lora_alpha", c->alpha);
    cJSON_AddNumberToObject(j, "lora_dropout", c->dropout);
    cJSON_AddBoolToObject(j, "use_rslora", c->rslora);
    cJSON_AddBoolToObject(j, "use_dora", false);
    cJSON_AddBoolToObject(j, "fan_in_fan_out", false);
    cJSON_AddStringToObject(j, "bias", "none");
    cJSON_AddBoolToObject(j, "inference_mode", true);
    cJSON_AddStringToObject(j, "base_model_name_or_path", c->base);
    cJSON_AddBoolToObject(j, "init_lora_weights", true); /* peft's default; weights are loaded over it */
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s) return PL_ERR_NOMEM;
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    int rc = pl_write_file_atomic(path, s, strlen(s));
    free(s);
    return rc;
}

bool pl_peft_tensor_name(char *buf, size_t cap, pl_names_family f, pl_weight_role role, int layer, char which) {
    const char *fmt = pl_weight_name_hf(f, role);
    if (!fmt) return false;
    char w[512];
    snprintf(w, sizeof w, fmt, layer);
    size_t n = strlen(w);
    if (n < 7 || strcmp(w + n - 7, ".weight")) return false;
    w[n - 7] = 0;
    int k = snprintf(buf, cap, "base_model.model.%s.lora_%c.weight", w, which);
    return k > 0 && (size_t)k < cap;
}
