// The "budgeted" method: exact minimum of sum significance x error under the average-bits budget.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "allocate/allocation.h"
#include "allocate_test_util.h"
#include "core/error.h"

namespace moqa::allocate {
namespace {

using test::uniform_int;

const std::vector<int> kMeasured{2, 3, 4, 6, 8};

// One layer of n experts with unequal sizes and errors measured at every supported width.
MoeLayerStats random_layer(SplitMix64& rng, size_t n) {
  MoeLayerStats layer;
  for (size_t e = 0; e < n; ++e) {
    ExpertStats expert;
    expert.params = uniform_int(rng, 1, 40) * 16;
    expert.significance_mean = rng.next_unit();
    double error = 1.0 + rng.next_unit();
    for (size_t k = 0; k < kMeasured.size(); ++k) {
      expert.quant_error.push_back(error);
      error *= 0.1 + 0.8 * rng.next_unit();
    }
    layer.experts.push_back(expert);
  }
  return layer;
}

std::vector<int> random_candidates(SplitMix64& rng) {
  std::vector<int> bits;
  const size_t count = static_cast<size_t>(uniform_int(rng, 2, 4));
  while (bits.size() != count) {
    bits.clear();
    for (int b : kMeasured)
      if (bits.size() < count && rng.next_unit() < 0.5) bits.push_back(b);
  }
  return bits;
}

// Exhaustive search over every width combination of one layer.
double brute_force(const MoeLayerStats& layer, const std::vector<int>& candidates, double target_bits) {
  int64_t params = 0;
  for (const ExpertStats& expert : layer.experts) params += expert.params;
  const auto capacity = static_cast<int64_t>(std::floor(target_bits * static_cast<double>(params) * (1 + 1e-12)));
  double best = std::numeric_limits<double>::infinity();
  std::vector<size_t> pick(layer.experts.size(), 0);
  while (true) {
    int64_t spent = 0;
    double objective = 0.0;
    for (size_t e = 0; e < pick.size(); ++e) {
      const ExpertStats& expert = layer.experts[e];
      const int bits = candidates[pick[e]];
      spent += expert.params * bits;
      size_t column = 0;
      while (kMeasured[column] != bits) ++column;
      objective += expert.significance_mean * expert.quant_error[column];
    }
    if (spent <= capacity) best = std::min(best, objective);
    size_t e = 0;
    while (e < pick.size() && ++pick[e] == candidates.size()) pick[e++] = 0;
    if (e == pick.size()) return best;
  }
}

AllocationOptions budgeted_options(const std::vector<int>& candidates, double target_bits) {
  AllocationOptions options;
  options.method = Method::budgeted;
  options.candidate_bits = candidates;
  options.target_bits = target_bits;
  return options;
}

TEST(AllocateBudgeted, EqualsBruteForceOnRandomSmallInstances) {
  SplitMix64 rng{42};
  for (int instance = 0; instance < 250; ++instance) {
    AllocationInput input;
    input.error_bits = kMeasured;
    input.layers.push_back(random_layer(rng, static_cast<size_t>(uniform_int(rng, 2, 7))));
    const std::vector<int> candidates = random_candidates(rng);
    const double target = candidates.front() + (candidates.back() - candidates.front() + 0.5) * rng.next_unit();
    const Allocation result = allocate(input, budgeted_options(candidates, target));
    SCOPED_TRACE(::testing::Message() << "instance " << instance << " target " << target);
    EXPECT_TRUE(result.exact);
    EXPECT_LE(result.report.expert_mean_bits, target + 1e-12);
    const double best = brute_force(input.layers[0], candidates, target);
    EXPECT_NEAR(result.objective, best, 1e-12 * (1.0 + best));
  }
}

TEST(AllocateBudgeted, LayerScopeSolvesEachLayerAndGlobalIsNeverWorse) {
  SplitMix64 rng{8};
  for (int instance = 0; instance < 40; ++instance) {
    AllocationInput input;
    input.error_bits = kMeasured;
    input.layers.push_back(random_layer(rng, 4));
    input.layers.push_back(random_layer(rng, 5));
    const std::vector<int> candidates = random_candidates(rng);
    const double target = candidates.front() + (candidates.back() - candidates.front()) * rng.next_unit();
    AllocationOptions options = budgeted_options(candidates, target);
    options.scope = Scope::layer;
    const Allocation per_layer = allocate(input, options);
    const double expected = brute_force(input.layers[0], candidates, target) +
                            brute_force(input.layers[1], candidates, target);
    EXPECT_NEAR(per_layer.objective, expected, 1e-12 * (1.0 + expected));
    for (double mean : per_layer.report.layer_mean_bits) EXPECT_LE(mean, target + 1e-12);

    options.scope = Scope::global;
    const Allocation global = allocate(input, options);
    EXPECT_LE(global.objective, per_layer.objective + 1e-12);  // a relaxation of the per-layer budgets
    EXPECT_LE(global.report.expert_mean_bits, target + 1e-12);
  }
}

TEST(AllocateBudgeted, CoarseUnitIsFeasibleAndFlagged) {
  SplitMix64 rng{9};
  AllocationInput input;
  input.error_bits = kMeasured;
  input.layers.push_back(random_layer(rng, 6));
  for (auto& expert : input.layers[0].experts) expert.params = uniform_int(rng, 1000, 5000);  // gcd likely 1
  AllocationOptions options = budgeted_options({2, 4, 8}, 4.3);
  options.max_dp_cells = 60;
  const Allocation result = allocate(input, options);
  EXPECT_FALSE(result.exact);
  EXPECT_GT(result.budget_unit_bit_params, 1);
  EXPECT_LE(result.report.expert_mean_bits, 4.3);
  EXPECT_GE(result.objective, brute_force(input.layers[0], {2, 4, 8}, 4.3) - 1e-12);
}

TEST(AllocateBudgeted, InfeasibleTargetIsAClearError) {
  SplitMix64 rng{10};
  AllocationInput input;
  input.error_bits = kMeasured;
  input.layers.push_back(random_layer(rng, 3));
  try {
    allocate(input, budgeted_options({3, 4}, 2.5));
    FAIL() << "expected moqa::Error";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("target_bits = 2.5"), std::string::npos) << message;
    EXPECT_NE(message.find("infeasible"), std::string::npos) << message;
  }
  EXPECT_NO_THROW(allocate(input, budgeted_options({3, 4}, 3.0)));  // exactly the smallest width is fine
}

TEST(AllocateBudgeted, MissingErrorsAreAnError) {
  AllocationInput input = test::make_input({{0.1, 0.2}});
  EXPECT_THROW(allocate(input, budgeted_options({2, 4}, 3.0)), Error);
  input.error_bits = {2, 3};
  for (auto& expert : input.layers[0].experts) expert.quant_error = {1.0, 0.5};
  try {
    allocate(input, budgeted_options({2, 4}, 3.0));  // 4 bits was never measured
    FAIL() << "expected moqa::Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("4 bits"), std::string::npos) << error.what();
  }
}

TEST(AllocateBudgeted, SpendsOnTheExpertWhereBitsBuyTheMost) {
  AllocationInput input = test::make_input({{1.0, 0.01}});
  input.error_bits = {2, 4};
  input.layers[0].experts[0].quant_error = {1.0, 0.1};
  input.layers[0].experts[1].quant_error = {1.0, 0.1};
  const Allocation result = allocate(input, budgeted_options({2, 4}, 3.0));
  EXPECT_EQ(result.bits[0], (std::vector<int>{4, 2}));
  EXPECT_NEAR(result.objective, 0.1 + 0.01, 1e-15);
}

}  // namespace
}  // namespace moqa::allocate
