#pragma once
// Which tokens a perplexity evaluation scores ([[evaluation]] protocol; docs/EVALUATION.md, "Perplexity
// protocols"). data/perplexity_stream.h builds the stream and the windows of each. Its own header so that
// the experiment schema (config/experiment.h) names the same enum.
#include <cstdint>

namespace moqa::data {

enum class PerplexityProtocol {
  // The file tokenized as stored (JSON Lines: records joined with "\n\n"), windows of seq_len every
  // stride tokens (data/windows.h).
  windows,
  // GPTQ's WikiText-2 evaluation (IST-DASLab/gptq datautils.get_wikitext2 + the llama/opt eval loops): the
  // Hugging Face rows of the test split joined with "\n\n", tokenized once; numel / seq_len windows side by
  // side, the partial tail dropped; every window scores all its positions after the first.
  gptq_wikitext2,
  // GPTQ's C4 evaluation (datautils.get_c4_new): the first 1,100 validation documents joined with " ",
  // tokenized once, cut to 256 x seq_len tokens: 256 windows when the text is long enough.
  gptq_c4_new,
};

inline constexpr int64_t kGptqC4Documents = 1100;
inline constexpr int64_t kGptqC4Windows = 256;

}  // namespace moqa::data
