#include "quant/bit_packing.h"

#include <algorithm>

#include "core/error.h"

namespace moqa::quant {
namespace {

void check_bits(int bits) {
  MOQA_CHECK(bits >= 1 && bits <= 8, "bit packing: code width must be 1..8 bits, got ", bits);
}

void check_words(std::span<const uint32_t> words, int64_t count, int bits) {
  MOQA_CHECK(static_cast<int64_t>(words.size()) == packed_words(count, bits), "bit packing: ", count,
             " codes of ", bits, " bits need ", packed_words(count, bits), " words, got ", words.size());
}

}  // namespace

int64_t packed_words(int64_t count, int bits) {
  check_bits(bits);
  MOQA_CHECK(count >= 0, "bit packing: negative code count ", count);
  return (count * bits + 31) / 32;
}

void pack_codes(std::span<const uint8_t> codes, int bits, std::span<uint32_t> words) {
  const auto count = static_cast<int64_t>(codes.size());
  check_words(words, count, bits);
  std::fill(words.begin(), words.end(), 0u);
  const uint32_t limit = 1u << bits;
  for (int64_t i = 0; i < count; ++i) {
    const uint32_t code = codes[static_cast<size_t>(i)];
    MOQA_CHECK(code < limit, "bit packing: code ", code, " at index ", i, " does not fit in ", bits, " bits");
    const int64_t bit = i * bits;
    const auto word = static_cast<size_t>(bit / 32);
    const int offset = static_cast<int>(bit % 32);
    words[word] |= code << offset;
    if (offset + bits > 32) words[word + 1] |= code >> (32 - offset);  // the straddling high part
  }
}

void unpack_codes(std::span<const uint32_t> words, int bits, std::span<uint8_t> codes) {
  const auto count = static_cast<int64_t>(codes.size());
  check_words(words, count, bits);
  const uint32_t mask = (1u << bits) - 1u;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t bit = i * bits;
    const auto word = static_cast<size_t>(bit / 32);
    const int offset = static_cast<int>(bit % 32);
    uint64_t window = words[word];
    if (offset + bits > 32) window |= static_cast<uint64_t>(words[word + 1]) << 32;
    codes[static_cast<size_t>(i)] = static_cast<uint8_t>((window >> offset) & mask);
  }
}

}  // namespace moqa::quant
