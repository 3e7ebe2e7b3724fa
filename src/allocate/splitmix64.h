#pragma once
// SplitMix64 (Steele, Lea, Flood 2014): a tiny PRNG whose output is fixed by its definition, unlike
// std:: distributions whose results differ between standard libraries. Allocation results must be the
// same on every machine, so clustering draws its starting memberships from here.
#include <cstdint>

namespace moqa::allocate {

struct SplitMix64 {
  uint64_t state = 0;

  uint64_t next() {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in (0, 1]: the top 53 bits, shifted so that zero never comes out (a zero starting
  // membership in every cluster but one would pin a point before the first update).
  double next_unit() { return (static_cast<double>(next() >> 11) + 1.0) * 0x1.0p-53; }
};

}  // namespace moqa::allocate
