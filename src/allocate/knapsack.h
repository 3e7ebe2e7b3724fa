#pragma once
// Multiple-choice knapsack: pick exactly one option per item, total cost <= capacity, minimum total
// value. Solved by dynamic programming over the capacity in integer units. The unit is the gcd of the
// cost differences, which makes the DP exact; only when items x units would exceed max_cells is the
// unit coarsened (costs rounded up, so the answer stays feasible; see docs/ALLOCATION.md for the bound).
#include <cstdint>
#include <vector>

namespace moqa::allocate {

struct KnapsackItem {
  std::vector<int64_t> costs;  // one per option, >= 0
  std::vector<double> values;  // same length, finite
};

struct KnapsackSolution {
  std::vector<int> choice;  // option index per item
  double value = 0.0;       // sum of chosen values
  int64_t cost = 0;         // sum of chosen costs (<= capacity)
  int64_t unit = 1;         // DP unit in cost units
  bool exact = true;        // true: value is the optimum; false: optimum of the rounded-up problem
};

// Throws moqa::Error when even the cheapest option of every item exceeds the capacity. Among equal
// values the DP keeps the option listed first, so results are deterministic.
KnapsackSolution solve_multiple_choice_knapsack(const std::vector<KnapsackItem>& items, int64_t capacity,
                                                int64_t max_cells);

}  // namespace moqa::allocate
