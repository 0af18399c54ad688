/* Constrained decoding for JSON: a JSON Schema (or "any JSON object") compiled into a pushdown automaton over
 * bytes, and the mask it puts on a row of logits so that only tokens whose text keeps the output a prefix of
 * valid, schema-conforming JSON can be sampled (EOS only once the value is complete). Used by the scheduler
 * (tasks/scheduler.c) for OpenAI's response_format; plain C over cJSON, tested alone in test_json_schema.c.
 * Output is compact (no whitespace); object properties come in the schema's order, all of them. */
#ifndef PL_TASKS_JSON_SCHEMA_H
#define PL_TASKS_JSON_SCHEMA_H

#include "plinth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PL_JSON_MAX_DEPTH 24

typedef struct pl_json_schema pl_json_schema;
struct pl_json_node;

typedef struct {
    const struct pl_json_node *node;
    uint8_t kind, phase;
    int32_t i, j;        /* counters: property / item index, offset in a literal, string length, digits */
    uint64_t alive;      /* literals still matching */
} pl_json_frame;

/* Where the automaton is: a stack of frames, innermost last. */
typedef struct {
    const pl_json_schema *schema;
    int depth;
    bool started;
    pl_json_frame f[PL_JSON_MAX_DEPTH];
} pl_json_state;

/* Compile a schema given as JSON text; NULL text: any JSON object (response_format json_object). NULL +
 * message naming the keyword for what is not supported (anyOf, $ref, pattern, minimum, ...: docs/serve.md). */
pl_json_schema *pl_json_schema_new(const char *schema_json);
void pl_json_schema_free(pl_json_schema *s);

void pl_json_state_init(pl_json_state *st, const pl_json_schema *s);
/* Feed bytes; false if they cannot continue valid output (st is then unusable: feed a copy to test). */
bool pl_json_feed(pl_json_state *st, const char *bytes, size_t n);
/* The bytes fed so far form a complete value (the reply may end here). */
bool pl_json_can_end(const pl_json_state *st);
/* Copy only the live part of a state (faster than assigning the whole struct). */
void pl_json_state_copy(pl_json_state *dst, const pl_json_state *src);

/* Each token's text (as the detokenizer gives it alone, special tokens empty), grouped by first byte. */
typedef struct pl_json_vocab pl_json_vocab;
pl_json_vocab *pl_json_vocab_new(const pl_tokenizer *tok, int n_vocab);
void pl_json_vocab_free(pl_json_vocab *v);
const char *pl_json_vocab_text(const pl_json_vocab *v, int32_t id, size_t *len);
/* Set logits[id] = -inf for every token that may not come next; eos may come only when the value can end. */
void pl_json_mask(const pl_json_vocab *v, const pl_json_state *st, float *logits, int32_t eos);

#endif
