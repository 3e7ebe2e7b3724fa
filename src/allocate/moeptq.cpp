// moeptq: the frequency-based expert allocation of the MoE post-training quantization benchmark (Li et al.,
// "Examining Post-Training Quantization for Mixture-of-Experts", arXiv 2406.08155, QuantMoE-Bench; PAPER.md
// §5.3): per MoE layer, the experts are ranked by how often the router picks them on the calibration data,
// the top k get the high width and all others the low width. The benchmark fixes k by hand ("top2_4.other_2");
// here k is the largest prefix of the ranking whose widths fit the same stored-bit budget as every other
// method, so the methods of a table are compared at equal stored bits (docs/ALLOCATION.md, "moeptq").
// Its variants for the other weights (shared experts or attention at a higher width) are the
// allocation.shared_expert_bits / attention_bits options, applied outside the routed experts.
#include <algorithm>
#include <vector>

#include "allocate/budget.h"
#include "allocate/methods.h"

namespace moqa::allocate {

void allocate_moeptq(const AllocationInput& input, const AllocationOptions& options, Allocation& result) {
  const TwoWidths widths = bracketing_widths(options, result.expert_target_bits);
  for (size_t l = 0; l < input.layers.size(); ++l)
    for (size_t e = 0; e < input.layers[l].experts.size(); ++e) {
      result.score[l][e] = input.layers[l].experts[e].routed_fraction;  // what this method ranks
      result.bits[l][e] = widths.low;
    }

  for (const BudgetDomain& domain : budget_domains(input, options)) {
    // Most frequently routed first; equal frequencies keep (layer, expert) order, i.e. the lower expert
    // index wins a tie (torch.sort in the benchmark gives no such promise).
    std::vector<ExpertRef> ranking = domain.experts;
    std::stable_sort(ranking.begin(), ranking.end(), [&](const ExpertRef& a, const ExpertRef& b) {
      return result.score[static_cast<size_t>(a.layer)][static_cast<size_t>(a.expert)] >
             result.score[static_cast<size_t>(b.layer)][static_cast<size_t>(b.expert)];
    });
    int64_t spent = spent_bit_params(domain, input, result.bits);
    // A prefix of the ranking (the benchmark's "top k"): the first expert that does not fit ends it.
    for (const ExpertRef& ref : ranking) {
      const int64_t params =
          input.layers[static_cast<size_t>(ref.layer)].experts[static_cast<size_t>(ref.expert)].params;
      const int64_t extra = params * (widths.high - widths.low);
      if (spent + extra > domain.capacity_bit_params) break;
      spent += extra;
      result.bits[static_cast<size_t>(ref.layer)][static_cast<size_t>(ref.expert)] = widths.high;
    }
  }
}

}  // namespace moqa::allocate
