"""The engine's environment variables, read once by the command line's main and handed to every context as its
settings (src/cli/main.c, pl_ctx_set_defaults): PLINTH_PROFILE=1 makes `plinth train` print its per-op table
(docs/engine.md, docs/train.md), and PLINTH_FUSE=0 turns the GEMM write-back fusions off, which the same table
shows: fused, a training step runs no GELU forward of its own; unfused, it does."""
import os
import re
import subprocess

from helpers import ROOT, plinth_bin

TINY = ["--layers", "1", "--dim", "32", "--heads", "2", "--ctx", "32", "--batch", "2", "--steps", "3",
        "--eval-every", "0", "-q", "-t", "1"]


def train(tmp_path, **env):
    text = tmp_path / "t.txt"
    text.write_bytes(b"It is a truth universally acknowledged, that a single man in possession. " * 200)
    base = {k: v for k, v in os.environ.items() if k not in ("PLINTH_PROFILE", "PLINTH_FUSE")}
    return subprocess.run([plinth_bin(), "train", "-f", str(text), "-o", str(tmp_path / "run"), *TINY],
                          capture_output=True, timeout=300, env={**base, **env})


def rows(stderr):
    """op -> (forward seconds, forward calls) from the profile table"""
    out = {}
    for line in stderr.decode().splitlines():
        m = re.match(r"(\w+)\s+([0-9.]+)\s+(\d+)\s+\S+%\s+[0-9.]+\s+\S+%$", line)
        if m:
            out[m.group(1)] = (float(m.group(2)), int(m.group(3)))
    return out


def test_profile_table_and_fusion_switch(tmp_path):
    quiet = train(tmp_path)
    assert quiet.returncode == 0 and b"fwd s" not in quiet.stderr        # no profile unless asked
    fused = train(tmp_path, PLINTH_PROFILE="1")
    assert fused.returncode == 0, fused.stderr
    assert re.search(rb"^op +fwd s +calls +fwd % +bwd s +bwd %$", fused.stderr, re.M)
    assert b"total " in fused.stderr and b"outside ops: clip + AdamW" in fused.stderr
    assert b"outside ops: gradient reset" in fused.stderr
    table = rows(fused.stderr)
    assert table["matmul"][1] > 0 and table["attention"][1] == 3          # one per layer and step
    assert table.get("gelu", (0, 0))[1] == 0                              # computed in the GEMM's write-back
    plain = train(tmp_path, PLINTH_PROFILE="cpu", PLINTH_FUSE="0")
    assert plain.returncode == 0, plain.stderr
    assert rows(plain.stderr)["gelu"][1] == 3
