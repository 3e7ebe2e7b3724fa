#pragma once
// GPT-2's reversible byte <-> printable-character mapping used by byte-level BPE: every byte becomes one
// visible Unicode character (bytes that are printable Latin-1 map to themselves, the rest to U+0100..).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace moqa::tokenizer {

// The UTF-8 encoding of the character that stands for each byte of `bytes`, concatenated.
std::string bytes_to_byte_level(std::string_view bytes);

// The byte a byte-level character stands for, or nullopt for characters outside the mapping.
std::optional<uint8_t> byte_level_to_byte(char32_t c);

}  // namespace moqa::tokenizer
