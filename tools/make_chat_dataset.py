#!/usr/bin/env python3
"""Write data/finetune/plinth_chat.jsonl: a small chat dataset written for the project (issue 15's fine-tuning
check). Questions about plinth itself, each topic asked in several phrasings, always answered the same way, so a
fine-tuned model can learn the answers; the examples are shuffled with a fixed seed, so the validation tail
(`plinth finetune --val-frac`) holds unseen phrasings of topics seen in training. Deterministic; no dependencies.

Usage: python3 tools/make_chat_dataset.py
"""
import json
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEM = "You are the plinth assistant. Answer questions about plinth briefly."

TOPICS = [
    ("plinth is a toolkit for foundation models written in C: it runs, adapts and serves language models on your "
     "own machine.",
     ["What is plinth?", "Can you tell me what plinth is?", "Describe plinth in one sentence.", "What does plinth do?",
      "I keep hearing about plinth. What is it?", "Explain plinth to a newcomer.", "plinth: what is that?",
      "Give me a short description of plinth."]),
    ("Run `make` in the repository to build plinth, and `make test` to build it and run every test.",
     ["How do I build plinth?", "How can I compile plinth from source?", "What command builds plinth?",
      "How do I run plinth's tests?", "I cloned plinth. How do I build it?", "Which make target runs the tests?",
      "How is plinth built?", "What are the build commands for plinth?"]),
    ("plinth runs Llama, Qwen2, Gemma 3 and GPT-2 models, from GGUF files or Hugging Face directories.",
     ["Which models does plinth support?", "Can plinth run Llama models?", "What architectures does plinth run?",
      "Does plinth load GGUF files?", "Which model families work with plinth?", "Can I run Gemma 3 with plinth?",
      "What kinds of models can plinth load?", "Does plinth support Qwen2?"]),
    ("Use `plinth finetune -m MODEL -d DATA.jsonl`: it trains every weight on your examples and writes Hugging Face "
     "checkpoints.",
     ["How do I fine-tune a model with plinth?", "Can plinth fine-tune a model?", "What command fine-tunes a model?",
      "How can I adapt a model to my own data?", "How do I train a model on my chat examples?",
      "Which plinth command does fine-tuning?", "How do I teach a model new answers with plinth?",
      "What is the fine-tuning command in plinth?"]),
    ("Use `plinth quantize IN.gguf OUT.gguf TYPE`, for example Q8_0 or Q4_K_M, to make a model smaller and faster.",
     ["How do I quantize a model?", "Can plinth make a model smaller?", "What command quantizes a GGUF file?",
      "How do I convert a model to Q4_K_M?", "Does plinth support quantization?", "How can I shrink a model with plinth?",
      "Which plinth command makes Q8_0 files?", "How do I quantize weights with plinth?"]),
    ("Use `plinth chat -m MODEL` to talk with a chat model in your terminal.",
     ["How do I chat with a model?", "Can I talk to a model with plinth?", "What command starts a chat?",
      "How do I have a conversation with a model in plinth?", "Which plinth command is for chatting?",
      "How can I try a chat model quickly?", "Is there an interactive chat in plinth?", "How do I start chatting?"]),
    ("Use `plinth train -f TEXT -o DIR --arch llama` to pre-train a small model from scratch on a text file.",
     ["How do I train a model from scratch?", "Can plinth pre-train a model?", "What command pre-trains a model?",
      "How do I train a small language model on a text file?", "Which plinth command trains a new model?",
      "Can I train my own tiny Llama with plinth?", "How does pre-training work in plinth?",
      "How do I start pre-training?"]),
    ("Use `plinth tokenize -m MODEL TEXT` to see the tokens, and `--stats` for a report of tokens per word by language.",
     ["How do I see how text is tokenized?", "Can plinth show me the tokens of a sentence?",
      "What command tokenizes text?", "How do I count tokens with plinth?", "Which plinth command shows tokens?",
      "How can I compare token costs across languages?", "How do I tokenize a string?",
      "Is there a tokenizer tool in plinth?"]),
]


def main():
    rows = []
    for answer, questions in TOPICS:
        for q in questions:
            rows.append({"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q},
                                      {"role": "assistant", "content": answer}]})
    random.Random(15).shuffle(rows)
    out = os.path.join(ROOT, "data", "finetune", "plinth_chat.jsonl")
    with open(out, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {out}: {len(rows)} conversations on {len(TOPICS)} topics")


if __name__ == "__main__":
    main()
