// The "moqa" method: fuzzy c-means clustering of expert significance onto widths.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "allocate/allocation.h"
#include "allocate_test_util.h"
#include "core/error.h"

namespace moqa::allocate {
namespace {

using test::make_input;
using test::spent;
using test::total_params;

AllocationOptions moqa_options() {
  AllocationOptions options;
  options.method = Method::moqa;
  options.target_bits = 5.0;
  return options;
}

// Sixteen experts in four significance bands, interleaved.
std::vector<double> banded_layer() {
  const double bands[] = {0.01, 0.03, 0.08, 0.2};
  std::vector<double> values;
  for (int e = 0; e < 16; ++e) values.push_back(bands[e % 4] * (1.0 + 0.01 * (e / 4)));
  return values;
}

TEST(AllocateMoqa, BandsMapToInt2468) {
  const Allocation result = allocate(make_input({banded_layer()}), moqa_options());
  ASSERT_EQ(result.clusterings.size(), 1u);
  EXPECT_EQ(result.clusterings[0].center_bits, (std::vector<int>{2, 4, 6, 8}));
  const int expected[] = {2, 4, 6, 8};
  for (int e = 0; e < 16; ++e) EXPECT_EQ(result.bits[0][static_cast<size_t>(e)], expected[e % 4]) << e;
  EXPECT_TRUE(result.overlaps.empty());
  EXPECT_DOUBLE_EQ(result.report.expert_mean_bits, 5.0);
}

TEST(AllocateMoqa, LowPrecisionFirstSendsOverlapExpertsDown) {
  // Bands at 0, 1, 2, 3 (four experts each) and one expert at 1.52: nearer the 6-bit band, but with
  // nearly equal membership in the 4-bit and 6-bit clusters.
  std::vector<double> values;
  for (double band : {0.0, 1.0, 2.0, 3.0})
    for (int i = 0; i < 4; ++i) values.push_back(band + 0.01 * i);
  values.push_back(1.52);
  AllocationOptions options = moqa_options();
  options.overlap_margin = 0.0;
  const Allocation argmax = allocate(make_input({values}), options);
  EXPECT_EQ(argmax.bits[0][16], 6);
  EXPECT_TRUE(argmax.overlaps.empty());

  options.overlap_margin = 0.2;
  const Allocation lowered = allocate(make_input({values}), options);
  EXPECT_EQ(lowered.bits[0][16], 4);
  ASSERT_EQ(lowered.overlaps.size(), 1u);
  const OverlapDecision& decision = lowered.overlaps[0];
  EXPECT_EQ(decision.expert, 16);
  EXPECT_EQ(decision.top_cluster, 2);
  EXPECT_EQ(decision.second_cluster, 1);
  EXPECT_EQ(decision.assigned_cluster, 1);
  EXPECT_LT(decision.margin, 0.2);
  EXPECT_EQ(lowered.cluster[0][16], 1);
  // Everyone else keeps the argmax cluster.
  for (size_t e = 0; e < 16; ++e) EXPECT_EQ(lowered.bits[0][e], argmax.bits[0][e]);
}

TEST(AllocateMoqa, MembershipsAreReportedPerExpert) {
  const Allocation result = allocate(make_input({banded_layer(), banded_layer()}), moqa_options());
  ASSERT_EQ(result.membership.size(), 2u);
  for (const auto& layer : result.membership)
    for (const auto& row : layer) {
      ASSERT_EQ(row.size(), 4u);
      double sum = 0.0;
      for (double u : row) sum += u;
      EXPECT_NEAR(sum, 1.0, 1e-12);
    }
  EXPECT_EQ(result.cluster_run[1][0], 1);
}

TEST(AllocateMoqa, PerLayerVersusGlobalScope) {
  // Layer 1's experts are all more significant than layer 0's.
  const std::vector<std::vector<double>> significance{{0.10, 0.11, 0.12, 0.13, 0.14, 0.15},
                                                      {1.0, 1.2, 1.4, 1.6, 1.8, 2.0}};
  AllocationOptions options = moqa_options();
  options.scope = Scope::layer;
  const Allocation per_layer = allocate(make_input(significance), options);
  EXPECT_EQ(per_layer.clusterings.size(), 2u);
  for (size_t l = 0; l < 2; ++l) {
    EXPECT_EQ(per_layer.bits[l].front(), 2) << l;
    EXPECT_EQ(per_layer.bits[l].back(), 8) << l;
  }

  options.scope = Scope::global;
  const Allocation global = allocate(make_input(significance), options);
  ASSERT_EQ(global.clusterings.size(), 1u);
  EXPECT_EQ(global.clusterings[0].layers, (std::vector<int>{0, 1}));
  const int layer0_max = *std::max_element(global.bits[0].begin(), global.bits[0].end());
  const int layer1_min = *std::min_element(global.bits[1].begin(), global.bits[1].end());
  EXPECT_EQ(layer0_max, 2);
  EXPECT_GT(layer1_min, layer0_max);
  EXPECT_EQ(global.bits[1].back(), 8);
}

TEST(AllocateMoqa, AllEqualSignificanceGivesTheWidthTheTargetAllows) {
  AllocationOptions options = moqa_options();
  options.target_bits = 4.5;
  const Allocation result = allocate(make_input({std::vector<double>(8, 0.125)}), options);
  for (int bits : result.bits[0]) EXPECT_EQ(bits, 4);
  EXPECT_EQ(result.clusterings[0].centers.size(), 1u);
}

TEST(AllocateMoqa, TwoDistinctValuesUseTheExtremeWidths) {
  const Allocation result = allocate(make_input({{0.1, 0.1, 0.1, 0.7}}), moqa_options());
  EXPECT_EQ(result.bits[0], (std::vector<int>{2, 2, 2, 8}));
  EXPECT_EQ(result.clusterings[0].center_bits, (std::vector<int>{2, 8}));
}

TEST(AllocateMoqa, ClusterCountDifferentFromCandidateCount) {
  AllocationOptions options = moqa_options();
  options.candidate_bits = {2, 3, 4, 6, 8};
  const Allocation five = allocate(make_input({banded_layer()}), options);
  EXPECT_EQ(five.clusterings[0].center_bits, (std::vector<int>{2, 3, 6, 8}));

  options.candidate_bits = {2, 4};
  const Allocation two = allocate(make_input({banded_layer()}), options);
  EXPECT_EQ(two.clusterings[0].center_bits, (std::vector<int>{2, 2, 4, 4}));
}

TEST(AllocateMoqa, StdWeightFavoursUnstableExperts) {
  // Equal means, one expert whose significance swings across distributions.
  AllocationInput input = make_input({{0.1, 0.1, 0.1, 0.1, 0.2, 0.2}});
  input.layers[0].experts[1].significance_variance = 0.01;  // std 0.1
  AllocationOptions options = moqa_options();
  options.significance_std_weight = 1.0;
  const Allocation result = allocate(input, options);
  EXPECT_DOUBLE_EQ(result.score[0][1], 0.2);
  EXPECT_EQ(result.bits[0][1], result.bits[0][4]);
  EXPECT_GT(result.bits[0][1], result.bits[0][0]);
}

TEST(AllocateMoqa, CorrelationWeightPullsCoactivatedExpertsTogether) {
  // Experts 0 and 1 always fire together (phi 0.8); expert 2 avoids them (negative phi, no pull); expert 3 is
  // uncorrelated with everyone.
  AllocationInput input = make_input({{0.1, 0.5, 0.3, 0.7}});
  input.layers[0].coactivation = {1.0, 0.8, -0.5, 0.0,  //
                                  0.8, 1.0, -0.5, 0.0,  //
                                  -0.5, -0.5, 1.0, 0.0,  //
                                  0.0, 0.0, 0.0, 1.0};
  AllocationOptions options = moqa_options();
  const Allocation plain = allocate(input, options);
  EXPECT_EQ(plain.score[0], (std::vector<double>{0.1, 0.5, 0.3, 0.7}));
  options.correlation_weight = 0.5;
  const Allocation pulled = allocate(input, options);
  // s'_0 = .5·.1 + .5·.5, s'_1 = .5·.5 + .5·.1; experts 2 and 3 have no positively correlated partner.
  EXPECT_DOUBLE_EQ(pulled.score[0][0], 0.3);
  EXPECT_DOUBLE_EQ(pulled.score[0][1], 0.3);
  EXPECT_DOUBLE_EQ(pulled.score[0][2], 0.3);
  EXPECT_DOUBLE_EQ(pulled.score[0][3], 0.7);
  EXPECT_NE(plain.bits[0][0], plain.bits[0][1]);
  EXPECT_EQ(pulled.bits[0][0], pulled.bits[0][1]);
  // Without a matrix the weight has nothing to read: an error, not a silent no-op.
  input.layers[0].coactivation.clear();
  EXPECT_THROW(allocate(input, options), Error);
  options.correlation_weight = 1.5;
  EXPECT_THROW(validate(options), Error);
}

TEST(AllocateMoqa, EnforceBudgetMeetsTargetWithMinimalDemotions) {
  SplitMix64 rng{11};
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::vector<double>> significance(2);
    for (auto& layer : significance)
      for (int e = 0; e < 12; ++e) layer.push_back(rng.next_unit());
    AllocationInput input = make_input(significance);
    for (auto& layer : input.layers)
      for (auto& expert : layer.experts) expert.params = test::uniform_int(rng, 100, 900);
    for (Scope scope : {Scope::layer, Scope::global}) {
      AllocationOptions options = moqa_options();
      options.scope = scope;
      options.target_bits = 2.0 + 4.0 * rng.next_unit();
      options.enforce_budget = true;
      const Allocation result = allocate(input, options);
      SCOPED_TRACE(::testing::Message() << "trial " << trial << " scope " << to_string(scope));
      if (scope == Scope::global) {
        EXPECT_LE(result.report.expert_mean_bits, options.target_bits + 1e-12);
      } else {
        for (double mean : result.report.layer_mean_bits) EXPECT_LE(mean, options.target_bits + 1e-12);
      }
      // The last demotion was needed: undoing it would break the budget of its domain.
      if (!result.budget_demotions.empty()) {
        const BitChange& last = result.budget_demotions.back();
        BitMatrix undone = result.bits;
        undone[static_cast<size_t>(last.layer)][static_cast<size_t>(last.expert)] = last.old_bits;
        if (scope == Scope::global) {
          EXPECT_GT(spent(input, undone), options.target_bits * static_cast<double>(total_params(input)));
        } else {
          int64_t layer_params = 0, layer_spent = 0;
          const auto& layer = input.layers[static_cast<size_t>(last.layer)];
          for (size_t e = 0; e < layer.experts.size(); ++e) {
            layer_params += layer.experts[e].params;
            layer_spent += layer.experts[e].params * undone[static_cast<size_t>(last.layer)][e];
          }
          EXPECT_GT(static_cast<double>(layer_spent), options.target_bits * static_cast<double>(layer_params));
        }
      }
    }
  }
}

TEST(AllocateMoqa, EnforceBudgetDemotesHighestWidthLeastSignificantFirst) {
  // Widths from clustering: 8, 8, 6, 4, 2 (bands). Target 4 over 5 equal experts = 20 bits-per-param;
  // clustering spends 28, so 8 bits must go: the two INT8 experts step down first, least significant first.
  AllocationOptions options = moqa_options();
  options.target_bits = 4.0;
  options.enforce_budget = true;
  const Allocation result = allocate(make_input({{0.9, 0.91, 0.5, 0.3, 0.1}}), options);
  ASSERT_GE(result.budget_demotions.size(), 2u);
  EXPECT_EQ(result.budget_demotions[0].expert, 0);  // 8 -> 6, score 0.9 < 0.91
  EXPECT_EQ(result.budget_demotions[1].expert, 1);  // 8 -> 6
  EXPECT_EQ(result.budget_demotions[0].old_bits, 8);
  EXPECT_EQ(result.budget_demotions[0].new_bits, 6);
  EXPECT_LE(result.report.expert_mean_bits, 4.0);
  EXPECT_EQ(result.budget_demotions.size(), 4u);  // 28 -> 20 in steps of 2
  EXPECT_EQ(result.bits[0], (std::vector<int>{4, 6, 4, 4, 2}));
}

TEST(AllocateMoqa, BudgetOverAllLinearWeights) {
  AllocationInput input = make_input({banded_layer()}, 1000);  // 16000 expert params
  input.other_weights = {{"attention", 4000, 16}};             // 64000 parameter-bits kept in half precision
  AllocationOptions options = moqa_options();
  options.target_bits = 6.0;  // over 20000 params: 120000 - 64000 = 56000 left -> 3.5 bits per expert param
  options.budget_counts_all_linear = true;
  options.enforce_budget = true;
  const Allocation result = allocate(input, options);
  EXPECT_DOUBLE_EQ(result.expert_target_bits, 3.5);
  EXPECT_LE(result.report.expert_mean_bits, 3.5);
  EXPECT_LE(result.report.all_linear_mean_bits, 6.0);

  options.target_bits = 4.0;  // 80000 - 64000 = 16000 -> 1 bit per expert param: infeasible
  EXPECT_THROW(allocate(input, options), Error);
}

TEST(AllocateMoqa, TargetBelowSmallestCandidateIsAnError) {
  AllocationOptions options = moqa_options();
  options.target_bits = 1.5;
  try {
    allocate(make_input({banded_layer()}), options);
    FAIL() << "expected moqa::Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("infeasible"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace moqa::allocate
