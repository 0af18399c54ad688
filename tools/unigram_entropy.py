#!/usr/bin/env python3
"""Byte-level unigram entropy of a file: the loss a model that ignores context entirely would reach.

`plinth train` reports a per-byte cross-entropy in nats; it has learned something once it goes below this figure.
Pure Python, no dependencies; tests/e2e/helpers.py re-exports `unigram_entropy` for the end-to-end tests.
Usage: python3 tools/unigram_entropy.py FILE   -> prints bytes, nats/byte and bits/byte
"""
import math
import sys
from collections import Counter


def unigram_entropy(data):
    """Entropy in nats of the empirical byte distribution of `data` (bytes): -sum p ln p. Empty -> 0."""
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log(c / n) for c in Counter(bytes(data)).values())


def main(argv):
    if len(argv) != 2:
        print("usage: unigram_entropy.py FILE", file=sys.stderr)
        return 2
    with open(argv[1], "rb") as f:
        data = f.read()
    h = unigram_entropy(data)
    print(f"{argv[1]}: {len(data)} bytes, unigram entropy {h:.4f} nats/byte = {h / math.log(2):.4f} bits/byte")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
