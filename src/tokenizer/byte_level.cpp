#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace moqa::tokenizer {
namespace {

struct ByteLevelTables {
  std::array<std::string, 256> byte_to_text;  // UTF-8 of the character standing for the byte
  std::array<int16_t, 512> char_to_byte{};     // -1 where the code point is not in the mapping

  ByteLevelTables() {
    char_to_byte.fill(-1);
    char32_t next_unprintable = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c = printable ? static_cast<char32_t>(b) : next_unprintable++;
      byte_to_text[static_cast<size_t>(b)] = to_utf8(c);
      char_to_byte[c] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables instance;  // immutable after construction
  return instance;
}

}  // namespace

std::string bytes_to_byte_level(std::string_view bytes) {
  const ByteLevelTables& t = tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char b : bytes) out += t.byte_to_text[static_cast<unsigned char>(b)];
  return out;
}

std::optional<uint8_t> byte_level_to_byte(char32_t c) {
  if (c >= 512) return std::nullopt;
  const int16_t b = tables().char_to_byte[c];
  if (b < 0) return std::nullopt;
  return static_cast<uint8_t>(b);
}

}  // namespace moqa::tokenizer
