#include "quant/bit_packing.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "core/error.h"

namespace moqa::quant {
namespace {

std::vector<uint8_t> random_codes(int64_t count, int bits, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> code(0, (1 << bits) - 1);
  std::vector<uint8_t> codes(static_cast<size_t>(count));
  for (auto& c : codes) c = static_cast<uint8_t>(code(rng));
  return codes;
}

bool stream_bit(const std::vector<uint32_t>& words, int64_t k) { return (words[static_cast<size_t>(k / 32)] >> (k % 32)) & 1u; }

TEST(QuantBitPacking, RoundTripsEveryWidthAndLength) {
  for (int bits = 1; bits <= 8; ++bits) {
    for (int64_t count = 0; count <= 100; ++count) {
      const auto codes = random_codes(count, bits, static_cast<uint64_t>(bits * 1000 + count));
      std::vector<uint32_t> words(static_cast<size_t>(packed_words(count, bits)));
      ASSERT_EQ(static_cast<int64_t>(words.size()), (count * bits + 31) / 32);
      pack_codes(codes, bits, words);
      std::vector<uint8_t> back(codes.size(), 0xFF);
      unpack_codes(words, bits, back);
      ASSERT_EQ(back, codes) << bits << " bits, " << count << " codes";
      // The documented bit order, checked bit by bit, and zero padding after the last code.
      for (int64_t i = 0; i < count; ++i) {
        for (int t = 0; t < bits; ++t) {
          ASSERT_EQ(stream_bit(words, i * bits + t), bool((codes[static_cast<size_t>(i)] >> t) & 1))
              << bits << " bits, code " << i << ", bit " << t;
        }
      }
      for (int64_t k = count * bits; k < static_cast<int64_t>(words.size()) * 32; ++k) ASSERT_FALSE(stream_bit(words, k));
    }
  }
}

TEST(QuantBitPacking, MatchesTheDocumentedExamples) {
  const std::vector<uint8_t> codes3{0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 7};
  std::vector<uint32_t> words(2);
  pack_codes(codes3, 3, words);
  EXPECT_EQ(words[0], 0xC8FAC688u);
  EXPECT_EQ(words[1], 0x00000001u);

  std::vector<uint32_t> one(1);
  pack_codes(std::vector<uint8_t>{1, 2, 3, 4}, 8, one);
  EXPECT_EQ(one[0], 0x04030201u);
  pack_codes(std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8}, 4, one);
  EXPECT_EQ(one[0], 0x87654321u);

  // 6 bits: code 5 is the first to straddle (bits 30..35).
  std::vector<uint8_t> codes6{0, 0, 0, 0, 0, 0x3F};
  std::vector<uint32_t> two(2);
  pack_codes(codes6, 6, two);
  EXPECT_EQ(two[0], 0xC0000000u);
  EXPECT_EQ(two[1], 0x0000000Fu);
}

TEST(QuantBitPacking, RejectsBadInput) {
  std::vector<uint32_t> words(1);
  try {
    pack_codes(std::vector<uint8_t>{1, 8, 2}, 3, words);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("code 8 at index 1"), std::string::npos) << e.what();
  }
  std::vector<uint32_t> too_many(2);
  EXPECT_THROW(pack_codes(std::vector<uint8_t>{1, 2}, 3, too_many), Error);
  std::vector<uint8_t> out(11);
  EXPECT_THROW(unpack_codes(words, 3, out), Error);  // 11 codes of 3 bits need 2 words
  EXPECT_THROW(packed_words(4, 9), Error);
  EXPECT_THROW(packed_words(4, 0), Error);
}

}  // namespace
}  // namespace moqa::quant
