#!/usr/bin/env python3
"""Make tests/golden/whisper/faster_whisper_base_langs.json: faster-whisper's language probabilities (the five
likeliest, from WhisperModel.detect_language on the features transcribe() detects on: the whole file's, up to
3000 frames) with the multilingual Whisper base (models/whisper-base, scripts/fetch-models.sh whisper-base) on
Debian pocketsphinx-testdata's 10 read-speech clips (16 kHz 16-bit: no resampler between the two). plinth's
`transcribe --detect-language` is held to them (tests/e2e/test_transcribe.py).

Usage: python3 tools/make_whisper_lang_fixture.py   (needs faster-whisper; no torch)
"""
import glob
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "/usr/share/pocketsphinx/test/data/"


def main():
    import faster_whisper
    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio
    m = WhisperModel(os.path.join(ROOT, "models", "whisper-base"), device="cpu", compute_type="float32", cpu_threads=2)
    clips = {}
    for f in sorted(glob.glob(DATA + "librivox/*.wav")) + sorted(glob.glob(DATA + "cards/*.wav")):
        feats = m.feature_extractor(decode_audio(f, sampling_rate=16000))
        _, _, probs = m.detect_language(features=feats)
        clips[f[len(DATA):]] = [[c, round(float(p), 7)] for c, p in probs[:5]]
    out = os.path.join(ROOT, "tests", "golden", "whisper", "faster_whisper_base_langs.json")
    with open(out, "w") as fh:
        json.dump({"made_by": f"faster-whisper {faster_whisper.__version__}, float32, cpu, WhisperModel.detect_language",
                   "data": DATA, "clips": clips}, fh, indent=1)
        fh.write("\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
