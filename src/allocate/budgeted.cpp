// budgeted: the exact optimum of sum_e significance_e x err_e(bits_e) subject to the parameter-weighted
// mean width <= target, as a multiple-choice knapsack per budget domain.
#include <algorithm>
#include <vector>

#include "allocate/budget.h"
#include "allocate/candidate_bits.h"
#include "allocate/knapsack.h"
#include "allocate/methods.h"
#include "core/error.h"

namespace moqa::allocate {

void allocate_budgeted(const AllocationInput& input, const AllocationOptions& options, Allocation& result) {
  const std::vector<int>& candidates = options.candidate_bits;
  std::vector<size_t> error_column;  // candidate -> position in error_bits
  for (int bits : candidates) {
    const int column = candidate_index(input.error_bits, bits);
    MOQA_CHECK(column >= 0, "allocation: method \"budgeted\" needs measured quantization errors at every candidate "
               "width, but ", bits, " bits is not among the measured error_bits");
    error_column.push_back(static_cast<size_t>(column));
  }

  for (const BudgetDomain& domain : budget_domains(input, options)) {
    std::vector<KnapsackItem> items;
    for (const ExpertRef& ref : domain.experts) {
      const ExpertStats& expert = input.layers[static_cast<size_t>(ref.layer)].experts[static_cast<size_t>(ref.expert)];
      MOQA_CHECK(!expert.quant_error.empty(), "allocation: method \"budgeted\" needs measured quantization errors, "
                 "but MoE layer ", ref.layer, " expert ", ref.expert, " has none");
      const double significance = result.score[static_cast<size_t>(ref.layer)][static_cast<size_t>(ref.expert)];
      KnapsackItem& item = items.emplace_back();
      for (size_t k = 0; k < candidates.size(); ++k) {
        item.costs.push_back(expert.params * candidates[k]);
        item.values.push_back(significance * expert.quant_error[error_column[k]]);
      }
    }
    const KnapsackSolution solution =
        solve_multiple_choice_knapsack(items, domain.capacity_bit_params, options.max_dp_cells);
    for (size_t i = 0; i < domain.experts.size(); ++i) {
      const ExpertRef& ref = domain.experts[i];
      result.bits[static_cast<size_t>(ref.layer)][static_cast<size_t>(ref.expert)] =
          candidates[static_cast<size_t>(solution.choice[i])];
    }
    result.objective += solution.value;
    result.exact = result.exact && solution.exact;
    result.budget_unit_bit_params = std::max(result.budget_unit_bit_params, solution.unit);
  }
}

}  // namespace moqa::allocate
