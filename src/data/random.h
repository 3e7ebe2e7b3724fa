#pragma once
// A small, fully specified random number generator, so that a seed gives the same numbers with every
// compiler and standard library (std::uniform_int_distribution and friends are implementation-defined).
// xoshiro256** seeded through splitmix64; bounded integers by rejection, free of modulo bias.
#include <cstdint>
#include <string_view>

namespace moqa::data {

// One step of splitmix64: advances `state` and returns the next output.
uint64_t splitmix64(uint64_t& state);

class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  // Uniform in [0, bound); bound must be > 0.
  uint64_t below(uint64_t bound);

 private:
  uint64_t state_[4];
};

// An independent seed for a named use of a base seed (e.g. one calibration dataset), so that adding or
// reordering datasets does not change the samples of the others.
uint64_t derive_seed(uint64_t seed, std::string_view label);

}  // namespace moqa::data
