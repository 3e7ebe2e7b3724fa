#pragma once
// Whether a scored text starts with the tokenizer's BOS token ([[evaluation]] add_bos; docs/EVALUATION.md,
// "BOS"), for perplexity streams (data/corpus.h) and zero-shot requests (eval/zero_shot.h) alike. Its own
// header so that the experiment schema (config/experiment.h) names the same enum.

namespace moqa::data {

enum class BosPolicy {
  // The tokenizer's post-processor decides (tokenizer.json, add_special_tokens = true): Llama / Mixtral put
  // one BOS first, Qwen and the trained models here add nothing.
  tokenizer,
  // Exactly one BOS first: the text encoded without special tokens, the tokenizer's BOS in front (an error
  // for a tokenizer without one).
  always,
  // No special tokens at all (add_special_tokens = false).
  never,
};

}  // namespace moqa::data
