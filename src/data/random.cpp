#include "data/random.h"

#include "core/error.h"

namespace moqa::data {
namespace {

uint64_t rotate_left(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Rng::Rng(uint64_t seed) {
  uint64_t state = seed;
  for (uint64_t& word : state_) word = splitmix64(state);  // never all zero: splitmix64 is a bijection of a counter
}

uint64_t Rng::next() {
  const uint64_t result = rotate_left(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotate_left(state_[3], 45);
  return result;
}

uint64_t Rng::below(uint64_t bound) {
  MOQA_CHECK(bound > 0, "Rng::below needs a positive bound");
  // Reject the lowest (2^64 mod bound) values so that the remaining range is a multiple of bound.
  const uint64_t threshold = (0 - bound) % bound;
  uint64_t x = next();
  while (x < threshold) x = next();
  return x % bound;
}

uint64_t derive_seed(uint64_t seed, std::string_view label) {
  uint64_t hash = 0xCBF29CE484222325ULL;  // FNV-1a
  for (const char c : label) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001B3ULL;
  }
  uint64_t state = seed ^ hash;
  return splitmix64(state);
}

}  // namespace moqa::data
