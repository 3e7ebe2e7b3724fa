#include "allocate/budget.h"

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

double expert_target_bits(const AllocationInput& input, const AllocationOptions& options) {
  if (!options.budget_counts_all_linear) return options.target_bits;
  int64_t expert_params = 0;
  for (const MoeLayerStats& layer : input.layers)
    for (const ExpertStats& expert : layer.experts) expert_params += expert.params;
  double other_params = 0.0;
  double other_bit_params = 0.0;
  for (const WeightGroup& group : input.other_weights) {
    other_params += static_cast<double>(group.params);
    other_bit_params += static_cast<double>(group.params) * group.bits;
  }
  const double total = static_cast<double>(expert_params) + other_params;
  return (options.target_bits * total - other_bit_params) / static_cast<double>(expert_params);
}

std::vector<BudgetDomain> budget_domains(const AllocationInput& input, Scope scope, double target_bits) {
  std::vector<BudgetDomain> domains;
  if (scope == Scope::global) domains.emplace_back();
  for (size_t layer = 0; layer < input.layers.size(); ++layer) {
    if (scope == Scope::layer) domains.emplace_back();
    BudgetDomain& domain = domains.back();
    for (size_t expert = 0; expert < input.layers[layer].experts.size(); ++expert) {
      domain.experts.push_back({static_cast<int>(layer), static_cast<int>(expert)});
      domain.params += input.layers[layer].experts[expert].params;
    }
  }
  for (BudgetDomain& domain : domains) domain.capacity_bit_params = capacity_for(target_bits, domain.params);
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

}  // namespace moqa::allocate
