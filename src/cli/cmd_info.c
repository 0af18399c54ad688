/* plinth info PATH [--json] [--kv] [--no-tensors]: describe a GGUF file, a safetensors file or set, or a
 * Hugging Face model directory. The description comes from pl_model_info (src/io/model_info.c); this file
 * only parses options and renders the tree as text or JSON. */
#include "cli/args.h"
#include "cli/cli.h"
#include "io/model_info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: plinth info [--json] [--kv] [--no-tensors] [--] PATH\n\n"
               "Describe a model: a .gguf file, a .safetensors file, a model.safetensors.index.json, or a\n"
               "Hugging Face model directory (config.json + *.safetensors + tokenizer files).\n\n"
               "  --json        print the description as JSON (every field; see docs/info.md)\n"
               "  --kv          also list every GGUF key/value (text output)\n"
               "  --no-tensors  leave out the tensor table (text output)\n"
               "  --            the end of the options: PATH may then start with '-'\n");
}

static const char *str_or(const cJSON *o, const char *key, const char *def) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(x) ? x->valuestring : def;
}

/* Numbers in the tree are raw JSON text (exact u64); read them back as double for display. */
static double num(const cJSON *o, const char *key) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsRaw(x)) return strtod(x->valuestring, NULL);
    return cJSON_IsNumber(x) ? x->valuedouble : -1;
}

static void human_bytes(double b, char *out, size_t n) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) { b /= 1024; i++; }
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void print_hparam(const cJSON *h, const char *key, const char *label) {
    double v = num(h, key);
    if (v >= 0) printf("%-15s %.0f\n", label, v);
    else printf("%-15s -\n", label);
}

static void print_shape(const cJSON *shape, char *out, size_t n) {
    size_t at = 0;
    at += (size_t)snprintf(out, n, "[");
    for (const cJSON *d = shape ? shape->child : NULL; d && at < n; d = d->next)
        at += (size_t)snprintf(out + at, n - at, "%s%s", d->valuestring, d->next ? ", " : "");
    if (at < n) snprintf(out + at, n - at, "]");
}

static void print_tensors(const cJSON *info) {
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(info, "tensors");
    int w = 4;
    for (const cJSON *t = ts ? ts->child : NULL; t; t = t->next) {
        int len = (int)strlen(str_or(t, "name", ""));
        if (len > w) w = len;
    }
    printf("  %-*s  %-22s %-6s %12s\n", w, "name", "shape", "type", "bytes");
    for (const cJSON *t = ts ? ts->child : NULL; t; t = t->next) {
        char shape[128];
        print_shape(cJSON_GetObjectItemCaseSensitive(t, "shape"), shape, sizeof shape);
        printf("  %-*s  %-22s %-6s %12.0f\n", w, str_or(t, "name", ""), shape, str_or(t, "type", "?"), num(t, "bytes"));
    }
}

static void print_kv(const cJSON *info) {
    const cJSON *kv = cJSON_GetObjectItemCaseSensitive(info, "kv");
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(info, "kv_types");
    for (const cJSON *e = kv ? kv->child : NULL; e; e = e->next) {
        char *v = cJSON_PrintUnformatted(e);
        size_t n = v ? strlen(v) : 0;
        if (n > 100) strcpy(v + 97, "...");
        printf("  %-45s %-12s %s\n", e->string, str_or(types, e->string, ""), v ? v : "");
        free(v);
    }
}

static void print_text(const cJSON *info, bool kv, bool tensors) {
    const char *fmt = str_or(info, "format", "?");
    char size[32];
    human_bytes(num(info, "file_size"), size, sizeof size);
    if (!strcmp(fmt, "gguf"))
        printf("%-15s %s (GGUF v%.0f, %s)\n", "file", str_or(info, "path", ""), num(info, "gguf_version"), size);
    else
        printf("%-15s %s (safetensors, %.0f shard%s, %s)\n", "file", str_or(info, "path", ""), num(info, "n_shards"),
               num(info, "n_shards") == 1 ? "" : "s", size);
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(info, "architectures");
    if (cJSON_GetArraySize(archs) > 0 && cJSON_IsString(archs->child))
        printf("%-15s %s (%s)\n", "architecture", str_or(info, "architecture", "-"), archs->child->valuestring);
    else
        printf("%-15s %s\n", "architecture", str_or(info, "architecture", "-"));
    if (cJSON_GetObjectItemCaseSensitive(info, "name")) printf("%-15s %s\n", "name", str_or(info, "name", ""));
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(info, "hparams");
    print_hparam(h, "context_length", "context");
    print_hparam(h, "embedding_length", "embedding");
    print_hparam(h, "block_count", "layers");
    print_hparam(h, "head_count", "heads");
    print_hparam(h, "head_count_kv", "kv heads");
    print_hparam(h, "feed_forward_length", "feed-forward");
    print_hparam(h, "vocab_size", "vocab");
    double np = num(info, "n_params");
    printf("%-15s %.0f (%.2f M)\n", "parameters", np, np / 1e6);
    const cJSON *tk = cJSON_GetObjectItemCaseSensitive(info, "tokenizer");
    if (num(tk, "vocab_size") >= 0)
        printf("%-15s %s, %.0f tokens\n", "tokenizer", str_or(tk, "kind", "?"), num(tk, "vocab_size"));
    else
        printf("%-15s none\n", "tokenizer");
    printf("%-15s %s\n", "chat template",
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(info, "chat_template")) ? "yes" : "no");
    char tb[32];
    human_bytes(num(info, "tensor_bytes"), tb, sizeof tb);
    printf("%-15s %.0f, %s (shape %s)\n", "tensors", num(info, "n_tensors"), tb,
           !strcmp(str_or(info, "shape_order", ""), "ggml") ? "as GGUF ne[], innermost first"
                                                            : "as in the file, PyTorch order");
    if (kv && cJSON_GetObjectItemCaseSensitive(info, "kv")) {
        printf("key/values:\n");
        print_kv(info);
    }
    if (tensors) print_tensors(info);
}

/* the warnings on stderr, the description on stdout; 0 or 1 */
static int print_info(cJSON *info, bool json, bool kv, bool tensors) {
    const cJSON *warnings = cJSON_GetObjectItemCaseSensitive(info, "warnings");
    for (const cJSON *w = warnings ? warnings->child : NULL; w; w = w->next)
        if (cJSON_IsString(w)) fprintf(stderr, "plinth info: warning: %s\n", w->valuestring);
    if (json) {
        char *s = cJSON_Print(info);
        if (!s) { cJSON_Delete(info); fprintf(stderr, "plinth info: out of memory\n"); return 1; }
        puts(s);
        free(s);
    } else {
        print_text(info, kv, tensors);
    }
    cJSON_Delete(info);
    return 0;
}

int cmd_info(int argc, char **argv) {
    bool json = false, kv = false, tensors = true;
    arg_rest path = {.max = 1};
    for (int i = 1; i < argc; i++) {
        int k = arg_positional(argv, i, &path);
        if (k) { if (k < 0) return 2; continue; }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--kv")) kv = true;
        else if (!strcmp(argv[i], "--no-tensors")) tensors = false;
        else { arg_unknown(argv, i); usage(stderr); return 2; }
    }
    if (!path.n) { usage(stderr); return 2; }
    cJSON *info = pl_model_info(path.v[0]);
    return info ? print_info(info, json, kv, tensors) : (fprintf(stderr, "plinth info: %s\n", pl_last_error()), 1);
}
