#pragma once
// The average-bits budget in integers: a budget domain (one layer, or all layers for scope "global") may
// spend at most `capacity_bit_params` parameter-bits on its experts' codes: floor(target x params) less
// what the domain stores besides the codes (cached channels; with budget_counts_overhead the scales,
// zero points and g_idx). Every method checks the budget through these functions, so "within budget"
// means the same thing everywhere (docs/ALLOCATION.md, "Stored bits").
#include <cstdint>
#include <string>
#include <vector>

#include "allocate/allocation.h"

namespace moqa::allocate {

struct ExpertRef {
  int layer = 0;
  int expert = 0;
};

struct BudgetDomain {
  std::vector<ExpertRef> experts;  // in (layer, expert) order
  int64_t params = 0;
  int64_t capacity_bit_params = 0;
};

// The target the budget is computed from: options.target_bits, or with match_uniform_bits = w the stored
// mean bits of every routed expert at w (its overhead when counted, no cache) over the budget's weights.
double effective_target_bits(const AllocationInput& input, const AllocationOptions& options);

// The mean code width the routed experts may use: the effective target, less (budget_counts_all_linear)
// what the other weights store, less the experts' cached channels and (budget_counts_overhead) overhead.
double expert_target_bits(const AllocationInput& input, const AllocationOptions& options);

// One domain per layer (scope layer) or a single one (scope global); each domain's capacity is its share
// of the experts' stored budget, less its own cached channels and counted overhead.
std::vector<BudgetDomain> budget_domains(const AllocationInput& input, const AllocationOptions& options);

int64_t spent_bit_params(const BudgetDomain& domain, const AllocationInput& input, const BitMatrix& bits);

// "MoE layer L" for a layer's domain, "the routed experts" for the global one (for messages).
std::string domain_name(const BudgetDomain& domain, Scope scope);

// Throws moqa::Error when every expert of the domain at the smallest candidate already exceeds it.
void require_feasible(const BudgetDomain& domain, const AllocationOptions& options, double expert_target_bits);

// Demotion until within budget: repeatedly take, among the domain's experts above the bottom of `ladder`
// (ascending widths, every expert's width on it), one of the highest width, least score first, ties by
// (layer, expert), and move it one rung down. Returns the steps applied, in order.
std::vector<BitChange> demote_to_budget(const BudgetDomain& domain, const AllocationInput& input,
                                        const std::vector<int>& ladder,
                                        const std::vector<std::vector<double>>& score, BitMatrix& bits);

// The converse, after a method (allocation.fill_budget): sweeps the domain's experts by descending score
// (ties by (layer, expert)) and moves each one rung up `ladder` if that stays within the capacity, until a
// sweep moves nobody. What remains unspent is less than the cheapest possible step. Returns the steps.
std::vector<BitChange> fill_to_budget(const BudgetDomain& domain, const AllocationInput& input,
                                      const std::vector<int>& ladder, const std::vector<std::vector<double>>& score,
                                      BitMatrix& bits);

// Two widths around the experts' target for the two-group methods (moqa-v1, moeptq): low = the largest
// candidate strictly below it, high = the smallest strictly above it (each falling back to the neighbouring
// candidate at the ends of the list), overridden by options.low_bits / high_bits when set.
struct TwoWidths {
  int low = 0;
  int high = 0;
};
TwoWidths bracketing_widths(const AllocationOptions& options, double expert_target_bits);

}  // namespace moqa::allocate
