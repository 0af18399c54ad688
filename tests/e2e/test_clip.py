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


SCENE_WORDS = {"shape": ["circle", "square", "triangle", "cross"], "colour": ["red", "green", "blue", "yellow", "purple"],
               "place": ["top left", "top right", "bottom left", "bottom right"]}


def scene_attrs(caption):
    """'a red circle at the top left.' -> (colour, shape, place)"""
    assert caption.startswith("a ") and caption.endswith(".") and " at the " in caption, caption
    head, place = caption[2:-1].split(" at the ")
    colour, shape = head.split(" ")
    assert colour in SCENE_WORDS["colour"] and shape in SCENE_WORDS["shape"] and place in SCENE_WORDS["place"], caption
    return colour, shape, place


def read_png(path):
    """an 8-bit RGB PNG (as plinth writes them) -> (w, h, rows of (r, g, b)): zlib and the five row filters"""
    b = open(path, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(b):
        n, kind = struct.unpack(">I4s", b[pos:pos + 8])
        body = b[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour == 2
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, prev, rows = zlib.decompress(idat), 3 * w, bytearray(3 * w), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a, up, c = line[i - 3] if i >= 3 else 0, prev[i], prev[i - 3] if i >= 3 else 0
            pred = [0, a, up, (a + up) // 2, min((a, up, c), key=lambda v: (abs(a + up - c - v), [a, up, c].index(v)))][f]
            line[i] = (line[i] + pred) & 255
        rows.append([tuple(line[3 * x:3 * x + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def test_scenes(tmp_path):
    """the synthetic scenes: 80 combinations, 16 held out and none of them in train.jsonl, every pair of attributes of
    a held-out combination seen in training; each line's image is a PNG of the side asked for with the shape's colour
    in the quadrant its caption names; the same seed makes the same files"""
    out = tmp_path / "scenes"
    r = subprocess.run([plinth_bin(), "clip", "scenes", "-o", str(out), "--per-combo", "2", "--size", "32"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "128 training images (64 combinations)" in r.stdout and "32 held-out images (16 combinations)" in r.stdout, r.stdout
    sets = {}
    for name in ("train", "heldout"):
        lines = [json.loads(l) for l in (out / f"{name}.jsonl").read_text().splitlines()]
        sets[name] = {scene_attrs(l["caption"]) for l in lines}
        for l in lines[:12]:
            w, h, px = read_png(out / l["image"])
            assert (w, h) == (32, 32)
            colour, _, place = scene_attrs(l["caption"])
            x0, y0 = (16 if "right" in place else 0), (16 if "bottom" in place else 0)
            q = [px[y][x] for y in range(y0, y0 + 16) for x in range(x0, x0 + 16)]
            rest = [px[y][x] for y in range(32) for x in range(32) if not (x0 <= x < x0 + 16 and y0 <= y < y0 + 16)]
            vivid = lambda p: max(p) - min(p) > 80  # the background is gray: only the shape is coloured
            assert sum(map(vivid, q)) >= 12 and sum(map(vivid, rest)) <= 8, (l, sum(map(vivid, q)), sum(map(vivid, rest)))
            ch = {"red": 0, "green": 1, "blue": 2}.get(colour)
            if ch is not None:
                px = [p for p in q if vivid(p)]
                assert all(p[ch] == max(p) for p in px), (l, px[:3])
    assert len(sets["train"]) == 64 and len(sets["heldout"]) == 16 and not sets["train"] & sets["heldout"]
    for c, s, p in sets["heldout"]:
        assert any(t[0] == c and t[1] == s for t in sets["train"]) and any(t[1] == s and t[2] == p for t in sets["train"])
        assert any(t[0] == c and t[2] == p for t in sets["train"])
    again = tmp_path / "again"
    subprocess.run([plinth_bin(), "clip", "scenes", "-o", str(again), "--per-combo", "2"], check=True, capture_output=True)
    assert (again / "train.jsonl").read_bytes() == (out / "train.jsonl").read_bytes()
    assert (again / "images" / "scene_00007.png").read_bytes() == (out / "images" / "scene_00007.png").read_bytes()
    r = subprocess.run([plinth_bin(), "clip", "scenes", "-o", str(tmp_path / "x"), "--size", "8"], capture_output=True, text=True)
    assert r.returncode == 2 and "--size" in r.stderr


@pytest.mark.parametrize("loss", ["clip", "siglip"])
def test_train_on_pairs(tmp_path, loss):
    """training on image-caption pairs from JSONL (the scenes' directory: train.jsonl, validated on heldout.jsonl):
    the loss falls, the result line gives caption retrieval top-1 and chance among the 16 held-out captions and among
    all 80, and the model it writes embeds the images"""
    data = tmp_path / "scenes"
    subprocess.run([plinth_bin(), "clip", "scenes", "-o", str(data), "--per-combo", "3", "--size", "16"], check=True,
                   capture_output=True)
    out = tmp_path / "model"
    r = subprocess.run([plinth_bin(), "clip", "train", "-d", str(data), "-o", str(out), "--loss", loss, "--width", "32",
                        "--layers", "1", "--text-width", "32", "--text-layers", "1", "--dim", "32", "--batch", "48",
                        "--epochs", "8", "--eval-every", "10", "--lr", "3e-3", "-t", "1"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "among their 16 captions" in r.stdout and "(chance 6.25%)" in r.stdout and "among all 80 captions" in r.stdout \
        and "(chance 1.25%)" in r.stdout, r.stdout
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["vision_config"]["image_size"] == 16 and cfg["vision_config"]["patch_size"] == 8  # 16 % 7: the 8 that divides it
    losses = [float(l.split(",")[1]) for l in (out / "loss.csv").read_text().split("\n")[1:] if l]
    assert len(losses) == 32 and sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    acc = (out / "accuracy.csv").read_text().split("\n")
    assert acc[0] == "step,epoch,val_caption_retrieval_top1" and acc[1].startswith("10,")
    r = run("embed", "-m", str(out), "--image", str(data / "images" / "scene_00001.png"))
    assert r.returncode == 0 and len(json.loads(r.stdout)["embedding"]) == 32
    # a lone .jsonl: its last --val pairs validate (here 24 pairs of the last round: 24 distinct captions)
    r = subprocess.run([plinth_bin(), "clip", "train", "-d", str(data / "train.jsonl"), "-o", str(tmp_path / "m2"), "--loss", loss,
                        "--width", "16", "--layers", "1", "--text-width", "16", "--text-layers", "1", "--dim", "16",
                        "--batch", "32", "--max-steps", "2", "--val", "24", "-t", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "among their 24 captions" in r.stdout and "(chance 4.17%)" in r.stdout, r.stdout + r.stderr


def test_train_pairs_bad_input(tmp_path):
    """a JSONL line that is not an object, one without a caption, an empty file, a missing image: each a clear error
    naming the file (and the line)"""
    img = tmp_path / "a.png"
    img.write_bytes(png(28, 28, b"".join(b"\0" + bytes([90] * 28 * 3) for _ in range(28))))
    cases = {"notjson.jsonl": ('{"image": "a.png", "caption": "x"}\n[1, 2\n', "notjson.jsonl:2: not a JSON object"),
             "nocap.jsonl": ('{"image": "a.png"}\n', "nocap.jsonl:1: expected {\"image\""),
             "empty.jsonl": ("\n\n", "no image-caption pairs"),
             "missing.jsonl": ('{"image": "gone.png", "caption": "a cat"}\n' * 40, "gone.png")}
    for name, (text, words) in cases.items():
        (tmp_path / name).write_text(text)
        r = subprocess.run([plinth_bin(), "clip", "train", "-d", str(tmp_path / name), "-o", str(tmp_path / "o"), "--batch", "4",
                            "--max-steps", "1"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and words in r.stderr, (name, r.stderr)
    (tmp_path / "few.jsonl").write_text('{"image": "a.png", "caption": "a cat"}\n' * 3)
    r = subprocess.run([plinth_bin(), "clip", "train", "-d", str(tmp_path / "few.jsonl"), "-o", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "fewer than a batch" in r.stderr, r.stderr
    r = subprocess.run([plinth_bin(), "clip", "train", "-o", str(tmp_path / "o"), "--val-data", str(tmp_path / "few.jsonl")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "--val-data goes with" in r.stderr, r.stderr
