#!/usr/bin/env python3
"""faster-whisper's transcripts of the given WAV files, for comparison with `plinth transcribe`.

Usage: python3 bench/whisper_reference.py MODEL_DIR [--beam N] [--threads N] [--compute float32|int8] [--language xx]
       [--json OUT] FILE...
Prints one line per file: the text (segments joined as plinth's txt output joins them); --json writes
{file: {"text", "segments": [[start, end, text]...], "language", "seconds"}}. Greedy: --beam 1 (temperature 0 first,
faster-whisper's fallback left at its defaults, as plinth's).
"""
import argparse
import json
import time

from faster_whisper import WhisperModel


def main():
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
