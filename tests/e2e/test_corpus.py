"""Checks the unigram-entropy helper (tools/unigram_entropy.py, re-exported by helpers.py) that the training
tests compare `plinth train`'s loss against, on inputs whose entropy is known in closed form."""
import math
import os
import subprocess
import sys

from helpers import ROOT, unigram_entropy

LN2 = math.log(2)


def test_two_equal_symbols_is_one_bit():
    assert math.isclose(unigram_entropy(b"abab"), LN2, rel_tol=1e-12)
    assert math.isclose(unigram_entropy(b"abab") / LN2, 1.0, rel_tol=1e-12)


def test_constant_and_empty_are_zero():
    assert unigram_entropy(b"aaaaaaa") == 0.0
    assert unigram_entropy(b"") == 0.0


def test_uniform_bytes_is_eight_bits():
    assert math.isclose(unigram_entropy(bytes(range(256)) * 3) / LN2, 8.0, rel_tol=1e-12)


def test_skewed_distribution():
    # p = (3/4, 1/4): H = -(3/4 ln 3/4 + 1/4 ln 1/4)
    want = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert math.isclose(unigram_entropy(b"xxxy" * 5), want, rel_tol=1e-12)
    # order does not matter, only counts
    assert math.isclose(unigram_entropy(b"yxxx" * 5), want, rel_tol=1e-12)


def test_command_line(tmp_path):
    f = tmp_path / "t.txt"
    f.write_bytes(b"abab")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "unigram_entropy.py"), str(f)],
                         capture_output=True, text=True, check=True).stdout
    assert "4 bytes" in out and "0.6931 nats/byte" in out and "1.0000 bits/byte" in out
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "unigram_entropy.py")], capture_output=True)
    assert bad.returncode == 2
