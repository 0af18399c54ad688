/* plinth clip classify|embed|index|search|train|scenes: zero-shot image classification, image / text embeddings,
 * image search and contrastive training of a CLIP or SigLIP model, and the synthetic scenes to train one on. The
 * work is tasks/clip.h, clip_search.h, clip_train.h and clip_data.h; this file parses arguments and prints. */
#include "cli/args.h"
#include "cli/cli.h"
#include "core/common.h"
#include "tasks/clip.h"
#include "tasks/clip_data.h"
#include "tasks/clip_search.h"
#include "tasks/clip_train.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: plinth clip classify -m MODEL --labels \"cat,dog,car\" [--template \"a photo of a {}.\"] IMG...\n"
            "       plinth clip embed -m MODEL (--image IMG... | --text TEXT...)\n"
            "       plinth clip index -m MODEL --db FILE DIR|IMG...\n"
            "       plinth clip search -m MODEL --db FILE (\"a red car\" | --image IMG) [-k N]\n"
            "       plinth clip train -o DIR [--loss clip|siglip] [-d FASHION_MNIST_DIR|PAIRS.jsonl|DIR] [--val-data PAIRS.jsonl]\n"
            "                         [--init MODEL] [--epochs N] [--batch N] [--lr X] [--wd X] [--width N] [--layers N]\n"
            "                         [--heads N] [--text-width N] [--text-layers N] [--dim N] [--patch N] [--val N]\n"
            "                         [--eval-every N] [--seed N] [--max-steps N] [--test N]\n"
            "       plinth clip scenes -o DIR [--per-combo N] [--size N] [--seed N]\n"
            "  MODEL          a CLIPModel or SiglipModel directory (config.json, model.safetensors, tokenizer.json,\n"
            "                 preprocessor_config.json)\n"
            "  --labels L     comma-separated labels; each becomes a prompt through the template\n"
            "  --template T   the prompt, \"{}\" where the label goes (default \"a photo of a {}.\")\n"
            "  --image/--text what embed reads: the rest of the arguments are image files or texts\n"
            "  --db FILE      index/search: the SQLite store (the RAG commands' layout), made by index\n"
            "  -k N           search: how many images (default 5)\n"
            "  -t N           threads (default 2)\n"
            "train: contrastive training on Fashion-MNIST (Debian's dataset-fashion-mnist by default), captions from\n"
            "  templates; a new model (sizes above; defaults: width 64, 3 layers, 4 heads, text 64 x 2, dim 64, patch 7)\n"
            "  or --init MODEL; zero-shot accuracy on --val held-out images every --eval-every steps and on the test\n"
            "  split at the end; DIR: a Hugging Face model directory + loss.csv, loss.svg, accuracy.csv\n"
            "  -d PAIRS.jsonl: {\"image\": PATH, \"caption\": TEXT} a line (a DIR with train.jsonl: that, and heldout.jsonl\n"
            "  as --val-data); validation: caption retrieval top-1 among the validation captions (else the last --val pairs)\n"
            "scenes: the synthetic scenes (shapes x colours x positions, 16 of 80 combinations held out) as PNGs +\n"
            "  DIR/train.jsonl and DIR/heldout.jsonl; --per-combo images of each combination (default 40), --size pixels (32)\n"
            "classify prints one line per image: the labels by probability (softmax for CLIP, sigmoid for SigLIP);\n"
            "embed prints {\"input\": ..., \"embedding\": [...]} a line (unit vectors).\n");
}

typedef struct {
    const char *model, *labels, *tmpl, *loss, *db, *query_image;
    int threads, k, per_combo, side;
    bool images, texts;
    const char **rest;
    int n_rest;
    pl_clip_train_opts train;
} clip_args;

/* the training options: true when argv[*i] was one of them */
static bool parse_train(int argc, char **argv, int *i, clip_args *a, int *rc) {
    static const struct { const char *flag; size_t off; long long lo, hi; } ints[] = {
        {"--epochs", offsetof(pl_clip_train_opts, epochs), 1, 10000}, {"--batch", offsetof(pl_clip_train_opts, batch), 2, 65536},
        {"--width", offsetof(pl_clip_train_opts, width), 8, 4096}, {"--layers", offsetof(pl_clip_train_opts, layers), 1, 64},
        {"--heads", offsetof(pl_clip_train_opts, heads), 1, 64}, {"--text-width", offsetof(pl_clip_train_opts, text_width), 8, 4096},
        {"--text-layers", offsetof(pl_clip_train_opts, text_layers), 1, 64}, {"--dim", offsetof(pl_clip_train_opts, dim), 2, 4096},
        {"--patch", offsetof(pl_clip_train_opts, patch), 1, 64}, {"--val", offsetof(pl_clip_train_opts, n_val), 1, 1000000},
        {"--eval-every", offsetof(pl_clip_train_opts, eval_every), 1, 1000000},
        {"--max-steps", offsetof(pl_clip_train_opts, max_steps), 1, 100000000}, {"--test", offsetof(pl_clip_train_opts, n_test), 1, 1000000},
    };
    long long v;
    for (size_t k = 0; k < PL_ARRAY_LEN(ints); k++)
        if (!strcmp(argv[*i], ints[k].flag)) {
            if (!arg_int(argc, argv, i, ints[k].lo, ints[k].hi, &v)) *rc = 2;
            else *(int *)((char *)&a->train + ints[k].off) = (int)v;
            return true;
        }
    const char *s;
    if (!strcmp(argv[*i], "-o")) { if (!arg_str(argc, argv, i, &a->train.out_dir)) *rc = 2; return true; }
    if (!strcmp(argv[*i], "-d")) { if (!arg_str(argc, argv, i, &a->train.data)) *rc = 2; return true; }
    if (!strcmp(argv[*i], "--val-data")) { if (!arg_str(argc, argv, i, &a->train.val_data)) *rc = 2; return true; }
    if (!strcmp(argv[*i], "--per-combo")) { if (!arg_int(argc, argv, i, 1, 100000, &v)) *rc = 2; a->per_combo = (int)v; return true; }
    if (!strcmp(argv[*i], "--size")) { if (!arg_int(argc, argv, i, 16, 1024, &v)) *rc = 2; a->side = (int)v; return true; }
    if (!strcmp(argv[*i], "--init")) { if (!arg_str(argc, argv, i, &a->train.init)) *rc = 2; return true; }
    if (!strcmp(argv[*i], "--loss")) { if (!arg_str(argc, argv, i, &a->loss)) *rc = 2; return true; }
    if (!strcmp(argv[*i], "--seed")) { if (!arg_int(argc, argv, i, 1, 1LL << 62, &v)) *rc = 2; a->train.seed = (uint64_t)v; return true; }
    if (!strcmp(argv[*i], "--lr") || !strcmp(argv[*i], "--wd")) {
        bool lr = !strcmp(argv[*i], "--lr");
        if (!arg_str(argc, argv, i, &s)) { *rc = 2; return true; }
        char *end;
        double x = strtod(s, &end);
        if (*end || !(x >= 0 && x < 10)) { fprintf(stderr, "clip: %s takes a number in [0, 10), not '%s'\n", lr ? "--lr" : "--wd", s); *rc = 2; }
        else if (lr) a->train.lr = (float)x;
        else a->train.weight_decay = (float)x;
        return true;
    }
    return false;
}

static int parse(int argc, char **argv, clip_args *a) {
    *a = (clip_args){.threads = 2, .k = 5, .per_combo = 40, .side = 32, .train.weight_decay = 0.1f};
    a->rest = calloc((size_t)argc, sizeof *a->rest);
    if (!a->rest) return 1;
    for (int i = 2; i < argc; i++) {
        long long v;
        if (argv[i][0] != '-' || a->texts) a->rest[a->n_rest++] = argv[i];
        else if (!strcmp(argv[i], "-m")) { if (!arg_str(argc, argv, &i, &a->model)) return 2; }
        else if (!strcmp(argv[i], "--labels")) { if (!arg_str(argc, argv, &i, &a->labels)) return 2; }
        else if (!strcmp(argv[i], "--template")) { if (!arg_str(argc, argv, &i, &a->tmpl)) return 2; }
        else if (!strcmp(argv[i], "--image") && !strcmp(argv[1], "search")) { if (!arg_str(argc, argv, &i, &a->query_image)) return 2; }
        else if (!strcmp(argv[i], "--image")) a->images = true;
        else if (!strcmp(argv[i], "--db")) { if (!arg_str(argc, argv, &i, &a->db)) return 2; }
        else if (!strcmp(argv[i], "-k")) { if (!arg_int(argc, argv, &i, 1, 10000, &v)) return 2; a->k = (int)v; }
        else if (!strcmp(argv[i], "--text")) a->texts = true;
        else if (!strcmp(argv[i], "-t")) { if (!arg_int(argc, argv, &i, 1, 256, &v)) return 2; a->threads = (int)v; }
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return -1; }
        else {
            int rc = 0;
            bool trains = !strcmp(argv[1], "train") || !strcmp(argv[1], "scenes");
            if (trains && parse_train(argc, argv, &i, a, &rc)) { if (rc) return rc; }
            else return arg_unknown(argv, i);
        }
    }
    if (!a->model && strcmp(argv[1], "train") && strcmp(argv[1], "scenes")) { fprintf(stderr, "clip: -m MODEL is required\n"); usage(stderr); return 2; }
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

static int index_images(clip_args *a) {
    if (!a->db) { fprintf(stderr, "clip index: --db FILE is required\n"); return 2; }
    if (!a->n_rest) { fprintf(stderr, "clip index: no images or directories given\n"); return 2; }
    pl_clip_task *t = pl_clip_task_open(a->model, a->threads);
    pl_clip_index_stats st;
    int rc = t ? pl_clip_index(t, a->model, a->db, a->rest, a->n_rest, &st) : PL_ERR_FORMAT;
    if (rc) fprintf(stderr, "clip: %s\n", pl_last_error());
    else printf("%s: %d images indexed, %d unchanged, %d unreadable\n", a->db, st.added, st.unchanged, st.failed);
    pl_clip_task_close(t);
    return rc ? 1 : 0;
}

static int search(clip_args *a) {
    if (!a->db) { fprintf(stderr, "clip search: --db FILE is required\n"); return 2; }
    if ((a->n_rest != 1) == !a->query_image || a->n_rest > 1) {
        fprintf(stderr, "clip search: give one query: a text, or --image IMG\n");
        return 2;
    }
    pl_clip_task *t = pl_clip_task_open(a->model, a->threads);
    pl_clip_hit *hits = calloc((size_t)a->k, sizeof *hits);
    int n = 0, rc = t && hits ? pl_clip_search(t, a->db, a->n_rest ? a->rest[0] : NULL, a->query_image, a->k, hits, &n) : PL_ERR_FORMAT;
    if (rc) fprintf(stderr, "clip: %s\n", pl_last_error());
    for (int i = 0; i < n; i++) printf("%.4f  %s\n", hits[i].score, hits[i].path);
    if (hits) pl_clip_hits_free(hits, n);
    free(hits);
    pl_clip_task_close(t);
    return rc ? 1 : 0;
}

static int train(clip_args *a) {
    pl_clip_train_opts *o = &a->train;
    o->threads = a->threads;
    if (!o->out_dir) { fprintf(stderr, "clip train: -o DIR is required\n"); return 2; }
    if (a->loss && strcmp(a->loss, "clip") && strcmp(a->loss, "siglip")) {
        fprintf(stderr, "clip train: --loss is clip or siglip, not '%s'\n", a->loss);
        return 2;
    }
    if (a->n_rest) { fprintf(stderr, "clip train: unexpected argument '%s'\n", a->rest[0]); return 2; }
    o->siglip = a->loss && !strcmp(a->loss, "siglip");
    pl_clip_train_result r;
    if (pl_clip_train(o, &r)) { fprintf(stderr, "clip train: %s\n", pl_last_error()); return 1; }
    if (r.pairs)
        printf("%s loss: %d steps in %.0f s, final loss %.4f, caption retrieval top-1 of the validation images: among their "
               "%d captions %.2f%% (chance %.2f%%), among all %d captions %.2f%% (chance %.2f%%)\n",
               o->siglip ? "SigLIP" : "CLIP", r.steps, r.seconds, r.final_loss, r.n_val_captions, 100 * r.val_acc,
               100.0 / r.n_val_captions, r.n_all_captions, 100 * r.all_acc, 100.0 / r.n_all_captions);
    else
        printf("%s loss: %d steps in %.0f s, final loss %.4f, zero-shot accuracy: validation %.2f%%, test %.2f%%\n",
               o->siglip ? "SigLIP" : "CLIP", r.steps, r.seconds, r.final_loss, 100 * r.val_acc, 100 * r.test_acc);
    fprintf(stderr, "wrote the model, loss.csv, loss.svg and accuracy.csv in %s\n", o->out_dir);
    return 0;
}

static int scenes(clip_args *a) {
    if (!a->train.out_dir) { fprintf(stderr, "clip scenes: -o DIR is required\n"); return 2; }
    if (a->n_rest) { fprintf(stderr, "clip scenes: unexpected argument '%s'\n", a->rest[0]); return 2; }
    pl_clip_scenes_stats st;
    if (pl_clip_scenes_write(a->train.out_dir, a->per_combo, a->side, a->train.seed ? a->train.seed : 1, &st)) {
        fprintf(stderr, "clip scenes: %s\n", pl_last_error());
        return 1;
    }
    printf("%s: %d training images (%d combinations) in train.jsonl, %d held-out images (%d combinations) in heldout.jsonl\n",
           a->train.out_dir, st.train, st.combos - st.heldout_combos, st.heldout, st.heldout_combos);
    return 0;
}

int cmd_clip(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) { usage(argc < 2 ? stderr : stdout); return argc < 2 ? 2 : 0; }
    clip_args a;
    int rc = parse(argc, argv, &a);
    if (!rc) {
        if (!strcmp(argv[1], "classify")) rc = classify(&a);
        else if (!strcmp(argv[1], "embed")) rc = embed(&a);
        else if (!strcmp(argv[1], "train")) rc = train(&a);
        else if (!strcmp(argv[1], "index")) rc = index_images(&a);
        else if (!strcmp(argv[1], "search")) rc = search(&a);
        else if (!strcmp(argv[1], "scenes")) rc = scenes(&a);
        else { fprintf(stderr, "clip: unknown subcommand '%s' (classify, embed, index, search, train, scenes)\n", argv[1]); rc = 2; }
    }
    free(a.rest);
    return rc < 0 ? 0 : rc;
}
