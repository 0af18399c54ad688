#!/usr/bin/env python3
"""Write tests/golden/clip/preprocess/: small real photos (Debian python3-skimage's sample images, cut down and
saved as PNG so that decoding is exact) and the pixel_values that transformers' PIL image processors
(CLIPImageProcessorPil, SiglipImageProcessorPil) make of them under several preprocessor configs, as raw
little-endian f32 (3 x H x W), listed in manifest.json. tests/unit/test_image.c holds plinth to them (<= 1e-5).

Usage: python3 tools/make_image_fixtures.py   (needs transformers, Pillow, numpy; apt install python3-skimage)
"""
import json
import os

import numpy as np
from PIL import Image
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests/golden/clip/preprocess")
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"


def photo(name):
    return Image.open(os.path.join(SKIMAGE, name))


def make_inputs():
    """name -> PIL image: landscape, large grayscale, portrait, RGBA with transparency, tiny, 1x1"""
    chelsea = photo("chelsea.png")  # 451 x 300 RGB
    coffee = photo("coffee.png")  # 600 x 400 RGB
    return {
        "chelsea_300x200": chelsea.resize((300, 200), Image.LANCZOS),
        "camera_512_gray": photo("camera.png"),  # 512 x 512 L
        "coffee_150x260": coffee.crop((200, 20, 380, 332)).resize((150, 260), Image.LANCZOS),
        "logo_96_rgba": photo("logo.png").resize((96, 96), Image.LANCZOS),  # RGBA, transparent background
        "astronaut_7x5": photo("astronaut.png").crop((200, 100, 207, 105)),
        "astronaut_1x1": photo("astronaut.png").crop((250, 150, 251, 151)),
    }


CONFIGS = {
    "clip_224": {"image_processor_type": "CLIPImageProcessor"},  # the class defaults: shortest edge 224, crop 224
    "siglip_224": {"image_processor_type": "SiglipImageProcessor"},  # 224 x 224, no crop, mean = std = 0.5
    "clip_61_crop48x40": {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 61},
                          "crop_size": {"height": 48, "width": 40}},
    "clip_bilinear_33": {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 33},
                         "crop_size": {"height": 30, "width": 30}, "resample": 2},
    "siglip_40x56": {"image_processor_type": "SiglipImageProcessor", "size": {"height": 40, "width": 56}},
}
# the 224 configs are 600 KB an output: only these pairs (a shrink, a large gray one, a tiny one)
BIG = {("chelsea_300x200", "clip_224"), ("camera_512_gray", "siglip_224"), ("astronaut_7x5", "clip_224")}


def processor(cfg):
    kw = {k: v for k, v in cfg.items() if k != "image_processor_type"}
    cls = SiglipImageProcessorPil if "Siglip" in cfg["image_processor_type"] else CLIPImageProcessorPil
    return cls(**kw)


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for cname, cfg in CONFIGS.items():
        with open(os.path.join(OUT, cname + ".json"), "w") as f:
            json.dump(cfg, f, indent=1)
    for iname, img in make_inputs().items():
        img.save(os.path.join(OUT, iname + ".png"))
        img = Image.open(os.path.join(OUT, iname + ".png"))  # what plinth reads
        for cname, cfg in CONFIGS.items():
            if cname.endswith("_224") and (iname, cname) not in BIG:
                continue
            pv = processor(cfg)(img, return_tensors="np")["pixel_values"][0].astype("<f4")
            out = "%s.%s.f32" % (iname, cname)
            pv.tofile(os.path.join(OUT, out))
            cases.append({"image": iname + ".png", "config": cname + ".json", "h": pv.shape[1], "w": pv.shape[2],
                          "expected": out})
            print(iname, img.mode, img.size, cname, pv.shape)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
