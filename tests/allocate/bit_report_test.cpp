#include "allocate/bit_report.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace moqa::allocate {
namespace {

TEST(AllocateBitReport, ExpertsOnlyAndAllLinearWeights) {
  // Layer 0: 100 params at 2 bits + 300 at 4 -> 1400 / 400 = 3.5. Layer 1: 200 at 8 -> 8.
  const std::vector<std::vector<int64_t>> params{{100, 300}, {200}};
  const std::vector<std::vector<int>> bits{{2, 4}, {8}};
  const std::vector<WeightGroup> other{{"attention", 400, 16}, {"router", 10, 16}, {"lm_head", 190, 4}};
  const BitsReport report = report_bits(params, bits, other);
  EXPECT_EQ(report.expert_params, 600);
  EXPECT_EQ(report.expert_bit_params, 3000);
  EXPECT_DOUBLE_EQ(report.expert_mean_bits, 5.0);
  ASSERT_EQ(report.layer_mean_bits.size(), 2u);
  EXPECT_DOUBLE_EQ(report.layer_mean_bits[0], 3.5);
  EXPECT_DOUBLE_EQ(report.layer_mean_bits[1], 8.0);
  EXPECT_EQ(report.other_params, 600);
  EXPECT_EQ(report.other_bit_params, 400 * 16 + 10 * 16 + 190 * 4);
  EXPECT_DOUBLE_EQ(report.all_linear_mean_bits, (3000.0 + 7320.0) / 1200.0);
}

TEST(AllocateBitReport, NoOtherWeightsMeansBothAveragesAgree) {
  const BitsReport report = report_bits({{10, 30}}, {{2, 6}}, {});
  EXPECT_DOUBLE_EQ(report.expert_mean_bits, 5.0);
  EXPECT_DOUBLE_EQ(report.all_linear_mean_bits, 5.0);
}

TEST(AllocateBitReport, CachedChannelsAddToTheCodesAndOverheadIsReportedApart) {
  // Layer 0: expert 0 (100 params at 2 bits) caches 10 entries at 16 bits next to its 200 code bits and
  // stores 50 bits of scales/zeros; expert 1 (300 at 4) 30 overhead bits. Layer 1: 200 at 8, no extras.
  const BitsReport report = report_bits({{100, 300}, {200}}, {{2, 4}, {8}}, {{"attention", 400, 4, 100}},
                                        {{{160, 50}, {0, 30}}, {{0, 0}}});
  EXPECT_EQ(report.expert_params, 600);
  EXPECT_EQ(report.expert_bit_params, 200 + 160 + 1200 + 1600);
  EXPECT_EQ(report.expert_overhead_bits, 80);
  EXPECT_EQ(report.other_overhead_bits, 100);
  EXPECT_DOUBLE_EQ(report.layer_mean_bits[0], 1560.0 / 400.0);
  EXPECT_DOUBLE_EQ(report.expert_mean_bits, 3160.0 / 600.0);
  EXPECT_DOUBLE_EQ(report.expert_stored_mean_bits, 3240.0 / 600.0);
  EXPECT_DOUBLE_EQ(report.all_linear_mean_bits, (3160.0 + 1600.0) / 1000.0);
  EXPECT_DOUBLE_EQ(report.all_linear_stored_mean_bits, (3160.0 + 80.0 + 1600.0 + 100.0) / 1000.0);
  // Empty extras are the same as none.
  const BitsReport plain = report_bits({{100, 300}}, {{2, 4}}, {});
  EXPECT_EQ(report_bits({{100, 300}}, {{2, 4}}, {}, {{{0, 0}, {0, 0}}}).expert_bit_params, plain.expert_bit_params);
  EXPECT_DOUBLE_EQ(plain.expert_stored_mean_bits, plain.expert_mean_bits);
}

TEST(AllocateBitReport, RejectsMismatchedShapesAndBadGroups) {
  EXPECT_THROW(report_bits({{10, 30}}, {{2, 6}}, {}, {{{1, 16}}}), Error);
  EXPECT_THROW(report_bits({{10, 30}}, {{2, 6}}, {}, {{{1, 16}, {2, 16}}, {{3, 16}}}), Error);
  EXPECT_THROW(report_bits({{10, 30}}, {{2, 6}}, {}, {{{-1, 0}, {0, 0}}}), Error);
  EXPECT_THROW(report_bits({{10, 30}}, {{2, 6}}, {}, {{{0, -1}, {0, 0}}}), Error);
  EXPECT_THROW(report_bits({{10, 30}}, {{2}}, {}), Error);
  EXPECT_THROW(report_bits({{10}}, {{2}, {4}}, {}), Error);
  EXPECT_THROW(report_bits({{10}}, {{2}}, {{"attention", -1, 16}}), Error);
  EXPECT_THROW(report_bits({{10}}, {{2}}, {{"attention", 5, 0}}), Error);
}

}  // namespace
}  // namespace moqa::allocate
