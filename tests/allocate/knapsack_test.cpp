#include "allocate/knapsack.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "allocate_test_util.h"
#include "core/error.h"

namespace moqa::allocate {
namespace {

using test::uniform_int;

// Minimum value over all option combinations with cost <= capacity (infinity when none fits).
double brute_force(const std::vector<KnapsackItem>& items, int64_t capacity) {
  double best = std::numeric_limits<double>::infinity();
  std::vector<size_t> pick(items.size(), 0);
  while (true) {
    int64_t cost = 0;
    double value = 0.0;
    for (size_t i = 0; i < items.size(); ++i) {
      cost += items[i].costs[pick[i]];
      value += items[i].values[pick[i]];
    }
    if (cost <= capacity) best = std::min(best, value);
    size_t i = 0;
    while (i < items.size() && ++pick[i] == items[i].costs.size()) pick[i++] = 0;
    if (i == items.size()) return best;
  }
}

// Random instance shaped like an allocation: cost = params x bits, value = significance x error with
// the error falling as bits grow.
std::vector<KnapsackItem> random_items(SplitMix64& rng, size_t n, const std::vector<int>& bits) {
  std::vector<KnapsackItem> items(n);
  for (KnapsackItem& item : items) {
    const int64_t params = uniform_int(rng, 1, 60);
    const double significance = rng.next_unit();
    double error = 1.0 + rng.next_unit();
    for (int b : bits) {
      item.costs.push_back(params * b);
      item.values.push_back(significance * error);
      error *= 0.2 + 0.7 * rng.next_unit();
    }
  }
  return items;
}

std::vector<int> random_bits(SplitMix64& rng) {
  const int all[] = {2, 3, 4, 6, 8};
  std::vector<int> bits;
  const int count = static_cast<int>(uniform_int(rng, 2, 4));
  while (static_cast<int>(bits.size()) < count) {
    bits.clear();
    for (int b : all)
      if (rng.next_unit() < 0.6) bits.push_back(b);
  }
  bits.resize(static_cast<size_t>(count));
  return bits;
}

// The cheapest and the dearest total over all selections (random_items lists costs ascending).
std::pair<int64_t, int64_t> cost_range(const std::vector<KnapsackItem>& items) {
  int64_t low = 0, high = 0;
  for (const KnapsackItem& item : items) {
    low += item.costs.front();
    high += item.costs.back();
  }
  return {low, high};
}

void expect_consistent(const std::vector<KnapsackItem>& items, const KnapsackSolution& solution, int64_t capacity) {
  int64_t cost = 0;
  double value = 0.0;
  for (size_t i = 0; i < items.size(); ++i) {
    cost += items[i].costs[static_cast<size_t>(solution.choice[i])];
    value += items[i].values[static_cast<size_t>(solution.choice[i])];
  }
  EXPECT_EQ(cost, solution.cost);
  EXPECT_LE(cost, capacity);
  EXPECT_DOUBLE_EQ(value, solution.value);
}

TEST(AllocateKnapsack, MatchesBruteForceOnRandomInstances) {
  SplitMix64 rng{2024};
  for (int instance = 0; instance < 300; ++instance) {
    const std::vector<int> bits = random_bits(rng);
    const size_t n = static_cast<size_t>(uniform_int(rng, 2, 7));
    const std::vector<KnapsackItem> items = random_items(rng, n, bits);
    const auto [low, high] = cost_range(items);
    const int64_t capacity = uniform_int(rng, low, high + 5);
    const KnapsackSolution solution = solve_multiple_choice_knapsack(items, capacity, int64_t{1} << 25);
    SCOPED_TRACE(::testing::Message() << "instance " << instance << " n " << n << " capacity " << capacity);
    EXPECT_TRUE(solution.exact);
    expect_consistent(items, solution, capacity);
    const double best = brute_force(items, capacity);
    EXPECT_NEAR(solution.value, best, 1e-12 * (1.0 + std::abs(best)));
  }
}

TEST(AllocateKnapsack, CoarsenedUnitStaysFeasibleAndWithinBound) {
  SplitMix64 rng{77};
  int coarsened = 0;
  for (int instance = 0; instance < 200; ++instance) {
    const std::vector<int> bits = random_bits(rng);
    const size_t n = static_cast<size_t>(uniform_int(rng, 2, 6));
    const std::vector<KnapsackItem> items = random_items(rng, n, bits);
    const auto [low, high] = cost_range(items);
    const int64_t capacity = uniform_int(rng, low, high);
    // A table of at most 4 capacity units per item forces a coarse unit on most instances.
    const KnapsackSolution solution = solve_multiple_choice_knapsack(items, capacity, static_cast<int64_t>(n) * 4);
    SCOPED_TRACE(::testing::Message() << "instance " << instance);
    expect_consistent(items, solution, capacity);
    if (solution.exact) {
      EXPECT_NEAR(solution.value, brute_force(items, capacity), 1e-12);
      continue;
    }
    ++coarsened;
    // Documented bound: at least as good as the exact optimum with n x (unit - 1) less capacity.
    const double tightened = brute_force(items, capacity - static_cast<int64_t>(n) * (solution.unit - 1));
    if (std::isfinite(tightened)) {
      EXPECT_LE(solution.value, tightened + 1e-12);
    }
    EXPECT_GE(solution.value, brute_force(items, capacity) - 1e-12);
    // The leftover capacity was spent: no single improving upgrade still fits.
    for (size_t i = 0; i < items.size(); ++i) {
      const auto current = static_cast<size_t>(solution.choice[i]);
      for (size_t k = 0; k < items[i].costs.size(); ++k)
        if (items[i].values[k] < items[i].values[current]) {
          EXPECT_GT(items[i].costs[k] - items[i].costs[current], capacity - solution.cost) << i << " " << k;
        }
    }
  }
  EXPECT_GT(coarsened, 100);
}

TEST(AllocateKnapsack, CoarseUnitOnManyEqualItemsStillUsesTheBudget) {
  // 3000 items with costs 2/3/4 (unit 1 exact) squeezed into a table of 20 units per item: the rounded-up
  // costs alone would waste most of the budget; the leftover pass spends it.
  std::vector<KnapsackItem> items(3000);
  for (size_t i = 0; i < items.size(); ++i) items[i] = {{2, 3, 4}, {1.0 + 1e-4 * double(i % 7), 0.5, 0.25}};
  const int64_t capacity = 3 * 3000;
  const KnapsackSolution solution = solve_multiple_choice_knapsack(items, capacity, 3000 * 20);
  EXPECT_FALSE(solution.exact);
  EXPECT_GT(solution.unit, 1);
  EXPECT_LE(solution.cost, capacity);
  EXPECT_GE(solution.cost, capacity - 1);
}

TEST(AllocateKnapsack, GcdUnitKeepsLargeParameterCountsExact) {
  // Experts of 50M parameters: costs in the billions, but the gcd unit makes the table tiny.
  std::vector<KnapsackItem> items(4);
  for (size_t i = 0; i < items.size(); ++i)
    items[i] = {{50'000'000 * 2, 50'000'000 * 4, 50'000'000 * 8}, {4.0 + double(i), 1.0, 0.1}};
  const KnapsackSolution solution = solve_multiple_choice_knapsack(items, 50'000'000LL * 4 * 4, 1000);
  EXPECT_TRUE(solution.exact);
  EXPECT_EQ(solution.unit, 100'000'000);
  EXPECT_NEAR(solution.value, brute_force(items, 50'000'000LL * 16), 1e-12);
}

TEST(AllocateKnapsack, InfeasibleCapacityIsAnError) {
  const std::vector<KnapsackItem> items{{{10, 20}, {1.0, 0.5}}, {{10, 20}, {1.0, 0.5}}};
  try {
    solve_multiple_choice_knapsack(items, 19, 1000);
    FAIL() << "expected moqa::Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("infeasible"), std::string::npos) << error.what();
  }
}

TEST(AllocateKnapsack, EqualValuesPreferTheFirstOption) {
  const std::vector<KnapsackItem> items{{{2, 4}, {0.0, 0.0}}, {{2, 4}, {0.0, 0.0}}};
  const KnapsackSolution solution = solve_multiple_choice_knapsack(items, 100, 1000);
  EXPECT_EQ(solution.choice, (std::vector<int>{0, 0}));
}

}  // namespace
}  // namespace moqa::allocate
