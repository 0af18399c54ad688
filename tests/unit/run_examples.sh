#!/usr/bin/env bash
# The examples of examples/ (ctest examples_header / _generate / _finetune):
#   header    examples/*.c and include/plinth.h's opening example compile with -Iinclude alone
#   generate  examples/generate on a tiny model (tests/golden/lm/llama + a byte-level tokenizer) prints text,
#             the same text twice when greedy; a missing model is a message and exit status 1
#   finetune  examples/finetune on that model: the last loss is below the first, the saved directory reloads
#             and answers the first question as trained
# usage: run_examples.sh header|generate|finetune BUILD_DIR [CC]
set -euo pipefail
what=$1 build=$2 cc=${3:-cc}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

tiny_model() { # the tiny llama fixture with a byte-level tokenizer.json (token id = byte)
    mkdir -p "$tmp/tiny"
    cp "$root/tests/golden/lm/llama/config.json" "$root/tests/golden/lm/llama/model.safetensors" "$tmp/tiny/"
    python3 -c "import sys; sys.path.insert(0, sys.argv[1]); import helpers; helpers.write_byte_tokenizer(sys.argv[2])" \
        "$root/tests/e2e" "$tmp/tiny"
}

case $what in
header)
    for f in "$root"/examples/*.c; do
        "$cc" -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$root/include" "$f" || fail "$f"
    done
    # the opening example: the comment's lines from '#include <plinth.h>' to the closing brace of main
    sed -n '/^ \*     #include <plinth.h>/,/^ \*     }$/p' "$root/include/plinth.h" | sed -E 's/^ \*( {5})?//' > "$tmp/opening.c"
    grep -q 'int main' "$tmp/opening.c" || fail "no opening example found in include/plinth.h"
    "$cc" -std=c11 -Wall -Wextra -Werror -pedantic -c -I"$root/include" "$tmp/opening.c" -o "$tmp/opening.o" \
        || fail "the opening example of include/plinth.h does not compile"
    echo "examples and the header's opening example compile against include/ alone"
    ;;
generate)
    tiny_model
    "$build/examples/generate" "$tmp/tiny" "Once upon a time" 24 0 > "$tmp/a.txt" || fail "generate exited $?"
    "$build/examples/generate" "$tmp/tiny" "Once upon a time" 24 0 > "$tmp/b.txt" || fail "generate exited $?"
    cat "$tmp/a.txt"
    [ "$(wc -c < "$tmp/a.txt")" -gt $((16 + 1 + 8)) ] || fail "generate printed too little (prompt + newline only?)"
    head -c 16 "$tmp/a.txt" | grep -q "^Once upon a time" || fail "generate did not echo the prompt"
    cmp -s "$tmp/a.txt" "$tmp/b.txt" || fail "greedy generation differs between two runs"
    "$build/examples/generate" "$tmp/tiny" "Hi" 16 0.8 7 > /dev/null || fail "sampled generation failed"
    if "$build/examples/generate" "$tmp/no-such-model" "Hi" > /dev/null 2> "$tmp/err.txt"; then fail "a missing model succeeded"; fi
    grep -q "no-such-model" "$tmp/err.txt" || fail "the error does not name the path: $(cat "$tmp/err.txt")"
    echo "generate: ok"
    ;;
finetune)
    tiny_model
    "$build/examples/finetune" "$tmp/tiny" "$tmp/out" 12 0.01 | tee "$tmp/log.txt" || fail "finetune exited $?"
    first=$(awk '/^step /{print $4; exit}' "$tmp/log.txt")
    last=$(awk '/^step /{v=$4} END{print v}' "$tmp/log.txt")
    [ "$(grep -c '^step ' "$tmp/log.txt")" = 12 ] || fail "expected 12 steps"
    awk -v a="$first" -v b="$last" 'BEGIN{exit !(b < a - 0.5)}' || fail "loss did not fall: $first -> $last"
    grep -q "^reloaded: " "$tmp/log.txt" || fail "the saved model was not reloaded"
    # twelve steps on four answers: the reloaded model (greedy) gives the first one back
    grep -qx "A: Foundation models in C." "$tmp/log.txt" || fail "the reloaded model did not learn the first answer"
    for f in config.json model.safetensors tokenizer.json; do [ -s "$tmp/out/$f" ] || fail "no $f saved"; done
    # and the saved directory loads in another program too
    "$build/examples/generate" "$tmp/out" "Q: What is plinth?" 8 0 > /dev/null || fail "the saved model does not load"
    echo "finetune: loss $first -> $last, saved model reloads"
    ;;
*) fail "unknown: $what" ;;
esac
