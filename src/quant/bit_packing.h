#pragma once
// Dense packing of b-bit codes (1 <= b <= 8) into uint32 words, used for every width including the ones
// that do not divide 32 (3, 5, 6, 7): codes are laid end to end in one little-endian bit stream, so a
// code may straddle two words.
//
// Bit order: stream bit k is bit (k % 32) of word k / 32 (bit 0 = least significant). Code i occupies
// stream bits [i*b, i*b + b), its least significant bit first. Bits past the last code are zero.
// Example (b = 3, codes 0,1,2,3,4,5,6,7,0,1,7): word 0 = 0xC8FAC688 (the first ten codes in bits 0..29,
// the low two bits of the last code in bits 30..31), word 1 = 0x00000001 (its high bit).
#include <cstdint>
#include <span>

namespace moqa::quant {

// Words needed for `count` codes of `bits` bits: ceil(count * bits / 32).
int64_t packed_words(int64_t count, int bits);

// Writes packed_words(codes.size(), bits) words to `words` (which must have exactly that size). Throws
// moqa::Error if bits is outside [1, 8] or a code does not fit in `bits` bits (naming its index and value).
void pack_codes(std::span<const uint8_t> codes, int bits, std::span<uint32_t> words);

// Inverse of pack_codes: reads codes.size() codes. `words` must have packed_words(codes.size(), bits) words.
void unpack_codes(std::span<const uint32_t> words, int bits, std::span<uint8_t> codes);

}  // namespace moqa::quant
