// Stored-bit budgets (cached channels, scale/zero overhead, match_uniform_bits, fill_budget) and the moeptq
// baseline, on hand-computed examples.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "allocate/allocation.h"
#include "allocate/budget.h"
#include "allocate_test_util.h"
#include "core/error.h"

namespace moqa::allocate {
namespace {

using test::make_input;
using test::make_layer;

// An expert shaped like mixtral-tiny's: gate/up [256, 128], down [128, 256], group 128, f16 scales, U8 zeros.
// Groups: 256 + 256 + 128 * 2 = 768, each 16 + 8 bits -> 18432 overhead bits for 98304 params (0.1875 bits).
constexpr int64_t kParams = 3 * 128 * 256;
constexpr int64_t kOverhead = 768 * 24;
// One cached channel: a gate and an up column (256 entries each) and a down row (256), at 16 bits.
constexpr int64_t kCache = 2 * 3 * 256 * 16;  // two channels (ceil(1% of 128)) -> 24576 bits (0.25 bits)

AllocationInput shaped_input(const std::vector<std::vector<double>>& significance, bool cache) {
  AllocationInput input = make_input(significance, kParams);
  for (auto& layer : input.layers)
    for (auto& expert : layer.experts) {
      expert.overhead_bits = kOverhead;
      expert.cache_bits = cache ? kCache : 0;
    }
  return input;
}

TEST(AllocateStoredBits, BudgetSubtractsCacheAndCountedOverhead) {
  const AllocationInput input = shaped_input({{1, 2, 3, 4}}, /*cache=*/true);
  AllocationOptions options;
  options.method = Method::moqa;
  options.target_bits = 3.5;
  // Codes only: 3.5 x 4 x 98304 = 1376256 bit-params, less the cache (4 x 24576) = 1277952.
  std::vector<BudgetDomain> domains = budget_domains(input, options);
  ASSERT_EQ(domains.size(), 1u);
  EXPECT_EQ(domains[0].capacity_bit_params, 1376256 - 4 * kCache);
  EXPECT_DOUBLE_EQ(expert_target_bits(input, options), 3.25);
  // Stored: also the overhead (4 x 18432).
  options.budget_counts_overhead = true;
  domains = budget_domains(input, options);
  EXPECT_EQ(domains[0].capacity_bit_params, 1376256 - 4 * kCache - 4 * kOverhead);
  EXPECT_DOUBLE_EQ(expert_target_bits(input, options), 3.0625);
}

TEST(AllocateStoredBits, MatchUniformBitsIsTheUniformModelsStoredMean) {
  AllocationInput input = shaped_input({{1, 2}, {3, 4}}, /*cache=*/false);
  input.other_weights = {{"attention", 4 * 128 * 128, 16, 0}};
  AllocationOptions options;
  options.method = Method::uniform;
  options.match_uniform_bits = 3;
  options.uniform_bits = 3;
  options.budget_counts_overhead = true;
  const Allocation uniform = allocate(input, options);
  EXPECT_DOUBLE_EQ(uniform.target_bits, 3.1875);  // 3 + 18432 / 98304
  EXPECT_DOUBLE_EQ(uniform.report.expert_stored_mean_bits, 3.1875);
  EXPECT_DOUBLE_EQ(uniform.report.expert_mean_bits, 3.0);
  // Over all linear weights, the kept attention counts at 16 bits in both target and report.
  options.budget_counts_all_linear = true;
  const Allocation all = allocate(input, options);
  const double experts = 4.0 * kParams, attention = 4.0 * 128 * 128;
  EXPECT_DOUBLE_EQ(all.target_bits, (3 * experts + 4 * kOverhead + 16 * attention) / (experts + attention));
  EXPECT_DOUBLE_EQ(all.report.all_linear_stored_mean_bits, all.target_bits);
}

// Every method at match_uniform_bits = 3 (even candidates, equal experts) spends exactly the uniform budget.
TEST(AllocateStoredBits, EveryMethodMeetsTheUniformStoredBudget) {
  AllocationInput input = shaped_input({{0.1, 0.5, 0.2, 0.9, 0.05, 0.3, 0.7, 0.4}, {1, 1, 2, 8, 3, 2, 1, 1}}, false);
  for (auto& layer : input.layers)
    for (size_t e = 0; e < layer.experts.size(); ++e) layer.experts[e].routed_fraction = 0.01 * (e % 5) + 0.05;
  for (const Method method : {Method::uniform, Method::moqa, Method::moqa_v1, Method::frequency, Method::moeptq}) {
    SCOPED_TRACE(to_string(method));
    AllocationOptions options;
    options.method = method;
    options.match_uniform_bits = 3;
    options.uniform_bits = method == Method::uniform ? 3 : 0;
    options.budget_counts_overhead = true;
    options.enforce_budget = true;
    options.fill_budget = true;
    const Allocation a = allocate(input, options);
    EXPECT_DOUBLE_EQ(a.target_bits, 3.1875);
    EXPECT_NEAR(a.report.expert_stored_mean_bits, 3.1875, 1e-12);
  }
}

TEST(AllocateStoredBits, FillPromotesHighestScoreFirstWithinTheBudget) {
  // Four equal experts at 2 bits, capacity 5 x 400 = 2000 bit-params: the first sweep gives every expert one
  // level (highest score first: experts 1, 2, 3, 0), the second the top two another (1, 2); then nothing fits.
  AllocationInput input = make_input({{1, 4, 3, 2}}, 100);
  BitMatrix bits{{2, 2, 2, 2}};
  AllocationOptions options;
  options.target_bits = 5.0;
  const std::vector<BudgetDomain> domains = budget_domains(input, options);
  const std::vector<std::vector<double>> score{{1, 4, 3, 2}};
  const std::vector<BitChange> steps = fill_to_budget(domains[0], input, {2, 4, 6, 8}, score, bits);
  EXPECT_EQ(bits, (BitMatrix{{4, 6, 6, 4}}));
  ASSERT_EQ(steps.size(), 6u);
  EXPECT_EQ(steps[0].expert, 1);
  EXPECT_EQ(steps[1].expert, 2);
  EXPECT_EQ(steps[4].expert, 1);
}

TEST(AllocateMoeptq, TopFrequentExpertsGetTheHighWidthTiesToTheLowerIndex) {
  // Routed fractions 0.1, 0.3, 0.2, 0.3, 0.1: ranking 1, 3 (tie: lower index first), 2, 0, 4. Target 3 on
  // {2, 4}: low 2, high 4; 5 experts x 100 params x 3 = 1500 bit-params -> 2 experts can be at 4 (1400).
  AllocationInput input;
  input.layers.push_back(make_layer({5, 4, 3, 2, 1}, 100));
  const double freq[] = {0.1, 0.3, 0.2, 0.3, 0.1};
  for (size_t e = 0; e < 5; ++e) input.layers[0].experts[e].routed_fraction = freq[e];
  AllocationOptions options;
  options.method = Method::moeptq;
  options.candidate_bits = {2, 4};
  options.target_bits = 3.0;
  const Allocation a = allocate(input, options);
  EXPECT_EQ(a.bits, (BitMatrix{{2, 4, 2, 4, 2}}));  // significance is not read, only frequency
  EXPECT_DOUBLE_EQ(a.report.expert_mean_bits, 2.8);
  // Explicit widths; a prefix of the ranking: expert 1 at 8 fits (100 x 6 more), expert 3 does not.
  options.candidate_bits = {2, 4, 8};
  options.high_bits = 8;
  options.low_bits = 2;
  options.target_bits = 3.5;
  EXPECT_EQ(allocate(input, options).bits, (BitMatrix{{2, 8, 2, 2, 2}}));
  // Not the depth-fill `frequency`: that would promote expert 1 all the way before anyone else.
  options.method = Method::frequency;
  options.frequency_fill = FrequencyFill::depth;
  options.candidate_bits = {2, 4, 6, 8};
  options.target_bits = 3.0;
  EXPECT_EQ(allocate(input, options).bits, (BitMatrix{{2, 6, 2, 2, 2}}));
}

TEST(AllocateStoredBits, InfeasibleStoredTargetNamesTheOverhead) {
  const AllocationInput input = shaped_input({{1, 2}}, /*cache=*/true);
  AllocationOptions options;
  options.method = Method::moqa;
  options.target_bits = 2.2;  // 2.2 - 0.1875 - 0.25 < 2
  options.budget_counts_overhead = true;
  try {
    allocate(input, options);
    FAIL() << "expected moqa::Error";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("stored bits"), std::string::npos) << message;
    EXPECT_NE(message.find("budget_counts_overhead = false"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace moqa::allocate
