#pragma once
// Re-allocation for a novel distribution (PAPER.md §4.3 steps 1-3): the expert significance measured on
// the new data replaces the synthesized one, the same method re-runs, and the experts whose width moved
// are listed. The quant side then re-quantizes only those experts' cached channels (channel_plan.h).
#include <vector>

#include "allocate/allocation.h"

namespace moqa::allocate {

// A copy of `input` whose significance_mean is `significance` [layer][expert] and whose variance is 0
// (one distribution has no spread). Parameter counts, routed fractions and errors are kept.
AllocationInput with_significance(const AllocationInput& input, const std::vector<std::vector<double>>& significance);

// Experts whose width differs, in (layer, expert) order. Shapes must match.
std::vector<BitChange> width_changes(const BitMatrix& before, const BitMatrix& after);

struct Reallocation {
  Allocation allocation;           // the full result on the novel distribution
  std::vector<BitChange> changes;  // against the baseline widths
};

Reallocation reallocate_for_distribution(const AllocationInput& input, const AllocationOptions& options,
                                         const BitMatrix& baseline_bits,
                                         const std::vector<std::vector<double>>& novel_significance);

}  // namespace moqa::allocate
