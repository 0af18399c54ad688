"""Shared helpers for the end-to-end tests (pytest, tests/e2e/): the binary under test and small pure-Python
measures. No third-party imports here: CI installs only pytest, numpy and gguf.
"""
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def plinth_bin():
    """Path of the plinth binary under test: $PLINTH_BIN, else build/plinth."""
    return os.environ.get("PLINTH_BIN", os.path.join(ROOT, "build", "plinth"))


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "tools", name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# Byte-level unigram entropy in nats (one implementation, shared with the command-line tool).
unigram_entropy = _load_tool("unigram_entropy").unigram_entropy
