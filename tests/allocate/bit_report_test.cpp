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

TEST(AllocateBitReport, RejectsMismatchedShapesAndBadGroups) {
  EXPECT_THROW(report_bits({{10, 30}}, {{2}}, {}), Error);
  EXPECT_THROW(report_bits({{10}}, {{2}, {4}}, {}), Error);
  EXPECT_THROW(report_bits({{10}}, {{2}}, {{"attention", -1, 16}}), Error);
  EXPECT_THROW(report_bits({{10}}, {{2}}, {{"attention", 5, 0}}), Error);
}

}  // namespace
}  // namespace moqa::allocate
