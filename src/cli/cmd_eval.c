/* plinth eval: accuracy of one or more models on task files (JSONL, docs/eval.md) in zero-shot, few-shot and
 * chain-of-thought mode. Parses options, runs tasks/eval.h for every model x task x mode, and prints one
 * table per task (rows: models, columns: modes) or, with --json, every figure and per-item prediction. */
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/interrupt.h"
#include "core/common.h"
#include "tasks/eval.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ARGS 32

static void usage(FILE *f) {
    fprintf(f,
        "usage: plinth eval -m MODEL [-m MODEL2 ...] -t TASK.jsonl [-t TASK2.jsonl ...] [options]\n\n"
        "  -m, --model PATH     a .gguf file or a Hugging Face model directory (repeat for a table of models)\n"
        "  --lora DIR[:SCALE]   a LoRA adapter for the -m before it (-m BASE -m BASE --lora DIR: both rows)\n"
        "  --prompt-adapter DIR a prompt-tuning adapter for the -m before it\n"
        "  -t, --task FILE      a task file (JSONL, see docs/eval.md); repeat for several tasks\n"
        "  --mode LIST          comma-separated: zero-shot, few-shot, cot (default: all three)\n"
        "  --shots K            examples in few-shot prompts (default 5)\n"
        "  --cot-shots K        solved examples in chain-of-thought prompts (default 0)\n"
        "  --limit N            score only the first N items (0 = all)\n"
        "  --max-tokens N       generation budget per answer (default 48, cot 192)\n"
        "  --no-chat            plain prompts for generation too (default: the model's chat template, if any)\n"
        "  --chat-template NAME wrap generation prompts in this template: chatml, llama3, llama2, mistral, ...\n"
        "  --json               print the results as JSON, with every item's prediction\n"
        "  -c, --ctx-size N     context length (default: the model's, at most 4096)\n"
        "  --threads N          threads\n"
        "  --                   the end of the options\n\n"
        "Multiple choice is scored by the log-likelihood of each choice (cot: by the choice the reasoning\n"
        "names); free answers by exact match of the extracted final answer after greedy generation.\n");
}

typedef struct {
    const char *models[MAX_ARGS], *tasks[MAX_ARGS];
    const char *lora[MAX_ARGS], *prompt[MAX_ARGS]; /* each model's adapters (given after its -m) */
    char *label[MAX_ARGS];                           /* its row: "model", "model + lora DIR" */
    int n_models, n_tasks;
    pl_eval_mode modes[3];
    int n_modes, shots, cot_shots, limit, max_tokens, n_ctx, threads;
    const char *chat;
    bool json;
} eval_args;

static int parse_modes(const char *list, eval_args *a) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    a->n_modes = 0;
    for (char *save = NULL, *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        int m = pl_eval_mode_parse(s);
        if (m < 0) { fprintf(stderr, "plinth eval: %s\n", pl_last_error()); return 2; }
        bool dup = false;
        for (int i = 0; i < a->n_modes; i++) dup |= a->modes[i] == (pl_eval_mode)m;
        if (!dup) a->modes[a->n_modes++] = (pl_eval_mode)m;
    }
    if (!a->n_modes) { fprintf(stderr, "plinth eval: --mode needs at least one of zero-shot, few-shot, cot\n"); return 2; }
    return 0;
}

/* 0, or the exit code for a usage error (message printed); -1 after --help */
static int parse_args(int argc, char **argv, eval_args *a) {
    *a = (eval_args){.modes = {PL_EVAL_ZERO_SHOT, PL_EVAL_FEW_SHOT, PL_EVAL_COT}, .n_modes = 3, .shots = 5};
    arg_rest rest = {.max = 0};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v;
        long long n;
        int k;
        bool ok = true;
        if ((k = arg_positional(argv, i, &rest)) != 0) { if (k < 0) return 2; continue; }
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) { usage(stdout); return -1; }
        else if (!strcmp(s, "-m") || !strcmp(s, "--model") || !strcmp(s, "-t") || !strcmp(s, "--task")) {
            bool model = s[1] == 'm' || s[2] == 'm';
            if ((ok = arg_str(argc, argv, &i, &v))) {
                int *cnt = model ? &a->n_models : &a->n_tasks;
                if (*cnt == MAX_ARGS) { fprintf(stderr, "plinth eval: at most %d of %s\n", MAX_ARGS, s); return 2; }
                (model ? a->models : a->tasks)[(*cnt)++] = v;
            }
        }
        else if (!strcmp(s, "--lora") || !strcmp(s, "--prompt-adapter")) {
            if (!a->n_models) { fprintf(stderr, "plinth eval: %s applies to the model before it: give -m first\n", s); return 2; }
            if ((ok = arg_str(argc, argv, &i, &v))) (s[2] == 'l' ? a->lora : a->prompt)[a->n_models - 1] = v;
        }
        else if (!strcmp(s, "--mode")) { if ((ok = arg_str(argc, argv, &i, &v)) && parse_modes(v, a)) return 2; }
        else if (!strcmp(s, "--shots")) { if ((ok = arg_int(argc, argv, &i, 0, 1000, &n))) a->shots = (int)n; }
        else if (!strcmp(s, "--cot-shots")) { if ((ok = arg_int(argc, argv, &i, 0, 1000, &n))) a->cot_shots = (int)n; }
        else if (!strcmp(s, "--limit")) { if ((ok = arg_int(argc, argv, &i, 0, 1 << 30, &n))) a->limit = (int)n; }
        else if (!strcmp(s, "--max-tokens")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 20, &n))) a->max_tokens = (int)n; }
        else if (!strcmp(s, "--no-chat")) a->chat = "none";
        else if (!strcmp(s, "--chat-template")) ok = arg_str(argc, argv, &i, &a->chat);
        else if (!strcmp(s, "--json")) a->json = true;
        else if (!strcmp(s, "-c") || !strcmp(s, "--ctx-size")) { if ((ok = arg_int(argc, argv, &i, 1, 1 << 20, &n))) a->n_ctx = (int)n; }
        else if (!strcmp(s, "--threads")) { if ((ok = arg_int(argc, argv, &i, 1, 256, &n))) a->threads = (int)n; }
        else return arg_unknown(argv, i);
        if (!ok) return 2;
    }
    if (!a->n_models) { fprintf(stderr, "plinth eval: no model given (-m PATH)\n"); return 2; }
    if (!a->n_tasks) { fprintf(stderr, "plinth eval: no task file given (-t FILE.jsonl)\n"); return 2; }
    return 0;
}

typedef struct { const eval_args *a; bool tty; } progress;

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s && s[1] ? s + 1 : p;
}

static void on_model(const pl_eval_model *m, void *ud) {
    (void)ud;
    fprintf(stderr, "eval: %s (%s prompts for generation)\n", m->model->name,
            m->model->chat ? pl_chat_template_name(m->model->chat) : "plain");
}

static void on_item(const pl_eval_model *m, int task, pl_eval_mode mode, int done, int total, void *ud) {
    progress *p = ud;
    if (p->tty)
        fprintf(stderr, "\r%s  %s  %s: %d/%d ", m->model->name, base_name(p->a->tasks[task]), pl_eval_mode_name(mode),
                done, total);
}

static void on_result(const pl_eval_model *m, int task, const pl_eval_result *r, void *ud) {
    progress *p = ud;
    if (p->tty) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "eval: %s  %s  %s: %d/%d (%.1f%%) in %.1f s\n", m->model->name, base_name(p->a->tasks[task]),
            pl_eval_mode_name(r->mode), r->correct, r->n, r->n ? 100.0 * r->correct / r->n : 0.0, r->seconds);
}

static bool any_mode(const eval_args *a, pl_eval_mode m) {
    for (int i = 0; i < a->n_modes; i++) if (a->modes[i] == m) return true;
    return false;
}

/* ------------------------------------------------------------------------ output ---- */

static void mode_header(const eval_args *a, pl_eval_mode m, char *buf, size_t cap) {
    int k = m == PL_EVAL_FEW_SHOT ? a->shots : m == PL_EVAL_COT ? a->cot_shots : 0;
    if (m == PL_EVAL_ZERO_SHOT || (m == PL_EVAL_COT && k == 0)) snprintf(buf, cap, "%s", pl_eval_mode_name(m));
    else snprintf(buf, cap, "%s (%d)", pl_eval_mode_name(m), k);
}

static void print_table(const eval_args *a, const pl_eval_task_run *t, bool norm) {
    char h[64];
    printf("| model |");
    for (int k = 0; k < a->n_modes; k++) {
        if (norm && a->modes[k] == PL_EVAL_COT) continue;
        mode_header(a, a->modes[k], h, sizeof h);
        printf(" %s |", h);
    }
    printf("\n|---|");
    for (int k = 0; k < a->n_modes; k++) if (!(norm && a->modes[k] == PL_EVAL_COT)) printf("---|");
    printf("\n");
    for (int mi = 0; mi < a->n_models; mi++) {
        printf("| %s |", a->label[mi]);
        for (int k = 0; k < a->n_modes; k++) {
            const pl_eval_result *r = &t->res[mi * a->n_modes + k];
            if (norm && a->modes[k] == PL_EVAL_COT) continue;
            int c = norm ? r->correct_norm : r->correct;
            printf(" %.1f%% (%d/%d) |", r->n ? 100.0 * c / r->n : 0.0, c, r->n);
        }
        printf("\n");
    }
}

static void print_tables(const eval_args *a, const pl_eval_task_run *tr) {
    for (int ti = 0; ti < a->n_tasks; ti++) {
        const pl_eval_task_run *t = &tr[ti];
        bool choice = t->task->kind == PL_EVAL_CHOICE;
        printf("%s%s: %s, %d items scored; shots from %s\n\n", ti ? "\n" : "", a->tasks[ti],
               choice ? "multiple choice" : "free answer", t->n_test,
               t->task->has_train ? "the \"train\" lines" : "the first lines");
        print_table(a, t, false);
        if (choice && (any_mode(a, PL_EVAL_ZERO_SHOT) || any_mode(a, PL_EVAL_FEW_SHOT))) {
            printf("\nacc_norm (log-likelihood per byte of each choice):\n\n");
            print_table(a, t, true);
        }
    }
}

static cJSON *item_json(const pl_eval_item *it, const pl_eval_item_result *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "line", r->line);
    cJSON_AddStringToObject(o, "answer", it->answer);
    if (it->n_choices > 0) {
        cJSON_AddNumberToObject(o, "answer_index", it->answer_index);
        cJSON_AddNumberToObject(o, "prediction", r->pred);
    }
    cJSON_AddBoolToObject(o, "correct", r->correct);
    if (r->loglik) {
        cJSON_AddItemToObject(o, "loglik", cJSON_CreateDoubleArray(r->loglik, r->n_choices));
        cJSON_AddItemToObject(o, "n_tokens", cJSON_CreateIntArray(r->n_tokens, r->n_choices));
        cJSON_AddNumberToObject(o, "prediction_norm", r->pred_norm);
        cJSON_AddBoolToObject(o, "correct_norm", r->correct_norm);
    }
    if (r->output) cJSON_AddStringToObject(o, "output", r->output);
    if (r->extracted) cJSON_AddStringToObject(o, "extracted", r->extracted);
    return o;
}

static int print_json(const eval_args *a, const pl_eval_task_run *tr) {
    cJSON *root = cJSON_CreateObject(), *tasks = cJSON_AddArrayToObject(root, "tasks");
    for (int ti = 0; ti < a->n_tasks; ti++) {
        const pl_eval_task_run *t = &tr[ti];
        cJSON *to = cJSON_CreateObject(), *rs = cJSON_CreateArray();
        cJSON_AddStringToObject(to, "task", a->tasks[ti]);
        cJSON_AddStringToObject(to, "kind", t->task->kind == PL_EVAL_CHOICE ? "multiple_choice" : "free_answer");
        cJSON_AddNumberToObject(to, "n", t->n_test);
        for (int mi = 0; mi < a->n_models; mi++)
            for (int k = 0; k < a->n_modes; k++) {
                const pl_eval_result *r = &t->res[mi * a->n_modes + k];
                cJSON *ro = cJSON_CreateObject(), *items = cJSON_CreateArray();
                cJSON_AddStringToObject(ro, "model", a->models[mi]);
                if (a->lora[mi]) cJSON_AddStringToObject(ro, "lora", a->lora[mi]);
                if (a->prompt[mi]) cJSON_AddStringToObject(ro, "prompt_adapter", a->prompt[mi]);
                cJSON_AddStringToObject(ro, "mode", pl_eval_mode_name(r->mode));
                cJSON_AddNumberToObject(ro, "shots", r->n_shots);
                cJSON_AddStringToObject(ro, "scoring", r->loglik ? "loglik" : "generate");
                cJSON_AddNumberToObject(ro, "n", r->n);
                cJSON_AddNumberToObject(ro, "correct", r->correct);
                cJSON_AddNumberToObject(ro, "accuracy", r->n ? (double)r->correct / r->n : 0.0);
                if (r->loglik) {
                    cJSON_AddNumberToObject(ro, "correct_norm", r->correct_norm);
                    cJSON_AddNumberToObject(ro, "acc_norm", r->n ? (double)r->correct_norm / r->n : 0.0);
                }
                cJSON_AddNumberToObject(ro, "seconds", r->seconds);
                for (int i = 0; i < r->n; i++) cJSON_AddItemToArray(items, item_json(t->split.test[i], &r->items[i]));
                cJSON_AddItemToObject(ro, "items", items);
                cJSON_AddItemToArray(rs, ro);
            }
        cJSON_AddItemToObject(to, "results", rs);
        cJSON_AddItemToArray(tasks, to);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) { fprintf(stderr, "plinth eval: out of memory\n"); return 1; }
    puts(s);
    free(s);
    return 0;
}

/* load, run and print; 0, 1 or 130 (messages printed) */
static int evaluate(const eval_args *a, pl_eval_task_run *tr) {
    progress pg = {a, isatty(2)};
    pl_eval_suite su = {.models = a->models, .tasks = a->tasks, .n_models = a->n_models, .n_tasks = a->n_tasks,
                        .model_lora = a->lora, .model_prompt = a->prompt,
                        .modes = a->modes, .n_modes = a->n_modes, .shots = a->shots, .cot_shots = a->cot_shots,
                        .limit = a->limit, .max_tokens = a->max_tokens,
                        .model = {.n_ctx = a->n_ctx, .n_threads = a->threads, .chat = a->chat},
                        .on_model = on_model, .on_item = on_item, .on_result = on_result, .ud = &pg};
    int rc = pl_eval_suite_load(&su, tr);
    if (!rc) {
        su.interrupt = cli_catch_interrupt(0);
        rc = pl_eval_suite_run(&su, tr);
        if (rc && pg.tty) fprintf(stderr, "\r\033[K");
    }
    if (rc == PL_ERR_INTERRUPTED) fprintf(stderr, "plinth eval: interrupted\n");
    else if (rc) fprintf(stderr, "plinth eval: %s\n", pl_last_error());
    else rc = a->json ? print_json(a, tr) : (print_tables(a, tr), 0);
    fflush(stdout);
    pl_eval_suite_free(&su, tr);
    return rc == PL_ERR_INTERRUPTED ? 130 : rc ? 1 : 0;
}

int cmd_eval(int argc, char **argv) {
    eval_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    for (int mi = 0; mi < a.n_models; mi++) { /* the table's row names */
        size_t n = strlen(a.models[mi]) + (a.lora[mi] ? strlen(a.lora[mi]) : 0) + (a.prompt[mi] ? strlen(a.prompt[mi]) : 0) + 40;
        if (!(a.label[mi] = malloc(n))) return 1;
        snprintf(a.label[mi], n, "%s%s%s%s%s", base_name(a.models[mi]), a.lora[mi] ? " + lora " : "", a.lora[mi] ? a.lora[mi] : "",
                 a.prompt[mi] ? " + prompt " : "", a.prompt[mi] ? a.prompt[mi] : "");
    }
    pl_eval_task_run tr[MAX_ARGS] = {0};
    rc = evaluate(&a, tr);
    for (int mi = 0; mi < a.n_models; mi++) free(a.label[mi]);
    return rc;
}
