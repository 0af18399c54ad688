#!/usr/bin/env python3
"""faster-whisper's transcripts of the given WAV files, for comparison with `plinth transcribe`.

Usage: python3 bench/whisper_reference.py MODEL_DIR [--beam N] [--threads N] [--compute float32|int8] [--language xx]
       [--json OUT] FILE...
       python3 bench/whisper_reference.py --make-60s OUT.wav   (the 60-s benchmark file: pocketsphinx-testdata's
       librivox and cards clips, 0.3 s apart, librivox twice, cut to 60 s; 16 kHz 16-bit mono)
Prints one line per file: the text (segments joined as plinth's txt output joins them); --json writes
{file: {"text", "segments": [[start, end, text]...], "language", "seconds"}}. Greedy: --beam 1 (temperature 0 first,
faster-whisper's fallback left at its defaults, as plinth's).
"""
import argparse
import json
import time

from faster_whisper import WhisperModel


def make_60s(out):
    import glob
    import os

    import numpy as np
    import soundfile as sf
    if os.path.exists(out):
        return
    d = "/usr/share/pocketsphinx/test/data/"
    files = sorted(glob.glob(d + "librivox/*.wav")) + sorted(glob.glob(d + "cards/*.wav")) + sorted(glob.glob(d + "librivox/*.wav"))
    parts = []
    for f in files:
        a, sr = sf.read(f, dtype="int16")
        parts += [a, np.zeros(int(0.3 * sr), dtype="int16")]
    x = np.concatenate(parts)[: 60 * 16000]
    sf.write(out, np.pad(x, (0, 60 * 16000 - len(x))), 16000, subtype="PCM_16")


def main():
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "--make-60s":
        return make_60s(sys.argv[2])
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--beam", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compute", default="float32")
    ap.add_argument("--language", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    m = WhisperModel(a.model, device="cpu", compute_type=a.compute, cpu_threads=a.threads)
    out = {}
    for f in a.files:
        t0 = time.perf_counter()
        segs, info = m.transcribe(f, beam_size=a.beam, language=a.language, vad_filter=False)
        segs = [(s.start, s.end, s.text) for s in segs]
        dt = time.perf_counter() - t0
        text = "".join(s[2] for s in segs).strip()
        out[f] = {"text": text, "segments": segs, "language": info.language, "seconds": dt}
        print(text, flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
