#pragma once
// The average-bits budget in integers: a budget domain (one layer, or all layers for scope "global") may
// spend at most `capacity_bit_params` = floor(target x params) parameter-bits. Every method checks the
// budget through these functions, so "within budget" means the same thing everywhere.
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

// The mean width the routed experts may use: target_bits itself, or with budget_counts_all_linear what
// target_bits x (expert + other params) leaves after the other weights' fixed widths.
double expert_target_bits(const AllocationInput& input, const AllocationOptions& options);

// One domain per layer (scope layer) or a single one (scope global).
std::vector<BudgetDomain> budget_domains(const AllocationInput& input, Scope scope, double expert_target_bits);

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

}  // namespace moqa::allocate
