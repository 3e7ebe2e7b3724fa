#include "data/sampler.h"

#include <unordered_map>

#include "core/error.h"
#include "data/random.h"

namespace moqa::data {

std::vector<int64_t> sample_window_starts(int64_t stream_tokens, int64_t seq_len, int64_t samples, uint64_t seed,
                                          SampleMode mode) {
  MOQA_CHECK(seq_len >= 1, "calibration seq_len must be >= 1, got ", seq_len);
  MOQA_CHECK(samples >= 0, "calibration samples must be >= 0, got ", samples);
  MOQA_CHECK(stream_tokens >= seq_len, "calibration needs windows of ", seq_len, " tokens but the text has only ",
             stream_tokens, " tokens");
  Rng rng(seed);
  std::vector<int64_t> starts;
  starts.reserve(static_cast<size_t>(samples));
  if (mode == SampleMode::random_offsets) {
    const auto positions = static_cast<uint64_t>(stream_tokens - seq_len + 1);
    for (int64_t i = 0; i < samples; ++i) starts.push_back(static_cast<int64_t>(rng.below(positions)));
    return starts;
  }
  const int64_t slots = stream_tokens / seq_len;
  MOQA_CHECK(samples <= slots, "calibration asks for ", samples, " disjoint windows of ", seq_len,
             " tokens but the text has only ", slots, " (", stream_tokens, " tokens)");
  // Partial Fisher-Yates over the slot indices; only the entries touched by swaps are stored.
  std::unordered_map<int64_t, int64_t> moved;
  const auto value_at = [&](int64_t index) {
    const auto it = moved.find(index);
    return it == moved.end() ? index : it->second;
  };
  for (int64_t i = 0; i < samples; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(slots - i)));
    const int64_t chosen = value_at(j);
    const int64_t displaced = value_at(i);
    moved[j] = displaced;
    moved[i] = chosen;
    starts.push_back(chosen * seq_len);
  }
  return starts;
}

}  // namespace moqa::data
