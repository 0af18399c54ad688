"""CTranslate2's Whisper model.bin read into numpy (the layout src/io/ct2.h describes), and a float64 Whisper
forward on those weights: the encoder and the decoder's first step, enough for language detection.
Used by bench/whisper_langdetect.py (a reference for plinth's and faster-whisper's language probabilities) and by
tools/whisper_ct2_to_ggml.py (whisper.cpp's model file from the same weights). numpy only.
"""
import struct

import numpy as np

_DTYPES = [np.float32, np.int8, np.int16, np.int32, np.float16, None]  # 5 = bfloat16, widened by hand


def read_ct2(path):
    """{name: array} with aliases resolved, and the spec name."""
    buf = open(path, "rb").read()
    at = 0

    def u(fmt):
        nonlocal at
        v = struct.unpack_from(fmt, buf, at)
        at += struct.calcsize(fmt)
        return v[0]

    def s():
        nonlocal at
        n = u("<H")
        v = buf[at:at + n - 1].decode()
        at += n
        return v

    version = u("<I")
    if version < 5:
        raise ValueError(f"{path}: model.bin version {version} not supported")
    spec = s()
    u("<I")  # revision
    out = {}
    for _ in range(u("<I")):
        name = s()
        rank = u("<B")
        shape = [u("<I") for _ in range(rank)]
        dt = u("<B")
        nbytes = u("<I")
        raw = buf[at:at + nbytes]
        at += nbytes
        if dt == 5:
            a = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, _DTYPES[dt])
        out[name] = a.reshape(shape)
    if at < len(buf):
        for _ in range(u("<I")):
            alias, target = s(), s()
            out[alias] = out[target]
    return out, spec


def _ln(x, g, b, eps=1e-5):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def _gelu(x):
    from math import sqrt

    from scipy.special import erf
    return 0.5 * x * (1 + erf(x / sqrt(2)))


def _conv1d(x, w, b, stride):  # x (C, T), w (O, C, 3), padding 1
    xp = np.pad(x, ((0, 0), (1, 1)))
    T = (x.shape[1] + 2 - 3) // stride + 1
    cols = np.stack([xp[:, k:k + stride * T:stride] for k in range(3)], axis=-1)  # (C, T, 3)
    return np.einsum("ock,ctk->ot", w, cols) + b[:, None]


def _attn(q, k, v, heads):
    T, d = q.shape
    dh = d // heads
    q = q.reshape(T, heads, dh).transpose(1, 0, 2)
    k = k.reshape(-1, heads, dh).transpose(1, 0, 2)
    v = v.reshape(-1, heads, dh).transpose(1, 0, 2)
    s = q @ k.transpose(0, 2, 1) / np.sqrt(dh)
    s = np.exp(s - s.max(-1, keepdims=True))
    s /= s.sum(-1, keepdims=True)
    return (s @ v).transpose(1, 0, 2).reshape(T, d)


class Whisper64:
    """Float64 Whisper on a CTranslate2 model.bin's weights."""

    def __init__(self, path):
        w, spec = read_ct2(path)
        if spec != "WhisperSpec":
            raise ValueError(f"{path}: a {spec}, not a Whisper model")
        self.w = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in w.items()}
        self.d = self.w["encoder/conv1/weight"].shape[0]
        self.heads = int(self.w.get("encoder/num_heads", np.array(self.d // 64)))
        self.n_enc = sum(1 for k in w if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight"))
        self.n_dec = sum(1 for k in w if k.startswith("decoder/layer_") and k.endswith("ffn/linear_0/weight"))

    def encode(self, mel):  # (n_mels, 3000) -> (1500, d)
        w = self.w
        x = _gelu(_conv1d(mel.astype(np.float64), w["encoder/conv1/weight"], w["encoder/conv1/bias"], 1))
        x = _gelu(_conv1d(x, w["encoder/conv2/weight"], w["encoder/conv2/bias"], 2)).T
        x = x + w["encoder/position_encodings/encodings"][: x.shape[0]]
        for i in range(self.n_enc):
            p = f"encoder/layer_{i}/"
            h = _ln(x, w[p + "self_attention/layer_norm/gamma"], w[p + "self_attention/layer_norm/beta"])
            qkv = h @ w[p + "self_attention/linear_0/weight"].T + w[p + "self_attention/linear_0/bias"]
            q, k, v = np.split(qkv, 3, axis=-1)
            a = _attn(q, k, v, self.heads)
            x = x + a @ w[p + "self_attention/linear_1/weight"].T + w[p + "self_attention/linear_1/bias"]
            h = _ln(x, w[p + "ffn/layer_norm/gamma"], w[p + "ffn/layer_norm/beta"])
            h = _gelu(h @ w[p + "ffn/linear_0/weight"].T + w[p + "ffn/linear_0/bias"])
            x = x + h @ w[p + "ffn/linear_1/weight"].T + w[p + "ffn/linear_1/bias"]
        return _ln(x, w["encoder/layer_norm/gamma"], w["encoder/layer_norm/beta"])

    def first_logits(self, enc, token):  # the decoder's logits after one token at position 0
        w = self.w
        x = w["decoder/embeddings/weight"][token] + w["decoder/position_encodings/encodings"][0]
        x = x[None, :]
        for i in range(self.n_dec):
            p = f"decoder/layer_{i}/"
            h = _ln(x, w[p + "self_attention/layer_norm/gamma"], w[p + "self_attention/layer_norm/beta"])
            qkv = h @ w[p + "self_attention/linear_0/weight"].T + w[p + "self_attention/linear_0/bias"]
            v = np.split(qkv, 3, axis=-1)[2]  # one position: attention is the identity on its value
            x = x + v @ w[p + "self_attention/linear_1/weight"].T + w[p + "self_attention/linear_1/bias"]
            h = _ln(x, w[p + "attention/layer_norm/gamma"], w[p + "attention/layer_norm/beta"])
            q = h @ w[p + "attention/linear_0/weight"].T + w[p + "attention/linear_0/bias"]
            kv = enc @ w[p + "attention/linear_1/weight"].T + w[p + "attention/linear_1/bias"]
            k, v = np.split(kv, 2, axis=-1)
            x = x + _attn(q, k, v, self.heads) @ w[p + "attention/linear_2/weight"].T + w[p + "attention/linear_2/bias"]
            h = _ln(x, w[p + "ffn/layer_norm/gamma"], w[p + "ffn/layer_norm/beta"])
            h = _gelu(h @ w[p + "ffn/linear_0/weight"].T + w[p + "ffn/linear_0/bias"])
            x = x + h @ w[p + "ffn/linear_1/weight"].T + w[p + "ffn/linear_1/bias"]
        x = _ln(x, w["decoder/layer_norm/gamma"], w["decoder/layer_norm/beta"])
        return (x @ w["decoder/embeddings/weight"].T)[0]
