// The expert-to-rank plan: every expert has exactly one owner, per-layer and whole-model balance, and
// replicated dense layers, for world sizes 1..5 and several model shapes; the exact owners of small cases
// (each rank computes the plan on its own, so it is pinned rather than compared with itself).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "dist/shard_plan.h"

namespace moqa::dist {
namespace {

struct Shape {
  const char* name;
  int64_t layers;
  int64_t experts;
  int64_t dense_prefix;  // leading dense layers (DeepSeek style)
};

ModelConfig model(const Shape& shape) {
  ModelConfig c;
  c.num_layers = shape.layers;
  c.num_experts = shape.experts;
  c.hidden_size = 64;
  c.expert_intermediate_size = 32;
  c.layer_is_moe.assign(static_cast<size_t>(shape.layers), true);
  for (int64_t l = 0; l < shape.dense_prefix; ++l) c.layer_is_moe[static_cast<size_t>(l)] = false;
  return c;
}

const Shape kShapes[] = {
    {"mixtral-like", 4, 8, 0},  {"qwen-like", 24, 60, 0}, {"deepseek-like", 28, 64, 1},
    {"odd", 7, 5, 0},           {"few-experts", 3, 3, 0}, {"dense-first-two", 6, 7, 2},
};

class ShardPlanShapes : public ::testing::TestWithParam<std::tuple<Shape, int>> {};

TEST_P(ShardPlanShapes, EveryExpertHasExactlyOneOwnerAndLoadsAreBalanced) {
  const auto& [shape, ranks] = GetParam();
  const ModelConfig config = model(shape);
  const ShardPlan plan = make_shard_plan(config, ranks);
  ASSERT_EQ(plan.world_size, ranks);
  EXPECT_EQ(plan.expert_bytes, config.expert_parameter_count() * 4);

  const int64_t floor_share = shape.experts / ranks;
  const int64_t ceil_share = (shape.experts + ranks - 1) / ranks;
  int64_t moe_layers = 0;
  for (int64_t layer = 0; layer < shape.layers; ++layer) {
    if (!config.layer_is_moe[static_cast<size_t>(layer)]) {
      EXPECT_THROW(plan.owner(layer, 0), Error);
      for (int r = 0; r < ranks; ++r) EXPECT_TRUE(plan.experts_of(r, layer).empty());
      continue;
    }
    ++moe_layers;
    std::multiset<int64_t> seen;
    for (int r = 0; r < ranks; ++r) {
      const auto experts = plan.experts_of(r, layer);
      const auto count = static_cast<int64_t>(experts.size());
      EXPECT_TRUE(count == floor_share || count == ceil_share)
          << shape.name << " layer " << layer << " rank " << r << " owns " << count;
      for (size_t i = 1; i < experts.size(); ++i) EXPECT_EQ(experts[i], experts[i - 1] + 1) << "contiguous range";
      for (const int64_t e : experts) {
        EXPECT_EQ(plan.owner(layer, e), r);
        seen.insert(e);
      }
    }
    ASSERT_EQ(static_cast<int64_t>(seen.size()), shape.experts);
    for (int64_t e = 0; e < shape.experts; ++e) EXPECT_EQ(seen.count(e), 1u) << "expert " << e;
  }

  // Over the whole model the extra experts rotate, so totals differ by at most one expert.
  int64_t total = 0, most = 0, least = INT64_MAX;
  for (int r = 0; r < ranks; ++r) {
    total += plan.expert_count_of(r);
    most = std::max(most, plan.bytes_of(r));
    least = std::min(least, plan.bytes_of(r));
  }
  EXPECT_EQ(total, moe_layers * shape.experts);
  EXPECT_LE(most - least, plan.expert_bytes) << shape.name << " on " << ranks << " ranks";
}

INSTANTIATE_TEST_SUITE_P(Shapes, ShardPlanShapes,
                         ::testing::Combine(::testing::ValuesIn(kShapes), ::testing::Range(1, 6)),
                         [](const auto& test) {
                           std::string name = std::get<0>(test.param).name;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name + "_" + std::to_string(std::get<1>(test.param)) + "ranks";
                         });

TEST(ShardPlan, ExtraExpertsRotateAcrossLayers) {
  // 5 experts on 2 ranks: layer 0 gives the extra one to rank 0, layer 1 to rank 1, and so on.
  const ShardPlan plan = make_shard_plan(model({"t", 4, 5, 0}), 2);
  EXPECT_EQ(plan.experts_of(0, 0), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(plan.experts_of(1, 0), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(plan.experts_of(0, 1), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(plan.experts_of(1, 1), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(plan.expert_count_of(0), 10);
  EXPECT_EQ(plan.expert_count_of(1), 10);
}

TEST(ShardPlan, MoreRanksThanExpertsLeavesSomeRanksIdlePerLayer) {
  const ShardPlan plan = make_shard_plan(model({"t", 5, 2, 0}), 5);
  for (int r = 0; r < 5; ++r) EXPECT_EQ(plan.expert_count_of(r), 2);  // 10 experts, rotated evenly
}

TEST(ShardPlan, BytesFollowTheParameterWidth) {
  const ModelConfig config = model({"t", 2, 4, 0});
  EXPECT_EQ(make_shard_plan(config, 2, 2).bytes_of(0), 4 * config.expert_parameter_count() * 2);
}

TEST(ShardPlan, RejectsBadInput) {
  EXPECT_THROW(make_shard_plan(model({"t", 2, 4, 0}), 0), Error);
  ModelConfig broken = model({"t", 2, 4, 0});
  broken.layer_is_moe.pop_back();
  EXPECT_THROW(make_shard_plan(broken, 2), Error);
  const ShardPlan plan = make_shard_plan(model({"t", 2, 4, 0}), 2);
  EXPECT_THROW(plan.owner(2, 0), Error);
  EXPECT_THROW(plan.owner(0, 4), Error);
  EXPECT_THROW(plan.owner(-1, 0), Error);
}

TEST(ShardPlan, TableShowsRangesDenseLayersAndTotals) {
  const std::string table = format_shard_plan(make_shard_plan(model({"t", 3, 8, 1}), 2));
  EXPECT_NE(table.find("2 MoE layers x 8 routed experts over 2 ranks"), std::string::npos) << table;
  EXPECT_NE(table.find("rank 0"), std::string::npos) << table;
  EXPECT_NE(table.find("0-3"), std::string::npos) << table;
  EXPECT_NE(table.find("4-7"), std::string::npos) << table;
  EXPECT_NE(table.find("dense (replicated)"), std::string::npos) << table;
  EXPECT_NE(table.find("experts  8"), std::string::npos) << table;
}

}  // namespace
}  // namespace moqa::dist
