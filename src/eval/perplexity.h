#pragma once
// Perplexity of a model on a token stream: windows of seq_len tokens (data/windows.h decides which
// tokens each window scores), processed in batches of equal-length windows, mean NLL over all scored
// tokens, PPL = exp(mean NLL).
//
// Memory: with resident weights, one batch's activations at a time (batch_windows x seq_len tokens).
// With model.options().stream_weights, all windows run layer-major (each layer loaded once) and every
// window's hidden states are held between layers: tokens x hidden_size floats, in memory up to
// options.hidden_spill's budget and in its scratch file beyond it.
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include "core/progress.h"
#include "data/windows.h"
#include "model/hidden_store.h"
#include "model/model.h"

namespace moqa::eval {

struct PerplexityOptions {
  int64_t seq_len = 2048;
  int64_t stride = 0;               // 0: seq_len (non-overlapping windows)
  int64_t batch_windows = 4;        // windows per forward pass
  bool keep_partial_last = false;   // score a shorter last window (false: drop it, as GPTQ-style evaluations do)
  // score_windows pads with zero-window batches until it has run this many forwards: with an
  // expert-parallel executor every rank must take part in every layer of every batch (see scored_batches.h).
  int64_t min_batches = 0;
  // Layer-major passes only (stream_weights): where the windows' hidden states are held (the default keeps
  // them all in memory).
  model::HiddenSpill hidden_spill;
};

// Sum of NLLs over scored tokens: the quantity data-parallel ranks add up.
struct NllSum {
  double nll = 0.0;
  int64_t targets = 0;
  int64_t input_tokens = 0;  // tokens fed to the model (windows x their lengths)
};

struct PerplexityResult {
  int64_t stream_tokens = 0;  // tokens in the evaluated stream
  int64_t windows = 0;
  NllSum sum;
  double seconds = 0.0;

  double mean_nll() const;
  double perplexity() const;
  double tokens_per_s() const;  // input tokens per second of forward computation
};

// The number of forward passes score_windows makes for `windows` (data-parallel ranks agree on the
// largest one as min_batches).
int64_t window_batches(std::span<const data::EvalWindow> windows, int64_t batch_windows);

// NLL summed over the targets of `windows` (a subset of a stream's windows, e.g. one rank's share),
// in window order. `progress` (may be null) receives one update per batch ("windows", input tokens).
NllSum score_windows(model::Model& model, std::span<const int32_t> tokens, std::span<const data::EvalWindow> windows,
                     const PerplexityOptions& options, const model::LayerContext& context = {},
                     Progress* progress = nullptr);

// The whole evaluation of a stream on this process; progress lines go to `log` (null: silent).
PerplexityResult evaluate_perplexity(model::Model& model, std::span<const int32_t> tokens,
                                     const PerplexityOptions& options, std::ostream* log = nullptr,
                                     const model::LayerContext& context = {});

// "ppl 24.4899 (mean nll 3.19826 over 65408 tokens in 128 windows of 512; 5120 tokens/s)"
std::string describe(const PerplexityResult& result, const PerplexityOptions& options);

}  // namespace moqa::eval
