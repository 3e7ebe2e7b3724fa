#include "allocate/candidate_bits.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace moqa::allocate {

bool is_supported_bits(int bits) {
  return std::find(std::begin(kSupportedBits), std::end(kSupportedBits), bits) != std::end(kSupportedBits);
}

void validate_candidate_bits(std::span<const int> candidates, std::string_view what) {
  std::ostringstream found;
  for (size_t i = 0; i < candidates.size(); ++i) found << (i ? ", " : "") << candidates[i];
  MOQA_CHECK(!candidates.empty(), what, ": empty, expected a strictly ascending subset of {2, 3, 4, 6, 8}");
  for (size_t i = 0; i < candidates.size(); ++i) {
    MOQA_CHECK(is_supported_bits(candidates[i]), what, ": found [", found.str(), "]; ", candidates[i],
               " is not a supported width, expected a strictly ascending subset of {2, 3, 4, 6, 8}");
    MOQA_CHECK(i == 0 || candidates[i - 1] < candidates[i], what, ": found [", found.str(),
               "], expected strictly ascending widths without repeats");
  }
}

int candidate_index(std::span<const int> candidates, int bits) {
  const auto it = std::find(candidates.begin(), candidates.end(), bits);
  return it == candidates.end() ? -1 : static_cast<int>(it - candidates.begin());
}

int largest_candidate_at_most(std::span<const int> candidates, double target_bits) {
  int chosen = candidates.front();
  for (int bits : candidates)
    if (bits <= target_bits * (1.0 + 1e-12)) chosen = bits;  // 2.9999999999999996 still admits 3
  return chosen;
}

}  // namespace moqa::allocate
