#include "allocate/budget.h"

#include <algorithm>
#include <cmath>
#include <queue>

#include "allocate/candidate_bits.h"
#include "core/error.h"

namespace moqa::allocate {
namespace {

// Targets such as 2.9 are not exact in binary; the slack keeps floor(2.9 x 10) at 29, not 28.
constexpr double kTargetSlack = 1e-12;

int64_t capacity_for(double target_bits, int64_t params) {
  return static_cast<int64_t>(std::floor(target_bits * static_cast<double>(params) * (1.0 + kTargetSlack)));
}

}  // namespace

namespace {

struct Totals {
  double expert_params = 0.0;
  double expert_extra_bits = 0.0;  // cached channels + counted overhead
  double expert_overhead_bits = 0.0;
  double other_params = 0.0;
  double other_stored_bits = 0.0;  // codes + counted overhead
};

int64_t counted_extra_bits(const ExpertStats& expert, const AllocationOptions& options) {
  return expert.cache_bits + (options.budget_counts_overhead ? expert.overhead_bits : 0);
}

Totals totals_of(const AllocationInput& input, const AllocationOptions& options) {
  Totals t;
  for (const MoeLayerStats& layer : input.layers)
    for (const ExpertStats& expert : layer.experts) {
      t.expert_params += static_cast<double>(expert.params);
      t.expert_extra_bits += static_cast<double>(counted_extra_bits(expert, options));
      t.expert_overhead_bits += options.budget_counts_overhead ? static_cast<double>(expert.overhead_bits) : 0.0;
    }
  for (const WeightGroup& group : input.other_weights) {
    t.other_params += static_cast<double>(group.params);
    t.other_stored_bits += static_cast<double>(group.params) * group.bits +
                           (options.budget_counts_overhead ? static_cast<double>(group.overhead_bits) : 0.0);
  }
  return t;
}

// Stored bits per expert parameter the routed experts may use in total (cache and overhead included).
double expert_stored_target(const AllocationInput& input, const AllocationOptions& options) {
  const Totals t = totals_of(input, options);
  const double target = effective_target_bits(input, options);
  if (!options.budget_counts_all_linear) return target;
  return (target * (t.expert_params + t.other_params) - t.other_stored_bits) / t.expert_params;
}

}  // namespace

double effective_target_bits(const AllocationInput& input, const AllocationOptions& options) {
  if (options.match_uniform_bits == 0) return options.target_bits;
  const Totals t = totals_of(input, options);
  const double experts = options.match_uniform_bits * t.expert_params + t.expert_overhead_bits;
  if (!options.budget_counts_all_linear) return experts / t.expert_params;
  return (experts + t.other_stored_bits) / (t.expert_params + t.other_params);
}

double expert_target_bits(const AllocationInput& input, const AllocationOptions& options) {
  const Totals t = totals_of(input, options);
  return expert_stored_target(input, options) - t.expert_extra_bits / t.expert_params;
}

std::vector<BudgetDomain> budget_domains(const AllocationInput& input, const AllocationOptions& options) {
  const double stored_target = expert_stored_target(input, options);
  std::vector<BudgetDomain> domains;
  std::vector<int64_t> extra_bits;
  if (options.scope == Scope::global) {
    domains.emplace_back();
    extra_bits.push_back(0);
  }
  for (size_t layer = 0; layer < input.layers.size(); ++layer) {
    if (options.scope == Scope::layer) {
      domains.emplace_back();
      extra_bits.push_back(0);
    }
    BudgetDomain& domain = domains.back();
    for (size_t expert = 0; expert < input.layers[layer].experts.size(); ++expert) {
      const ExpertStats& stats = input.layers[layer].experts[expert];
      domain.experts.push_back({static_cast<int>(layer), static_cast<int>(expert)});
      domain.params += stats.params;
      extra_bits.back() += counted_extra_bits(stats, options);
    }
  }
  for (size_t d = 0; d < domains.size(); ++d)
    domains[d].capacity_bit_params = capacity_for(stored_target, domains[d].params) - extra_bits[d];
  return domains;
}

int64_t spent_bit_params(const BudgetDomain& domain, const AllocationInput& input, const BitMatrix& bits) {
  int64_t spent = 0;
  for (const ExpertRef& ref : domain.experts)
    spent += input.layers[static_cast<size_t>(ref.layer)].experts[static_cast<size_t>(ref.expert)].params *
             bits[static_cast<size_t>(ref.layer)][static_cast<size_t>(ref.expert)];
  return spent;
}

std::string domain_name(const BudgetDomain& domain, Scope scope) {
  return scope == Scope::layer && !domain.experts.empty() ? cat("MoE layer ", domain.experts.front().layer)
                                                          : std::string("the routed experts");
}

void require_feasible(const BudgetDomain& domain, const AllocationOptions& options, double target_bits) {
  const int smallest = options.candidate_bits.front();
  if (static_cast<int64_t>(smallest) * domain.params <= domain.capacity_bit_params) return;
  const std::string where = domain_name(domain, options.scope);
  if (options.budget_counts_overhead)
    fail("allocation: target_bits = ", options.target_bits, " (stored bits, counting ",
         options.budget_counts_overhead ? "scales, zero points, " : "", "cached channels) leaves the experts ",
         target_bits, " bits per weight for their codes in ", where, ", below the smallest candidate width ",
         smallest, "; raise target_bits, add a smaller candidate, cache fewer channels",
         options.budget_counts_overhead ? " or set allocation.budget_counts_overhead = false" : "");
  if (options.budget_counts_all_linear)
    fail("allocation: target_bits = ", options.target_bits,
         " over all linear weights leaves the experts ", target_bits, " bits on average in ", where,
         ", below the smallest candidate width ", smallest,
         "; raise target_bits, lower the other weights' widths or add a smaller candidate");
  fail("allocation: target_bits = ", options.target_bits, " is infeasible for ", where,
       ": every expert at the smallest candidate width already needs ", smallest,
       " bits; expected target_bits >= ", smallest);
}

std::vector<BitChange> demote_to_budget(const BudgetDomain& domain, const AllocationInput& input,
                                        const std::vector<int>& ladder,
                                        const std::vector<std::vector<double>>& score, BitMatrix& bits) {
  struct Entry {
    int bits;
    double score;
    ExpertRef ref;
  };
  // true when a should be demoted after b (priority_queue keeps the "largest" on top).
  const auto later = [](const Entry& a, const Entry& b) {
    if (a.bits != b.bits) return a.bits < b.bits;
    if (a.score != b.score) return a.score > b.score;
    if (a.ref.layer != b.ref.layer) return a.ref.layer > b.ref.layer;
    return a.ref.expert > b.ref.expert;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(later)> queue(later);
  const auto at = [&](const ExpertRef& ref) -> int& {
    return bits[static_cast<size_t>(ref.layer)][static_cast<size_t>(ref.expert)];
  };
  for (const ExpertRef& ref : domain.experts)
    if (at(ref) > ladder.front())
      queue.push({at(ref), score[static_cast<size_t>(ref.layer)][static_cast<size_t>(ref.expert)], ref});

  std::vector<BitChange> steps;
  int64_t spent = spent_bit_params(domain, input, bits);
  while (spent > domain.capacity_bit_params && !queue.empty()) {
    Entry entry = queue.top();
    queue.pop();
    const int level = candidate_index(ladder, entry.bits);
    MOQA_CHECK(level > 0, "allocation: internal error, expert ", entry.ref.layer, "/", entry.ref.expert,
               " holds ", entry.bits, " bits, not a width above the bottom of the demotion ladder");
    const int lower = ladder[static_cast<size_t>(level - 1)];
    const int64_t params =
        input.layers[static_cast<size_t>(entry.ref.layer)].experts[static_cast<size_t>(entry.ref.expert)].params;
    spent -= params * (entry.bits - lower);
    at(entry.ref) = lower;
    steps.push_back({entry.ref.layer, entry.ref.expert, entry.bits, lower});
    if (level - 1 > 0) queue.push({lower, entry.score, entry.ref});
  }
  return steps;
}

std::vector<BitChange> fill_to_budget(const BudgetDomain& domain, const AllocationInput& input,
                                      const std::vector<int>& ladder, const std::vector<std::vector<double>>& score,
                                      BitMatrix& bits) {
  std::vector<ExpertRef> ranking = domain.experts;  // (layer, expert) order breaks ties
  const auto score_of = [&](const ExpertRef& r) {
    return score[static_cast<size_t>(r.layer)][static_cast<size_t>(r.expert)];
  };
  std::stable_sort(ranking.begin(), ranking.end(),
                   [&](const ExpertRef& a, const ExpertRef& b) { return score_of(a) > score_of(b); });
  std::vector<BitChange> steps;
  int64_t spent = spent_bit_params(domain, input, bits);
  bool promoted = true;
  while (promoted) {
    promoted = false;
    for (const ExpertRef& ref : ranking) {
      int& width = bits[static_cast<size_t>(ref.layer)][static_cast<size_t>(ref.expert)];
      const int level = candidate_index(ladder, width);
      if (level < 0 || level + 1 >= static_cast<int>(ladder.size())) continue;
      const int higher = ladder[static_cast<size_t>(level + 1)];
      const int64_t extra =
          input.layers[static_cast<size_t>(ref.layer)].experts[static_cast<size_t>(ref.expert)].params * (higher - width);
      if (spent + extra > domain.capacity_bit_params) continue;
      spent += extra;
      steps.push_back({ref.layer, ref.expert, width, higher});
      width = higher;
      promoted = true;
    }
  }
  return steps;
}

TwoWidths bracketing_widths(const AllocationOptions& options, double target_bits) {
  const std::vector<int>& candidates = options.candidate_bits;
  const int n = static_cast<int>(candidates.size());
  int below = 0;  // index of largest candidate < target (or 0)
  while (below + 1 < n && candidates[static_cast<size_t>(below + 1)] < target_bits) ++below;
  int above = n - 1;  // index of smallest candidate > target (or n-1)
  while (above - 1 >= 0 && candidates[static_cast<size_t>(above - 1)] > target_bits) --above;
  if (above <= below) above = std::min(below + 1, n - 1);
  if (above <= below) below = std::max(above - 1, 0);
  TwoWidths widths{candidates[static_cast<size_t>(below)], candidates[static_cast<size_t>(above)]};
  if (options.low_bits != 0) widths.low = options.low_bits;
  if (options.high_bits != 0) widths.high = options.high_bits;
  MOQA_CHECK(widths.low < widths.high, "allocation: ", to_string(options.method), " resolved low width ", widths.low,
             " and high width ", widths.high, " (experts' target ", target_bits,
             " bits); expected low < high: set both explicitly or give at least two candidate_bits");
  return widths;
}

}  // namespace moqa::allocate
