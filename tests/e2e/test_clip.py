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


def write_idx(d, prefix, n, seed):
    """a Fashion-MNIST-shaped IDX set (gzipped): class k is a fixed random 7 x 7 pattern of its own, scaled up to
    28 x 28, under noise; same patterns in every set"""
    import gzip
    import random
    shapes = [[random.Random(100 + k).randrange(2) for _ in range(49)] for k in range(10)]
    rng = random.Random(seed)
    labels = bytes(rng.randrange(10) for _ in range(n))
    pix = bytearray()
    for k in labels:
        for y in range(28):
            for x in range(28):
                pix.append((170 if shapes[k][(y // 4) * 7 + x // 4] else 30) + rng.randrange(60))
    with gzip.open(d / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes(pix))
    with gzip.open(d / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels)


@pytest.mark.parametrize("loss", ["clip", "siglip"])
def test_train_from_scratch(tmp_path, loss):
    """a small model trained from scratch for 60 steps: its loss falls, the output is a model directory plinth itself
    loads and classifies with, and a run that starts from it with the other loss is refused. (That such a model
    learns to classify from prompts alone is the Fashion-MNIST run of docs/clip.md, minutes long: not a CI test.)"""
    data = tmp_path / "data"
    data.mkdir()
    write_idx(data, "train", 1200, 1)
    write_idx(data, "t10k", 300, 2)
    out = tmp_path / "model"
    r = subprocess.run([plinth_bin(), "clip", "train", "-d", str(data), "-o", str(out), "--loss", loss, "--width", "32",
                        "--layers", "1", "--text-width", "32", "--text-layers", "1", "--dim", "32", "--batch", "64",
                        "--epochs", "4", "--val", "200", "--eval-every", "30", "--lr", "3e-3", "-t", "1"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    test_acc = float(r.stdout.split("test ")[1].rstrip("%\n")) / 100
    assert 0 <= test_acc <= 1, r.stdout
    for f in ("config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json", "loss.csv", "loss.svg",
              "accuracy.csv"):
        assert (out / f).exists(), f
    losses = [float(l.split(",")[1]) for l in (out / "loss.csv").read_text().split("\n")[1:] if l]
    assert len(losses) == 60 and sum(losses[-10:]) / 10 < 0.9 * sum(losses[:5]) / 5
    acc = (out / "accuracy.csv").read_text().split("\n")
    assert acc[0] == "step,epoch,val_zero_shot_accuracy" and acc[1].startswith("30,") and acc[2].startswith("60,")
    png_path = tmp_path / "bar.png"
    rows = b"".join(b"\0" + bytes([220 if 9 <= y <= 11 else 20] * 28 * 3) for y in range(28))
    png_path.write_bytes(png(28, 28, rows))
    r = run("classify", "-m", str(out), "--labels", "t-shirt,trouser,pullover,dress,coat", str(png_path))
    assert r.returncode == 0, r.stderr
    _, probs = parse(r.stdout.strip())
    assert len(probs) == 5 and all(0 < p < 1 for p in probs.values())
    r = subprocess.run([plinth_bin(), "clip", "train", "-d", str(data), "-o", str(tmp_path / "again"), "--init", str(out),
                        "--loss", "siglip" if loss == "clip" else "clip", "--max-steps", "1", "--val", "200"], capture_output=True, text=True)
    assert r.returncode == 1 and "model of that kind" in r.stderr


def test_train_bad_options(tmp_path):
    r = subprocess.run([plinth_bin(), "clip", "train", "-d", str(tmp_path / "none"), "-o", str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "cannot open" in r.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03" + b"\0" * 12)
    (tmp_path / "bad" / "train-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01" + b"\0" * 4)
    r = subprocess.run([plinth_bin(), "clip", "train", "-d", str(tmp_path / "bad"), "-o", str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "truncated" in r.stderr
    for args, words in ((["--loss", "hinge"], "clip or siglip"), (["--lr", "abc"], "--lr"), ([], "-o DIR")):
        r = subprocess.run([plinth_bin(), "clip", "train", *args] + ([] if words == "-o DIR" else ["-o", str(tmp_path / "o")]),
                           capture_output=True, text=True)
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)


def test_index_and_search(tmp_path):
    """images indexed into the RAG store layout; an image finds itself first (cosine 1), a text finds k images,
    re-indexing skips unchanged files, and another model, a missing database or two queries are refused"""
    db = str(tmp_path / "images.db")
    src = os.path.join(FIX, "preprocess")
    r = run("index", "-m", MODEL["clip"], "--db", db, src)
    assert r.returncode == 0 and "6 images indexed" in r.stdout, r.stdout + r.stderr
    r = run("index", "-m", MODEL["clip"], "--db", db, src)
    assert r.returncode == 0 and "0 images indexed, 6 unchanged" in r.stdout
    r = run("search", "-m", MODEL["clip"], "--db", db, "--image", PHOTOS[0], "-k", "3")
    lines = r.stdout.strip().split("\n")
    assert r.returncode == 0 and len(lines) == 3 and lines[0].endswith(PHOTOS[0].split("/")[-1])
    assert abs(float(lines[0].split()[0]) - 1) < 1e-4
    scores = [float(l.split()[0]) for l in lines]
    assert scores == sorted(scores, reverse=True)
    r = run("search", "-m", MODEL["clip"], "--db", db, "a photo of a cat.", "-k", "10")
    assert r.returncode == 0 and len(r.stdout.strip().split("\n")) == 6
    r = run("search", "-m", MODEL["siglip"], "--db", db, "a cat")
    assert r.returncode == 1 and "another model" in r.stderr
    r = run("search", "-m", MODEL["clip"], "--db", str(tmp_path / "none.db"), "a cat")
    assert r.returncode == 1 and "clip index" in r.stderr
    r = run("search", "-m", MODEL["clip"], "--db", db, "a cat", "--image", PHOTOS[0])
    assert r.returncode == 2
