#include "allocate/knapsack.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <queue>

#include "core/error.h"

namespace moqa::allocate {
namespace {

// After a coarse DP, rounding every cost up can leave up to items x (unit - 1) of the capacity unused.
// Spend it greedily: repeatedly apply the single upgrade (one item to a costlier, better option) with
// the largest value gain per unit of cost that still fits. This can only lower the value and never
// breaks feasibility, so the coarse bound still holds; it is not used on the exact path.
void spend_leftover(const std::vector<KnapsackItem>& items, int64_t capacity, KnapsackSolution& solution) {
  struct Upgrade {
    double gain_per_cost;
    size_t item;
    int option;
  };
  // Heap order: largest gain per cost first, then the lower item index.
  const auto after = [](const Upgrade& a, const Upgrade& b) {
    if (a.gain_per_cost != b.gain_per_cost) return a.gain_per_cost < b.gain_per_cost;
    return a.item > b.item;
  };
  int64_t remaining = capacity - solution.cost;
  const auto best_upgrade = [&](size_t i, Upgrade& upgrade) {
    const KnapsackItem& item = items[i];
    const auto current = static_cast<size_t>(solution.choice[i]);
    bool found = false;
    for (size_t k = 0; k < item.costs.size(); ++k) {
      const int64_t extra = item.costs[k] - item.costs[current];
      const double gain = item.values[current] - item.values[k];
      if (extra <= 0 || extra > remaining || gain <= 0.0) continue;
      const double ratio = gain / static_cast<double>(extra);
      if (!found || ratio > upgrade.gain_per_cost) upgrade = {ratio, i, static_cast<int>(k)};
      found = true;
    }
    return found;
  };
  std::priority_queue<Upgrade, std::vector<Upgrade>, decltype(after)> queue(after);
  for (size_t i = 0; i < items.size(); ++i) {
    Upgrade upgrade{};
    if (best_upgrade(i, upgrade)) queue.push(upgrade);
  }
  while (!queue.empty()) {
    const Upgrade top = queue.top();
    queue.pop();
    const KnapsackItem& item = items[top.item];
    const auto current = static_cast<size_t>(solution.choice[top.item]);
    const int64_t extra = item.costs[static_cast<size_t>(top.option)] - item.costs[current];
    if (extra <= remaining) {
      remaining -= extra;
      solution.cost += extra;
      solution.choice[top.item] = top.option;
    }
    // Applied, or the budget shrank since this entry was made: either way, look again among what fits now.
    Upgrade next{};
    if (best_upgrade(top.item, next)) queue.push(next);
  }
}

}  // namespace

KnapsackSolution solve_multiple_choice_knapsack(const std::vector<KnapsackItem>& items, int64_t capacity,
                                                int64_t max_cells) {
  MOQA_CHECK(max_cells >= 1, "knapsack: max_dp_cells = ", max_cells, ", expected >= 1");
  const size_t n = items.size();
  std::vector<int64_t> base(n);
  int64_t base_total = 0;
  int64_t residual_total = 0;  // the most any selection can spend above the bases
  int64_t unit = 0;            // gcd of all residual costs: every reachable total is a multiple of it
  for (size_t i = 0; i < n; ++i) {
    const KnapsackItem& item = items[i];
    MOQA_CHECK(!item.costs.empty() && item.costs.size() == item.values.size(), "knapsack: item ", i, " has ",
               item.costs.size(), " costs and ", item.values.size(), " values, expected the same non-zero count");
    MOQA_CHECK(item.costs.size() <= std::numeric_limits<uint8_t>::max(), "knapsack: item ", i, " has ",
               item.costs.size(), " options, expected at most 255");
    for (size_t k = 0; k < item.costs.size(); ++k) {
      MOQA_CHECK(item.costs[k] >= 0, "knapsack: item ", i, " option ", k, " costs ", item.costs[k], ", expected >= 0");
      MOQA_CHECK(std::isfinite(item.values[k]), "knapsack: item ", i, " option ", k, " has value ", item.values[k],
                 ", expected a finite number");
    }
    base[i] = *std::min_element(item.costs.begin(), item.costs.end());
    const int64_t spread = *std::max_element(item.costs.begin(), item.costs.end()) - base[i];
    MOQA_CHECK(base_total <= std::numeric_limits<int64_t>::max() - base[i] &&
                   residual_total <= std::numeric_limits<int64_t>::max() - spread,
               "knapsack: total cost overflows at item ", i);
    base_total += base[i];
    residual_total += spread;
    for (int64_t cost : item.costs) unit = std::gcd(unit, cost - base[i]);
  }
  MOQA_CHECK(base_total <= capacity, "knapsack: infeasible, the cheapest choice of every item costs ", base_total,
             " but the capacity is ", capacity);

  KnapsackSolution solution;
  if (unit == 0) unit = 1;  // every item has a single cost: only values matter
  const int64_t budget = std::min(capacity - base_total, residual_total);
  const int64_t rows = static_cast<int64_t>(std::max<size_t>(n, 1));
  const int64_t max_units = std::max<int64_t>(max_cells / rows - 1, 0);
  if (budget / unit > max_units) {
    // Coarsen: the smallest multiple of the exact unit that brings the table under max_cells.
    unit *= budget / (unit * (max_units + 1)) + 1;
    solution.exact = false;
  }
  const size_t units = static_cast<size_t>(budget / unit);
  solution.unit = unit;

  // weight[i][k]: cost above the base in DP units, rounded up so a DP-feasible choice is truly feasible.
  std::vector<std::vector<size_t>> weight(n);
  for (size_t i = 0; i < n; ++i)
    for (int64_t cost : items[i].costs) weight[i].push_back(static_cast<size_t>((cost - base[i] + unit - 1) / unit));

  // best[c]: minimum value of the items so far with total weight <= c. choice[i][c] remembers the option.
  std::vector<double> best(units + 1, 0.0);
  std::vector<double> next(units + 1);
  std::vector<uint8_t> choice(n * (units + 1));
  for (size_t i = 0; i < n; ++i) {
    for (size_t c = 0; c <= units; ++c) {
      double best_value = std::numeric_limits<double>::infinity();
      uint8_t best_option = 0;
      for (size_t k = 0; k < weight[i].size(); ++k) {
        if (weight[i][k] > c) continue;
        const double candidate = best[c - weight[i][k]] + items[i].values[k];
        if (candidate < best_value) {
          best_value = candidate;
          best_option = static_cast<uint8_t>(k);
        }
      }
      next[c] = best_value;  // finite: the base option has weight 0
      choice[i * (units + 1) + c] = best_option;
    }
    best.swap(next);
  }

  solution.choice.resize(n);
  size_t remaining = units;
  for (size_t i = n; i-- > 0;) {
    const uint8_t option = choice[i * (units + 1) + remaining];
    solution.choice[i] = option;
    remaining -= weight[i][option];
  }
  for (size_t i = 0; i < n; ++i) {
    solution.value += items[i].values[static_cast<size_t>(solution.choice[i])];
    solution.cost += items[i].costs[static_cast<size_t>(solution.choice[i])];
  }
  if (!solution.exact) {
    spend_leftover(items, capacity, solution);
    // Re-sum in item order so the reported value does not depend on the order of the upgrades.
    solution.value = 0.0;
    for (size_t i = 0; i < n; ++i) solution.value += items[i].values[static_cast<size_t>(solution.choice[i])];
  }
  return solution;
}

}  // namespace moqa::allocate
