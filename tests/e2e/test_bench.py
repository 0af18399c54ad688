"""plinth bench on the tiny llama fixture with small -p/-n: the llama-bench style table has the right shape and
positive figures, --json carries the same rows, --roof adds the bandwidth and roof lines. Timings are never
compared with anything: the machines are shared."""
import json
import os
import re
import subprocess

from helpers import ROOT, plinth_bin

TINY = os.path.join(ROOT, "tests", "golden", "lm", "llama", "model.gguf")


def bench(*args):
    return subprocess.run([plinth_bin(), "bench", "-m", TINY, *args], capture_output=True, timeout=120)


def test_table_shape():
    r = bench("-p", "16", "-n", "8", "-r", "2", "-t", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().strip().split("\n")
    assert lines[0] == "| model | size | params | backend | threads | test | t/s |"
    assert lines[1].startswith("| --- |")
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[5] for row in rows] == ["pp16", "tg8"]
    for row in rows:
        assert row[0].startswith("llama ") and row[0].endswith(" F32")
        assert row[3] == "CPU" and row[4] == "1"
        assert float(row[1].split()[0]) > 0 and float(row[2].split()[0]) == 0.11   # 106816 parameters
        m = re.fullmatch(r"([0-9.]+) ± ([0-9.]+)", row[6])
        assert m and float(m.group(1)) > 0


def test_json_and_roof():
    r = bench("-p", "8", "-n", "4", "-r", "3", "-t", "1", "--json", "--roof")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [x["test"] for x in d["results"]] == ["pp8", "tg4"]
    for x in d["results"]:
        assert len(x["samples_ts"]) == 3 and all(s > 0 for s in x["samples_ts"])
        assert abs(x["avg_ts"] - sum(x["samples_ts"]) / 3) < 1e-6 * x["avg_ts"]
        assert x["params"] == 106816
    roof = d["roof"]
    assert roof["bandwidth_bytes_per_s"] > 0 and roof["tokens_per_s"] > 0
    # 2 layers x 2 kv heads x 16 dims x K and V x f32, at context 2 (half of -n 4)
    assert roof["kv_bytes"] == 2 * 2 * 16 * 2 * 4 * 2
    assert abs(roof["tokens_per_s"] - roof["bandwidth_bytes_per_s"] / roof["bytes_per_token"]) < 1e-6 * roof["tokens_per_s"]
    assert d["results"][1]["roof_pct"] > 0


def test_roof_text_and_errors():
    r = bench("-p", "0", "-n", "4", "-r", "1", "--roof")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "memory bandwidth:" in out and "decode roof:" in out and "tg4:" in out and "% of the roof" in out
    assert "pp" not in out.split("\n")[2]
    assert bench("-p", "0", "-n", "0").returncode == 2
    assert subprocess.run([plinth_bin(), "bench"], capture_output=True).returncode == 2
    r = subprocess.run([plinth_bin(), "bench", "-m", os.path.join(ROOT, "nope.gguf")], capture_output=True)
    assert r.returncode == 1 and r.stderr.startswith(b"plinth bench: ")


def test_depth():
    """-d N: both tests run after N tokens already in the cache (llama-bench's -d); the roof counts the cache read
    at depth + n/2."""
    r = bench("-p", "8", "-n", "4", "-d", "32", "-r", "2", "-t", "1", "--json", "--roof")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [x["test"] for x in d["results"]] == ["pp8 @ d32", "tg4 @ d32"]
    assert all(x["n_depth"] == 32 and all(s > 0 for s in x["samples_ts"]) for x in d["results"])
    assert d["roof"]["kv_bytes"] == 2 * 2 * 16 * 2 * 4 * (32 + 2)
    assert bench("-d", "-1").returncode == 2


def test_kv_f16():
    """--kv-f16: the cache in f16 (llama-bench's default type), read in place by the decode steps; the roof counts
    two bytes a value, and the runs at depth still produce every sample."""
    r = bench("-p", "8", "-n", "4", "-d", "32", "-r", "1", "-t", "1", "--json", "--roof", "--kv-f16")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [x["test"] for x in d["results"]] == ["pp8 @ d32", "tg4 @ d32"]
    assert all(s > 0 for x in d["results"] for s in x["samples_ts"])
    assert d["roof"]["kv_bytes"] == 2 * 2 * 16 * 2 * 2 * (32 + 2)
