"""plinth run on GGUF files and Hugging Face directories: SmolLM2-135M (a real Q4_1 GGUF, from
scripts/fetch-models.sh) answers a factual prompt greedily, sampling is deterministic per seed, Ctrl-C stops
cleanly; the tiny llama fixture (tests/golden/lm) with a byte-level tokenizer.json written here reproduces
transformers' greedy continuation as text; bad input gives `plinth run: <message>` and exit 1 (usage: 2)."""
import json
import os
import signal
import subprocess
import time

import pytest

from helpers import ROOT, plinth_bin, write_tiny_llama

LM = os.path.join(ROOT, "tests", "golden", "lm")


@pytest.fixture(scope="session")
def smollm2():
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-models.sh")], check=True, capture_output=True)
    path = os.path.join(ROOT, "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert os.path.exists(path)
    return path


def run(args, **kw):
    return subprocess.run([plinth_bin(), "run", *args], capture_output=True, **kw)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """The tiny llama HF fixture plus a byte-level BPE tokenizer.json with no merges: token id = byte."""
    return write_tiny_llama(str(tmp_path_factory.mktemp("tiny_llama")))


def test_tiny_llama_greedy_text_matches_transformers(tiny_llama_dir):
    exp = json.load(open(os.path.join(LM, "llama", "expected.json")))
    prompt_ids = exp["prompts"][2]           # all ASCII bytes: a valid UTF-8 prompt
    prompt = bytes(prompt_ids).decode("ascii")
    want = bytes(exp["greedy"][2]).decode("utf-8", errors="replace")
    r = run(["-m", tiny_llama_dir, "-p", prompt, "-n", "32", "--temp", "0"])
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode("utf-8")
    assert out == prompt + want + "\n"
    assert b"tokens/s" in r.stderr


def test_tiny_llama_prompt_longer_than_context(tiny_llama_dir):
    r = run(["-m", tiny_llama_dir, "-p", "x" * 40, "-c", "16", "--temp", "0"])
    assert r.returncode == 1
    assert r.stderr.startswith(b"plinth run: ") and b"context" in r.stderr
    assert r.stdout == b""


def test_smollm2_greedy_answers(smollm2):
    r = run(["-m", smollm2, "-p", "The capital of France is", "-n", "8", "--temp", "0", "-t", "2"])
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode("utf-8")
    assert out.startswith("The capital of France is")
    assert "Paris" in out[len("The capital of France is"):]
    assert b"tokens/s" in r.stderr


def test_smollm2_sampling_is_deterministic_per_seed(smollm2):
    args = ["-m", smollm2, "-p", "Once upon a time", "-n", "16", "--temp", "0.9", "-t", "2"]
    a = run(args + ["--seed", "7"])
    b = run(args + ["--seed", "7"])
    c = run(args + ["--seed", "8"])
    assert a.returncode == b.returncode == c.returncode == 0
    assert a.stdout == b.stdout
    assert len(a.stdout) > len("Once upon a time") + 1
    assert a.stdout != c.stdout


def test_smollm2_ctrl_c_stops_cleanly(smollm2):
    p = subprocess.Popen([plinth_bin(), "run", "-m", smollm2, "-p", "Count: 1, 2, 3,", "-n", "100000",
                          "--temp", "0", "-t", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.read(len("Count: 1, 2, 3,") + 2)   # the prompt and the first generated text
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert (first + rest).startswith(b"Count: 1, 2, 3,")
    assert b"interrupted" in err


@pytest.mark.parametrize("args, msg", [
    (["-p", "hi"], b"missing.gguf"),
    (["-p", ""], b"empty"),
])
def test_bad_input_smollm2(smollm2, args, msg):
    m = smollm2 if msg != b"missing.gguf" else os.path.join(ROOT, "missing.gguf")
    r = run(["-m", m, *args])
    assert r.returncode == 1
    assert r.stderr.startswith(b"plinth run: ") and msg in r.stderr


def test_invalid_utf8_prompt(smollm2):
    r = subprocess.run([plinth_bin().encode(), b"run", b"-m", smollm2.encode(), b"-p", b"caf\xe9 \xff"],
                       capture_output=True)
    assert r.returncode == 1
    assert b"UTF-8" in r.stderr and r.stdout == b""


def test_unsupported_architecture(tmp_path):
    gguf = pytest.importorskip("gguf")
    w = gguf.GGUFWriter(str(tmp_path / "m.gguf"), "mamba")
    w.add_block_count(1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    r = run(["-m", str(tmp_path / "m.gguf"), "-p", "hi"])
    assert r.returncode == 1
    assert b"'mamba' is not supported" in r.stderr and b"llama" in r.stderr
    d = tmp_path / "bert"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "bert"}')
    r = run(["-m", str(d), "-p", "hi"])
    assert r.returncode == 1 and b"'bert' is not supported" in r.stderr


def test_model_without_tokenizer_is_refused():
    r = run(["-m", os.path.join(LM, "llama", "model.gguf"), "-p", "hi"])
    assert r.returncode == 1
    assert r.stderr.startswith(b"plinth run: ")


def test_usage_errors():
    assert run(["-m", "x.gguf"]).returncode == 2
    assert run(["-p", "hi"]).returncode == 2


# ---- plinth chat ----------------------------------------------------------------------------------------
def chat(args, stdin):
    return subprocess.run([plinth_bin(), "chat", *args], input=stdin, capture_output=True, timeout=300)


def test_chat_reset_gives_a_fresh_conversation(smollm2):
    args = ["-m", smollm2, "--temp", "0", "-n", "24", "-t", "2"]
    one = chat(args, b"Say hello to Alice.\n")
    assert one.returncode == 0, one.stderr
    assert len(one.stdout.strip()) > 0 and b"<|im_end|>" not in one.stdout
    # After /reset, what was said before must not matter: two chats that differ only before the reset give
    # the same reply after it, bit for bit (both re-evaluate the same suffix after the same cached system
    # prefix). A new chat is not the reference: its prompt is evaluated in one batch, and batches of 32 rows
    # or more take the f32 product path while shorter ones take the 8-bit dot kernels, so the last digits
    # differ and a greedy reply may drift.
    two = chat(args, b"Say hello to Alice.\n/reset\nSay hello to Bob.\n")
    three = chat(args, b"What is two plus two?\n/reset\nSay hello to Bob.\n")
    assert two.returncode == 0 and three.returncode == 0, two.stderr + three.stderr
    other = chat(args, b"What is two plus two?\n")
    assert two.stdout.startswith(one.stdout) and three.stdout.startswith(other.stdout)  # first replies: fresh chats'
    after_two, after_three = two.stdout[len(one.stdout):], three.stdout[len(other.stdout):]
    assert len(after_two.strip()) > 0 and after_two == after_three


def test_chat_history_changes_the_reply(smollm2):
    args = ["-m", smollm2, "--temp", "0", "-n", "24", "-t", "2"]
    alone = chat(args, b"What did I just say?\n")
    after = chat(args, b"My name is Zorblax.\nWhat did I just say?\n")
    assert alone.returncode == after.returncode == 0
    first = chat(args, b"My name is Zorblax.\n").stdout
    assert after.stdout.startswith(first)
    assert after.stdout[len(first):] != alone.stdout   # the second turn saw the first


def test_chat_system_prompt_and_errors(smollm2):
    a = chat(["-m", smollm2, "--temp", "0", "-n", "16", "-t", "2"], b"Who are you?\n")
    b = chat(["-m", smollm2, "--temp", "0", "-n", "16", "-t", "2", "--system", "You are a pirate named Redbeard."],
             b"Who are you?\n")
    assert a.returncode == b.returncode == 0 and a.stdout != b.stdout
    r = chat(["-m", os.path.join(LM, "llama", "model.gguf")], b"hi\n")
    assert r.returncode == 1 and r.stderr.startswith(b"plinth chat: ")
    assert chat([], b"").returncode == 2
