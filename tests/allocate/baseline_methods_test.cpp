// uniform, moqa-v1 and frequency allocation, and option parsing/validation.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "allocate/allocation.h"
#include "allocate_test_util.h"
#include "core/error.h"

namespace moqa::allocate {
namespace {

using test::make_input;

TEST(AllocateUniform, ExplicitWidthOrLargestCandidateWithinTarget) {
  const AllocationInput input = make_input({{0.1, 0.2, 0.7}, {0.3, 0.3, 0.4}});
  AllocationOptions options;
  options.method = Method::uniform;
  options.target_bits = 3.0;
  const Allocation automatic = allocate(input, options);
  for (const auto& layer : automatic.bits)
    for (int bits : layer) EXPECT_EQ(bits, 2);  // {2,4,6,8}: 2 is the largest width <= 3

  options.uniform_bits = 3;  // not a candidate, still a valid baseline width
  const Allocation three = allocate(input, options);
  for (const auto& layer : three.bits)
    for (int bits : layer) EXPECT_EQ(bits, 3);
  EXPECT_DOUBLE_EQ(three.report.expert_mean_bits, 3.0);

  options.target_bits = 1.0;  // an explicit width does not read the target
  EXPECT_NO_THROW(allocate(input, options));
  options.uniform_bits = 5;
  EXPECT_THROW(allocate(input, options), Error);
}

AllocationOptions v1_options() {
  AllocationOptions options;
  options.method = Method::moqa_v1;
  options.target_bits = 3.0;
  return options;
}

TEST(AllocateMoqaV1, MeanRatioSplitWithWidthsBracketingTheTarget) {
  const Allocation result = allocate(make_input({{1, 2, 3, 4, 10}}), v1_options());
  // mean 4: experts at or above it are high; widths bracket 3 bits in {2,4,6,8}.
  EXPECT_EQ(result.bits[0], (std::vector<int>{2, 2, 2, 4, 4}));

  AllocationOptions options = v1_options();
  options.threshold = 0.5;  // high iff >= 2
  EXPECT_EQ(allocate(make_input({{1, 2, 3, 4, 10}}), options).bits[0], (std::vector<int>{2, 4, 4, 4, 4}));

  options.candidate_bits = {2, 3, 4, 6, 8};
  options.target_bits = 2.5;
  EXPECT_EQ(allocate(make_input({{1, 2, 3, 4, 10}}), options).bits[0], (std::vector<int>{2, 3, 3, 3, 3}));
  options.target_bits = 3.0;  // a candidate itself: the neighbours on both sides
  EXPECT_EQ(allocate(make_input({{1, 2, 3, 4, 10}}), options).bits[0], (std::vector<int>{2, 4, 4, 4, 4}));
}

TEST(AllocateMoqaV1, QuantileSplitAndExplicitWidths) {
  AllocationOptions options = v1_options();
  options.threshold_mode = ThresholdMode::quantile;
  options.threshold = 0.75;  // top quarter high
  options.low_bits = 2;
  options.high_bits = 8;
  options.target_bits = 4.0;
  const Allocation result = allocate(make_input({{0.5, 0.1, 0.9, 0.2, 0.9, 0.3, 0.05, 0.0}}), options);
  // Ties (0.9, 0.9) resolve by expert index; exactly 2 of 8 are high.
  EXPECT_EQ(result.bits[0], (std::vector<int>{2, 2, 8, 2, 8, 2, 2, 2}));

  options.threshold = 0.8;  // 1.6 experts -> rounds to 2
  EXPECT_EQ(allocate(make_input({{0.5, 0.1, 0.9, 0.2, 0.9, 0.3, 0.05, 0.0}}), options).bits[0],
            (std::vector<int>{2, 2, 8, 2, 8, 2, 2, 2}));
}

TEST(AllocateMoqaV1, EnforceBudgetDemotesHighToLow) {
  AllocationOptions options = v1_options();
  options.threshold = 0.0;  // everybody high (4 bits) ...
  options.target_bits = 3.0;
  options.enforce_budget = true;  // ... so half must return to 2 bits, least significant first
  const Allocation result = allocate(make_input({{0.4, 0.1, 0.3, 0.2}}), options);
  EXPECT_EQ(result.bits[0], (std::vector<int>{4, 2, 4, 2}));
  ASSERT_EQ(result.budget_demotions.size(), 2u);
  EXPECT_EQ(result.budget_demotions[0].expert, 1);
  EXPECT_EQ(result.budget_demotions[1].expert, 3);
}

TEST(AllocateMoqaV1, EnforcedBudgetBelowExplicitLowBitsIsAnError) {
  AllocationOptions options = v1_options();
  options.low_bits = 4;  // above the target: demotion, which stops at low_bits, could never reach it
  options.high_bits = 8;
  options.target_bits = 3.0;
  options.enforce_budget = true;
  try {
    allocate(make_input({{0.4, 0.1, 0.3, 0.2}}), options);
    FAIL() << "expected moqa::Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("MoE layer 0: every expert at low_bits = 4"), std::string::npos)
        << error.what();
  }
  options.enforce_budget = false;  // not enforced: the widths stand as the split gives them
  EXPECT_EQ(allocate(make_input({{0.4, 0.1, 0.3, 0.2}}), options).bits[0], (std::vector<int>{8, 4, 8, 4}));
}

TEST(AllocateMoqaV1, CoactivationLiftsPartnersWhileTheBudgetAllows) {
  // Expert 0 is high. Experts 2 and 3 co-fire with it (0.8, 0.6), expert 1 barely (0.1).
  AllocationInput input = make_input({{0.7, 0.1, 0.1, 0.1}});
  input.layers[0].coactivation = {1.0, 0.1, 0.8, 0.6,  //
                                   0.1, 1.0, 0.0, 0.0,  //
                                   0.8, 0.0, 1.0, 0.0,  //
                                   0.6, 0.0, 0.0, 1.0};
  AllocationOptions options = v1_options();
  options.coactivation_shaping = true;
  options.coactivation_threshold = 0.5;
  options.low_bits = 2;  // fixed, so that the targets below change only the room for lifts
  options.high_bits = 4;
  options.target_bits = 3.0;  // room for one lift: 4+4+2+2 = 12 = 3 x 4
  const Allocation one = allocate(input, options);
  EXPECT_EQ(one.bits[0], (std::vector<int>{4, 2, 4, 2}));
  ASSERT_EQ(one.coactivation_lifts.size(), 1u);
  EXPECT_EQ(one.coactivation_lifts[0].expert, 2);

  options.target_bits = 4.0;  // room for everything; expert 1 stays low (below the threshold)
  const Allocation both = allocate(input, options);
  EXPECT_EQ(both.bits[0], (std::vector<int>{4, 2, 4, 4}));

  options.target_bits = 2.5;  // no room at all
  EXPECT_TRUE(allocate(input, options).coactivation_lifts.empty());

  input.layers[0].coactivation.clear();
  EXPECT_THROW(allocate(input, options), Error);
}

AllocationOptions frequency_options(FrequencyFill fill) {
  AllocationOptions options;
  options.method = Method::frequency;
  options.frequency_fill = fill;
  options.target_bits = 3.0;
  return options;
}

AllocationInput frequency_input() {
  AllocationInput input = make_input({std::vector<double>(8, 0.125)});
  const double fractions[] = {0.05, 0.30, 0.10, 0.20, 0.02, 0.15, 0.08, 0.10};
  for (size_t e = 0; e < 8; ++e) input.layers[0].experts[e].routed_fraction = fractions[e];
  return input;
}

TEST(AllocateFrequency, BreadthPromotesTheMostFrequentOneLevelAtATime) {
  const Allocation result = allocate(frequency_input(), frequency_options(FrequencyFill::breadth));
  // Budget 24 per 1000 params, base 16: the four most frequent (1, 3, 5, then 2 before 7 by index) go to 4.
  EXPECT_EQ(result.bits[0], (std::vector<int>{2, 4, 4, 4, 2, 4, 2, 2}));
  EXPECT_DOUBLE_EQ(result.report.expert_mean_bits, 3.0);
  EXPECT_DOUBLE_EQ(result.score[0][1], 0.30);
}

TEST(AllocateFrequency, DepthFillsTheMostFrequentFirst) {
  const Allocation result = allocate(frequency_input(), frequency_options(FrequencyFill::depth));
  EXPECT_EQ(result.bits[0], (std::vector<int>{2, 8, 2, 4, 2, 2, 2, 2}));
}

TEST(AllocateFrequency, UnequalExpertsStayWithinBudgetPerLayerAndGlobally) {
  SplitMix64 rng{3};
  for (int trial = 0; trial < 30; ++trial) {
    AllocationInput input = make_input({std::vector<double>(6, 0.1), std::vector<double>(6, 0.1)});
    for (auto& layer : input.layers)
      for (auto& expert : layer.experts) {
        expert.params = test::uniform_int(rng, 10, 500);
        expert.routed_fraction = rng.next_unit() / 6.0;
      }
    for (Scope scope : {Scope::layer, Scope::global}) {
      AllocationOptions options = frequency_options(FrequencyFill::breadth);
      options.scope = scope;
      options.candidate_bits = {2, 3, 4, 6, 8};
      options.target_bits = 2.0 + 6.0 * rng.next_unit();
      const Allocation result = allocate(input, options);
      EXPECT_LE(result.report.expert_mean_bits, options.target_bits + 1e-12);
      if (scope == Scope::layer) {
        for (double mean : result.report.layer_mean_bits) EXPECT_LE(mean, options.target_bits + 1e-12);
      }
    }
  }
}

TEST(AllocateOptions, ParseAndPrintNames) {
  for (Method m : {Method::uniform, Method::moqa, Method::moqa_v1, Method::frequency, Method::budgeted, Method::moeptq})
    EXPECT_EQ(method_from_string(to_string(m)), m);
  EXPECT_EQ(method_from_string("moqa-v1"), Method::moqa_v1);
  EXPECT_EQ(scope_from_string("global"), Scope::global);
  EXPECT_EQ(threshold_mode_from_string("quantile"), ThresholdMode::quantile);
  EXPECT_EQ(frequency_fill_from_string("depth"), FrequencyFill::depth);
  try {
    method_from_string("gptq");
    FAIL() << "expected moqa::Error";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("allocation.method"), std::string::npos) << message;
    EXPECT_NE(message.find("\"budgeted\""), std::string::npos) << message;
  }
}

TEST(AllocateOptions, ValidationNamesTheOption) {
  const AllocationInput input = make_input({{0.1, 0.2}});
  const auto message_of = [&](const AllocationOptions& options) {
    try {
      allocate(input, options);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  AllocationOptions options;
  options.candidate_bits = {4, 2};
  EXPECT_NE(message_of(options).find("candidate_bits"), std::string::npos);
  options = {};
  options.candidate_bits = {2, 5};
  EXPECT_NE(message_of(options).find("candidate_bits"), std::string::npos);
  options = {};
  options.overlap_margin = 1.5;
  EXPECT_NE(message_of(options).find("overlap_margin"), std::string::npos);
  options = {};
  options.method = Method::moqa_v1;
  options.high_bits = 3;
  EXPECT_NE(message_of(options).find("high_bits"), std::string::npos);
  options = {};
  options.fcm.fuzzifier = 0.5;
  EXPECT_NE(message_of(options).find("fuzzifier"), std::string::npos);
}

TEST(AllocateInput, ValidationNamesLayerAndExpert) {
  AllocationInput input = make_input({{0.1, 0.2}, {0.3, 0.4}});
  input.layers[1].experts[0].params = 0;
  try {
    allocate(input, AllocationOptions{});
    FAIL() << "expected moqa::Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("MoE layer 1 expert 0"), std::string::npos) << error.what();
  }
  input = make_input({{0.1, 0.2}});
  input.layers[0].coactivation = {1.0, 0.0, 0.0};
  EXPECT_THROW(allocate(input, AllocationOptions{}), Error);
  input = make_input({{0.1, -0.2}});
  EXPECT_THROW(allocate(input, AllocationOptions{}), Error);
  EXPECT_THROW(allocate(AllocationInput{}, AllocationOptions{}), Error);
}

}  // namespace
}  // namespace moqa::allocate
