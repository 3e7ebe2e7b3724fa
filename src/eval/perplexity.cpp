#include "eval/perplexity.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "eval/scored_batches.h"

namespace moqa::eval {
namespace {

// The batch that starts at windows[first] ends before the returned index: at most batch_windows windows,
// all of the same length.
size_t batch_end(std::span<const data::EvalWindow> windows, size_t first, int64_t batch_windows) {
  size_t last = first + 1;
  while (last < windows.size() && static_cast<int64_t>(last - first) < batch_windows &&
         windows[last].length == windows[first].length)
    ++last;
  return last;
}

std::vector<ScoredBatch> make_batches(std::span<const int32_t> tokens, std::span<const data::EvalWindow> windows,
                                      int64_t batch_windows) {
  std::vector<ScoredBatch> batches;
  for (size_t first = 0; first < windows.size();) {
    const size_t last = batch_end(windows, first, batch_windows);  // batch = windows[first, last)
    ScoredBatch& batch = batches.emplace_back();
    batch.tokens.windows = static_cast<int64_t>(last - first);
    batch.tokens.seq_len = windows[first].length;
    for (size_t w = first; w < last; ++w) {
      const data::EvalWindow& window = windows[w];
      const auto ids = data::window_tokens(tokens, window);
      const int64_t row0 = static_cast<int64_t>(w - first) * window.length;
      batch.tokens.ids.insert(batch.tokens.ids.end(), ids.begin(), ids.end());
      for (int64_t p = window.first_target; p < window.length; ++p) {
        batch.rows.push_back(static_cast<int32_t>(row0 + p - 1));
        batch.targets.push_back(ids[static_cast<size_t>(p)]);
      }
    }
    first = last;
  }
  return batches;
}

}  // namespace

double PerplexityResult::mean_nll() const {
  return sum.targets > 0 ? sum.nll / static_cast<double>(sum.targets) : NAN;
}
double PerplexityResult::perplexity() const { return std::exp(mean_nll()); }
double PerplexityResult::tokens_per_s() const {
  return seconds > 0 ? static_cast<double>(sum.input_tokens) / seconds : 0.0;
}

int64_t window_batches(std::span<const data::EvalWindow> windows, int64_t batch_windows) {
  MOQA_CHECK(batch_windows >= 1, "perplexity: batch_windows must be >= 1, got ", batch_windows);
  int64_t count = 0;
  for (size_t first = 0; first < windows.size(); first = batch_end(windows, first, batch_windows)) ++count;
  return count;
}

NllSum score_windows(model::Model& model, std::span<const int32_t> tokens, std::span<const data::EvalWindow> windows,
                     const PerplexityOptions& options, const model::LayerContext& context, Progress* progress) {
  MOQA_CHECK(options.batch_windows >= 1, "perplexity: batch_windows must be >= 1, got ", options.batch_windows);
  const std::vector<ScoredBatch> batches = make_batches(tokens, windows, options.batch_windows);
  NllSum sum;
  score_batches(model, batches, options.min_batches, options.hidden_spill, context,
                [&](size_t i, const backend::Array&, std::span<const float> nll) {
                  for (const float v : nll) sum.nll += v;  // in window order: the same sum on every run
                  sum.targets += static_cast<int64_t>(nll.size());
                  const auto input = static_cast<int64_t>(batches[i].tokens.ids.size());
                  sum.input_tokens += input;
                  if (progress) progress->advance(batches[i].tokens.windows, input);
                });
  return sum;
}

PerplexityResult evaluate_perplexity(model::Model& model, std::span<const int32_t> tokens,
                                     const PerplexityOptions& options, std::ostream* log,
                                     const model::LayerContext& context) {
  const int64_t stride = options.stride == 0 ? options.seq_len : options.stride;
  const std::vector<data::EvalWindow> windows = data::perplexity_windows(
      static_cast<int64_t>(tokens.size()), options.seq_len, stride, options.keep_partial_last);
  MOQA_CHECK(!windows.empty(), "perplexity: a stream of ", tokens.size(), " tokens holds no window of ",
             options.seq_len, " tokens", options.keep_partial_last ? "" : " (partial windows are dropped)");
  PerplexityResult result;
  result.stream_tokens = static_cast<int64_t>(tokens.size());
  result.windows = static_cast<int64_t>(windows.size());
  Progress progress("perplexity", result.windows, "windows", log);
  const auto start = std::chrono::steady_clock::now();
  result.sum = score_windows(model, tokens, windows, options, context, &progress);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.finish();
  return result;
}

std::string describe(const PerplexityResult& result, const PerplexityOptions& options) {
  char line[256];
  std::snprintf(line, sizeof line, "ppl %.4f (mean nll %.5f over %lld tokens in %lld windows of %lld; %.0f tokens/s)",
                result.perplexity(), result.mean_nll(), static_cast<long long>(result.sum.targets),
                static_cast<long long>(result.windows), static_cast<long long>(options.seq_len),
                result.tokens_per_s());
  return line;
}

}  // namespace moqa::eval
