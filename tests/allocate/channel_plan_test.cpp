// Channel-level adjustment: dynamic-channel selection and re-allocation for a novel distribution.
#include "allocate/channel_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "allocate/reallocate.h"
#include "allocate/splitmix64.h"
#include "allocate_test_util.h"
#include "core/error.h"

namespace moqa::allocate {
namespace {

// [datasets, channels] with every channel at 1 except the listed (dataset, channel, value) overrides.
Tensor s_ch(int64_t datasets, int64_t channels, const std::vector<std::tuple<int64_t, int64_t, float>>& overrides) {
  Tensor t({datasets, channels}, 1.0f);
  for (const auto& [d, c, v] : overrides) t.data[static_cast<size_t>(d * channels + c)] = v;
  return t;
}

TEST(AllocateChannelPlan, SelectsTheChannelsThatMoveMost) {
  const Tensor s = s_ch(2, 200, {{0, 17, 9.0f}, {1, 150, 6.0f}, {1, 3, 1.5f}});
  const ChannelSelection selection = select_dynamic_channels(s, ChannelPlanOptions{});  // 1% of 200 = 2
  EXPECT_EQ(selection.channels, (std::vector<int64_t>{17, 150}));
  ASSERT_EQ(selection.change.size(), 2u);
  EXPECT_GT(selection.change[0], 0.0);

  ChannelPlanOptions three;
  three.fraction = 0.015;  // 3 channels
  EXPECT_EQ(select_dynamic_channels(s, three).channels, (std::vector<int64_t>{3, 17, 150}));
}

TEST(AllocateChannelPlan, AtLeastOneChannelAndRoundingUp) {
  const Tensor s = s_ch(3, 100, {{2, 40, 3.0f}});
  ChannelPlanOptions options;
  options.fraction = 0.001;
  EXPECT_EQ(select_dynamic_channels(s, options).channels, (std::vector<int64_t>{40}));
  const Tensor wide = s_ch(2, 1400, {});
  EXPECT_EQ(select_dynamic_channels(wide, ChannelPlanOptions{}).channels.size(), 14u);  // 0.01 x 1400, not 15
  const Tensor odd = s_ch(2, 1408, {});
  EXPECT_EQ(select_dynamic_channels(odd, ChannelPlanOptions{}).channels.size(), 15u);  // 14.08 rounds up
}

TEST(AllocateChannelPlan, ScaledDatasetIsNoChangeAndTiesGoToLowIndex) {
  Tensor s({2, 50}, 0.0f);
  for (int64_t c = 0; c < 50; ++c) {
    s.data[static_cast<size_t>(c)] = 1.0f + static_cast<float>(c % 7);
    s.data[static_cast<size_t>(50 + c)] = 3.0f * (1.0f + static_cast<float>(c % 7));
  }
  const std::vector<double> change = channel_change(s, ChannelChangeMeasure::variance);
  for (double v : change) EXPECT_NEAR(v, 0.0, 1e-15);
  ChannelPlanOptions options;
  options.fraction = 0.04;  // 2 channels, all tied
  EXPECT_EQ(select_dynamic_channels(s, options).channels, (std::vector<int64_t>{0, 1}));
}

TEST(AllocateChannelPlan, VarianceAndRangeMeasures) {
  // One channel of four, normalised values per dataset: 0.25 / 0.4 / 0.1 -> range 0.3.
  Tensor s({3, 2}, 0.0f);
  s.data = {1.0f, 3.0f, 2.0f, 3.0f, 1.0f, 9.0f};
  const std::vector<double> range = channel_change(s, ChannelChangeMeasure::range);
  EXPECT_NEAR(range[0], 0.3, 1e-7);
  const std::vector<double> variance = channel_change(s, ChannelChangeMeasure::variance);
  const double mean = (0.25 + 0.4 + 0.1) / 3.0;
  const double expected =
      ((0.25 - mean) * (0.25 - mean) + (0.4 - mean) * (0.4 - mean) + (0.1 - mean) * (0.1 - mean)) / 3.0;
  EXPECT_NEAR(variance[0], expected, 1e-7);
  EXPECT_NEAR(variance[1], expected, 1e-7);  // the complement moves by the same amounts
  EXPECT_EQ(channel_change_measure_from_string("range"), ChannelChangeMeasure::range);
  EXPECT_THROW(channel_change_measure_from_string("max"), Error);
}

TEST(AllocateChannelPlan, RejectsBadInput) {
  EXPECT_THROW(select_dynamic_channels(Tensor({1, 10}, 1.0f), ChannelPlanOptions{}), Error);  // one dataset
  EXPECT_THROW(select_dynamic_channels(Tensor({10}, 1.0f), ChannelPlanOptions{}), Error);
  Tensor negative({2, 3}, 1.0f);
  negative.data[4] = -1.0f;
  EXPECT_THROW(select_dynamic_channels(negative, ChannelPlanOptions{}), Error);
  ChannelPlanOptions zero;
  zero.fraction = 0.0;
  EXPECT_THROW(select_dynamic_channels(Tensor({2, 3}, 1.0f), zero), Error);
}

TEST(AllocateChannelPlan, PlanCoversEveryExpertAndNamesTheFailingOne) {
  std::vector<std::vector<Tensor>> all{{s_ch(2, 10, {{0, 4, 5.0f}}), s_ch(2, 10, {{1, 7, 5.0f}})}};
  const auto plan = plan_dynamic_channels(all, ChannelPlanOptions{});
  ASSERT_EQ(plan.size(), 1u);
  ASSERT_EQ(plan[0].size(), 2u);
  EXPECT_EQ(plan[0][0].channels, (std::vector<int64_t>{4}));
  EXPECT_EQ(plan[0][1].channels, (std::vector<int64_t>{7}));
  all[0][1] = Tensor({1, 10}, 1.0f);
  try {
    plan_dynamic_channels(all, ChannelPlanOptions{});
    FAIL() << "expected moqa::Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("MoE layer 0 expert 1"), std::string::npos) << error.what();
  }
}

// plan_dynamic_channels against an independent computation on pseudo-random S_ch (3 distributions, 2 layers
// x 3 experts, 37 channels): normalise each distribution's row to sum 1, take the population variance (or the
// range) of each channel over the distributions in double, sort by (change descending, index ascending) and
// keep ceil(fraction x channels), here ceil(0.1 x 37) = 4, reported ascending.
TEST(AllocateChannelPlan, PlanEqualsAnIndependentComputationOnRandomSignificance) {
  constexpr int64_t kDatasets = 3, kChannels = 37;
  SplitMix64 random{.state = 11};
  std::vector<std::vector<Tensor>> s(2, std::vector<Tensor>(3));
  for (auto& layer : s)
    for (Tensor& expert : layer) {
      expert = Tensor({kDatasets, kChannels});
      for (float& v : expert.data) v = static_cast<float>(random.next_unit() * random.next_unit() * 5.0);
    }
  for (const ChannelChangeMeasure measure : {ChannelChangeMeasure::variance, ChannelChangeMeasure::range}) {
    SCOPED_TRACE(to_string(measure));
    const ChannelPlanOptions options{.fraction = 0.1, .measure = measure};
    const auto plan = plan_dynamic_channels(s, options);
    ASSERT_EQ(plan.size(), s.size());
    for (size_t l = 0; l < s.size(); ++l) {
      ASSERT_EQ(plan[l].size(), s[l].size());
      for (size_t x = 0; x < s[l].size(); ++x) {
        const Tensor& t = s[l][x];
        std::vector<double> change(kChannels);
        for (int64_t c = 0; c < kChannels; ++c) {
          std::vector<double> v(kDatasets);
          for (int64_t d = 0; d < kDatasets; ++d) {
            double row = 0.0;
            for (int64_t k = 0; k < kChannels; ++k) row += t.data[static_cast<size_t>(d * kChannels + k)];
            v[static_cast<size_t>(d)] = t.data[static_cast<size_t>(d * kChannels + c)] / row;
          }
          if (measure == ChannelChangeMeasure::range) {
            change[static_cast<size_t>(c)] = *std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end());
          } else {
            const double mean = (v[0] + v[1] + v[2]) / 3.0;
            change[static_cast<size_t>(c)] =
                ((v[0] - mean) * (v[0] - mean) + (v[1] - mean) * (v[1] - mean) + (v[2] - mean) * (v[2] - mean)) / 3.0;
          }
        }
        std::vector<int64_t> order(kChannels);
        for (int64_t c = 0; c < kChannels; ++c) order[static_cast<size_t>(c)] = c;
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
          return change[static_cast<size_t>(a)] > change[static_cast<size_t>(b)];
        });
        std::vector<int64_t> expected(order.begin(), order.begin() + 4);  // ceil(0.1 x 37) = 4
        std::sort(expected.begin(), expected.end());
        EXPECT_EQ(plan[l][x].channels, expected) << "layer " << l << " expert " << x;
        ASSERT_EQ(plan[l][x].change.size(), expected.size());
        for (size_t i = 0; i < expected.size(); ++i)
          EXPECT_NEAR(plan[l][x].change[i], change[static_cast<size_t>(expected[i])],
                      1e-6 * change[static_cast<size_t>(expected[i])] + 1e-12);
      }
    }
  }
}

TEST(AllocateReallocation, ReportsExpertsWhoseWidthMoves) {
  const AllocationInput input = test::make_input({{0.01, 0.03, 0.08, 0.2, 0.01, 0.03, 0.08, 0.2}});
  AllocationOptions options;
  options.target_bits = 5.0;
  const Allocation baseline = allocate(input, options);
  EXPECT_EQ(baseline.bits[0], (std::vector<int>{2, 4, 6, 8, 2, 4, 6, 8}));

  // On the novel distribution experts 3 and 4 swap roles.
  const Reallocation moved =
      reallocate_for_distribution(input, options, baseline.bits, {{0.01, 0.03, 0.08, 0.01, 0.2, 0.03, 0.08, 0.2}});
  ASSERT_EQ(moved.changes.size(), 2u);
  EXPECT_EQ(moved.changes[0].expert, 3);
  EXPECT_EQ(moved.changes[0].old_bits, 8);
  EXPECT_EQ(moved.changes[0].new_bits, 2);
  EXPECT_EQ(moved.changes[1].expert, 4);
  EXPECT_EQ(moved.changes[1].old_bits, 2);
  EXPECT_EQ(moved.changes[1].new_bits, 8);

  const Reallocation same = reallocate_for_distribution(input, options, baseline.bits,
                                                        {{0.01, 0.03, 0.08, 0.2, 0.01, 0.03, 0.08, 0.2}});
  EXPECT_TRUE(same.changes.empty());
  EXPECT_THROW(reallocate_for_distribution(input, options, baseline.bits, {{0.1, 0.2}}), Error);
}

TEST(AllocateReallocation, WithSignificanceDropsTheVariance) {
  AllocationInput input = test::make_input({{0.1, 0.2}});
  input.layers[0].experts[0].significance_variance = 0.5;
  const AllocationInput novel = with_significance(input, {{0.3, 0.4}});
  EXPECT_EQ(novel.layers[0].experts[0].significance_mean, 0.3);
  EXPECT_EQ(novel.layers[0].experts[0].significance_variance, 0.0);
  EXPECT_EQ(novel.layers[0].experts[0].params, input.layers[0].experts[0].params);
}

}  // namespace
}  // namespace moqa::allocate
