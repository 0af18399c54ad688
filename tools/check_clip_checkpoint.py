#!/usr/bin/env python3
"""Check that a model directory written by `plinth clip train` is one transformers loads as it is: CLIPModel or
SiglipModel from the directory, its tokenizer.json through the tokenizers library, and the image and text
embeddings transformers computes equal to `plinth clip embed`'s (max |diff| printed; exit 1 above 1e-4).

Usage: python3 tools/check_clip_checkpoint.py DIR IMAGE.png [PLINTH_BIN]   (needs torch, transformers, Pillow)
"""
import json
import subprocess
import sys

import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer
from transformers import AutoConfig, CLIPModel, SiglipModel
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil


def plinth_embed(binary, d, flag, items):
    out = subprocess.run([binary, "clip", "embed", "-m", d, flag, *items], capture_output=True, text=True, check=True)
    return np.array([json.loads(l)["embedding"] for l in out.stdout.strip().split("\n")])


def main():
    d, image = sys.argv[1], sys.argv[2]
    binary = sys.argv[3] if len(sys.argv) > 3 else "build/plinth"
    siglip = AutoConfig.from_pretrained(d).model_type == "siglip"
    model = (SiglipModel if siglip else CLIPModel).from_pretrained(d).eval()
    proc = (SiglipImageProcessorPil if siglip else CLIPImageProcessorPil).from_pretrained(d)
    tok = Tokenizer.from_file(d + "/tokenizer.json")
    texts = ["a photo of a sneaker.", "a bag", "an image of a coat."]
    n_pos = model.config.text_config.max_position_embeddings
    rows = [tok.encode(t).ids for t in texts]
    n = n_pos if siglip else max(len(r) for r in rows)
    pad = model.config.text_config.pad_token_id
    ids = torch.tensor([r + [pad] * (n - len(r)) for r in rows])
    mask = None if siglip else torch.tensor([[1] * len(r) + [0] * (n - len(r)) for r in rows])
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, pixel_values=proc(Image.open(image), return_tensors="pt")["pixel_values"])
    dt = np.abs(plinth_embed(binary, d, "--text", texts) - out.text_embeds.numpy()).max()
    di = np.abs(plinth_embed(binary, d, "--image", [image]) - out.image_embeds.numpy()).max()
    print(f"{d}: {'SiglipModel' if siglip else 'CLIPModel'} loaded by transformers; max |diff| text embeds {dt:.2g}, "
          f"image embeds {di:.2g}")
    sys.exit(0 if max(dt, di) <= 1e-4 else 1)


if __name__ == "__main__":
    main()
