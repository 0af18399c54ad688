#!/usr/bin/env python3
"""Make tests/golden/whisper/: what plinth's audio front-end and Whisper model are held to.

- A real clip (ten_of_clubs.wav: Debian pocketsphinx-testdata cards/001.wav, 16 kHz mono 16-bit, "ten of clubs") and its log-mel
  features from transformers' WhisperFeatureExtractor: the clip alone (padding="longest": every frame) and the
  clip padded to 30 s as transcription does (3000 frames; frames [0, 160) and the last 16 are kept, enough to
  check the global max clamp and the zero padding).
- A tiny random WhisperForConditionalGeneration (d_model 32, 2 + 2 layers, 2 heads, 128 input frames, vocab
  256), saved as safetensors + config.json, and again as CTranslate2's model.bin (tiny_ct2/); its encoder output on the first 128 frames of the 30-s features,
  the decoder's logits for a fixed prompt, and 12 greedy tokens (plain argmax, no rules) after that prompt.

With --faster-whisper: tests/golden/whisper/faster_whisper_tiny_en.json instead: faster-whisper's greedy (beam 1)
transcripts and segments of pocketsphinx-testdata's 10 read-speech clips with Whisper tiny.en
(models/whisper-tiny-en, scripts/fetch-models.sh), beside the clips' human transcripts.

Usage: python3 tools/make_whisper_fixtures.py [--faster-whisper]
(needs torch, transformers, ctranslate2, numpy, soundfile; --faster-whisper: faster-whisper and pocketsphinx-testdata)
"""
import json
import os

import numpy as np
import soundfile as sf
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "whisper")
CLIP = os.path.join(OUT, "ten_of_clubs.wav")  # a copy of pocketsphinx-testdata cards/001.wav
PROMPT = [1, 7, 42, 99, 3]
N_GREEDY = 12


def f32(path, a):
    np.ascontiguousarray(a, dtype=np.float32).tofile(os.path.join(OUT, path))


def save_ct2(model, out):
    """The same model in CTranslate2's model.bin layout, written by ctranslate2's own converter (float32 weights:
    the same numbers; its self-attention q|k|v and cross-attention k|v fused as CTranslate2 fuses them)"""
    from ctranslate2.converters import transformers as ct
    from ctranslate2.specs import whisper_spec
    cfg = model.config
    spec = whisper_spec.WhisperSpec(cfg.encoder_layers, cfg.encoder_attention_heads, cfg.decoder_layers,
                                    cfg.decoder_attention_heads)
    loader = ct.WhisperLoader()
    loader.set_encoder(spec.encoder, model.model.encoder)
    loader.set_decoder(spec.decoder, model.model.decoder)
    loader.set_linear(spec.decoder.projection, model.proj_out)
    spec.register_vocabulary(["t%d" % i for i in range(cfg.vocab_size)])
    spec.validate()
    spec.optimize(quantization="float32")
    os.makedirs(out, exist_ok=True)
    spec.save(out)
    os.remove(os.path.join(out, "vocabulary.json"))  # plinth reads tokenizer.json (this model has none)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    audio, sr = sf.read(CLIP, dtype="float32")
    assert sr == 16000 and audio.ndim == 1
    fe = WhisperFeatureExtractor(feature_size=80)
    # plinth reads the 16-bit WAV itself: the features are computed from the same samples (int16 / 32768)
    mel_clip = fe(audio, sampling_rate=16000, padding="longest", return_tensors="np").input_features[0]
    mel_30 = fe(audio, sampling_rate=16000, return_tensors="np").input_features[0]
    assert mel_30.shape == (80, 3000)
    f32("mel_clip.f32", mel_clip)                      # (80, n_frames), row-major: bin-major
    f32("mel_30_head.f32", mel_30[:, :160])            # (80, 160)
    f32("mel_30_tail.f32", mel_30[:, -16:])            # (80, 16)
    cfg = WhisperConfig(vocab_size=256, num_mel_bins=80, d_model=32, encoder_layers=2, decoder_layers=2,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                        decoder_ffn_dim=64, max_source_positions=64, max_target_positions=32,
                        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
                        suppress_tokens=[], begin_suppress_tokens=[], init_std=0.5)
    model = WhisperForConditionalGeneration(cfg).eval()
    with torch.no_grad():  # random LayerNorm affine and biases too, so that every weight matters
        for n, p in model.named_parameters():
            if "layer_norm" in n or n.endswith(".bias"):
                p.copy_(torch.randn_like(p) * 0.2 + (1.0 if n.endswith("layer_norm.weight") else 0.0))
    model.save_pretrained(os.path.join(OUT, "tiny"), safe_serialization=True)
    save_ct2(model, os.path.join(OUT, "tiny_ct2"))
    feats = torch.from_numpy(mel_30[:, :128].copy())[None]  # the clip then its padding
    assert feats.shape == (1, 80, 128), feats.shape
    with torch.no_grad():
        enc = model.model.encoder(feats).last_hidden_state            # (1, 64, 32)
        ids = torch.tensor([PROMPT])
        out = model(encoder_outputs=(enc,), decoder_input_ids=ids)
        logits = out.logits[0]                                         # (len(PROMPT), 256)
        seq = list(PROMPT)
        for _ in range(N_GREEDY):
            lg = model(encoder_outputs=(enc,), decoder_input_ids=torch.tensor([seq])).logits[0, -1]
            seq.append(int(lg.argmax()))
    f32("tiny_input.f32", feats[0])
    f32("tiny_encoder.f32", enc[0])
    f32("tiny_logits.f32", logits)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"clip": os.path.basename(CLIP), "mel_clip_frames": int(mel_clip.shape[1]),
                   "prompt": PROMPT, "greedy": seq[len(PROMPT):]}, f, indent=1)
        f.write("\n")
    print("wrote", OUT, "greedy", seq[len(PROMPT):])


def faster_whisper_golden():
    import glob
    import re
    import sys

    from faster_whisper import WhisperModel
    data = "/usr/share/pocketsphinx/test/data/"
    human = {}
    for tf in (data + "librivox/transcription", data + "cards/cards.transcription"):
        for line in open(tf):
            m = re.match(r"<s>(.*)</s> \((.*)\)", line.strip())
            if m:
                human[m.group(2)] = " ".join(m.group(1).split())
    model = WhisperModel(os.path.join(ROOT, "models", "whisper-tiny-en"), device="cpu", compute_type="float32", cpu_threads=2)
    clips = {}
    for f in sorted(glob.glob(data + "librivox/*.wav")) + sorted(glob.glob(data + "cards/*.wav")):
        segs, _ = model.transcribe(f, beam_size=1, vad_filter=False)
        segs = [[round(s.start, 3), round(s.end, 3), s.text] for s in segs]
        rel = f[len(data):]
        clips[rel] = {"text": "".join(s[2] for s in segs).strip(), "segments": segs,
                      "human": human[os.path.splitext(os.path.basename(f))[0]]}
    out = os.path.join(OUT, "faster_whisper_tiny_en.json")
    import faster_whisper
    with open(out, "w") as fh:
        json.dump({"made_by": "faster-whisper %s, float32, beam 1, cpu" % faster_whisper.__version__,
                   "data": data, "clips": clips}, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    print("wrote", out, file=sys.stderr)


if __name__ == "__main__":
    import sys
    if "--faster-whisper" in sys.argv:
        faster_whisper_golden()
    else:
        main()
