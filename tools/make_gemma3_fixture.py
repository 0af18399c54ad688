#!/usr/bin/env python3
"""Make tests/golden/gemma3/: a tiny random-weight Gemma 3 (transformers' Gemma3ForCausalLM, fixed seed) written
as a GGUF in the layout of llama.cpp's Gemma 3 files, and the reference logits of every position of two prompts.

  model.gguf     arch "gemma3", all f32; the tensor names and keys of the real gemma-3-270m GGUF: every
                 *norm.weight stored as 1 + w (Gemma3RMSNorm multiplies by 1 + w; llama.cpp's converter folds the
                 1 in), Q/K not permuted (rotate-half rope), no output.weight (LM head tied), sliding window in
                 gemma3.attention.sliding_window, global-layer period in gemma3.attention.sliding_window_pattern
                 (as llama.cpp reads it; the real file omits it and the default, 6, applies). No tokenizer.
  logits.f32     every position's logits of each prompt, concatenated (prompt, position, vocab), f32 LE
  expected.json  prompts, offsets into logits.f32, sizes, seed

Sizes: hidden 64, 3 layers (local, local, global: pattern 3), 2 heads / 1 kv head, head_dim 32, ffn 128,
vocab 300, sliding window 4, rope base 1e6 (global) / 1e4 (local), query_pre_attn_scalar 32, rms eps 1e-6.
Prompts are 20 and 9 tokens: longer than the window, so a loader without the window mask fails.

`real` mode: real_270m.json, transformers' view of the real Gemma-3-270M Q4_K_M GGUF (scripts/fetch-models.sh
gemma3; loaded with gguf_file=, i.e. dequantized to f32): token ids of a few English / Korean / emoji / special-token
lines and the 20-token greedy continuation of 3 prompts with each step's top-2 margin (tests/e2e/test_gemma3.py).

Usage: python3 tools/make_gemma3_fixture.py [tiny|real]   (from the repository root; default tiny; deterministic)
Needs torch, transformers, gguf, numpy (tools only).
"""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "gemma3")
SEED = 7
VOCAB, HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, FFN, CTX, WINDOW, PATTERN = 300, 64, 3, 2, 1, 32, 128, 64, 4, 3
PROMPTS = [[2, 17, 250, 3, 99, 42, 42, 7, 128, 64, 33, 0, 299, 12, 5, 6, 200, 201, 11, 90],
           [2, 9, 8, 7, 6, 5, 4, 3, 1]]


def build():
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    cfg = Gemma3TextConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
                           num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM,
                           max_position_embeddings=CTX, rms_norm_eps=1e-6, query_pre_attn_scalar=HEAD_DIM,
                           sliding_window=WINDOW, sliding_window_pattern=PATTERN, rope_theta=1e6,
                           rope_local_base_freq=1e4, tie_word_embeddings=True, hidden_activation="gelu_pytorch_tanh",
                           pad_token_id=0, bos_token_id=2, eos_token_id=1)
    assert cfg.layer_types == ["sliding_attention", "sliding_attention", "full_attention"], cfg.layer_types
    cfg._attn_implementation = "eager"
    torch.manual_seed(SEED)
    model = Gemma3ForCausalLM(cfg).float().eval()
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():  # larger than HF's init so every part moves the logits; norms: w ~ N(0, 0.1^2) -> 1 + w
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))
    model.tie_weights()
    return model, cfg


def write_gguf(path, model, cfg):
    import gguf
    import numpy as np
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    w = gguf.GGUFWriter(path, "gemma3")
    w.add_name("plinth-test-gemma3")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    w.add_rope_freq_base(cfg.rope_parameters["full_attention"]["rope_theta"])
    w.add_sliding_window(cfg.sliding_window)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_uint32("gemma3.attention.sliding_window_pattern", PATTERN)
    w.add_file_type(0)

    def norm(x):  # Gemma3RMSNorm's (1 + w), as llama.cpp's converter stores it
        return (x + 1.0).astype(np.float32)
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(cfg.num_hidden_layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", norm(sd[p + "input_layernorm.weight"]))
        w.add_tensor(b + "attn_q.weight", sd[p + "self_attn.q_proj.weight"])
        w.add_tensor(b + "attn_k.weight", sd[p + "self_attn.k_proj.weight"])
        w.add_tensor(b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        w.add_tensor(b + "attn_q_norm.weight", norm(sd[p + "self_attn.q_norm.weight"]))
        w.add_tensor(b + "attn_k_norm.weight", norm(sd[p + "self_attn.k_norm.weight"]))
        w.add_tensor(b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        w.add_tensor(b + "post_attention_norm.weight", norm(sd[p + "post_attention_layernorm.weight"]))
        w.add_tensor(b + "ffn_norm.weight", norm(sd[p + "pre_feedforward_layernorm.weight"]))
        w.add_tensor(b + "ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        w.add_tensor(b + "ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        w.add_tensor(b + "ffn_down.weight", sd[p + "mlp.down_proj.weight"])
        w.add_tensor(b + "post_ffw_norm.weight", norm(sd[p + "post_feedforward_layernorm.weight"]))
    w.add_tensor("output_norm.weight", norm(sd["model.norm.weight"]))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    import torch
    model, cfg = build()
    os.makedirs(OUT, exist_ok=True)
    write_gguf(os.path.join(OUT, "model.gguf"), model, cfg)
    index, chunks, offset = [], [], 0
    with torch.no_grad():
        for ids in PROMPTS:
            lg = model(torch.tensor([ids])).logits[0].float().numpy().astype("<f4")
            index.append({"offset": offset, "shape": list(lg.shape)})
            offset += lg.size
            chunks.append(lg.tobytes())
        # the window matters: the same model with every layer global gives different logits
        model.config.sliding_window = 10 ** 6
        for layer in model.model.layers:
            layer.self_attn.sliding_window = None
        full = model(torch.tensor([PROMPTS[0]])).logits[0].float().numpy()
    with open(os.path.join(OUT, "logits.f32"), "wb") as f:
        f.write(b"".join(chunks))
    import numpy as np
    ref0 = np.frombuffer(chunks[0], dtype="<f4").reshape(full.shape)
    meta = {"seed": SEED, "prompts": PROMPTS, "vocab": VOCAB, "sliding_window": WINDOW,
            "sliding_window_pattern": PATTERN, "logits_file": "logits.f32", "logits_dtype": "float32 little-endian",
            "logits": index, "max_diff_without_window": float(np.abs(full - ref0).max())}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("wrote", OUT, "| logits move by", meta["max_diff_without_window"], "without the window")


REAL_MODEL = os.path.join("models", "gemma3-270m", "gemma-3-270m-q4_k_m.gguf")
TOKENIZE_LINES = ["The capital of France is", "Hello world!  Two  spaces, and\ttabs.\nNew line",
                  "한국어 문장입니다. 서울은 대한민국의 수도입니다.",
                  "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
                  "must be in want of a wife.", " leading space and trailing ", "🎉 emoji and numbers 12345 3.14159",
                  "<start_of_turn>user\nhi<end_of_turn>"]
GREEDY_PROMPTS = ["The capital of France is", "Once upon a time", "def fibonacci(n):"]


def make_real():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    d, f = os.path.split(os.path.join(ROOT, REAL_MODEL))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    out = {"model": REAL_MODEL, "tokenize": [{"text": t, "ids": tok(t)["input_ids"]} for t in TOKENIZE_LINES],
           "greedy": []}
    for p in GREEDY_PROMPTS:
        x = tok(p, return_tensors="pt")
        with torch.no_grad():
            g = model.generate(**x, max_new_tokens=20, do_sample=False, output_scores=True,
                               return_dict_in_generate=True)
        new = g.sequences[0, x["input_ids"].shape[1]:].tolist()
        margins = [round(float(torch.topk(s[0], 2).values[0] - torch.topk(s[0], 2).values[1]), 6) for s in g.scores]
        out["greedy"].append({"prompt": p, "ids": new, "text": tok.decode(new), "top2_margins": margins})
    path = os.path.join(OUT, "real_270m.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    import sys
    make_real() if sys.argv[1:] == ["real"] else main()
