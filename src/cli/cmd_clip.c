/* plinth clip classify|embed: zero-shot image classification and image / text embeddings with a CLIP or SigLIP
 * model. The work is tasks/clip.h; this file parses arguments and prints. */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "tasks/clip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: plinth clip classify -m MODEL --labels \"cat,dog,car\" [--template \"a photo of a {}.\"] IMG...\n"
            "       plinth clip embed -m MODEL (--image IMG... | --text TEXT...)\n"
            "  MODEL          a CLIPModel or SiglipModel directory (config.json, model.safetensors, tokenizer.json,\n"
            "                 preprocessor_config.json)\n"
            "  --labels L     comma-separated labels; each becomes a prompt through the template\n"
            "  --template T   the prompt, \"{}\" where the label goes (default \"a photo of a {}.\")\n"
            "  --image/--text what embed reads: the rest of the arguments are image files or texts\n"
            "  -t N           threads (default 2)\n"
            "classify prints one line per image: the labels by probability (softmax for CLIP, sigmoid for SigLIP);\n"
            "embed prints {\"input\": ..., \"embedding\": [...]} a line (unit vectors).\n");
}

typedef struct { const char *model, *labels, *tmpl; int threads; bool images, texts; const char **rest; int n_rest; } clip_args;

static int parse(int argc, char **argv, clip_args *a) {
    *a = (clip_args){.threads = 2};
    a->rest = calloc((size_t)argc, sizeof *a->rest);
    if (!a->rest) return 1;
    for (int i = 2; i < argc; i++) {
        long long v;
        if (argv[i][0] != '-' || a->texts) a->rest[a->n_rest++] = argv[i];
        else if (!strcmp(argv[i], "-m")) { if (!arg_str(argc, argv, &i, &a->model)) return 2; }
        else if (!strcmp(argv[i], "--labels")) { if (!arg_str(argc, argv, &i, &a->labels)) return 2; }
        else if (!strcmp(argv[i], "--template")) { if (!arg_str(argc, argv, &i, &a->tmpl)) return 2; }
        else if (!strcmp(argv[i], "--image")) a->images = true;
        else if (!strcmp(argv[i], "--text")) a->texts = true;
        else if (!strcmp(argv[i], "-t")) { if (!arg_int(argc, argv, &i, 1, 256, &v)) return 2; a->threads = (int)v; }
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return -1; }
        else return arg_unknown(argv, i);
    }
    if (!a->model) { fprintf(stderr, "clip: -m MODEL is required\n"); usage(stderr); return 2; }
    return 0;
}

typedef struct { int j; float p; } ranked;
static int by_prob(const void *x, const void *y) {
    float a = ((const ranked *)x)->p, b = ((const ranked *)y)->p;
    return (a < b) - (a > b);
}

static int classify(clip_args *a) {
    char **labels = NULL;
    int n_lab = 0;
    if (pl_clip_parse_labels(a->labels, &labels, &n_lab)) { fprintf(stderr, "clip: %s\n", pl_last_error()); return 2; }
    if (!a->n_rest) { fprintf(stderr, "clip classify: no images given\n"); pl_clip_free_labels(labels, n_lab); return 2; }
    pl_clip_task *t = pl_clip_task_open(a->model, a->threads);
    float *probs = malloc((size_t)a->n_rest * n_lab * sizeof(float));
    ranked *r = malloc((size_t)n_lab * sizeof *r);
    int rc = t && probs && r ? pl_clip_classify(t, a->rest, a->n_rest, labels, n_lab, a->tmpl, probs) : PL_ERR_NOMEM;
    if (rc) fprintf(stderr, "clip: %s\n", pl_last_error());
    for (int i = 0; !rc && i < a->n_rest; i++) {
        for (int j = 0; j < n_lab; j++) r[j] = (ranked){j, probs[(size_t)i * n_lab + j]};
        qsort(r, (size_t)n_lab, sizeof *r, by_prob);
        printf("%s:", a->rest[i]);
        for (int j = 0; j < n_lab; j++) printf(" %s %.4f", labels[r[j].j], r[j].p);
        putchar('\n');
    }
    free(r);
    free(probs);
    pl_clip_task_close(t);
    pl_clip_free_labels(labels, n_lab);
    return rc ? 1 : 0;
}

static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

static int embed(clip_args *a) {
    if (a->images == a->texts) { fprintf(stderr, "clip embed: give --image IMG... or --text TEXT...\n"); return 2; }
    if (!a->n_rest) { fprintf(stderr, "clip embed: nothing to embed\n"); return 2; }
    pl_clip_task *t = pl_clip_task_open(a->model, a->threads);
    if (!t) { fprintf(stderr, "clip: %s\n", pl_last_error()); return 1; }
    int D = pl_clip_task_dim(t);
    float *out = malloc((size_t)a->n_rest * D * sizeof(float));
    int rc = !out ? PL_ERR_NOMEM
             : a->images ? pl_clip_task_embed_images(t, a->rest, a->n_rest, out)
                         : pl_clip_task_embed_texts(t, a->rest, a->n_rest, out);
    if (rc) fprintf(stderr, "clip: %s\n", pl_last_error());
    for (int i = 0; !rc && i < a->n_rest; i++) {
        printf("{\"input\": ");
        print_json_string(a->rest[i]);
        printf(", \"embedding\": [");
        for (int c = 0; c < D; c++) printf(c ? ", %.7g" : "%.7g", out[(size_t)i * D + c]);
        puts("]}");
    }
    free(out);
    pl_clip_task_close(t);
    return rc ? 1 : 0;
}

int cmd_clip(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) { usage(argc < 2 ? stderr : stdout); return argc < 2 ? 2 : 0; }
    clip_args a;
    int rc = parse(argc, argv, &a);
    if (!rc) {
        if (!strcmp(argv[1], "classify")) rc = classify(&a);
        else if (!strcmp(argv[1], "embed")) rc = embed(&a);
        else { fprintf(stderr, "clip: unknown subcommand '%s' (classify, embed)\n", argv[1]); rc = 2; }
    }
    free(a.rest);
    return rc < 0 ? 0 : rc;
}
