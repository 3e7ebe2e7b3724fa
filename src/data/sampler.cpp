#include "data/sampler.h"

#include <algorithm>
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
  MOQA_CHECK(mode != SampleMode::gptq, "sampling = \"gptq\" draws from documents (sample_document_windows)");
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

int64_t longest_document(std::span<const int64_t> offsets) {
  int64_t longest = 0;
  for (size_t d = 0; d + 1 < offsets.size(); ++d) longest = std::max(longest, offsets[d + 1] - offsets[d]);
  return longest;
}

std::vector<int64_t> sample_document_windows(std::span<const int64_t> offsets, int64_t seq_len, int64_t samples,
                                             uint64_t seed) {
  MOQA_CHECK(seq_len >= 1, "calibration seq_len must be >= 1, got ", seq_len);
  MOQA_CHECK(samples >= 0, "calibration samples must be >= 0, got ", samples);
  std::vector<size_t> long_enough;  // documents that hold a whole window
  for (size_t d = 0; d + 1 < offsets.size(); ++d) {
    MOQA_CHECK(offsets[d + 1] >= offsets[d], "document offsets must not decrease (document ", d, ")");
    if (offsets[d + 1] - offsets[d] >= seq_len) long_enough.push_back(d);
  }
  MOQA_CHECK(!long_enough.empty(), "no document has seq_len = ", seq_len, " tokens: the longest of ",
             offsets.empty() ? 0 : offsets.size() - 1, " has ", longest_document(offsets));
  Rng rng(seed);
  std::vector<int64_t> starts;
  starts.reserve(static_cast<size_t>(samples));
  for (int64_t i = 0; i < samples; ++i) {
    const size_t d = long_enough[rng.below(long_enough.size())];
    const auto positions = static_cast<uint64_t>(offsets[d + 1] - offsets[d] - seq_len + 1);
    starts.push_back(offsets[d] + static_cast<int64_t>(rng.below(positions)));
  }
  return starts;
}

}  // namespace moqa::data
