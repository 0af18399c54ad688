"""`plinth transcribe` with the real Whisper tiny.en (CTranslate2 layout, scripts/fetch-models.sh whisper-tiny-en):

- on Debian pocketsphinx-testdata's 10 read-speech clips, the greedy transcripts equal faster-whisper's word for
  word, and the segments' times agree (tests/golden/whisper/faster_whisper_tiny_en.json, made by
  tools/make_whisper_fixtures.py --faster-whisper); the word error rate against the clips' human transcripts is
  printed;
- a 60-s file of those clips (two 30-s windows and more): SRT and JSON tell the same segments, whose times are
  non-decreasing and within the audio; VTT and txt of a clip agree with its JSON;
- bad input: an empty file, a WAV whose header claims more data than the file holds, 0 Hz, 8 channels, a text file,
  a directory, a model directory that is not Whisper -> exit 1 with a message, no crash, and -o leaves no file;
- 20 minutes of (digital) silence: an empty transcript, and the peak memory within 40 MB of a 1-minute file's (the
  audio is streamed window by window).
"""
import json
import os
import re
import shutil
import struct
import subprocess
import wave

import pytest

from helpers import ROOT, plinth_bin

DATA = "/usr/share/pocketsphinx/test/data/"
GOLDEN = os.path.join(ROOT, "tests", "golden", "whisper", "faster_whisper_tiny_en.json")
MODEL = os.path.join(ROOT, "models", "whisper-tiny-en")


@pytest.fixture(scope="module")
def tiny_en():
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-models.sh"), "whisper-tiny-en"], check=True,
                   capture_output=True)
    assert os.path.exists(os.path.join(MODEL, "model.bin"))
    return MODEL


def transcribe(model, files, *opts, check=True):
    r = subprocess.run([plinth_bin(), "transcribe", "-m", model, "-t", "2", *opts, *files], capture_output=True,
                       text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def json_docs(text):
    dec, i, out = json.JSONDecoder(), 0, []
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        doc, i = dec.raw_decode(text, i)
        out.append(doc)
    return out


def words(s):
    """lower case, no punctuation, numbers as words (enough for these clips' vocabulary)"""
    nums = "zero one two three four five six seven eight nine ten".split()
    s = s.lower().replace("mr.", "mister").replace("-", " ")
    s = re.sub(r"\b(10|[0-9])\b", lambda m: nums[int(m.group(1))], s)
    return re.sub(r"[^a-z' ]", " ", s).split()


def wer(ref, hyp):
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)], len(ref)


@pytest.mark.skipif(not os.path.isdir(DATA), reason="needs Debian pocketsphinx-testdata (make deps)")
def test_greedy_equals_faster_whisper(tiny_en):
    with open(GOLDEN, encoding="utf-8") as f:
        golden = json.load(f)["clips"]
    names = sorted(golden)
    docs = []
    for part in (names[:5], names[5:]):
        docs += json_docs(transcribe(tiny_en, [DATA + n for n in part], "--output-format", "json").stdout)
    assert len(docs) == len(names)
    errs = refs = 0
    for name, doc in zip(names, docs):
        g = golden[name]
        assert doc["text"] == g["text"], name
        assert len(doc["segments"]) == len(g["segments"]), name
        for s, (t0, t1, text) in zip(doc["segments"], g["segments"]):
            assert s["text"] == text
            t1 = min(t1, doc["duration"])  # faster-whisper's last end may pass the end of the audio; plinth's may not
            assert abs(s["start"] - t0) < 0.011 and abs(s["end"] - t1) < 0.011, (name, s, t0, t1)
        e, n = wer(words(g["human"]), words(doc["text"]))
        errs, refs = errs + e, refs + n
    print(f"\nWhisper tiny.en, greedy, 10 pocketsphinx-testdata clips: WER {100.0 * errs / refs:.1f}% ({errs}/{refs} words)")


def make_wav(path, seconds, rate=16000, channels=1, samples=None, claim=None):
    """16-bit PCM; samples: bytes of the data (default silence); claim: the data size the header states"""
    data = samples if samples is not None else bytes(int(seconds * rate) * channels * 2)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate,
                rate * channels * 2, channels * 2, 16) + b"data" + struct.pack("<I", len(data) if claim is None else claim))
        f.write(data)
    return path


@pytest.mark.skipif(not os.path.isdir(DATA), reason="needs Debian pocketsphinx-testdata (make deps)")
def test_subtitles_of_a_minute(tiny_en, tmp_path):
    clips = sorted(os.path.join(DATA, "librivox", f) for f in os.listdir(DATA + "librivox") if f.endswith(".wav"))
    clips += sorted(os.path.join(DATA, "cards", f) for f in os.listdir(DATA + "cards") if f.endswith(".wav"))
    pcm = b""
    for c in clips + clips:
        with wave.open(c) as w:
            pcm += w.readframes(w.getnframes()) + bytes(int(0.3 * 16000) * 2)
    pcm = pcm[:60 * 16000 * 2]
    wav = make_wav(str(tmp_path / "minute.wav"), 0, samples=pcm)
    duration = len(pcm) / 2 / 16000
    out = {}
    for fmt in ("json", "srt"):
        out[fmt] = transcribe(tiny_en, [wav], "--output-format", fmt).stdout
    # the decoder's steps on two threads (default one): the same segments, the same words
    two = json.loads(transcribe(tiny_en, [wav], "--output-format", "json", "--decoder-threads", "2").stdout)
    doc = json.loads(out["json"])
    assert [s["text"] for s in two["segments"]] == [s["text"] for s in doc["segments"]]
    assert all(abs(a["start"] - b["start"]) < 0.011 for a, b in zip(two["segments"], doc["segments"]))
    segs = doc["segments"]
    assert abs(doc["duration"] - duration) < 1e-3 and doc["language"] == "en"
    assert len(segs) >= 8 and segs[-1]["end"] > 40.0  # decoded past the first and second windows
    for a, b in zip(segs, segs[1:]):
        assert a["start"] <= b["start"]
    for s in segs:
        assert 0 <= s["start"] <= s["end"] <= duration
    words_all = " ".join(words(doc["text"]))
    assert "dashwood" in words_all and "hearts" in words_all
    check_cues(out["srt"], ",", segs)
    assert re.match(r"1\n00:00:00,000 --> ", out["srt"])
    # VTT and text of a short clip say what its JSON says
    clip = DATA + "librivox/sense_and_sensibility_01_austen_64kb-0880.wav"
    segs = json.loads(transcribe(tiny_en, [clip], "--output-format", "json").stdout)["segments"]
    vtt = transcribe(tiny_en, [clip], "--output-format", "vtt").stdout
    assert vtt.startswith("WEBVTT\n\n")
    check_cues(vtt, ".", segs)
    txt = transcribe(tiny_en, [clip], "--output-format", "txt").stdout
    assert txt.splitlines() == [s["text"].strip() for s in segs]


def check_cues(text, sep, segs):
    stamp = r"(\d\d):(\d\d):(\d\d)" + re.escape(sep) + r"(\d\d\d)"
    cues = re.findall(stamp + " --> " + stamp + r"\n(.*)\n", text)
    assert len(cues) == len(segs)
    for c, s in zip(cues, segs):
        t0 = int(c[0]) * 3600 + int(c[1]) * 60 + int(c[2]) + int(c[3]) / 1000
        t1 = int(c[4]) * 3600 + int(c[5]) * 60 + int(c[6]) + int(c[7]) / 1000
        assert abs(t0 - s["start"]) < 1e-3 and abs(t1 - s["end"]) < 1e-3 and c[8] == s["text"].strip()


def test_bad_input(tiny_en, tmp_path):
    cases = {
        "empty.wav": (lambda p: open(p, "wb").close(), "empty"),
        "lying.wav": (lambda p: make_wav(p, 0.5, claim=1 << 30), "truncated"),
        "zero_hz.wav": (lambda p: make_wav(p, 0, rate=0, samples=bytes(3200)), "0 Hz"),
        "eight.wav": (lambda p: make_wav(p, 0.5, channels=8), "8 channels"),
        "notes.wav": (lambda p: open(p, "w").write("not audio at all, only some text\n" * 20), "not a WAV"),
    }
    for name, (make, words_) in cases.items():
        path = str(tmp_path / name)
        make(path)
        out = str(tmp_path / (name + ".srt"))
        r = transcribe(tiny_en, [path], "--output-format", "srt", "-o", out, check=False)
        assert r.returncode == 1, (name, r.returncode, r.stderr)
        assert words_ in r.stderr, (name, r.stderr)
        assert not os.path.exists(out) and not [f for f in os.listdir(tmp_path) if ".tmp" in f]
    r = transcribe(tiny_en, [str(tmp_path)], check=False)
    assert r.returncode == 1 and "directory" in r.stderr
    r = transcribe(os.path.join(ROOT, "tests", "golden", "lm", "llama"), [str(tmp_path / "eight.wav")], check=False)
    assert r.returncode == 1 and r.stderr.startswith("plinth transcribe: ")
    r = transcribe(tiny_en, [str(tmp_path / "eight.wav")], "--output-format", "docx", check=False)
    assert r.returncode == 2 and "output-format" in r.stderr
    r = transcribe(tiny_en, [str(tmp_path / "eight.wav")], "--language", "ko", check=False)
    assert r.returncode == 1 and "English-only" in r.stderr
    r = transcribe(tiny_en, [str(tmp_path / "eight.wav")], "--detect-language", check=False)
    assert r.returncode == 1 and "English-only" in r.stderr
    r = transcribe(tiny_en, [str(tmp_path / "eight.wav")], "--no-speech-threshold", "2", check=False)
    assert r.returncode == 2 and "no-speech-threshold" in r.stderr


def test_twenty_minutes_of_silence(tiny_en, tmp_path):
    rss = {}
    for minutes in (1, 20):
        wav = make_wav(str(tmp_path / f"silence{minutes}.wav"), 60 * minutes)
        p = subprocess.Popen([plinth_bin(), "transcribe", "-m", tiny_en, "-t", "2", "--output-format", "json", wav],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(p.pid, 0)
        out, err = p.stdout.read().decode(), p.stderr.read().decode()
        assert os.waitstatus_to_exitcode(status) == 0, err
        doc = json.loads(out)
        assert doc["duration"] == 60.0 * minutes
        assert doc["segments"] == [] and doc["text"] == ""  # all-zero windows are skipped (transcribe.h)
        rss[minutes] = ru.ru_maxrss / 1024  # kB -> MB
    print(f"\npeak RSS: 1 min of silence {rss[1]:.0f} MB, 20 min {rss[20]:.0f} MB")
    assert rss[20] < rss[1] + 40


# ---- the multilingual base model: language detection, Korean --------------------------------------------------
BASE = os.path.join(ROOT, "models", "whisper-base")
LANGS = os.path.join(ROOT, "tests", "golden", "whisper", "faster_whisper_base_langs.json")
# espeak-ng's Korean voice with its "f5" variant at 100 words a minute (docs/transcribe.md, "Korean"): with espeak's
# default voice and speed Whisper base hears Thai, plinth and faster-whisper alike (bench/RESULTS.md)
KOREAN = "안녕하세요. 오늘 날씨가 정말 좋네요. 저는 한국어를 공부하고 있습니다."
ESPEAK_KO = ["-v", "ko+f5", "-s", "100"]


@pytest.fixture(scope="module")
def base():
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-models.sh"), "whisper-base"], check=True,
                   capture_output=True)
    assert os.path.exists(os.path.join(BASE, "model.bin"))
    return BASE


def cer(ref, hyp):
    """character error rate: edit distance over the characters, spaces and punctuation left out"""
    keep = lambda s: [c for c in s if c.isalnum()]  # noqa: E731
    e, n = wer(keep(ref), keep(hyp))
    return e / n


@pytest.mark.skipif(not os.path.isdir(DATA), reason="needs Debian pocketsphinx-testdata (make deps)")
def test_language_probabilities_equal_faster_whisper(base):
    """--detect-language: the five likeliest languages and their probabilities, as faster-whisper's detect_language
    gives them on the same clips (tools/make_whisper_lang_fixture.py), within 2e-4"""
    with open(LANGS) as f:
        golden = json.load(f)["clips"]
    names = sorted(golden)
    docs = json_docs(transcribe(base, [DATA + n for n in names[:8]], "--detect-language", "-f", "json").stdout)
    docs += json_docs(transcribe(base, [DATA + n for n in names[8:]], "--detect-language", "-f", "json").stdout)
    assert len(docs) == len(names)
    for name, doc in zip(names, docs):
        g = golden[name]
        assert doc["language"] == g[0][0] and doc["segments"] == [], name
        assert list(doc["language_probs"]) == [c for c, _ in g], name
        for c, p in g:
            assert abs(doc["language_probs"][c] - p) < 2e-4, (name, c, doc["language_probs"][c], p)
    r = transcribe(base, [DATA + names[0]], "--detect-language")
    first = r.stdout.split("\n")[0].split()
    assert first[0] == golden[names[0]][0][0] and abs(float(first[1]) - golden[names[0]][0][1]) < 2e-4
    r = transcribe(base, [DATA + names[0]], "--detect-language", "--language", "en", check=False)
    assert r.returncode == 1 and "exclude" in r.stderr


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="needs espeak-ng (make deps)")
def test_korean_speech_is_detected_as_korean(base, tmp_path):
    wav = str(tmp_path / "ko.wav")
    subprocess.run(["espeak-ng", *ESPEAK_KO, "-w", wav, KOREAN], check=True, capture_output=True)
    # Whisper base finds espeak's voice unlike speech (<|nospeech|> 0.85, average log-probability -1.4: the window
    # would be skipped as silence, by faster-whisper too), so the no-speech check is off here
    doc = json.loads(transcribe(base, [wav], "-f", "json", "--no-speech-threshold", "0").stdout)
    probs = doc["language_probs"]
    print(f"\nespeak-ng {' '.join(ESPEAK_KO)}, Whisper base: language {doc['language']} ({probs}); "
          f"text {doc['text']!r}; CER {100 * cer(KOREAN, doc['text']):.0f}%")
    assert doc["language"] == "ko" and list(probs)[0] == "ko"
    assert doc["segments"] and all(0 <= s["start"] <= s["end"] <= doc["duration"] for s in doc["segments"])
    # the transcript is mostly Hangul (synthetic speech: the characters themselves are for the record, not asserted)
    hangul = sum("\uac00" <= c <= "\ud7a3" for c in doc["text"])
    assert hangul >= 0.5 * sum(c.isalnum() for c in doc["text"]), doc["text"]
