/* Evaluation task files and the model-independent half of `plinth eval`: parse JSONL task files (multiple
 * choice or free answer), pick few-shot examples, build zero-shot / few-shot / chain-of-thought prompts and
 * per-choice continuations, and extract + normalize answers from generated text. Scoring choices by
 * log-likelihood needs the model and lives with the eval task runner. Format: docs/eval.md. */
#ifndef PL_TASKS_EVALTASK_H
#define PL_TASKS_EVALTASK_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { PL_EVAL_CHOICE = 0, PL_EVAL_FREE = 1 } pl_eval_kind;

typedef struct {
    char *question;
    char **choices;   /* PL_EVAL_CHOICE: n_choices strings */
    int n_choices;
    int answer_index; /* PL_EVAL_CHOICE: the right choice */
    char *answer;     /* the right answer's text (for choices: a copy of choices[answer_index]) */
    bool train;       /* "split": "train" — few-shot pool, never scored */
    int line;         /* 1-based line in the file */
} pl_eval_item;

typedef struct {
    pl_eval_kind kind;
    pl_eval_item *items;
    int n_items;
    bool has_train; /* some line is marked "split": "train" */
} pl_eval_task;

/* Parse JSONL (one object per line; blank lines skipped). `name` prefixes error messages ("NAME:LINE: ...").
 * NULL + message on malformed JSON, missing/mistyped fields, answer index out of range, mixed kinds, no items. */
pl_eval_task *pl_eval_task_parse(const char *text, size_t len, const char *name);
pl_eval_task *pl_eval_task_load(const char *path);
void pl_eval_task_free(pl_eval_task *t);

/* Which items are shots and which are scored. With "split": "train" lines, shots are the first k train items
 * and every other item is scored; otherwise the first k lines are the shots and the rest are scored. */
typedef struct {
    const pl_eval_item **shots;
    int n_shots;
    const pl_eval_item **test;
    int n_test;
} pl_eval_split;
/* 0, or a negative pl_status + message (k < 0, fewer than k shots available, nothing left to score). */
int pl_eval_task_split(const pl_eval_task *t, int k, pl_eval_split *out);
void pl_eval_split_free(pl_eval_split *s);

typedef enum { PL_EVAL_ZERO_SHOT = 0, PL_EVAL_FEW_SHOT = 1, PL_EVAL_COT = 2 } pl_eval_mode;
/* "zero-shot"/"zero", "few-shot"/"few", "cot" -> mode; -1 + message listing the choices otherwise. */
int pl_eval_mode_parse(const char *s);
const char *pl_eval_mode_name(pl_eval_mode m);

/* The prompt for `item`: zero-shot ignores the shots; few-shot prepends each shot as a solved example; CoT
 * adds an instruction to reason step by step and finish with "The answer is X.", solved shots in that form,
 * and ends with the step-by-step cue. Multiple-choice prompts end with "Answer:" so that
 * prompt + pl_eval_continuation(item, i) is the text whose log-likelihood scores choice i. Caller frees. */
char *pl_eval_prompt(const pl_eval_task *t, const pl_eval_item *const *shots, int n_shots,
                     const pl_eval_item *item, pl_eval_mode mode);
/* " " + choices[i] (caller frees), NULL if i is out of range. */
char *pl_eval_continuation(const pl_eval_item *item, int i);
/* The stop strings for generated answers (the next "Question:" and a blank line); n in *n. */
const char *const *pl_eval_stop_strings(pl_eval_mode mode, int *n);

/* Normalize an answer: trim, lowercase (ASCII), drop a trailing period, drop commas inside numbers. */
char *pl_eval_normalize(const char *s);
/* The answer in generated text: what follows the last "answer is" (to the end of its sentence), else for
 * numeric answers the last number, else the first line. Normalized; caller frees (never NULL except OOM). */
char *pl_eval_extract(const char *generated, bool numeric);
/* Is `answer` numeric (an integer or decimal, commas allowed)? */
bool pl_eval_is_numeric(const char *answer);
/* Grade generated text against the item: numbers compare by value, choices by text or letter (A, B, ...). */
bool pl_eval_check(const pl_eval_item *item, const char *generated);

#endif
