#!/usr/bin/env python3
"""Write tests/golden/clip/model/{clip,siglip}/: tiny random CLIPModel and SiglipModel checkpoints made by
transformers (config.json, model.safetensors, preprocessor_config.json for 32 x 32 inputs) and what they compute on
two real photos (tests/golden/clip/preprocess/*.png) and three token-id texts: image and text embeddings and
logits_per_image, as expected.json; and on a training batch (three photos, three captions) the model's own loss
(CLIP's symmetric cross-entropy, SigLIP's sigmoid loss) and the gradient of every weight, as grads.safetensors. Each directory also gets a tiny byte-level BPE tokenizer.json in CLIP's shape
(lowercase, </w> word ends, start/end-of-text specials; SigLIP's: end-of-text only), trained on a few captions, so
that `plinth clip` runs end to end on them; the texts are tokenized by it and the ids recorded. tests/unit/test_clip_golden.c holds plinth's models to them (1e-4).

Usage: python3 tools/make_clip_fixtures.py   (needs torch, transformers, Pillow)
"""
import json
import os

import torch
from PIL import Image
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import CLIPConfig, CLIPModel, SiglipConfig, SiglipModel
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests/golden/clip/model")
PHOTOS = ["chelsea_300x200.png", "coffee_150x260.png"]
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32,
              patch_size=8, num_channels=3)
TEXT = dict(vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)


SPECIALS = ["<|pad|>", "<|unk|>", "<|x|>", "<|startoftext|>", "<|endoftext|>"]  # ids 0 .. 4
CAPTIONS = ["a photo of a cat", "a photo of a dog", "a photo of a car", "a cup of coffee", "a red car on a road",
            "a cat sleeping on a sofa", "two dogs playing", "a photo of a cup"] * 4
TEXTS = ["a photo of a cat.", "a cup of coffee on a table", "dog"]


def tokenizer(siglip):
    tok = Tokenizer(models.BPE(unk_token="<|unk|>", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(" +", " "), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(" ", "removed"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CAPTIONS, trainers.BpeTrainer(vocab_size=99, special_tokens=SPECIALS, end_of_word_suffix="</w>"))
    if siglip:
        tok.post_processor = processors.TemplateProcessing(single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", 4)])
    else:
        tok.post_processor = processors.TemplateProcessing(single="<|startoftext|> $A <|endoftext|>",
                                                           special_tokens=[("<|startoftext|>", 3), ("<|endoftext|>", 4)])
    return tok


def photos():
    return [Image.open(os.path.join(ROOT, "tests/golden/clip/preprocess", p)) for p in PHOTOS]


def perturb(model):
    """random init leaves LayerNorms at 1/0 and biases at 0: give every tensor some spread so all paths count"""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("logit_scale"):
                p.fill_(2.3)
            elif name.endswith("logit_bias"):
                p.fill_(-1.5)
            else:
                p.add_(0.05 * torch.randn(p.shape, generator=g))


def save(model, proc, tok, name, ids, attention_mask=None):
    d = os.path.join(OUT, name)
    model.save_pretrained(d)
    proc.save_pretrained(d)
    tok.save(os.path.join(d, "tokenizer.json"))
    pv = proc(photos(), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(input_ids=ids, pixel_values=pv, attention_mask=attention_mask)
    exp = {"photos": PHOTOS, "texts": TEXTS, "input_ids": ids.tolist(),
           "image_embeds": out.image_embeds.tolist(), "text_embeds": out.text_embeds.tolist(),
           "logits_per_image": out.logits_per_image.tolist()}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f)
    print(name, {k: tuple(getattr(out, k).shape) for k in ("image_embeds", "text_embeds", "logits_per_image")})


TRAIN_PHOTOS = PHOTOS + ["camera_512_gray.png"]


def save_grads(model, proc, tok, name, pad_to=None):
    """loss and every weight's gradient on a batch of 3 matching pairs"""
    d = os.path.join(OUT, name)
    imgs = [Image.open(os.path.join(ROOT, "tests/golden/clip/preprocess", p)) for p in TRAIN_PHOTOS]
    pv = proc(imgs, return_tensors="pt")["pixel_values"]
    rows = [tok.encode(t).ids for t in TEXTS]
    n = pad_to or max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (n - len(r)) for r in rows])
    mask = None if pad_to else torch.tensor([[1] * len(r) + [0] * (n - len(r)) for r in rows])
    model.zero_grad()
    out = model(input_ids=ids, pixel_values=pv, attention_mask=mask, return_loss=True)
    out.loss.backward()
    grads = {k: p.grad.detach().clone().contiguous() for k, p in model.named_parameters()}
    grads["__loss__"] = out.loss.detach().reshape(1)
    save_file(grads, os.path.join(d, "grads.safetensors"))
    print(name, "loss", out.loss.item())


def make_clip():
    torch.manual_seed(0)
    cfg = CLIPConfig(text_config=dict(TEXT, max_position_embeddings=16, hidden_act="quick_gelu", eos_token_id=4,
                                      bos_token_id=3, pad_token_id=0),
                     vision_config=dict(VISION, hidden_act="quick_gelu"), projection_dim=16)
    model = CLIPModel(cfg).eval()
    perturb(model)
    proc = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    # pooled at the first eos_token_id (4); texts right-padded with 0 under an attention mask
    tok = tokenizer(False)
    rows = [tok.encode(t).ids for t in TEXTS]
    n = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (n - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (n - len(r)) for r in rows])
    save(model, proc, tok, "clip", ids, mask)
    save_grads(model, proc, tok, "clip")


def make_siglip():
    torch.manual_seed(0)
    cfg = SiglipConfig(text_config=dict(TEXT, max_position_embeddings=12, hidden_act="gelu_pytorch_tanh",
                                        pad_token_id=0, eos_token_id=4),
                       vision_config=dict(VISION, hidden_act="gelu_pytorch_tanh"))
    model = SiglipModel(cfg).eval()
    perturb(model)
    proc = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    # SigLIP reads texts padded to max_length (the pad id 0) and pools the last position
    tok = tokenizer(True)
    rows = [tok.encode(t).ids for t in TEXTS]
    ids = torch.tensor([r + [0] * (12 - len(r)) for r in rows])
    save(model, proc, tok, "siglip", ids)
    save_grads(model, proc, tok, "siglip", pad_to=12)


if __name__ == "__main__":
    make_clip()
    make_siglip()
