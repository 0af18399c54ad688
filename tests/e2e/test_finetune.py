"""plinth finetune end to end, on the tiny llama fixture with a byte tokenizer. --method full: the validation loss
falls, the checkpoint is a Hugging Face directory that plinth run loads, chat-format and prompt/completion data;
--method lora: the validation loss falls with the base file untouched, the checkpoint is a PEFT adapter that
plinth run applies with --lora; --resume after Ctrl-C follows the uninterrupted trajectory (both methods); bad
input (clear message, non-zero exit)."""
import hashlib
import csv
import json
import os
import signal
import subprocess
import time

import pytest

from helpers import load_safetensors, plinth_bin, write_tiny_llama

FACTS = [("capital of France", "Paris"), ("color of the sky", "blue"), ("opposite of hot", "cold"),
         ("first letter", "A"), ("number after one", "two"), ("sound of a cat", "meow")]


def write_data(path, chat=False, n=24):
    with open(path, "w") as f:
        for i in range(n):
            q, a = FACTS[i % len(FACTS)]
            q = ["What is the ", "Tell me the ", "Name the "][i % 3] + q + "?"
            if chat:
                f.write(json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n")
            else:
                f.write(json.dumps({"prompt": q + " ", "completion": a}) + "\n")
    return str(path)


def finetune(args, **kw):
    return subprocess.run([plinth_bin(), "finetune", *args], capture_output=True, text=True, **kw)


def val_losses(out):
    with open(os.path.join(out, "loss.csv")) as f:
        return [float(r["val_loss"]) for r in csv.DictReader(f) if r["val_loss"]]


def train_losses(out):
    with open(os.path.join(out, "loss.csv")) as f:
        return [(int(r["step"]), float(r["train_loss"])) for r in csv.DictReader(f) if int(r["step"]) > 0]


@pytest.fixture()
def model(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    return write_tiny_llama(str(d))


@pytest.mark.parametrize("chat", [False, True])
def test_full_finetune_lowers_validation_loss(model, tmp_path, chat):
    data = write_data(tmp_path / "d.jsonl", chat=chat)
    out = tmp_path / "out"
    args = ["-m", model, "-d", data, "-o", str(out), "--steps", "40", "--lr", "3e-3", "--batch", "4", "--val-frac",
            "0.25", "--eval-every", "10", "-t", "2"]
    r = finetune(args + (["--chat", "chatml"] if chat else ["--chat", "none"]))
    assert r.returncode == 0, r.stderr
    v = val_losses(out)
    assert len(v) == 5 and v[-1] < v[0] - 0.5, v  # before fine-tuning, then every 10 steps
    assert "24 examples (18 train, 6 validation)" in r.stderr
    ck = out / json.loads((out / "state.json").read_text())["checkpoint"]
    assert json.loads((ck / "config.json").read_text())["model_type"] == "llama"
    assert {"model.safetensors", "tokenizer.json", "optimizer.safetensors"} <= set(os.listdir(ck))
    g = subprocess.run([plinth_bin(), "run", "-m", str(out), "-p", "Name the color of the sky? ", "-n", "4", "--temp", "0"],
                       capture_output=True)
    assert g.returncode == 0, g.stderr


def test_lora_finetune_lowers_validation_loss_and_leaves_the_base(model, tmp_path):
    data = write_data(tmp_path / "d.jsonl")
    out = tmp_path / "out"
    before = hashlib.sha256(open(os.path.join(model, "model.safetensors"), "rb").read()).hexdigest()
    r = finetune(["-m", model, "-d", data, "-o", str(out), "--method", "lora", "--rank", "8", "--steps", "40", "--lr", "1e-2",
                  "--batch", "4", "--val-frac", "0.25", "--eval-every", "10", "-t", "2", "--chat", "none"])
    assert r.returncode == 0, r.stderr
    assert "trainable LoRA parameters (the base frozen)" in r.stderr
    v = val_losses(out)
    assert len(v) == 5 and v[-1] < v[0] - 0.3, v
    ck = out / json.loads((out / "state.json").read_text())["checkpoint"]
    assert {"adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors"} <= set(os.listdir(ck))
    cfg = json.loads((ck / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "LORA" and cfg["r"] == 8 and cfg["lora_alpha"] == 16 and len(cfg["target_modules"]) == 7
    assert hashlib.sha256(open(os.path.join(model, "model.safetensors"), "rb").read()).hexdigest() == before
    outs = []
    for extra in ([], ["--lora", str(ck)], ["--lora", f"{ck}:0"]):
        g = subprocess.run([plinth_bin(), "run", "-m", model, *extra, "-p", "Name the color of the sky? ", "-n", "6",
                            "--temp", "0"], capture_output=True)
        assert g.returncode == 0, g.stderr
        outs.append(g.stdout)
    assert outs[1] != outs[0] and outs[2] == outs[0]  # the adapter changes the text; at scale 0 it is the base
    merged = tmp_path / "merged"
    m = subprocess.run([plinth_bin(), "lora", "merge", "-m", model, "--lora", str(out), "-o", str(merged)], capture_output=True)
    assert m.returncode == 0, m.stderr
    g = subprocess.run([plinth_bin(), "run", "-m", str(merged), "-p", "Name the color of the sky? ", "-n", "6", "--temp", "0"],
                       capture_output=True)
    assert g.returncode == 0 and g.stdout == outs[1], (g.stdout, outs[1])  # baked in: the adapter's text


def test_activations_kept_or_recomputed_give_the_same_losses(model, tmp_path):
    """--activations keep (one graph), recompute (a layer at a time) and auto (an f32 base: keep) train alike."""
    data = write_data(tmp_path / "d.jsonl")
    runs = {}
    for mode in ["keep", "recompute", None]:
        out = tmp_path / f"out-{mode}"
        r = finetune(["-m", model, "-d", data, "-o", str(out), "--method", "lora", "--steps", "6", "--lr", "1e-2",
                      "--batch", "4", "--val-frac", "0.25", "--eval-every", "3", "-t", "2", "--chat", "none"]
                     + (["--activations", mode] if mode else []))
        assert r.returncode == 0, r.stderr
        runs[mode] = (train_losses(out), val_losses(out), r.stderr)
    assert "one graph (activations kept)" in runs["keep"][2] and "one graph (activations kept)" in runs[None][2]
    assert "a layer at a time (activations recomputed)" in runs["recompute"][2]
    for mode in ["recompute", None]:
        for (s0, a), (s1, b) in zip(runs["keep"][0], runs[mode][0]):
            assert s0 == s1 and abs(a - b) < 1e-4, (mode, runs["keep"][0], runs[mode][0])
        assert len(runs[mode][1]) == 3 and all(abs(a - b) < 1e-4 for a, b in zip(runs["keep"][1], runs[mode][1]))
    r = finetune(["-m", model, "-d", data, "-o", str(tmp_path / "bad"), "--method", "lora", "--activations", "some"])
    assert r.returncode == 1 and "--activations some: the choices are auto, keep and recompute" in r.stderr, r.stderr


@pytest.mark.parametrize("init", [None, "Answer briefly:"])
def test_prompt_tuning_lowers_validation_loss(model, tmp_path, init):
    data = write_data(tmp_path / "d.jsonl")
    out = tmp_path / "out"
    r = finetune(["-m", model, "-d", data, "-o", str(out), "--method", "prompt", "--virtual-tokens", "8", "--steps", "40",
                  "--lr", "3e-2", "--batch", "4", "--val-frac", "0.25", "--eval-every", "10", "-t", "2", "--chat", "none",
                  *(["--init", init] if init else [])])
    assert r.returncode == 0, r.stderr
    assert "trainable virtual-token parameters (the base frozen)" in r.stderr
    v = val_losses(out)
    assert len(v) == 5 and v[-1] < v[0] - 0.2, v
    ck = out / json.loads((out / "state.json").read_text())["checkpoint"]
    cfg = json.loads((ck / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "PROMPT_TUNING" and cfg["num_virtual_tokens"] == 8
    assert cfg["prompt_tuning_init"] == ("TEXT" if init else "RANDOM")
    g = subprocess.run([plinth_bin(), "run", "-m", model, "--prompt-adapter", str(ck), "-p", "Name the color of the sky? ",
                        "-n", "4", "--temp", "0"], capture_output=True)
    assert g.returncode == 0, g.stderr


@pytest.mark.parametrize("n_virtual", [20, 4])
def test_prompt_init_starts_from_the_texts_embeddings(model, tmp_path, n_virtual):
    """--init TEXT: virtual token i is the embedding row of the text's token i mod n (PEFT's TEXT init: the text
    repeated to fill N, or cut to N). With --lr 0 the saved adapter holds the initial virtual tokens as they were;
    the byte tokenizer makes the text's token ids its bytes."""
    data = write_data(tmp_path / "d.jsonl")
    text = "Answer briefly:"
    out = tmp_path / "out"
    r = finetune(["-m", model, "-d", data, "-o", str(out), "--method", "prompt", "--virtual-tokens", str(n_virtual),
                  "--steps", "1", "--lr", "0", "--batch", "2", "--val-frac", "0", "-t", "1", "--chat", "none",
                  "--init", text])
    assert r.returncode == 0, r.stderr
    ck = out / json.loads((out / "state.json").read_text())["checkpoint"]
    got = load_safetensors(str(ck / "adapter_model.safetensors"))["prompt_embeddings"]
    emb = load_safetensors(os.path.join(model, "model.safetensors"))["model.embed_tokens.weight"]
    ids = [text.encode()[i % len(text.encode())] for i in range(n_virtual)]
    assert got.shape == (n_virtual, emb.shape[1]) and (got == emb[ids]).all()
    assert json.loads((ck / "adapter_config.json").read_text())["prompt_tuning_init_text"] == text


@pytest.mark.parametrize("case", ["empty", "lora", "utf8"])
def test_prompt_init_bad_input(model, tmp_path, case):
    data = write_data(tmp_path / "d.jsonl")
    args = {"empty": ["--method", "prompt", "--init", ""], "lora": ["--method", "lora", "--init", "Answer:"],
            "utf8": ["--method", "prompt", "--init", b"bad \xff byte"]}[case]
    r = subprocess.run([plinth_bin().encode(), b"finetune", *[a if isinstance(a, bytes) else a.encode() for a in
                        ["-m", model, "-d", data, "-o", str(tmp_path / "o"), "--steps", "1", "-t", "1", "--chat", "none", *args]]],
                       capture_output=True)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 1, err
    assert {"empty": "--init: the text is empty", "lora": "--init is for --method prompt",
            "utf8": "--init: the text is not valid UTF-8"}[case] in err, err
    assert not (tmp_path / "o" / "state.json").exists()


@pytest.mark.parametrize("method", ["full", "lora", "prompt"])
def test_resume_after_interrupt_follows_the_same_trajectory(model, tmp_path, method):
    data = write_data(tmp_path / "d.jsonl")
    common = ["-m", model, "-d", data, "--chat", "none", "--steps", "300", "--save-every", "5", "--lr", "1e-3",
              "--batch", "2", "--val-frac", "0", "-t", "1", "--method", method]
    ref = tmp_path / "ref"
    assert finetune([*common, "-o", str(ref), "-q"]).returncode == 0
    run = tmp_path / "run"
    p = subprocess.Popen([plinth_bin(), "finetune", *common, "-o", str(run), "-q"], stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        try:
            if json.loads((run / "state.json").read_text())["step"] >= 10:
                p.send_signal(signal.SIGINT)
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.005)
    err = p.communicate()[1].decode()
    assert p.returncode == 130 and "interrupted at step" in err, err
    r = finetune([*common, "-o", str(run), "--resume"])
    assert r.returncode == 0 and "resuming from" in r.stderr, r.stderr
    a, b = train_losses(ref), train_losses(run)
    assert [s for s, _ in a] == list(range(1, 301)) == [s for s, _ in b]
    assert max(abs(x - y) for (_, x), (_, y) in zip(a, b)) <= 1e-5


@pytest.mark.parametrize("case", ["not_json", "no_field", "no_answer", "method", "too_long", "all_too_long", "missing_model",
                                  "rank", "targets"])
def test_bad_input(case, model, tmp_path):
    data = tmp_path / "d.jsonl"
    write_data(data, n=6)
    extra = []
    if case == "not_json":
        data.write_text(data.read_text() + "{not json\n")
    elif case == "no_field":
        data.write_text('{"question": "x", "answer": "y"}\n')
    elif case == "no_answer":
        data.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    elif case == "method":
        extra = ["--method", "prefix"]
    elif case == "rank":
        extra = ["--method", "lora", "--rank", "4000"]
    elif case == "targets":
        extra = ["--method", "lora", "--targets", "q,embed"]
    elif case == "too_long":
        extra = ["--ctx", "34"]
    elif case == "all_too_long":
        extra = ["--ctx", "8"]
    elif case == "missing_model":
        model = str(tmp_path / "nope")
    r = finetune(["-m", model, "-d", str(data), "-o", str(tmp_path / "o"), "--chat", "none", "--steps", "2", "-t", "1", *extra])
    if case == "too_long":  # cut, counted, and trained on
        import re
        m = re.search(r"(\d+) cut to 34 tokens, (\d+) skipped", r.stderr)
        assert r.returncode == 0 and m and int(m.group(1)) > 0, r.stderr
        return
    assert r.returncode in (1, 2), r.stderr
    expect = {"not_json": "d.jsonl:7: not a json object", "no_field": "d.jsonl:1: neither",
              "no_answer": "must end with an assistant message", "method": "the methods are full, lora and prompt",
              "rank": "rank 4000 is larger than", "targets": "'embed' is not one of",
              "all_too_long": "no example to learn from (6 skipped)",
              "missing_model": "cannot"}[case]
    assert r.stderr.startswith("plinth finetune: ") and expect in r.stderr.lower(), r.stderr
