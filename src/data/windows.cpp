#include "data/windows.h"

#include <algorithm>

#include "core/error.h"

namespace moqa::data {

std::vector<EvalWindow> perplexity_windows(int64_t stream_tokens, int64_t seq_len, int64_t stride,
                                           bool keep_partial_last) {
  MOQA_CHECK(seq_len >= 2, "perplexity windows need seq_len >= 2 (one context and one target token), got ", seq_len);
  MOQA_CHECK(stride >= 1 && stride <= seq_len, "perplexity stride must be in [1, seq_len = ", seq_len,
             "] (a larger stride would skip tokens), got ", stride);
  MOQA_CHECK(stream_tokens >= 0, "token count must be >= 0, got ", stream_tokens);
  std::vector<EvalWindow> windows;
  int64_t previous_end = 0;
  for (int64_t begin = 0; begin < stream_tokens; begin += stride) {
    const int64_t end = seq_len < stream_tokens - begin ? begin + seq_len : stream_tokens;  // no overflow
    EvalWindow window{begin, end - begin, std::max<int64_t>(1, previous_end - begin)};
    const bool partial = window.length < seq_len;
    if (window.targets() > 0 && (!partial || keep_partial_last)) windows.push_back(window);
    previous_end = end;
    if (end == stream_tokens) break;
  }
  return windows;
}

int64_t total_targets(std::span<const EvalWindow> windows) {
  int64_t total = 0;
  for (const EvalWindow& w : windows) total += w.targets();
  return total;
}

std::span<const int32_t> slice_tokens(std::span<const int32_t> tokens, int64_t begin, int64_t length) {
  const auto size = static_cast<int64_t>(tokens.size());
  MOQA_CHECK(begin >= 0 && length >= 0 && begin <= size && length <= size - begin, "token range of ", length,
             " tokens from ", begin, " is outside the stream of ", size, " tokens");
  return tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(length));
}

}  // namespace moqa::data
