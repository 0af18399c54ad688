"""plinth distill end to end on tiny models: a teacher (the tiny llama fixture, byte tokenizer) labels a text once
(cached and reused), a student made by plinth train with the teacher's tokenizer is trained on its soft labels
(--alpha 0: the KL term alone);
its validation KL to the teacher falls, and ends below that of the same student trained on the hard labels alone
(--kd 0, same steps and tokens); the checkpoint runs; a student with another tokenizer, a text too short and a
bad option are refused with the reason."""
import csv
import os
import subprocess

import pytest

from helpers import ROOT, plinth_bin, write_tiny_llama


def plinth(*args):
    return subprocess.run([plinth_bin(), *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("distill")
    teacher = d / "teacher"
    teacher.mkdir()
    write_tiny_llama(str(teacher))
    text = d / "text.txt"
    with open(os.path.join(ROOT, "data", "train", "austen.txt"), encoding="utf-8") as f:
        text.write_text(f.read()[20000:32000])
    student = d / "student"
    r = plinth("train", "--arch", "llama", "--tokenizer", str(teacher), "--layers", "1", "--dim", "32", "--heads", "2",
               "--ctx", "64", "--steps", "1", "--eval-every", "0", "-f", str(text), "-o", str(student), "-q", "-t", "1")
    assert r.returncode == 0, r.stderr
    return d, teacher, student, text


def val_rows(out):
    with open(out / "val.csv") as f:
        return [(int(r["step"]), float(r["val_kl"]), float(r["val_ppl"])) for r in csv.DictReader(f)]


def distill(setup, out, *extra):
    d, teacher, student, text = setup
    return plinth("distill", "--teacher", str(teacher), "--student", str(student), "-d", str(text), "-o", str(out),
                  "--ctx", "32", "--steps", "40", "--batch", "4", "--lr", "5e-3", "--eval-every", "10", "-t", "2", *extra)


def test_distilled_student_gets_closer_to_the_teacher(setup):
    d = setup[0]
    r = distill(setup, d / "kd", "--alpha", "0")
    assert r.returncode == 0, r.stderr
    assert "teacher:" in r.stderr and "labelled" in r.stderr
    kd = val_rows(d / "kd")
    assert [s for s, _, _ in kd] == [0, 10, 20, 30, 40]
    assert kd[-1][1] < kd[0][1] - 0.05, kd  # KL to the teacher falls
    again = distill(setup, d / "kd", "--alpha", "0")  # the soft labels are read back, not recomputed
    assert again.returncode == 0 and "soft labels from" in again.stderr, again.stderr
    hard = distill(setup, d / "hard", "--kd", "0")
    assert hard.returncode == 0 and "hard labels only" in hard.stderr, hard.stderr
    assert kd[-1][1] < val_rows(d / "hard")[-1][1], (kd, val_rows(d / "hard"))
    g = plinth("run", "-m", str(d / "kd"), "-p", "It was", "-n", "4", "--temp", "0")
    assert g.returncode == 0, g.stderr


def test_bad_input(setup, tmp_path):
    d, teacher, student, text = setup
    smol = os.path.join(ROOT, "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.exists(smol):  # another tokenizer
        r = plinth("distill", "--teacher", smol, "--student", str(student), "-d", str(text), "-o", str(tmp_path / "o"))
        assert r.returncode == 1 and "needs the same tokenizer" in r.stderr, r.stderr
    short = tmp_path / "short.txt"
    short.write_text("too short")
    r = plinth("distill", "--teacher", str(teacher), "--student", str(student), "-d", str(short), "-o", str(tmp_path / "o"),
               "--ctx", "32")
    assert r.returncode == 1 and "fewer than two sequences" in r.stderr, r.stderr
    r = plinth("distill", "--teacher", str(teacher), "--student", str(student), "-d", str(text), "--temperature", "0")
    assert r.returncode == 2, r.stderr
    r = plinth("distill", "--student", str(student), "-d", str(text))
    assert r.returncode == 2 and "--teacher" in r.stderr
