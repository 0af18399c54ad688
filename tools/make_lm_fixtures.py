#!/usr/bin/env python3
"""Make the language-model fixtures under tests/golden/lm/ (the reference side of issue 4).

  chat    chat_templates.json: real Jinja chat templates of each family, rendered by transformers'
          own renderer for a few conversations; the C test holds src/tasks/chat_template.c to them byte for byte.
  models  tiny random-weight Llama / Llama-3-rope / linear-rope Llama / Qwen2 / GPT-2 models (fixed seed) saved as an HF
          directory (config.json + model.safetensors, f32) and a GGUF f32 file with llama.cpp's names and
          metadata, plus the logits of every position for 3 prompts and 32-token greedy continuations.

  verify  recompute the logits from the GGUF files with numpy alone (checks the GGUF layout).

Usage: python3 tools/make_lm_fixtures.py [chat|models|verify|all]   (from the repository root; deterministic)
Needs torch, transformers, jinja2, gguf, safetensors, numpy (tools only; the tests need none of these).
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "golden", "lm")

# ------------------------------------------------------------------------------------------- chat ----
# Canonical templates of each family as published in the models' tokenizer_config.json (written out here so
# the fixture does not need the hub). SmolLM2's comes from the GGUF we ship (tokenizer.chat_template).
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
QWEN2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
         "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
         "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
         "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA3 = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
          "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
          "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
          "{{ content }}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
LLAMA2 = ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
          "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}"
          "{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
          "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
          "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
          "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
          "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
          "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
          "{% endfor %}")
MISTRAL = ("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
           "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
           "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
           "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
           "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}")
# Gemma 3 style: the system message is folded into the first user turn; the assistant role is "model".
GEMMA = ("{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n"
         "    {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
         "    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n"
         "    {%- set loop_messages = messages -%}\n{%- endif -%}\n{%- for message in loop_messages -%}\n"
         "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
         "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
         "    {%- endif -%}\n    {%- if (message['role'] == 'assistant') -%}\n        {%- set role = \"model\" -%}\n"
         "    {%- else -%}\n        {%- set role = message['role'] -%}\n    {%- endif -%}\n"
         "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
         "    {{- message['content'] | trim }}\n    {{- '<end_of_turn>\\n' }}\n{%- endfor -%}\n"
         "{%- if add_generation_prompt -%}\n    {{'<start_of_turn>model\\n'}}\n{%- endif -%}\n")
ZEPHYR = ("{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
          "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
          "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
          "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}")

SPECIAL = {  # bos/eos text each family's tokenizer passes to the template
    "chatml": ("", "<|im_end|>"), "llama3": ("<|begin_of_text|>", "<|eot_id|>"), "llama2": ("<s>", "</s>"),
    "mistral": ("<s>", "</s>"), "gemma": ("<bos>", "<eos>"), "zephyr": ("<s>", "</s>"),
}

CONVERSATIONS = [
    ("user_only", [{"role": "user", "content": "Hello!"}], True),
    ("user_only_nogen", [{"role": "user", "content": "Hello!"}], False),
    ("system_user", [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "What is 2+2?"}], True),
    ("multi_turn", [{"role": "system", "content": "Be kind."},
                    {"role": "user", "content": "Hi there"},
                    {"role": "assistant", "content": "Hello! How can I help?"},
                    {"role": "user", "content": "Tell me a joke about C.\nMake it short."}], True),
    ("multi_turn_nosys", [{"role": "user", "content": "  Padded question?  \n"},
                          {"role": "assistant", "content": " An answer. "},
                          {"role": "user", "content": "Thanks, ünïcødé ✓"}], False),
    ("ends_with_assistant", [{"role": "user", "content": "Say yes."},
                             {"role": "assistant", "content": "Yes."}], False),
]


def smollm2_template():
    import gguf
    path = os.path.join(ROOT, "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    r = gguf.GGUFReader(path)
    f = r.fields["tokenizer.chat_template"]
    return bytes(f.parts[f.data[0]]).decode("utf-8")


def make_chat():
    from transformers.utils.chat_template_utils import render_jinja_template
    templates = [("smollm2", "chatml", smollm2_template()), ("chatml", "chatml", CHATML), ("qwen2", "chatml", QWEN2),
                 ("llama3", "llama3", LLAMA3), ("llama2", "llama2", LLAMA2), ("mistral", "mistral", MISTRAL),
                 ("gemma", "gemma", GEMMA), ("zephyr", "zephyr", ZEPHYR)]
    out = {"templates": []}
    for name, family, tmpl in templates:
        bos, eos = SPECIAL[family]
        cases = []
        for cname, msgs, gen in CONVERSATIONS:
            try:
                text = render_jinja_template(conversations=[msgs], chat_template=tmpl, add_generation_prompt=gen,
                                             bos_token=bos, eos_token=eos)[0][0]
                cases.append({"name": cname, "messages": msgs, "add_generation_prompt": gen, "expected": text})
            except Exception as e:  # the template refuses this conversation (e.g. Mistral has no system role)
                cases.append({"name": cname, "messages": msgs, "add_generation_prompt": gen, "error": str(e)})
        out["templates"].append({"name": name, "family": family, "bos_token": bos, "eos_token": eos,
                                 "template": tmpl, "cases": cases})
    path = os.path.join(OUT, "chat_templates.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote", path)


# ----------------------------------------------------------------------------------------- models ----
VOCAB, HIDDEN, HEADS, KV_HEADS, LAYERS, FFN, CTX, GPT2_CTX = 256, 64, 4, 2, 2, 128, 128, 64
PROMPTS = [[1, 17, 200, 3, 99],
           [5, 250, 42, 42, 7, 128, 64, 33, 0, 255, 12],
           [9, 8, 7, 6, 5, 4, 3, 2, 1, 100, 101, 102, 103, 104, 105, 106]]
N_GEN = 32
LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 32}  # small, so the 8 head_dim/2 frequencies hit all 3 cases
LINEAR_SCALING = {"rope_type": "linear", "factor": 2.0}  # positions divided by 2 (llama.cpp: freq_scale 0.5)


def init_weights(model, seed):
    """Replace HF's tiny default init (std 0.02, near-uniform logits) with larger random weights so greedy
    decoding has clear margins; norms get 1 + noise so a loader that ignores them fails."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.dim() == 1 and ("norm" in name or "ln_" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:  # biases
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed" in name or "wte" in name or "wpe" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))


def llama_permute(w, n_head):
    """What llama.cpp's convert_hf_to_gguf.py does to Q (n_head) and K (n_head_kv) of Llama models: within each
    head, rows go from HF's rotate-half order [x0..x_{d/2-1}, y0..y_{d/2-1}] to interleaved pairs [x0, y0, x1,
    y1, ...] (ggml's normal rope mode rotates adjacent pairs)."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def rope_params(cfg):
    """transformers 5 keeps rope_theta / rope_scaling together in cfg.rope_parameters; older ones apart."""
    rp = getattr(cfg, "rope_parameters", None)
    if rp:
        return dict(rp)
    out = dict(getattr(cfg, "rope_scaling", None) or {})
    out["rope_theta"] = cfg.rope_theta
    return out


def add_legacy_rope_keys(d):
    """Real checkpoints on the hub carry top-level rope_theta (and rope_scaling for Llama 3.x); transformers 5
    writes only rope_parameters. Write both so a loader meets the common form and the new one."""
    path = os.path.join(d, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    rp = cfg.get("rope_parameters")
    if rp:
        cfg["rope_theta"] = rp["rope_theta"]
        if rp.get("rope_type", "default") != "default":
            cfg["rope_scaling"] = {k: v for k, v in rp.items() if k != "rope_theta"}
    cfg.pop("transformers_version", None)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def llama3_freq_factors(cfg):
    """rope_freqs.weight as llama.cpp writes it for rope_type llama3: one divisor per frequency."""
    import math
    import numpy as np
    sc = rope_params(cfg)
    dim = cfg.hidden_size // cfg.num_attention_heads
    factor, lo, hi, old = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"], sc["original_max_position_embeddings"]
    out = []
    for i in range(0, dim, 2):
        freq = 1.0 / (sc["rope_theta"] ** (i / dim))
        wavelen = 2 * math.pi / freq
        if wavelen < old / hi:
            out.append(1.0)
        elif wavelen > old / lo:
            out.append(factor)
        else:
            smooth = (old / wavelen - lo) / (hi - lo)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def write_gguf_llama(path, arch, model, cfg):
    import gguf
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    w = gguf.GGUFWriter(path, arch)
    w.add_name("plinth-test-" + os.path.basename(os.path.dirname(path)))
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(rope_params(cfg)["rope_theta"])
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(0)  # all f32
    permute = arch == "llama"  # qwen2 uses NEOX-style rope in llama.cpp: no permutation
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    if arch == "llama" and rope_params(cfg).get("rope_type", "default") == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_freq_factors(cfg))
    if rope_params(cfg).get("rope_type", "default") == "linear":  # llama.cpp: {arch}.rope.scaling.type/.factor
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(rope_params(cfg)["factor"])
    for i in range(cfg.num_hidden_layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        q, k = sd[p + "self_attn.q_proj.weight"], sd[p + "self_attn.k_proj.weight"]
        if permute:
            q, k = llama_permute(q, cfg.num_attention_heads), llama_permute(k, cfg.num_key_value_heads)
        w.add_tensor(b + "attn_norm.weight", sd[p + "input_layernorm.weight"])
        w.add_tensor(b + "attn_q.weight", q)
        w.add_tensor(b + "attn_k.weight", k)
        w.add_tensor(b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        if arch == "qwen2":
            for x in "qkv":
                w.add_tensor(b + f"attn_{x}.bias", sd[p + f"self_attn.{x}_proj.bias"])
        w.add_tensor(b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        w.add_tensor(b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        w.add_tensor(b + "ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        w.add_tensor(b + "ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        w.add_tensor(b + "ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    w.add_tensor("output.weight", sd["lm_head.weight"])
    finish_gguf(w)


def write_gguf_gpt2(path, model, cfg):
    import gguf
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    w = gguf.GGUFWriter(path, "gpt2")
    w.add_name("plinth-test-gpt2")
    w.add_context_length(cfg.n_positions)
    w.add_embedding_length(cfg.n_embd)
    w.add_block_count(cfg.n_layer)
    w.add_feed_forward_length(4 * cfg.n_embd)
    w.add_head_count(cfg.n_head)
    w.add_head_count_kv(cfg.n_head)
    w.add_layer_norm_eps(cfg.layer_norm_epsilon)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(0)
    w.add_tensor("token_embd.weight", sd["transformer.wte.weight"])
    w.add_tensor("position_embd.weight", sd["transformer.wpe.weight"])
    for i in range(cfg.n_layer):
        p, b = f"transformer.h.{i}.", f"blk.{i}."
        # HF GPT-2 uses Conv1D, weight (in, out); GGUF (like nn.Linear) wants (out, in): transpose
        w.add_tensor(b + "attn_norm.weight", sd[p + "ln_1.weight"])
        w.add_tensor(b + "attn_norm.bias", sd[p + "ln_1.bias"])
        w.add_tensor(b + "attn_qkv.weight", sd[p + "attn.c_attn.weight"].T.copy())
        w.add_tensor(b + "attn_qkv.bias", sd[p + "attn.c_attn.bias"])
        w.add_tensor(b + "attn_output.weight", sd[p + "attn.c_proj.weight"].T.copy())
        w.add_tensor(b + "attn_output.bias", sd[p + "attn.c_proj.bias"])
        w.add_tensor(b + "ffn_norm.weight", sd[p + "ln_2.weight"])
        w.add_tensor(b + "ffn_norm.bias", sd[p + "ln_2.bias"])
        w.add_tensor(b + "ffn_up.weight", sd[p + "mlp.c_fc.weight"].T.copy())
        w.add_tensor(b + "ffn_up.bias", sd[p + "mlp.c_fc.bias"])
        w.add_tensor(b + "ffn_down.weight", sd[p + "mlp.c_proj.weight"].T.copy())
        w.add_tensor(b + "ffn_down.bias", sd[p + "mlp.c_proj.bias"])
    w.add_tensor("output_norm.weight", sd["transformer.ln_f.weight"])
    w.add_tensor("output_norm.bias", sd["transformer.ln_f.bias"])
    # output.weight is left out: GPT-2 ties the LM head to token_embd (llama.cpp's converter does the same)
    finish_gguf(w)


def finish_gguf(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def run_reference(model):
    """Logits of every position of each prompt, and the 32-token greedy continuation of each prompt."""
    import torch
    logits, greedy, margins = [], [], []
    with torch.no_grad():
        for ids in PROMPTS:
            x = torch.tensor([ids])
            logits.append(model(x).logits[0].float().numpy().astype("<f4"))
            out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=N_GEN,
                                 min_new_tokens=N_GEN, do_sample=False, pad_token_id=0, eos_token_id=None,
                                 output_scores=True, return_dict_in_generate=True)
            greedy.append(out.sequences[0, len(ids):].tolist())
            top2 = [torch.topk(s[0], 2).values for s in out.scores]
            margins.append(round(min(float(t[0] - t[1]) for t in top2), 6))
    return logits, greedy, margins


def write_expected(d, seed, logits, greedy, margins):
    """logits.f32: the logits of every position of each prompt, concatenated (prompt-major, then position,
    then vocab), little-endian f32; expected.json indexes it and holds the greedy continuations."""
    index, offset = [], 0
    for lg in logits:
        index.append({"offset": offset, "shape": list(lg.shape)})
        offset += lg.size
    with open(os.path.join(d, "logits.f32"), "wb") as f:
        f.write(b"".join(lg.tobytes() for lg in logits))
    meta = {"seed": seed, "prompts": PROMPTS, "logits_file": "logits.f32", "logits_dtype": "float32 little-endian",
            "logits": index, "greedy_new_tokens": N_GEN, "greedy": greedy, "greedy_min_top2_margin": margins}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


MIN_MARGIN = 0.01  # greedy steps whose top-2 logits are closer than this could flip under f32 rounding


def build_model(cls, cfg, base_seed):
    """First seed (base, base + 1000, ...) whose greedy continuations never have a near-tie."""
    import torch
    for attempt in range(50):
        seed = base_seed + 1000 * attempt
        torch.manual_seed(seed)
        model = cls(cfg).float().eval()
        init_weights(model, seed)
        if getattr(cfg, "tie_word_embeddings", False):
            model.tie_weights()
        ref = run_reference(model)
        if min(ref[2]) >= MIN_MARGIN:
            return model, seed, ref
    raise RuntimeError("no seed gave clear greedy margins")


def make_models():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    common = dict(vocab_size=VOCAB, hidden_size=HIDDEN, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
                  num_hidden_layers=LAYERS, intermediate_size=FFN, max_position_embeddings=CTX, rope_theta=10000.0,
                  rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, torch_dtype="float32")
    specs = [
        ("llama", "llama", LlamaForCausalLM, LlamaConfig(**common), 1),
        ("llama3rope", "llama", LlamaForCausalLM, LlamaConfig(**common, rope_scaling=LLAMA3_SCALING), 2),
        ("llamalinear", "llama", LlamaForCausalLM, LlamaConfig(**common, rope_scaling=LINEAR_SCALING), 5),
        ("qwen2", "qwen2", Qwen2ForCausalLM, Qwen2Config(**common, use_sliding_window=False), 3),
        ("gpt2", "gpt2", GPT2LMHeadModel,
         GPT2Config(vocab_size=VOCAB, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_positions=GPT2_CTX,
                    layer_norm_epsilon=1e-5, bos_token_id=1, eos_token_id=2, torch_dtype="float32"), 4),
    ]
    for name, arch, cls, cfg, base_seed in specs:
        cfg._attn_implementation = "eager"
        model, seed, (logits, greedy, margins) = build_model(cls, cfg, base_seed)
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        model.save_pretrained(d, safe_serialization=True)
        if os.path.exists(os.path.join(d, "generation_config.json")):
            os.remove(os.path.join(d, "generation_config.json"))
        if arch != "gpt2":
            add_legacy_rope_keys(d)
        gg = os.path.join(d, "model.gguf")
        if arch == "gpt2":
            write_gguf_gpt2(gg, model, cfg)
        else:
            write_gguf_llama(gg, arch, model, cfg)
        write_expected(d, seed, logits, greedy, margins)
        print(f"wrote {d}: seed {seed}, greedy min top-2 margin {min(margins):.4f}")

# ----------------------------------------------------------------------------------------- verify ----
def verify_gguf():
    """Recompute every prompt's logits from the GGUF files alone with numpy, using ggml's conventions
    (interleaved-pair rope for llama after the Q/K permutation, NEOX rope for qwen2, rope_freqs divisors,
    Conv1D already transposed for gpt2). Proves the GGUF layout in README.md is the one described."""
    import gguf
    import numpy as np

    def load(path):
        r = gguf.GGUFReader(path)
        # numpy shape (out, in): GGUF ne = [in, out] reversed
        t = {x.name: np.asarray(x.data, dtype=np.float32).reshape([int(v) for v in reversed(x.shape)]) for x in r.tensors}
        kv = {}
        for k, f in r.fields.items():
            if f.types and f.types[0] != gguf.GGUFValueType.ARRAY:
                v = f.parts[f.data[0]]
                kv[k] = bytes(v).decode() if f.types[0] == gguf.GGUFValueType.STRING else v[0].item()
        return kv, t

    def rms(x, w, eps):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    def ln(x, w, b, eps):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + eps) * w + b

    def rope(x, pos, base, neox, factors, freq_scale=1.0):  # x: (T, H, D)
        d = x.shape[-1]
        inv = base ** (-np.arange(0, d, 2) / d) * freq_scale
        if factors is not None:
            inv = inv / factors
        ang = pos[:, None] * inv[None, :]  # (T, D/2)
        c, s_ = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        if neox:
            a, b = x[..., : d // 2], x[..., d // 2:]
        else:
            a, b = x[..., 0::2], x[..., 1::2]
        ra, rb = a * c - b * s_, a * s_ + b * c
        out = np.empty_like(x)
        if neox:
            out[..., : d // 2], out[..., d // 2:] = ra, rb
        else:
            out[..., 0::2], out[..., 1::2] = ra, rb
        return out

    def attend(q, k, v):  # (T, H, D), (T, Hkv, D)
        T, H, D = q.shape
        rep = H // k.shape[1]
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        att = np.einsum("thd,shd->hts", q, k) / np.sqrt(D)
        att = att + np.triu(np.full((T, T), -np.inf), 1)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        return np.einsum("hts,shd->thd", att, v).reshape(T, H * D)

    def forward(kv, t, ids):
        arch = kv["general.architecture"]
        L, H = kv[f"{arch}.block_count"], kv[f"{arch}.attention.head_count"]
        Hkv = kv[f"{arch}.attention.head_count_kv"]
        x = t["token_embd.weight"][ids]
        T = len(ids)
        pos = np.arange(T, dtype=np.float64)
        if arch == "gpt2":
            eps = kv["gpt2.attention.layer_norm_epsilon"]
            x = x + t["position_embd.weight"][:T]
            for i in range(L):
                b = f"blk.{i}."
                h = ln(x, t[b + "attn_norm.weight"], t[b + "attn_norm.bias"], eps)
                qkv = h @ t[b + "attn_qkv.weight"].T + t[b + "attn_qkv.bias"]
                q, k, v = np.split(qkv, 3, axis=-1)
                D = q.shape[-1] // H
                a = attend(q.reshape(T, H, D), k.reshape(T, H, D), v.reshape(T, H, D))
                x = x + a @ t[b + "attn_output.weight"].T + t[b + "attn_output.bias"]
                h = ln(x, t[b + "ffn_norm.weight"], t[b + "ffn_norm.bias"], eps)
                h = h @ t[b + "ffn_up.weight"].T + t[b + "ffn_up.bias"]
                h = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h ** 3)))  # gelu_new
                x = x + h @ t[b + "ffn_down.weight"].T + t[b + "ffn_down.bias"]
            x = ln(x, t["output_norm.weight"], t["output_norm.bias"], eps)
            return x @ t["token_embd.weight"].T
        eps, base = kv[f"{arch}.attention.layer_norm_rms_epsilon"], kv[f"{arch}.rope.freq_base"]
        factors = t.get("rope_freqs.weight")
        fs = 1.0 / kv[f"{arch}.rope.scaling.factor"] if kv.get(f"{arch}.rope.scaling.type") == "linear" else 1.0
        neox = arch == "qwen2"
        for i in range(L):
            b = f"blk.{i}."
            h = rms(x, t[b + "attn_norm.weight"], eps)
            q, k, v = h @ t[b + "attn_q.weight"].T, h @ t[b + "attn_k.weight"].T, h @ t[b + "attn_v.weight"].T
            if b + "attn_q.bias" in t:
                q, k, v = q + t[b + "attn_q.bias"], k + t[b + "attn_k.bias"], v + t[b + "attn_v.bias"]
            D = q.shape[-1] // H
            q = rope(q.reshape(T, H, D), pos, base, neox, factors, fs)
            k = rope(k.reshape(T, Hkv, D), pos, base, neox, factors, fs)
            a = attend(q, k, v.reshape(T, Hkv, D))
            x = x + a @ t[b + "attn_output.weight"].T
            h = rms(x, t[b + "ffn_norm.weight"], eps)
            g, u = h @ t[b + "ffn_gate.weight"].T, h @ t[b + "ffn_up.weight"].T
            x = x + (g / (1 + np.exp(-g)) * u) @ t[b + "ffn_down.weight"].T
        x = rms(x, t["output_norm.weight"], eps)
        return x @ t["output.weight"].T

    ok = True
    for name in ("llama", "llama3rope", "llamalinear", "qwen2", "gpt2"):
        d = os.path.join(OUT, name)
        kv, t = load(os.path.join(d, "model.gguf"))
        with open(os.path.join(d, "expected.json")) as f:
            meta = json.load(f)
        raw = np.fromfile(os.path.join(d, meta["logits_file"]), dtype="<f4")
        worst = 0.0
        for ids, ix in zip(meta["prompts"], meta["logits"]):
            want = raw[ix["offset"]: ix["offset"] + ix["shape"][0] * ix["shape"][1]].reshape(ix["shape"])
            got = forward(kv, {k: v.astype(np.float64) for k, v in t.items()}, np.array(ids))
            worst = max(worst, float(np.abs(got - want).max()))
        print(f"{name}: max |numpy(GGUF) - transformers| = {worst:.2e}")
        ok &= worst < 1e-3
    if not ok:
        raise SystemExit("GGUF verification failed")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    os.makedirs(OUT, exist_ok=True)
    if what in ("chat", "all"):
        make_chat()
    if what in ("models", "all"):
        make_models()
    if what in ("verify", "all"):
        verify_gguf()
