"""End-to-end: `plinth tokenize` on the real models (fetched by scripts/fetch-models.sh) and the committed
trained tokenizers: ids against the golden fixtures (HF's), pieces output, --stats table, usage errors."""
import json, os, subprocess
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("PLINTH_BIN", os.path.join(ROOT, "build", "plinth"))
SMOL = os.path.join(ROOT, "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
MINILM = os.path.join(ROOT, "models/all-minilm-l6-v2")


@pytest.fixture(scope="module", autouse=True)
def models():
    subprocess.run(["bash", os.path.join(ROOT, "scripts/fetch-models.sh")], check=True, capture_output=True)


def run(*args, check=True):
    return subprocess.run([BIN, "tokenize", *args], capture_output=True, text=True, check=check,
                          env={**os.environ, "PLINTH_ROOT": ROOT})


def fixture(name):
    return json.load(open(os.path.join(ROOT, "tests/golden/tokenizers", name + ".fixture.json"), encoding="utf-8"))


@pytest.mark.parametrize("name,model", [("smollm2", SMOL), ("minilm", MINILM),
                                        ("unigram", "tests/golden/tokenizers/unigram.json")])
def test_ids_match_hf(name, model):
    fx = fixture(name)
    lines = open(os.path.join(ROOT, "data/corpus/special.txt"), encoding="utf-8").read().split("\n")
    cases = [c for c in fx["cases"] if c[0] == "special.txt" and c[1] >= 0][:20]
    assert cases
    for _, line, ids, _ in cases:
        out = run("-m", os.path.join(ROOT, model), "--ids", lines[line]).stdout.split()
        assert out == ids.split(), lines[line]


def test_pieces_and_file_input(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes(b"Hello world\n")
    out = run("-m", MINILM, "-f", str(p)).stdout
    assert json.loads(out) == ["[CLS]", "hello", "world", "[SEP]"]
    out = run("-m", MINILM, "--no-special", "--ids", "Hello world").stdout.split()
    assert out == ["7592", "2088"]


def test_stats_table():
    out = run("-m", SMOL, "--stats").stdout
    rows = {l.split("|")[1].strip(): l for l in out.splitlines() if l.startswith("| ") and ".txt" in l}
    assert set(rows) >= {"en.txt", "ko.txt", "ja.txt", "zh.txt", "de.txt", "fi.txt", "code.txt"}
    assert rows["en.txt"].rstrip().endswith("1.00x |")
    ratio = lambda r: float(r.split("|")[6].strip().rstrip("x"))
    assert ratio(rows["ko.txt"]) > 1.5   # SmolLM2's vocabulary is English-centric


def test_errors():
    r = run("-m", "/nonexistent.gguf", "hi", check=False)
    assert r.returncode == 1 and "plinth tokenize:" in r.stderr
    assert run("hi", check=False).returncode == 2
    assert run("-m", SMOL, "--bogus", "hi", check=False).returncode == 2
