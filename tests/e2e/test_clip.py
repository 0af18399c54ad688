"""plinth clip end to end on the tiny CLIP and SigLIP fixtures (tests/golden/clip/model): classify prints one
line per image with probabilities that sum to 1 under CLIP's softmax and lie in (0, 1) under SigLIP's sigmoid,
agrees with the vectors of clip embed, and bad input -- a truncated or corrupt image, a text file, a 20000 x 20000
header, an empty label list, a template without {}, a checkpoint whose config does not match its tensors -- gives a
clear message and a non-zero exit. Grayscale, RGBA and 1x1 images are read."""
import json
import math
import os
import shutil
import struct
import subprocess
import zlib

import pytest

from helpers import ROOT, plinth_bin

FIX = os.path.join(ROOT, "tests", "golden", "clip")
MODEL = {k: os.path.join(FIX, "model", k) for k in ("clip", "siglip")}
PHOTOS = [os.path.join(FIX, "preprocess", p) for p in
          ("chelsea_300x200.png", "camera_512_gray.png", "logo_96_rgba.png", "astronaut_1x1.png")]


def run(*args):
    return subprocess.run([plinth_bin(), "clip", *args], capture_output=True, text=True, timeout=120)


def parse(line):
    path, rest = line.split(": ", 1)
    f = rest.split()
    return path, {f[i]: float(f[i + 1]) for i in range(0, len(f), 2)}


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_classify(kind):
    r = run("classify", "-m", MODEL[kind], "--labels", "cat, dog,car", *PHOTOS)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().split("\n")
    assert len(lines) == len(PHOTOS)
    for line, photo in zip(lines, PHOTOS):
        path, probs = parse(line)
        assert path == photo and set(probs) == {"cat", "dog", "car"}
        assert list(probs.values()) == sorted(probs.values(), reverse=True)
        assert all(0 < p < 1 for p in probs.values())
        if kind == "clip":
            assert abs(sum(probs.values()) - 1) < 1e-3


def embed(kind, flag, items):
    r = run("embed", "-m", MODEL[kind], flag, *items)
    assert r.returncode == 0, r.stderr
    return [json.loads(l)["embedding"] for l in r.stdout.strip().split("\n")]


def test_classify_matches_embeddings():
    """CLIP's probabilities are the softmax of exp(logit_scale) * cosine of the embed vectors"""
    img = embed("clip", "--image", PHOTOS[:1])[0]
    txt = embed("clip", "--text", ["a photo of a cat.", "a photo of a dog."])
    assert abs(math.fsum(x * x for x in img) - 1) < 1e-5
    r = run("classify", "-m", MODEL["clip"], "--labels", "cat,dog", PHOTOS[0])
    _, probs = parse(r.stdout.strip())
    # the fixture's logit_scale is 2.3
    s = [math.exp(2.3) * sum(a * b for a, b in zip(img, t)) for t in txt]
    p_cat = 1 / (1 + math.exp(s[1] - s[0]))
    assert abs(probs["cat"] - p_cat) < 1e-3


def png(w, h, rows=b"", truncate=False):
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    if rows:
        out += chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return out[: len(out) // 2] if truncate else out


def test_bad_input(tmp_path):
    good = (tmp_path / "ok.png")
    good.write_bytes(png(2, 2, b"\0" + b"\x10" * 6 + b"\0" + b"\x80" * 6))
    cases = {
        "huge.png": (png(20000, 20000), "20000 x 20000 pixels"),
        "truncated.png": (png(64, 64, b"\0" * (64 * 3 + 1) * 64, truncate=True), "corrupt or truncated"),
        "text.png": (b"this is not an image\n", "not an image"),
        "empty.png": (b"", "empty"),
    }
    for name, (data, words) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        r = run("classify", "-m", MODEL["clip"], "--labels", "a,b", str(good), str(p))
        assert r.returncode != 0 and words in r.stderr and name in r.stderr, (name, r.stderr)
        assert "Traceback" not in r.stderr and r.returncode < 128  # an error, not a crash
    r = run("classify", "-m", MODEL["clip"], "--labels", "a,b", str(good))
    assert r.returncode == 0, r.stderr
    for labels, words in (("", "empty"), (" , ", "empty"), ("a,,b", "label 2")):
        r = run("classify", "-m", MODEL["clip"], "--labels", labels, str(good))
        assert r.returncode == 2 and words in r.stderr
    r = run("classify", "-m", MODEL["clip"], "--labels", "a", "--template", "no slot", str(good))
    assert r.returncode != 0 and "{}" in r.stderr
    r = run("classify", "-m", MODEL["clip"], str(good))
    assert r.returncode == 2 and "no labels" in r.stderr


def test_config_not_matching_tensors(tmp_path):
    d = tmp_path / "clip"
    shutil.copytree(MODEL["clip"], d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["vision_config"]["hidden_size"] = 48
    (d / "config.json").write_text(json.dumps(cfg))
    r = run("embed", "-m", str(d), "--text", "a cat")
    assert r.returncode == 1 and "vision_model." in r.stderr and "expected" in r.stderr
    r = run("embed", "-m", str(tmp_path / "missing"), "--text", "a cat")
    assert r.returncode == 1 and "missing" in r.stderr
