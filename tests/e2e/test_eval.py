"""plinth eval: the models x modes table and --json on small crafted task files. Log-likelihood scores of the
tiny llama fixture (tests/golden/lm, with a byte-level tokenizer.json written here: token id = byte) are checked
against a NumPy forward pass written here, itself checked against transformers' recorded logits; greedy
answers against NumPy's greedy continuation. SmolLM2-135M (scripts/fetch-models.sh) gets very easy sentiment
items right. Bad input: `plinth eval: <message>` and exit 1 (usage: 2)."""
import json
import os
import subprocess

import numpy as np
import pytest

from helpers import ROOT, load_safetensors, plinth_bin, write_tiny_llama

LM = os.path.join(ROOT, "tests", "golden", "lm", "llama")


def run(args, **kw):
    return subprocess.run([plinth_bin(), "eval", *args], capture_output=True, **kw)


# ---------------------------------------------------------------- tiny llama + NumPy reference ----

def write_tiny(d):
    write_tiny_llama(d)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_eval")
    write_tiny(str(d))
    return str(d)


class NumpyLlama:
    """HF LlamaForCausalLM's forward pass in float64 (RMSNorm, rotate-half RoPE, GQA, SwiGLU)."""

    def __init__(self):
        self.w = load_safetensors(os.path.join(LM, "model.safetensors"))
        self.cfg = json.load(open(os.path.join(LM, "config.json")))

    def logits(self, ids, prefix=None):
        """Logits of every position; prefix: (N, C) input embeddings before the tokens (prompt tuning's virtual
        tokens, as PEFT puts them: positions 0..N-1, the tokens after them)."""
        w, c = self.w, self.cfg
        x = w["model.embed_tokens.weight"][ids]
        if prefix is not None:
            x = np.concatenate([prefix, x], 0)
        T, H, Hkv, D = len(x), c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]

        def rms(x, g):
            return x / np.sqrt((x * x).mean(-1, keepdims=True) + c["rms_norm_eps"]) * g

        inv = 1.0 / (c["rope_theta"] ** (np.arange(0, D, 2) / D))
        ang = np.outer(np.arange(T), inv)
        ang = np.concatenate([ang, ang], -1)
        cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

        def rope(x):
            return x * cos + np.concatenate([-x[..., D // 2:], x[..., :D // 2]], -1) * sin

        mask = np.triu(np.full((T, T), -np.inf), 1)
        for layer in range(c["num_hidden_layers"]):
            p = f"model.layers.{layer}."
            h = rms(x, w[p + "input_layernorm.weight"])
            q = rope((h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, H, D))
            k = rope((h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, Hkv, D))
            v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, Hkv, D)
            out = np.zeros((T, H, D))
            for hh in range(H):
                kv = hh // (H // Hkv)
                s = q[:, hh] @ k[:, kv].T / np.sqrt(D) + mask
                s = np.exp(s - s.max(-1, keepdims=True))
                out[:, hh] = (s / s.sum(-1, keepdims=True)) @ v[:, kv]
            x = x + out.reshape(T, H * D) @ w[p + "self_attn.o_proj.weight"].T
            h = rms(x, w[p + "post_attention_layernorm.weight"])
            g = h @ w[p + "mlp.gate_proj.weight"].T
            x = x + ((g / (1 + np.exp(-g))) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
        return rms(x, w["model.norm.weight"]) @ w["lm_head.weight"].T

    def loglik(self, prompt, cont, prefix=None):
        """log p(cont | prompt) with bytes as tokens (after the virtual tokens of prefix, if given)."""
        ids = list((prompt + cont).encode())
        n = len(prompt.encode())
        lg = self.logits(ids, prefix)[0 if prefix is None else len(prefix):]
        lp = lg - lg.max(-1, keepdims=True)
        lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
        return sum(lp[i - 1, ids[i]] for i in range(n, len(ids)))

    def greedy(self, prompt, n):
        ids = list(prompt.encode())
        for _ in range(n):
            ids.append(int(np.argmax(self.logits(ids)[-1])))
        return bytes(ids[len(prompt.encode()):])


@pytest.fixture(scope="session")
def ref():
    return NumpyLlama()


def test_numpy_reference_matches_transformers(ref):
    exp = json.load(open(os.path.join(LM, "expected.json")))
    raw = np.fromfile(os.path.join(LM, exp["logits_file"]), dtype="<f4")
    for ids, meta in zip(exp["prompts"], exp["logits"]):
        want = raw[meta["offset"]:meta["offset"] + int(np.prod(meta["shape"]))].reshape(meta["shape"])
        assert np.abs(ref.logits(ids) - want).max() < 1e-4


# Short items: the tiny model's context is 128 tokens (bytes).
CHOICE_TASK = [
    {"question": "1+1?", "choices": ["2", "two", "11"], "answer": 0, "split": "train"},
    {"question": "Sky?", "choices": ["blue", "red", "green", "b"], "answer": 0},
    {"question": "Cat?", "choices": ["meow", "woof"], "answer": 1},
    {"question": "x", "choices": ["yes", "no", "maybe so"], "answer": 2},
]


def write_task(tmp_path, name, items):
    p = tmp_path / name
    p.write_text("".join(json.dumps(it) + "\n" for it in items))
    return str(p)


def prompt_of(item, shots):
    """docs/eval.md's zero-shot / few-shot prompt."""
    s = "".join(f"Question: {sh['question']}\nAnswer: {sh['choices'][sh['answer']]}\n\n" for sh in shots)
    return s + f"Question: {item['question']}\nAnswer:"


def test_choice_loglik_matches_numpy(tiny, ref, tmp_path):
    task = write_task(tmp_path, "mc.jsonl", CHOICE_TASK)
    r = run(["-m", tiny, "-t", task, "--mode", "zero-shot,few-shot", "--shots", "1", "--json"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    (t,) = out["tasks"]
    assert t["kind"] == "multiple_choice" and t["n"] == 3
    modes = {res["mode"]: res for res in t["results"]}
    assert set(modes) == {"zero-shot", "few-shot"}
    for mode, shots in (("zero-shot", []), ("few-shot", [CHOICE_TASK[0]])):
        res = modes[mode]
        assert res["scoring"] == "loglik" and res["n"] == 3
        correct = correct_norm = 0
        for item, got in zip(CHOICE_TASK[1:], res["items"]):
            prompt = prompt_of(item, shots)
            want = [ref.loglik(prompt, " " + c) for c in item["choices"]]
            np.testing.assert_allclose(got["loglik"], want, rtol=1e-4, atol=1e-3)
            assert got["n_tokens"] == [len(c) + 1 for c in item["choices"]]
            assert got["prediction"] == int(np.argmax(want))
            norm = [ll / len(" " + c) for ll, c in zip(want, item["choices"])]
            assert got["prediction_norm"] == int(np.argmax(norm))
            assert got["correct"] == (got["prediction"] == item["answer"])
            correct += got["correct"]
            correct_norm += got["correct_norm"]
        assert res["correct"] == correct and res["correct_norm"] == correct_norm


def test_prompt_adapter_loglik_matches_numpy(tiny, ref, tmp_path):
    """plinth eval --prompt-adapter scores each choice after the virtual tokens exactly where training puts them
    (before the prompt's first token, positions 0..N-1): the numpy forward pass with the adapter's embeddings
    prepended gives the same log-likelihoods, zero-shot and few-shot (prompts sharing a cached prefix)."""
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Question: Q{i}?\nAnswer:", "completion": " yes"}) + "\n" for i in range(8)))
    out = tmp_path / "prompt"
    ft = subprocess.run([plinth_bin(), "finetune", "-m", tiny, "-d", str(data), "-o", str(out), "--method", "prompt",
                         "--virtual-tokens", "6", "--init", "Reply:", "--steps", "4", "--lr", "3e-2", "--chat", "none",
                         "--val-frac", "0", "-q", "-t", "1"], capture_output=True)
    assert ft.returncode == 0, ft.stderr
    ck = out / json.loads((out / "state.json").read_text())["checkpoint"]
    prefix = load_safetensors(str(ck / "adapter_model.safetensors"))["prompt_embeddings"]
    assert prefix.shape == (6, ref.w["model.embed_tokens.weight"].shape[1])
    task = write_task(tmp_path, "mc.jsonl", CHOICE_TASK)
    r = run(["-m", tiny, "--prompt-adapter", str(ck), "-t", task, "--mode", "zero-shot,few-shot", "--shots", "1", "--json"])
    assert r.returncode == 0, r.stderr
    modes = {res["mode"]: res for res in json.loads(r.stdout)["tasks"][0]["results"]}
    moved = 0
    for mode, shots in (("zero-shot", []), ("few-shot", [CHOICE_TASK[0]])):
        for item, got in zip(CHOICE_TASK[1:], modes[mode]["items"]):
            prompt = prompt_of(item, shots)
            want = [ref.loglik(prompt, " " + c, prefix) for c in item["choices"]]
            np.testing.assert_allclose(got["loglik"], want, rtol=1e-4, atol=1e-3)
            moved += max(abs(a - ref.loglik(prompt, " " + c)) for a, c in zip(want, item["choices"])) > 1e-2
    assert moved == 6  # the virtual tokens change every item's scores


def test_table_shape_two_models(tiny, tmp_path):
    second = tmp_path / "tiny_copy"
    second.mkdir()
    write_tiny(str(second))
    task = write_task(tmp_path, "mc.jsonl", CHOICE_TASK)
    args = ["-t", task, "--mode", "zero,few", "--shots", "1"]
    r = run(["-m", tiny, "-m", str(second), *args])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith(task + ": multiple choice, 3 items scored")
    tables = [i for i, line in enumerate(lines) if line.startswith("| model |")]
    assert len(tables) == 2                                     # accuracy, then acc_norm
    assert lines[tables[0]] == "| model | zero-shot | few-shot (1) |"
    rows = lines[tables[0] + 2:tables[0] + 4]
    assert [row.split(" | ")[0] for row in rows] == ["| " + os.path.basename(tiny), "| tiny_copy"]
    assert rows[0].split(" | ")[1:] == rows[1].split(" | ")[1:]  # same weights, same figures
    j = json.loads(run(["-m", tiny, *args, "--json"]).stdout)
    for res, cell in zip(j["tasks"][0]["results"], rows[0].split(" | ")[1:]):
        assert f"({res['correct']}/3)" in cell
        assert cell.startswith(f"{100 * res['correct'] / 3:.1f}%")


def test_adapted_model_rows_beside_the_base(tiny, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Q{i}: ", "completion": "yes"}) + "\n" for i in range(8)))
    out = tmp_path / "lora"
    ft = subprocess.run([plinth_bin(), "finetune", "-m", tiny, "-d", str(data), "-o", str(out), "--method", "lora",
                         "--steps", "8", "--lr", "1e-2", "--chat", "none", "--val-frac", "0", "-q", "-t", "1"], capture_output=True)
    assert ft.returncode == 0, ft.stderr
    task = write_task(tmp_path, "mc.jsonl", CHOICE_TASK)
    args = ["-t", task, "--mode", "zero", "--shots", "1", "--json"]
    j = json.loads(run(["-m", tiny, "-m", tiny, "--lora", str(out), *args]).stdout)
    base, adapted = j["tasks"][0]["results"]
    assert "lora" not in base and adapted["lora"] == str(out)
    assert [it["loglik"] for it in base["items"]] != [it["loglik"] for it in adapted["items"]]  # the adapter applies
    r = run(["-m", tiny, "-m", tiny, "--lora", str(out), "-t", task, "--mode", "zero", "--shots", "1"])
    rows = [line.split(" | ")[0] for line in r.stdout.decode().splitlines() if line.startswith("| ") and "%" in line]
    assert rows[:2] == ["| " + os.path.basename(tiny), "| " + os.path.basename(tiny) + " + lora " + str(out)]
    bad = run(["--lora", str(out), "-m", tiny, *args])
    assert bad.returncode == 2 and b"give -m first" in bad.stderr
    # the same adapter as a llama.cpp LoRA GGUF (plinth lora export) gives the same scores
    gguf = tmp_path / "adapter.gguf"
    ex = subprocess.run([plinth_bin(), "lora", "export", "-m", tiny, "--lora", str(out), "-o", str(gguf)], capture_output=True)
    assert ex.returncode == 0 and gguf.exists(), ex.stderr
    from gguf import GGUFReader  # the gguf package (llama.cpp's gguf-py) reads it
    rd = GGUFReader(str(gguf))
    kv = {f.name: f for f in rd.fields.values()}
    assert bytes(kv["general.type"].parts[-1]).decode() == "adapter" and bytes(kv["adapter.type"].parts[-1]).decode() == "lora"
    names = {t.name for t in rd.tensors}
    assert "blk.0.attn_q.weight.lora_a" in names and "blk.0.ffn_down.weight.lora_b" in names
    assert all(n.endswith(".lora_a") or n.endswith(".lora_b") for n in names)
    g = json.loads(run(["-m", tiny, "--lora", str(gguf), *args]).stdout)["tasks"][0]["results"][0]
    flat = lambda res: [x for it in res["items"] for x in it["loglik"]]
    assert np.allclose(flat(g), flat(adapted), atol=1e-5)
    half = json.loads(run(["-m", tiny, "--lora", f"{gguf}:0.5", *args]).stdout)["tasks"][0]["results"][0]
    assert [it["loglik"] for it in half["items"]] != [it["loglik"] for it in g["items"]]
    other = tmp_path / "not_adapter.gguf"  # a model file is not an adapter
    other.write_bytes(open(os.path.join(LM, "model.gguf"), "rb").read())
    r = run(["-m", tiny, "--lora", str(other), *args])
    assert r.returncode == 1 and b"not a LoRA adapter" in r.stderr, r.stderr


def test_support_routing_task_is_well_formed(tiny):
    # data/tasks/support_intent.jsonl + data/finetune/support_intent_train.jsonl (tools/make_intent_task.py): enough
    # examples, the five teams balanced, no test message among the training ones, and plinth eval reads the task
    with open(os.path.join(ROOT, "data", "tasks", "support_intent.jsonl")) as f:
        task = [json.loads(line) for line in f]
    with open(os.path.join(ROOT, "data", "finetune", "support_intent_train.jsonl")) as f:
        train = [json.loads(line) for line in f]
    test = [t for t in task if t.get("split") != "train"]
    assert len(train) >= 500 and len(test) >= 150
    teams = task[0]["choices"]
    assert len(teams) == 5 and all(t["choices"] == teams for t in task)
    counts = [sum(t["answer"] == i for t in test) for i in range(5)]
    assert max(counts) - min(counts) <= 1, counts
    msg = lambda q: q.split("Message: ", 1)[1]
    train_msgs = {msg(t["prompt"][len("Question: "):-len("\nAnswer:")]).lower() for t in train}
    assert len(train_msgs) == len(train)
    assert not any(msg(t["question"]).lower() in train_msgs for t in test)
    assert all(msg(t["question"]).lower() in train_msgs for t in task if t.get("split") == "train")  # shots from training
    assert all(t["prompt"].startswith("Question: ") and t["completion"][1:] in teams for t in train)
    j = json.loads(run(["-m", tiny, "-t", os.path.join(ROOT, "data", "tasks", "support_intent.jsonl"), "--mode", "zero",
                        "--limit", "3", "-c", "512", "--json"]).stdout)  # bytes: 512 positions
    assert j["tasks"][0]["n"] == 3 and j["tasks"][0]["kind"] == "multiple_choice"


def test_limit_and_first_k_shots(tiny, tmp_path):
    # no "train" lines: the first K lines are the shots and are never scored
    items = [{"question": f"q{i}", "choices": ["a", "b"], "answer": i % 2} for i in range(6)]
    task = write_task(tmp_path, "nosplit.jsonl", items)
    j = json.loads(run(["-m", tiny, "-t", task, "--mode", "zero", "--shots", "2", "--json"]).stdout)
    assert [it["line"] for it in j["tasks"][0]["results"][0]["items"]] == [3, 4, 5, 6]
    j = json.loads(run(["-m", tiny, "-t", task, "--mode", "zero", "--shots", "2", "--limit", "2", "--json"]).stdout)
    assert [it["line"] for it in j["tasks"][0]["results"][0]["items"]] == [3, 4]


def test_free_answer_generation_matches_numpy(tiny, ref, tmp_path):
    items = [{"question": "2+3?", "answer": "5"}, {"question": "Hi", "answer": "hello"}]
    task = write_task(tmp_path, "free.jsonl", items)
    r = run(["-m", tiny, "-t", task, "--mode", "zero", "--shots", "0", "--max-tokens", "6", "--json"])
    assert r.returncode == 0, r.stderr
    assert b"plain prompts" in r.stderr                           # the fixture has no chat template
    res = json.loads(r.stdout)["tasks"][0]["results"][0]
    assert res["scoring"] == "generate" and res["n"] == 2
    for item, got in zip(items, res["items"]):
        want = ref.greedy(f"Question: {item['question']}\nAnswer:", 6)
        for stop in (b"\n\n", b"\nQuestion:"):                  # pl_eval_stop_strings for direct answers
            want = want.split(stop)[0]
        assert got["output"] == want.decode("utf-8", "replace")
        assert got["correct"] == (got["extracted"] == item["answer"])


def test_chat_template_wraps_generation_prompts(tiny, ref, tmp_path):
    task = write_task(tmp_path, "free.jsonl", [{"question": "2+3?", "answer": "5"}])
    r = run(["-m", tiny, "-t", task, "--mode", "zero", "--shots", "0", "--max-tokens", "5", "--json",
             "--chat-template", "chatml"])
    assert r.returncode == 0, r.stderr
    assert b"chatml prompts" in r.stderr
    got = json.loads(r.stdout)["tasks"][0]["results"][0]["items"][0]["output"]
    # one user message, then the assistant header (transformers' apply_chat_template for ChatML)
    text = "<|im_start|>user\nQuestion: 2+3?\nAnswer:<|im_end|>\n<|im_start|>assistant\n"
    want = ref.greedy(text, 5)
    for stop in (b"\n\n", b"\nQuestion:", b"<|im_end|>"):
        want = want.split(stop)[0]
    assert got == want.decode("utf-8", "replace")


# ------------------------------------------------------------------------------------ SmolLM2 ----

@pytest.fixture(scope="session")
def smollm2():
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-models.sh")], check=True, capture_output=True)
    path = os.path.join(ROOT, "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert os.path.exists(path)
    return path


def test_smollm2_easy_sentiment(smollm2, tmp_path):
    q = 'What is the sentiment of this review? "{}"'
    items = [
        {"question": q.format("This movie was wonderful, I loved it!"), "choices": ["negative", "positive"], "answer": 1},
        {"question": q.format("Awful. It broke on the first day and I hate it."), "choices": ["negative", "positive"], "answer": 0},
        {"question": q.format("Excellent quality, great value, I love it."), "choices": ["negative", "positive"], "answer": 1},
        {"question": q.format("Terrible service, rude staff, the worst experience ever."), "choices": ["negative", "positive"], "answer": 0},
    ]
    task = write_task(tmp_path, "easy.jsonl", items)
    r = run(["-m", smollm2, "-t", task, "--mode", "zero-shot", "--shots", "0", "--threads", "2", "--json"])
    assert r.returncode == 0, r.stderr
    assert b"chatml prompts for generation" in r.stderr
    res = json.loads(r.stdout)["tasks"][0]["results"][0]
    assert res["n"] == 4
    assert res["correct"] >= 3, res["items"]
    for it in res["items"]:
        assert all(ll < 0 for ll in it["loglik"]) and it["prediction"] == int(np.argmax(it["loglik"]))


def test_smollm2_cot_names_a_choice(smollm2, tmp_path):
    # the CoT prompt does not fit the tiny model's 128-token context; one short real item does
    q = 'What is the sentiment of this review? "This movie was wonderful, I loved it!"'
    task = write_task(tmp_path, "one.jsonl", [{"question": q, "choices": ["negative", "positive"], "answer": 1}])
    r = run(["-m", smollm2, "-t", task, "--mode", "cot", "--shots", "0", "--max-tokens", "16", "--threads", "2",
             "--json"])
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["tasks"][0]["results"][0]
    assert res["scoring"] == "generate" and res["n"] == 1
    got = res["items"][0]
    assert "loglik" not in got and got["output"]
    p = got["prediction"]
    assert -1 <= p <= 1
    assert got["extracted"] == (["negative", "positive"][p] if p >= 0 else "")
    assert got["correct"] == (p == 1)
    assert res["correct"] == int(got["correct"])


# ---------------------------------------------------------------------------------- bad input ----

@pytest.mark.parametrize("args, code, msg", [
    (["-t", "TASK"], 2, b"no model given"),
    (["-m", "MODEL"], 2, b"no task file given"),
    (["-m", "MODEL", "-t", "TASK", "--mode", "zero,fancy"], 2, b"choices: zero-shot, few-shot, cot"),
    (["-m", "MODEL", "-t", "TASK", "--shots", "-1"], 2, b"--shots"),
    (["-m", "MODEL", "-t", "TASK", "--shots", "x"], 2, b"--shots"),
    (["-m", "MODEL", "-t", "TASK", "--bogus"], 2, b"unknown option"),
    (["-m", "MODEL", "-t", "TASK", "--shots", "9"], 1, b"shot"),
    (["-m", "MODEL", "-t", "missing.jsonl"], 1, b"missing.jsonl"),
    (["-m", "MODEL", "-t", "BAD", "--shots", "1"], 1, b"bad.jsonl:2"),
    (["-m", "missing.gguf", "-t", "TASK", "--shots", "1"], 1, b"missing.gguf"),
    (["-m", "MODEL", "-t", "TASK", "--shots", "1", "--chat-template", "nope"], 1, b"nope"),
    (["-m", "MODEL", "-t", "LONG", "--shots", "1"], 1, b"context"),
])
def test_bad_input(tiny, tmp_path, args, code, msg):
    task = write_task(tmp_path, "mc.jsonl", CHOICE_TASK)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(CHOICE_TASK[0]) + "\n{\"question\": \"q\", \"choices\": [\"a\"], \"answer\": 0}\n")
    long = write_task(tmp_path, "long.jsonl", [CHOICE_TASK[0], {"question": "x" * 200, "choices": ["a", "b"], "answer": 0}])
    sub = {"MODEL": tiny, "TASK": task, "BAD": str(bad), "LONG": long, "missing.jsonl": str(tmp_path / "missing.jsonl")}
    r = run([sub.get(a, a) for a in args])
    assert r.returncode == code, r.stderr
    last = r.stderr.splitlines()[-1]                            # after any progress lines
    assert last.startswith(b"plinth eval: ") and msg in last
    assert r.stdout == b""


def test_help():
    r = run(["--help"])
    assert r.returncode == 0 and b"--mode" in r.stdout and b"--json" in r.stdout
