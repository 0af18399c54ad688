"""plinth synth end to end with the tiny llama fixture as the teacher (byte tokenizer, random weights: its answers are
noise, which is all the filters and the bookkeeping need): N lines kept, each a prompt/completion with its slots filled
from the template's lists and a record of how it was made; the same seed gives the same file, another seed another;
duplicates are dropped; a template naming an undefined slot, one that is not JSON, and impossible checks are refused
or reported with the reason."""
import json
import subprocess

import pytest

from helpers import plinth_bin, write_tiny_llama

TEMPLATE = {
    "instruction": "Say something about a {color} {thing}.",
    "slots": {"color": ["red", "green", "blue"], "thing": ["ball", "box"]},
    "example": {"prompt": "About a {color} {thing}: {output}\nColor:", "completion": " {color}"},
    "check": {"min_chars": 1, "max_chars": 2000, "allow_cut": True},  # random weights never say EOS
}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    d = tmp_path_factory.mktemp("teacher")
    write_tiny_llama(str(d))
    return str(d)


def synth(teacher, template, out, *extra):
    return subprocess.run([plinth_bin(), "synth", "--teacher", teacher, "--template", str(template), "-o", str(out),
                           "--max-tokens", "12", "-t", "1", *extra], capture_output=True, text=True)


def write(path, obj):
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_examples_are_kept_recorded_and_reproducible(teacher, tmp_path):
    t = write(tmp_path / "t.json", TEMPLATE)
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    r = synth(teacher, t, a, "-n", "6", "--seed", "7", "--temp", "1.5")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in a.read_text().splitlines()]
    assert len(lines) == 6
    outputs = set()
    for ln in lines:
        s = ln["synth"]
        assert s["slots"]["color"] in TEMPLATE["slots"]["color"] and s["slots"]["thing"] in TEMPLATE["slots"]["thing"]
        assert ln["prompt"] == f"About a {s['slots']['color']} {s['slots']['thing']}: {s['output']}\nColor:"
        assert ln["completion"] == " " + s["slots"]["color"]
        assert s["seed"] == 7 and s["teacher"] == teacher and isinstance(s["attempt"], int)
        outputs.add(" ".join(s["output"].lower().split()))
    assert len(outputs) == 6  # no duplicates kept
    assert "kept 6 of" in r.stderr
    assert synth(teacher, t, b, "-n", "6", "--seed", "7", "--temp", "1.5").returncode == 0
    assert a.read_bytes() == b.read_bytes()
    assert synth(teacher, t, c, "-n", "6", "--seed", "8", "--temp", "1.5").returncode == 0
    assert a.read_bytes() != c.read_bytes()


def test_answers_cut_off_are_dropped_unless_allowed(teacher, tmp_path):
    strict = dict(TEMPLATE, check={"min_chars": 1})
    r = synth(teacher, write(tmp_path / "t.json", strict), tmp_path / "o.jsonl", "-n", "2", "--max-attempts", "3")
    assert r.returncode == 1 and "3 too long" in r.stderr, r.stderr


def test_greedy_answers_are_duplicates(teacher, tmp_path):
    one = dict(TEMPLATE, slots={"color": ["red"], "thing": ["ball"]})
    t = write(tmp_path / "t.json", one)
    r = synth(teacher, t, tmp_path / "o.jsonl", "-n", "3", "--temp", "0", "--max-attempts", "5")
    assert r.returncode == 1 and "only 1 of 3 examples passed" in r.stderr and "4 duplicate" in r.stderr, r.stderr
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 1  # what passed is written


@pytest.mark.parametrize("case,msg", [
    ("slot", "{size} is not a slot"),
    ("json", "not a json object"),
    ("label", "check.label needs"),
    ("empty_slot", "needs a non-empty list"),
])
def test_bad_templates(teacher, tmp_path, case, msg):
    bad = {"slot": dict(TEMPLATE, instruction="A {size} thing"),
           "json": "{not json",
           "label": dict(TEMPLATE, check={"label": {"slot": "shape", "question": "{output}?"}}),
           "empty_slot": dict(TEMPLATE, slots={"color": []})}[case]
    r = synth(teacher, write(tmp_path / "t.json", bad), tmp_path / "o.jsonl", "-n", "2")
    assert r.returncode == 1 and msg in r.stderr.lower(), r.stderr
    assert not (tmp_path / "o.jsonl").exists()
