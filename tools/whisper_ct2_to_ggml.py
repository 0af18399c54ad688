#!/usr/bin/env python3
"""whisper.cpp's model file (the "ggml" whisper layout: magic, hyper-parameters, mel filters, vocabulary, named
tensors) written from a CTranslate2 Whisper directory (model.bin + tokenizer.json), so whisper.cpp runs the very
weights that plinth and faster-whisper run (bench/bench_whisper.sh). Offline: no torch, no hub.

Usage: python3 tools/whisper_ct2_to_ggml.py CT2_DIR OUT.bin
The mel filters are faster-whisper's (Slaney, as Whisper's own); matrices are f16 as whisper.cpp's own files,
biases, norms, conv biases and positional embeddings f32.
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import whisper_ct2  # noqa: E402


def byte_decoder():
    """GPT-2's byte <-> printable character map, reversed: the vocabulary's strings back to their bytes."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def tensors(w, n_enc, n_dec, d):
    """(whisper.cpp name, array in torch's shape) for every weight."""
    yield "encoder.conv1.weight", w["encoder/conv1/weight"]
    yield "encoder.conv1.bias", w["encoder/conv1/bias"].reshape(-1, 1)
    yield "encoder.conv2.weight", w["encoder/conv2/weight"]
    yield "encoder.conv2.bias", w["encoder/conv2/bias"].reshape(-1, 1)
    yield "encoder.positional_embedding", w["encoder/position_encodings/encodings"]
    for side, n in (("encoder", n_enc), ("decoder", n_dec)):
        for i in range(n):
            p, o = f"{side}/layer_{i}/", f"{side}.blocks.{i}."
            qkv_w, qkv_b = w[p + "self_attention/linear_0/weight"], w[p + "self_attention/linear_0/bias"]
            yield o + "attn_ln.weight", w[p + "self_attention/layer_norm/gamma"]
            yield o + "attn_ln.bias", w[p + "self_attention/layer_norm/beta"]
            yield o + "attn.query.weight", qkv_w[:d]
            yield o + "attn.query.bias", qkv_b[:d]
            yield o + "attn.key.weight", qkv_w[d:2 * d]  # no key bias in Whisper (CTranslate2 stores zeros)
            yield o + "attn.value.weight", qkv_w[2 * d:]
            yield o + "attn.value.bias", qkv_b[2 * d:]
            yield o + "attn.out.weight", w[p + "self_attention/linear_1/weight"]
            yield o + "attn.out.bias", w[p + "self_attention/linear_1/bias"]
            if side == "decoder":
                kv_w, kv_b = w[p + "attention/linear_1/weight"], w[p + "attention/linear_1/bias"]
                yield o + "cross_attn_ln.weight", w[p + "attention/layer_norm/gamma"]
                yield o + "cross_attn_ln.bias", w[p + "attention/layer_norm/beta"]
                yield o + "cross_attn.query.weight", w[p + "attention/linear_0/weight"]
                yield o + "cross_attn.query.bias", w[p + "attention/linear_0/bias"]
                yield o + "cross_attn.key.weight", kv_w[:d]
                yield o + "cross_attn.value.weight", kv_w[d:]
                yield o + "cross_attn.value.bias", kv_b[d:]
                yield o + "cross_attn.out.weight", w[p + "attention/linear_2/weight"]
                yield o + "cross_attn.out.bias", w[p + "attention/linear_2/bias"]
            yield o + "mlp_ln.weight", w[p + "ffn/layer_norm/gamma"]
            yield o + "mlp_ln.bias", w[p + "ffn/layer_norm/beta"]
            yield o + "mlp.0.weight", w[p + "ffn/linear_0/weight"]
            yield o + "mlp.0.bias", w[p + "ffn/linear_0/bias"]
            yield o + "mlp.2.weight", w[p + "ffn/linear_1/weight"]
            yield o + "mlp.2.bias", w[p + "ffn/linear_1/bias"]
        if side == "encoder":
            yield "encoder.ln_post.weight", w["encoder/layer_norm/gamma"]
            yield "encoder.ln_post.bias", w["encoder/layer_norm/beta"]
    yield "decoder.token_embedding.weight", w["decoder/embeddings/weight"]
    yield "decoder.positional_embedding", w["decoder/position_encodings/encodings"]
    yield "decoder.ln.weight", w["decoder/layer_norm/gamma"]
    yield "decoder.ln.bias", w["decoder/layer_norm/beta"]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    w, spec = whisper_ct2.read_ct2(os.path.join(src, "model.bin"))
    if spec != "WhisperSpec":
        sys.exit(f"{src}: a {spec}, not a Whisper model")
    d = w["encoder/conv1/weight"].shape[0]
    n_mels = w["encoder/conv1/weight"].shape[1]
    n_enc = sum(1 for k in w if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight"))
    n_dec = sum(1 for k in w if k.startswith("decoder/layer_") and k.endswith("ffn/linear_0/weight"))
    n_vocab = w["decoder/embeddings/weight"].shape[0]
    heads_e, heads_d = int(w["encoder/num_heads"]), int(w["decoder/num_heads"])
    from faster_whisper.feature_extractor import FeatureExtractor
    filters = np.asarray(FeatureExtractor(feature_size=n_mels).mel_filters, dtype=np.float32)  # (n_mels, 201)
    vocab = json.load(open(os.path.join(src, "tokenizer.json"), encoding="utf-8"))["model"]["vocab"]
    dec = byte_decoder()
    with open(out + ".tmp", "wb") as f:
        f.write(struct.pack("<i", 0x67676D6C))
        f.write(struct.pack("<11i", n_vocab, w["encoder/position_encodings/encodings"].shape[0], d, heads_e, n_enc,
                            w["decoder/position_encodings/encodings"].shape[0], d, heads_d, n_dec, n_mels, 1))  # 1: f16
        f.write(struct.pack("<2i", *filters.shape))
        f.write(filters.tobytes())
        f.write(struct.pack("<i", len(vocab)))
        for tok, _ in sorted(vocab.items(), key=lambda kv: kv[1]):
            b = bytes(dec[c] for c in tok)
            f.write(struct.pack("<i", len(b)) + b)
        for name, a in tensors(w, n_enc, n_dec, d):
            a = np.asarray(a)
            half = a.ndim >= 2 and "positional_embedding" not in name and not name.endswith("conv1.bias") \
                and not name.endswith("conv2.bias")
            a = a.astype(np.float16 if half else np.float32)
            nb = name.encode()
            f.write(struct.pack("<3i", a.ndim, len(nb), int(half)))
            f.write(struct.pack(f"<{a.ndim}i", *reversed(a.shape)))
            f.write(nb)
            f.write(np.ascontiguousarray(a).tobytes())
    os.replace(out + ".tmp", out)
    print(f"{out}: {n_enc} + {n_dec} layers, d {d}, {heads_e} heads, vocabulary {n_vocab}, {n_mels} mels")


if __name__ == "__main__":
    main()
