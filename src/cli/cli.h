/* The subcommand table. Each cmd_*.c defines one `int cmd_NAME(int argc, char **argv)` (argv[0] is the
 * command name) and gets one row here. Exit codes: 0 ok, 1 runtime error, 2 usage error, 130 interrupted. */
#ifndef PL_CLI_H
#define PL_CLI_H

#include "plinth.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} pl_command;

int cmd_train(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_distill(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_lora(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_imatrix(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_word2vec(int argc, char **argv);
int cmd_transcribe(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_rag(int argc, char **argv);
int cmd_clip(int argc, char **argv);

#define PL_CLI_COMMANDS \
    {"train", cmd_train, "pre-train a model (gpt2, llama, qwen2) on a text file"}, \
    {"finetune", cmd_finetune, "fine-tune a model on chat or prompt/completion examples (JSONL)"}, \
    {"distill", cmd_distill, "train a student on a teacher's soft labels over a text (knowledge distillation)"}, \
    {"synth", cmd_synth, "synthetic training examples written by a model from a template with slots, filtered"}, \
    {"lora", cmd_lora, "lora merge: bake a LoRA adapter into its base model"}, \
    {"run", cmd_run, "generate text from a model or checkpoint"}, \
    {"chat", cmd_chat, "chat with a GGUF or Hugging Face chat model"}, \
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server with continuous batching, metrics and a chat page"}, \
    {"info", cmd_info, "describe a GGUF, safetensors file or model directory"}, \
    {"tokenize", cmd_tokenize, "encode text with a model's tokenizer; --stats for a density report"}, \
    {"eval", cmd_eval, "accuracy of models on task files: zero-shot, few-shot, chain-of-thought"}, \
    {"perplexity", cmd_perplexity, "perplexity of a text file (as llama.cpp's llama-perplexity computes it)"}, \
    {"quantize", cmd_quantize, "quantize a GGUF model (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_M, Q5_K_M, Q6_K, F16, ...)"}, \
    {"imatrix", cmd_imatrix, "importance matrix from calibration text, for quantize --imatrix (llama.cpp's format)"}, \
    {"bench", cmd_bench, "prompt and generation speed (llama-bench style table); --roof for the memory-bandwidth roof"}, \
    {"word2vec", cmd_word2vec, "word vectors: train CBOW / skip-gram, then similar, analogy, eval, plot"}, \
    {"transcribe", cmd_transcribe, "speech to text with Whisper: txt, srt, vtt or json (WAV; ffmpeg for other formats)"}, \
    {"embed", cmd_embed, "sentence embeddings with an encoder (all-MiniLM-L6-v2, BGE, E5): JSON lines or float32"}, \
    {"clip", cmd_clip, "CLIP / SigLIP: zero-shot image classification, embeddings, image search, contrastive training"}, \
    {"rag", cmd_rag, "retrieval-augmented generation: index files, search them, ask a model with citations"},

#endif
