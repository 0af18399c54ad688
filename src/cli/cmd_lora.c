/* plinth lora merge | export: bake a LoRA adapter into its base (tasks/lora_merge.c), or write it as a llama.cpp
 * LoRA GGUF (tasks/lora_export.c). Parses options and prints. */
#include "cli/args.h"
#include "cli/cli.h"
#include "tasks/lora_export.h"
#include "tasks/lora_merge.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth lora merge -m BASE --lora DIR[:SCALE] -o OUT_DIR [--]\n"
        "       plinth lora export -m BASE --lora DIR[:SCALE] -o OUT.gguf [--]\n\n"
        "merge writes the base with the adapter's update added to its weights as a Hugging Face model directory (f32\n"
        "safetensors, config, tokenizer), which every plinth command and transformers load without the adapter.\n"
        "export writes the adapter as a llama.cpp LoRA GGUF (f32) for the base, which llama.cpp's --lora and\n"
        "plinth's --lora FILE.gguf load.\n\n"
        "  -m, --model PATH     the base (.gguf, quantized or not, or a HF directory)\n"
        "  --lora DIR[:SCALE]   the adapter (PEFT directory or plinth finetune --method lora output); scale 1 by default\n"
        "  -o, --out PATH       the merged model's directory, or the adapter GGUF\n");
}

int cmd_lora(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) { usage(argc < 2 ? stderr : stdout); return argc < 2 ? 2 : 0; }
    const bool merge = !strcmp(argv[1], "merge");
    if (!merge && strcmp(argv[1], "export")) { fprintf(stderr, "plinth lora: unknown subcommand '%s' (merge, export)\n", argv[1]); return 2; }
    const char *model = NULL, *lora = NULL, *out = NULL;
    arg_rest rest = {.max = 0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int k;
        bool ok = true;
        if ((k = arg_positional(argv, i, &rest)) != 0) { if (k < 0) return 2; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) ok = arg_str(argc, argv, &i, &model);
        else if (!strcmp(a, "--lora")) ok = arg_str(argc, argv, &i, &lora);
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) ok = arg_str(argc, argv, &i, &out);
        else return arg_unknown(argv, i);
        if (!ok) return 2;
    }
    if (!model || !lora || !out) { fprintf(stderr, "plinth lora %s: -m, --lora and -o are needed\n", argv[1]); return 2; }
    if (merge ? pl_lora_merge_model(model, lora, out) : pl_lora_export_gguf(model, lora, out)) {
        fprintf(stderr, "plinth lora %s: %s\n", argv[1], pl_last_error());
        return 1;
    }
    if (merge) fprintf(stderr, "merged: %s (plinth run -m %s)\n", out, out);
    else fprintf(stderr, "exported: %s (plinth run -m %s --lora %s)\n", out, model, out);
    return 0;
}
