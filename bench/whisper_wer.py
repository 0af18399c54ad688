#!/usr/bin/env python3
"""Word error rate of `plinth transcribe` beside faster-whisper (same model files, CPU, float32, greedy: beam 1) on
Debian pocketsphinx-testdata's 10 read-speech clips (5 librivox sentences, 5 "cards" utterances), against their
human transcripts; and whether the two transcripts are equal word for word. With --korean: a Korean sentence
synthesized by espeak-ng, its detected language and character error rate (multilingual models).

Usage: python3 bench/whisper_wer.py [MODEL_DIR=models/whisper-tiny-en] [--korean] [--threads 2]
Needs: faster-whisper, soundfile (pip), pocketsphinx-testdata and espeak-ng (Debian), build/plinth.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from test_transcribe import words, wer  # noqa: E402  (one normaliser and one WER for tests and bench)

DATA = "/usr/share/pocketsphinx/test/data/"
KOREAN = "안녕하세요. 오늘 날씨가 정말 좋네요. 저는 한국어를 공부하고 있습니다."


def plinth(model, files, threads, *opts):
    out = subprocess.run([os.path.join(ROOT, "build", "plinth"), "transcribe", "-m", model, "-t", str(threads),
                          "--output-format", "json", *opts, *files], capture_output=True, text=True, check=True).stdout
    dec, i, docs = json.JSONDecoder(), 0, []
    while i < len(out):
        if out[i].isspace():
            i += 1
            continue
        d, i = dec.raw_decode(out, i)
        docs.append(d)
    return docs


def cer(ref, hyp):
    ref, hyp = [c for c in ref if not c.isspace() and c not in ".,?!"], [c for c in hyp if not c.isspace() and c not in ".,?!"]
    e, n = wer(ref, hyp)
    return e / max(n, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default=os.path.join(ROOT, "models", "whisper-tiny-en"))
    ap.add_argument("--korean", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    from faster_whisper import WhisperModel
    fw = WhisperModel(a.model, device="cpu", compute_type="float32", cpu_threads=a.threads)
    human = {}
    for tf in (DATA + "librivox/transcription", DATA + "cards/cards.transcription"):
        for line in open(tf):
            m = re.match(r"<s>(.*)</s> \((.*)\)", line.strip())
            if m:
                human[m.group(2)] = m.group(1)
    files = sorted(glob.glob(DATA + "librivox/*.wav")) + sorted(glob.glob(DATA + "cards/*.wav"))
    docs = plinth(a.model, files[:5], a.threads) + plinth(a.model, files[5:], a.threads)
    tot = {"plinth": [0, 0], "faster-whisper": [0, 0]}
    same = 0
    print(f"model {a.model}, greedy, {a.threads} threads")
    print("| clip | human | plinth | faster-whisper |\n|---|---|---|---|")
    for f, d in zip(files, docs):
        segs, _ = fw.transcribe(f, beam_size=1, vad_filter=False)
        ft = "".join(s.text for s in segs).strip()
        ref = words(human[os.path.splitext(os.path.basename(f))[0]])
        for name, text in (("plinth", d["text"]), ("faster-whisper", ft)):
            e, n = wer(ref, words(text))
            tot[name][0] += e
            tot[name][1] += n
        same += d["text"] == ft
        print(f"| {os.path.basename(f)} | {' '.join(ref)} | {d['text']} | {ft} |")
    for name, (e, n) in tot.items():
        print(f"{name}: WER {100.0 * e / n:.1f}% ({e}/{n} words)")
    print(f"transcripts equal word for word: {same}/{len(files)}")
    if a.korean:
        with tempfile.TemporaryDirectory() as td:
            wav = os.path.join(td, "ko.wav")
            subprocess.run(["espeak-ng", "-v", "ko", "-w", wav, KOREAN], check=True)
            d = plinth(a.model, [wav], a.threads)[0]
            segs, info = fw.transcribe(wav, beam_size=1, vad_filter=False)
            ft = "".join(s.text for s in segs).strip()
            dk = plinth(a.model, [wav], a.threads, "--language", "ko")[0]
            # (faster-whisper with language="ko" is left out: its greedy text repeats, and the temperature fallback
            # then decodes 448 tokens at each of 6 temperatures, minutes on 2 cores)
        print(f"Korean (espeak-ng -v ko): '{KOREAN}'")
        print(f"  detected: plinth {d['language']} ({d['text']}); faster-whisper {info.language} "
              f"({info.language_probability:.2f}) ({ft})")
        print(f"  --language ko: plinth CER {100 * cer(KOREAN, dk['text']):.0f}% ({dk['text']})")


if __name__ == "__main__":
    main()
