// moqa-v1: two expert groups split by the partition threshold T (PAPER.md §1.2-1.3), optionally shaped by
// inter-expert co-activation. v1's definitions of T and of "Pattern 1/2" were not found; the reading
// implemented here is documented in docs/ALLOCATION.md.
#include <algorithm>
#include <cmath>
#include <vector>

#include "allocate/budget.h"
#include "allocate/candidate_bits.h"
#include "allocate/methods.h"
#include "core/error.h"

namespace moqa::allocate {
namespace {

double score_of(const Allocation& result, const ExpertRef& ref) {
  return result.score[static_cast<size_t>(ref.layer)][static_cast<size_t>(ref.expert)];
}

// The experts of `domain` that the threshold puts in the high group.
std::vector<bool> high_group(const BudgetDomain& domain, const Allocation& result, const AllocationOptions& options) {
  const size_t n = domain.experts.size();
  std::vector<bool> high(n, false);
  if (options.threshold_mode == ThresholdMode::mean_ratio) {
    double mean = 0.0;
    for (const ExpertRef& ref : domain.experts) mean += score_of(result, ref);
    mean /= static_cast<double>(n);
    for (size_t i = 0; i < n; ++i) high[i] = score_of(result, domain.experts[i]) >= options.threshold * mean;
    return high;
  }
  // quantile: the top (1 - T) share by score, ranked with a total order so ties cannot make counts vary.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return score_of(result, domain.experts[a]) > score_of(result, domain.experts[b]);
  });
  const auto count = static_cast<size_t>(std::llround((1.0 - options.threshold) * static_cast<double>(n)));
  for (size_t i = 0; i < std::min(count, n); ++i) high[order[i]] = true;
  return high;
}

// Pattern-1 shaping: a low expert whose association with some high expert of its layer reaches the
// threshold is lifted to the high width, strongest association first, while the budget allows.
std::vector<BitChange> lift_coactivated(const BudgetDomain& domain, const std::vector<bool>& high,
                                        const AllocationInput& input, const AllocationOptions& options,
                                        const TwoWidths& widths, Allocation& result) {
  struct Candidate {
    size_t index;
    double strength;
  };
  std::vector<Candidate> candidates;
  for (size_t i = 0; i < domain.experts.size(); ++i) {
    if (high[i]) continue;
    const ExpertRef& ref = domain.experts[i];
    const MoeLayerStats& layer = input.layers[static_cast<size_t>(ref.layer)];
    MOQA_CHECK(!layer.coactivation.empty(), "allocation: coactivation_shaping is on but MoE layer ", ref.layer,
               " has no co-activation matrix; measure it in the analysis stage or switch the shaping off");
    const size_t experts = layer.experts.size();
    double strength = -INFINITY;
    for (size_t j = 0; j < domain.experts.size(); ++j) {
      const ExpertRef& partner = domain.experts[j];
      if (!high[j] || partner.layer != ref.layer) continue;
      const size_t a = static_cast<size_t>(ref.expert);
      const size_t b = static_cast<size_t>(partner.expert);
      strength = std::max({strength, layer.coactivation[a * experts + b], layer.coactivation[b * experts + a]});
    }
    if (strength >= options.coactivation_threshold) candidates.push_back({i, strength});
  }
  std::stable_sort(candidates.begin(), candidates.end(), [&](const Candidate& a, const Candidate& b) {
    if (a.strength != b.strength) return a.strength > b.strength;
    return score_of(result, domain.experts[a.index]) > score_of(result, domain.experts[b.index]);
  });

  std::vector<BitChange> lifts;
  int64_t spent = spent_bit_params(domain, input, result.bits);
  for (const Candidate& candidate : candidates) {
    const ExpertRef& ref = domain.experts[candidate.index];
    const int64_t params =
        input.layers[static_cast<size_t>(ref.layer)].experts[static_cast<size_t>(ref.expert)].params;
    const int64_t extra = params * (widths.high - widths.low);
    if (spent + extra > domain.capacity_bit_params) continue;  // a smaller expert further down may still fit
    spent += extra;
    result.bits[static_cast<size_t>(ref.layer)][static_cast<size_t>(ref.expert)] = widths.high;
    lifts.push_back({ref.layer, ref.expert, widths.low, widths.high});
  }
  return lifts;
}

}  // namespace

void allocate_moqa_v1(const AllocationInput& input, const AllocationOptions& options, Allocation& result) {
  const TwoWidths widths = bracketing_widths(options, result.expert_target_bits);
  for (const BudgetDomain& domain : budget_domains(input, options)) {
    // Demotion stops at low_bits: an explicit low_bits above the target could never be brought within it.
    MOQA_CHECK(!options.enforce_budget || widths.low * domain.params <= domain.capacity_bit_params,
               "allocation: moqa-v1 cannot meet target_bits = ", options.target_bits, " in ",
               domain_name(domain, options.scope), ": every expert at low_bits = ", widths.low, " already exceeds ",
               result.expert_target_bits, " bits on average; lower low_bits, raise target_bits or set "
               "enforce_budget = false");
    const std::vector<bool> high = high_group(domain, result, options);
    for (size_t i = 0; i < domain.experts.size(); ++i) {
      const ExpertRef& ref = domain.experts[i];
      result.bits[static_cast<size_t>(ref.layer)][static_cast<size_t>(ref.expert)] = high[i] ? widths.high : widths.low;
    }
    if (options.coactivation_shaping) {
      const std::vector<BitChange> lifts = lift_coactivated(domain, high, input, options, widths, result);
      result.coactivation_lifts.insert(result.coactivation_lifts.end(), lifts.begin(), lifts.end());
    }
    if (options.enforce_budget) {
      const std::vector<BitChange> steps =
          demote_to_budget(domain, input, {widths.low, widths.high}, result.score, result.bits);
      result.budget_demotions.insert(result.budget_demotions.end(), steps.begin(), steps.end());
    }
  }
}

}  // namespace moqa::allocate
