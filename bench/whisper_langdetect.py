#!/usr/bin/env python3
"""Language detection of a WAV three ways, on the same model files and the same 16-kHz samples: plinth
(`plinth transcribe --detect-language`), faster-whisper (`WhisperModel.detect_language` on its own features) and a
float64 numpy Whisper (tools/whisper_ct2.py) on faster-whisper's features: the float64 one says which of the two
float32 implementations is nearer the exact probabilities.

Usage: python3 bench/whisper_langdetect.py MODEL_DIR FILE.wav [--plinth build/plinth] [--top 5]
Needs: faster-whisper, scipy. The WAV should be 16 kHz 16-bit (no resampler then stands between the two).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import whisper_ct2  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("wav")
    ap.add_argument("--plinth", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "plinth"))
    ap.add_argument("--top", type=int, default=5)
    a = ap.parse_args()
    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio
    from faster_whisper.audio import pad_or_trim
    fw = WhisperModel(a.model, device="cpu", compute_type="float32", cpu_threads=2)
    feats = fw.feature_extractor(decode_audio(a.wav, sampling_rate=16000))
    _, _, fw_probs = fw.detect_language(features=feats)
    fw_probs = dict(fw_probs)
    tok = json.load(open(os.path.join(a.model, "tokenizer.json")))
    vocab = {t["content"]: t["id"] for t in tok["added_tokens"]}
    langs = [c for c in fw_probs]
    ids = np.array([vocab[f"<|{c}|>"] for c in langs])
    ref = whisper_ct2.Whisper64(os.path.join(a.model, "model.bin"))
    lg = ref.first_logits(ref.encode(pad_or_trim(feats[:, :3000])), vocab["<|startoftranscript|>"])[ids]
    p64 = np.exp(lg - lg.max())
    p64 /= p64.sum()
    p64 = dict(zip(langs, p64))
    out = subprocess.run([a.plinth, "transcribe", "-m", a.model, "--detect-language", "-t", "2", "-f", "json", a.wav],
                         capture_output=True, text=True, check=True).stdout
    pl = json.loads(out)["language_probs"]
    top = sorted(p64, key=p64.get, reverse=True)[: a.top]
    print(f"{a.wav}: language probabilities (softmax over the language tokens)")
    print("| language | float64 numpy | plinth | faster-whisper f32 |")
    print("|---|---|---|---|")
    for c in top:
        print(f"| {c} | {p64[c]:.6f} | {pl.get(c, float('nan')):.6f} | {fw_probs[c]:.6f} |")
    worst = lambda d: max(abs(d[c] - p64[c]) for c in top if c in d)  # noqa: E731
    print(f"max |p - p64| over these: plinth {worst(pl):.2e}, faster-whisper {worst(fw_probs):.2e}")


if __name__ == "__main__":
    main()
