#include "allocate/reallocate.h"

#include "core/error.h"

namespace moqa::allocate {

AllocationInput with_significance(const AllocationInput& input, const std::vector<std::vector<double>>& significance) {
  MOQA_CHECK(significance.size() == input.layers.size(), "re-allocation: novel significance has ",
             significance.size(), " layers, expected ", input.layers.size());
  AllocationInput novel = input;
  for (size_t l = 0; l < novel.layers.size(); ++l) {
    auto& experts = novel.layers[l].experts;
    MOQA_CHECK(significance[l].size() == experts.size(), "re-allocation: novel significance of MoE layer ", l,
               " has ", significance[l].size(), " experts, expected ", experts.size());
    for (size_t e = 0; e < experts.size(); ++e) {
      experts[e].significance_mean = significance[l][e];
      experts[e].significance_variance = 0.0;
    }
  }
  return novel;
}

std::vector<BitChange> width_changes(const BitMatrix& before, const BitMatrix& after) {
  MOQA_CHECK(before.size() == after.size(), "width changes: ", before.size(), " layers before, ", after.size(),
             " after");
  std::vector<BitChange> changes;
  for (size_t l = 0; l < before.size(); ++l) {
    MOQA_CHECK(before[l].size() == after[l].size(), "width changes: MoE layer ", l, " has ", before[l].size(),
               " experts before, ", after[l].size(), " after");
    for (size_t e = 0; e < before[l].size(); ++e)
      if (before[l][e] != after[l][e])
        changes.push_back({static_cast<int>(l), static_cast<int>(e), before[l][e], after[l][e]});
  }
  return changes;
}

Reallocation reallocate_for_distribution(const AllocationInput& input, const AllocationOptions& options,
                                         const BitMatrix& baseline_bits,
                                         const std::vector<std::vector<double>>& novel_significance) {
  Reallocation result;
  result.allocation = allocate(with_significance(input, novel_significance), options);
  result.changes = width_changes(baseline_bits, result.allocation.bits);
  return result;
}

}  // namespace moqa::allocate
