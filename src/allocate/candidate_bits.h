#pragma once
// The candidate widths an allocation may assign, and the few questions every method asks of them.
#include <span>
#include <string_view>
#include <vector>

namespace moqa::allocate {

// Widths the quantizers implement.
inline constexpr int kSupportedBits[] = {2, 3, 4, 6, 8};

bool is_supported_bits(int bits);
// Strictly ascending, non-empty, every width supported; `what` names the option in the error.
void validate_candidate_bits(std::span<const int> candidates, std::string_view what);
// Position of `bits` in the candidate list, or -1.
int candidate_index(std::span<const int> candidates, int bits);
// Largest candidate <= target, or the smallest candidate when none is.
int largest_candidate_at_most(std::span<const int> candidates, double target_bits);

}  // namespace moqa::allocate
