#pragma once
// UTF-8 primitives shared by the tokenizer stages. Every stage works on std::string holding valid UTF-8:
// Tokenizer::encode validates its input once, and every transformation afterwards preserves validity.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace moqa::tokenizer {

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence, or nullopt if the
// whole text is valid (no overlongs, no surrogates, nothing above U+10FFFF).
std::optional<size_t> first_invalid_utf8(std::string_view text);

// Length in bytes of the (valid) UTF-8 sequence whose lead byte is `lead`.
inline size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

// Start of the code point that ends just before text[end] (text valid UTF-8, end > 0).
inline size_t previous_char_start(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return start;
}

// Decodes the code point starting at text[pos] (text must be valid UTF-8).
char32_t decode_utf8(std::string_view text, size_t pos);

void append_utf8(std::string& out, char32_t code_point);
std::string to_utf8(char32_t code_point);

// Replaces every maximal ill-formed subsequence by U+FFFD, as Rust's String::from_utf8_lossy does
// (the Unicode "substitution of maximal subparts" practice), so decoded text matches the reference.
std::string utf8_lossy(std::string_view bytes);

}  // namespace moqa::tokenizer
