"""The real Gemma-3-270M Q4_K_M GGUF (opt-in: `scripts/fetch-models.sh gemma3`, 241 MiB) held to transformers
(tests/golden/gemma3/real_270m.json, made by `tools/make_gemma3_fixture.py real`):

- `plinth tokenize --ids` gives transformers' ids (GemmaTokenizer read from the same GGUF) for English, Korean,
  emoji and special-token lines;
- `plinth run --f32 --temp 0 -n 20` (weights dequantized to f32, as transformers loads a GGUF) reproduces
  transformers' greedy continuations of 3 prompts.

Skipped when the model is absent, unless PLINTH_FETCH_GEMMA3=1 (then it is fetched first), so CI downloads it
only when asked.
"""
import json
import os
import subprocess

import pytest

from helpers import ROOT, plinth_bin

with open(os.path.join(ROOT, "tests", "golden", "gemma3", "real_270m.json"), encoding="utf-8") as f:
    GOLDEN = json.load(f)
MODEL = os.path.join(ROOT, GOLDEN["model"])


@pytest.fixture(scope="module")
def gemma3():
    if not os.path.exists(MODEL) and os.environ.get("PLINTH_FETCH_GEMMA3") == "1":
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-models.sh"), "gemma3"], check=True,
                       capture_output=True)
    if not os.path.exists(MODEL):
        pytest.skip("Gemma-3-270M not fetched (scripts/fetch-models.sh gemma3, or PLINTH_FETCH_GEMMA3=1)")
    return MODEL


def test_tokenize_matches_transformers(gemma3):
    for case in GOLDEN["tokenize"]:
        out = subprocess.run([plinth_bin(), "tokenize", "-m", gemma3, "--ids", case["text"]], capture_output=True,
                             text=True, check=True).stdout.split()
        assert [int(x) for x in out] == case["ids"], case["text"]


@pytest.mark.parametrize("i", range(3))
def test_greedy_f32_matches_transformers(gemma3, i):
    case = GOLDEN["greedy"][i]
    assert min(case["top2_margins"]) > 1e-3  # no near-tie that summation order could flip
    out = subprocess.run([plinth_bin(), "run", "-m", gemma3, "-p", case["prompt"], "-n", str(len(case["ids"])),
                          "--temp", "0", "--f32", "-t", "2"], capture_output=True, text=True, check=True).stdout
    assert out.startswith(case["prompt"])
    assert out[len(case["prompt"]):].rstrip("\n") == case["text"]
