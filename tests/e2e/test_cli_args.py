"""The command line's shared conventions (src/cli/args.c): `--` ends the options of every command, so what follows
is an argument even when it starts with '-'; a command that takes a prompt or a text takes it from a file too
(`-f FILE`) or from standard input (`-f -`), with the same result as given inline; chat reads its system prompt
from a file (--system-file). Models: the tiny llama fixture (token id = byte) and SmolLM2 for chat's template."""
import os
import re
import subprocess

import pytest

from helpers import ROOT, plinth_bin, write_tiny_llama

MINILM = os.path.join(ROOT, "models", "all-minilm-l6-v2")
SMOL = os.path.join(ROOT, "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
TINY_GGUF = os.path.join(ROOT, "tests", "golden", "lm", "llama", "model.gguf")
FINAL = re.compile(rb"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)")
BODY = b"It is a truth universally acknowledged, that a single man in possession of a good fortune. " * 4


@pytest.fixture(scope="module", autouse=True)
def models():
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-models.sh")], check=True, capture_output=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_llama(str(tmp_path_factory.mktemp("tiny_llama_args")))


def plinth(*args, stdin=None, cwd=None):
    return subprocess.run([plinth_bin(), *args], input=stdin, capture_output=True, timeout=300, cwd=cwd,
                          env={**os.environ, "PLINTH_ROOT": ROOT})


# ---- "--" ends the options -----------------------------------------------------------------------------
def test_tokenize_text_after_double_dash_is_text():
    r = plinth("tokenize", "-m", MINILM, "--", "--x")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b'["[CLS]", "-", "-", "x", "[SEP]"]\n'
    ids = plinth("tokenize", "-m", MINILM, "--ids", "--", "--x")
    same = plinth("tokenize", "-m", MINILM, "--ids", "-f", "-", stdin=b"--x")
    assert ids.returncode == same.returncode == 0 and ids.stdout == same.stdout
    assert plinth("tokenize", "-m", MINILM, "--x").returncode == 2          # before "--": an unknown option
    assert plinth("tokenize", "-m", MINILM, "--", "a", "b").returncode == 2  # one TEXT only


def test_info_and_quantize_paths_after_double_dash(tmp_path):
    r = plinth("info", "--no-tensors", "--", TINY_GGUF)
    assert r.returncode == 0 and b"architecture" in r.stdout
    out = tmp_path / "-q8.gguf"                                              # a name that starts with '-'
    r = plinth("quantize", "--", TINY_GGUF, "-q8.gguf", "Q8_0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert out.exists() and plinth("info", "--", "-q8.gguf", cwd=tmp_path).returncode == 0
    assert plinth("info", "-q8.gguf", cwd=tmp_path).returncode == 2         # not after "--": an option


@pytest.mark.parametrize("cmd", [
    ["run", "-m", "TINY", "-p", "ab", "-n", "2", "--temp", "0"],
    ["bench", "-m", TINY_GGUF, "-p", "4", "-n", "2", "-r", "1", "-t", "1"],
    ["perplexity", "-m", "TINY", "-f", "TEXT", "-c", "64", "--chunks", "1"],
    ["imatrix", "-m", "TINY", "-f", "TEXT", "-c", "64", "--chunks", "1", "-o", "IM"],
])
def test_double_dash_accepted_and_nothing_after_it(cmd, tiny, tmp_path):
    text = tmp_path / "t.txt"
    text.write_bytes(BODY)
    sub = {"TINY": tiny, "TEXT": str(text), "IM": str(tmp_path / "im.gguf")}
    args = [sub.get(a, a) for a in cmd]
    r = plinth(*args, "--")
    assert r.returncode == 0, r.stderr
    r = plinth(*args, "--", "extra")
    assert r.returncode == 2 and b"unexpected argument 'extra'" in r.stderr


def test_double_dash_eval_and_chat(tiny):
    for cmd in (["eval", "-m", tiny, "-t", "x.jsonl"], ["chat", "-m", tiny]):
        r = plinth(*cmd, "--", "extra")
        assert r.returncode == 2 and b"unexpected argument 'extra'" in r.stderr, cmd


# ---- prompts and texts from -f FILE and -f - -------------------------------------------------------------
def test_run_prompt_from_file_and_stdin(tiny, tmp_path):
    args = ["run", "-m", tiny, "-n", "8", "--temp", "0"]
    inline = plinth(*args, "-p", "It is a truth")
    assert inline.returncode == 0, inline.stderr
    f = tmp_path / "prompt.txt"
    f.write_bytes(b"It is a truth\n")                                       # one trailing newline is dropped
    from_file = plinth(*args, "-f", str(f))
    from_stdin = plinth(*args, "-f", "-", stdin=b"It is a truth\n")
    assert from_file.returncode == from_stdin.returncode == 0
    assert from_file.stdout == from_stdin.stdout == inline.stdout
    assert inline.stdout.startswith(b"It is a truth")
    kept = plinth(*args, "-f", "-", stdin=b"It is a truth\n\n")             # only one newline goes
    assert kept.stdout.startswith(b"It is a truth\n")
    both = plinth(*args, "-p", "x", "-f", str(f))
    assert both.returncode == 2 and b"not both" in both.stderr
    missing = plinth(*args, "-f", str(tmp_path / "missing.txt"))
    assert missing.returncode == 1 and b"missing.txt" in missing.stderr


def test_perplexity_and_imatrix_text_from_stdin(tiny, tmp_path):
    f = tmp_path / "t.txt"
    f.write_bytes(BODY)
    a = plinth("perplexity", "-m", tiny, "-f", str(f), "-c", "64", "--chunks", "4")
    b = plinth("perplexity", "-m", tiny, "-f", "-", "-c", "64", "--chunks", "4", stdin=BODY)
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert FINAL.search(a.stdout).group(0) == FINAL.search(b.stdout).group(0)
    ia, ib = tmp_path / "a.gguf", tmp_path / "b.gguf"
    ra = plinth("imatrix", "-m", tiny, "-f", str(f), "-c", "64", "-o", str(ia))
    rb = plinth("imatrix", "-m", tiny, "-f", "-", "-c", "64", "-o", str(ib), stdin=BODY)
    assert ra.returncode == rb.returncode == 0, ra.stderr + rb.stderr
    assert ia.stat().st_size > 0 and ib.stat().st_size > 0


def test_tokenize_file_and_stdin_agree(tmp_path):
    f = tmp_path / "t.txt"
    f.write_bytes("Héllo -- wörld".encode())
    a = plinth("tokenize", "-m", MINILM, "--ids", "-f", str(f))
    b = plinth("tokenize", "-m", MINILM, "--ids", "-f", "-", stdin="Héllo -- wörld".encode())
    c = plinth("tokenize", "-m", MINILM, "--ids", "Héllo -- wörld")
    assert a.returncode == b.returncode == c.returncode == 0
    assert a.stdout == b.stdout == c.stdout and len(a.stdout.split()) > 2


def test_chat_system_prompt_from_file(tmp_path):
    args = ["chat", "-m", SMOL, "--temp", "0", "-n", "12", "-t", "2"]
    inline = plinth(*args, "--system", "You are a pirate named Redbeard.", stdin=b"Who are you?\n")
    f = tmp_path / "system.txt"
    f.write_bytes(b"You are a pirate named Redbeard.\n")
    from_file = plinth(*args, "--system-file", str(f), stdin=b"Who are you?\n")
    plain = plinth(*args, stdin=b"Who are you?\n")
    assert inline.returncode == from_file.returncode == plain.returncode == 0, from_file.stderr
    assert from_file.stdout == inline.stdout != plain.stdout
    r = plinth(*args, "--system-file", "-", stdin=b"hi\n")                 # stdin carries the conversation
    assert r.returncode == 2 and b"standard input" in r.stderr
