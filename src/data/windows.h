#pragma once
// Perplexity windows over a token stream, with exact accounting of which tokens are scored.
//
// A window feeds tokens [begin, begin + length) of the stream to the model. Its targets are the tokens at
// window positions [first_target, length): the token at position p is scored with the model's prediction
// at position p - 1, so first_target >= 1 always.
//  - stride == seq_len: non-overlapping windows; each scores length - 1 tokens (the first token of a window
//    has no context inside it), like evaluating independent sequences.
//  - stride < seq_len: Hugging Face's sliding-window evaluation: window k starts at k * stride, and scores
//    only the tokens after the previous window's end, so every token of the stream except the first is
//    scored exactly once, each with at least seq_len - stride tokens of context (once available).
// The last window may be shorter than seq_len (keep_partial_last); windows that would score nothing are
// not produced.
#include <cstdint>
#include <span>
#include <vector>

namespace moqa::data {

struct EvalWindow {
  int64_t begin = 0;
  int64_t length = 0;
  int64_t first_target = 1;
  int64_t targets() const { return length - first_target; }
};

std::vector<EvalWindow> perplexity_windows(int64_t stream_tokens, int64_t seq_len, int64_t stride,
                                           bool keep_partial_last = true);

int64_t total_targets(std::span<const EvalWindow> windows);

// tokens[begin, begin + length), bounds-checked (moqa::Error).
std::span<const int32_t> slice_tokens(std::span<const int32_t> tokens, int64_t begin, int64_t length);
inline std::span<const int32_t> window_tokens(std::span<const int32_t> tokens, const EvalWindow& window) {
  return slice_tokens(tokens, window.begin, window.length);
}

}  // namespace moqa::data
