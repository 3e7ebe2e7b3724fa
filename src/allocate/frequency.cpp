// frequency: the MoE-PTQ benchmark heuristic (PAPER.md §5.3): every expert starts at the smallest
// candidate and the most frequently routed experts are promoted, one candidate level per step, while the
// budget allows.
#include <algorithm>
#include <vector>

#include "allocate/budget.h"
#include "allocate/methods.h"

namespace moqa::allocate {

void allocate_frequency(const AllocationInput& input, const AllocationOptions& options, Allocation& result) {
  const std::vector<int>& candidates = options.candidate_bits;
  for (size_t l = 0; l < input.layers.size(); ++l)
    for (size_t e = 0; e < input.layers[l].experts.size(); ++e) {
      result.score[l][e] = input.layers[l].experts[e].routed_fraction;  // what this method ranks
      result.bits[l][e] = candidates.front();
    }

  std::vector<size_t> level;  // candidate index per position in the domain's ranking
  for (const BudgetDomain& domain : budget_domains(input, options)) {
    std::vector<ExpertRef> ranking = domain.experts;  // (layer, expert) order breaks ties
    std::stable_sort(ranking.begin(), ranking.end(), [&](const ExpertRef& a, const ExpertRef& b) {
      return result.score[static_cast<size_t>(a.layer)][static_cast<size_t>(a.expert)] >
             result.score[static_cast<size_t>(b.layer)][static_cast<size_t>(b.expert)];
    });
    level.assign(ranking.size(), 0);
    int64_t spent = spent_bit_params(domain, input, result.bits);
    // Promotes ranking[i] one level if that fits; false when it is at the top or the budget is short.
    const auto promote = [&](size_t i) {
      if (level[i] + 1 >= candidates.size()) return false;
      const ExpertRef& ref = ranking[i];
      const int64_t params =
          input.layers[static_cast<size_t>(ref.layer)].experts[static_cast<size_t>(ref.expert)].params;
      const int64_t extra = params * (candidates[level[i] + 1] - candidates[level[i]]);
      if (spent + extra > domain.capacity_bit_params) return false;
      spent += extra;
      result.bits[static_cast<size_t>(ref.layer)][static_cast<size_t>(ref.expert)] = candidates[++level[i]];
      return true;
    };
    if (options.frequency_fill == FrequencyFill::depth) {
      // Each expert in turn as high as it fits before the next one gets anything.
      for (size_t i = 0; i < ranking.size(); ++i)
        while (promote(i)) {
        }
    } else {
      // Sweeps down the ranking, one level per expert per sweep, until a sweep promotes nobody. Spreading
      // the budget over the frequent experts first (rather than maxing out the single most frequent one)
      // is the benchmark's "one width up for the top experts".
      bool promoted = true;
      while (promoted) {
        promoted = false;
        for (size_t i = 0; i < ranking.size(); ++i) promoted = promote(i) || promoted;
      }
    }
  }
}

}  // namespace moqa::allocate
