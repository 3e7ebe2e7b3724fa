// Router semantics per family (backend.h, Backend::route) and the expert grouping used by executors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"

namespace moqa::backend {
namespace {

class RouterTest : public ::testing::Test {
 protected:
  RouteResult route(const std::vector<float>& logits, int64_t experts, RouterSpec spec) {
    const int64_t tokens = static_cast<int64_t>(logits.size()) / experts;
    return backend.route(backend.upload(Tensor({tokens, experts}, logits)), spec);
  }
  CpuBackend backend{CpuOptions{.threads = 1}};
};

TEST_F(RouterTest, MixtralRenormalisedSoftmaxEqualsSoftmaxOverChosenLogits) {
  const std::vector<float> logits{0.1f, 2.0f, -1.0f, 1.5f};
  const RouteResult r = route(logits, 4, {.top_k = 2, .normalize = true});
  ASSERT_EQ(r.routing.experts, (std::vector<int32_t>{1, 3}));
  const double e1 = std::exp(2.0), e3 = std::exp(1.5);
  EXPECT_NEAR(r.routing.weights[0], e1 / (e1 + e3), 1e-6);
  EXPECT_NEAR(r.routing.weights[1], e3 / (e1 + e3), 1e-6);
  const Tensor scores = backend.download(r.scores);
  double total = 0;
  for (float s : scores.data) total += s;
  EXPECT_NEAR(total, 1.0, 1e-6);
}

TEST_F(RouterTest, SoftmaxWithoutNormalisationKeepsFullSoftmaxProbabilities) {
  const std::vector<float> logits{0.0f, 1.0f, 2.0f, 3.0f, 3.0f, 2.0f, 1.0f, 0.0f};
  const RouteResult r = route(logits, 4, {.top_k = 2, .normalize = false});
  const double z = 1 + std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_EQ(r.routing.experts, (std::vector<int32_t>{3, 2, 0, 1}));
  EXPECT_NEAR(r.routing.weights[0], std::exp(3.0) / z, 1e-6);
  EXPECT_NEAR(r.routing.weights[1], std::exp(2.0) / z, 1e-6);
  EXPECT_NEAR(r.routing.weight(1, 0), std::exp(3.0) / z, 1e-6);
}

TEST_F(RouterTest, TiesGoToTheLowerExpertIndex) {
  const RouteResult r = route({1.0f, 1.0f, 1.0f, 1.0f}, 4, {.top_k = 3});
  EXPECT_EQ(r.routing.experts, (std::vector<int32_t>{0, 1, 2}));
}

TEST_F(RouterTest, DeepSeekV3SigmoidBiasForSelectionOnlyGroupLimitedScaled) {
  // 8 experts in 4 groups of 2; choose 2 experts from the best 2 groups.
  const std::vector<float> logits{2.0f, -3.0f, 0.5f, 0.4f, 1.0f, 1.0f, 3.0f, -4.0f};
  std::vector<float> bias{0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  const Array bias0 = backend.upload(Tensor({8}, bias));
  RouterSpec spec{.scoring = RouterSpec::Scoring::sigmoid, .top_k = 2, .normalize = true, .scaling = 2.5,
                  .n_group = 4, .topk_group = 2, .selection_bias = &bias0};
  // Group ratings (sum of both members): g0 = s(2)+s(-3), g1 = s(.5)+s(.4), g2 = 2 s(1), g3 = s(3)+s(-4).
  // g2 and g1 win; expert 6 (the single best score) sits in g3 and is excluded; expert 0 likewise.
  RouteResult r = route(logits, 8, spec);
  ASSERT_EQ(r.routing.experts, (std::vector<int32_t>{4, 5}));
  EXPECT_NEAR(r.routing.weights[0], 0.5 * 2.5, 1e-6);

  // A bias lifts group 0 and expert 2 for selection, but the weights stay the unbiased scores.
  bias = {0.2f, 0.5f, 0.6f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  const Array bias1 = backend.upload(Tensor({8}, bias));
  spec.selection_bias = &bias1;
  r = route(logits, 8, spec);
  ASSERT_EQ(r.routing.experts, (std::vector<int32_t>{2, 0}));  // choice values 1.22 and 1.08
  const double w2 = sig(0.5), w0 = sig(2.0);
  EXPECT_NEAR(r.routing.weights[0], w2 / (w2 + w0) * 2.5, 1e-5);
  EXPECT_NEAR(r.routing.weights[1], w0 / (w2 + w0) * 2.5, 1e-5);
  const Tensor scores = backend.download(r.scores);
  EXPECT_NEAR(scores.data[6], sig(3.0), 1e-6);
}

TEST_F(RouterTest, RejectsImpossibleSelections) {
  EXPECT_THROW(route({1, 2, 3, 4}, 4, {.top_k = 5}), Error);
  EXPECT_THROW(route({1, 2, 3, 4}, 4, {.top_k = 3, .n_group = 2, .topk_group = 1}), Error);
  EXPECT_THROW(route({1, 2, 3, 4, 5, 6}, 6, {.top_k = 1, .n_group = 4, .topk_group = 1}), Error);
}

TEST(GroupByExpert, InvertsRoutingInTokenOrder) {
  Routing routing{.tokens = 3, .top_k = 2, .experts = {2, 0, 0, 1, 2, 1}, .weights = {.6f, .4f, .7f, .3f, .5f, .5f}};
  const auto groups = group_by_expert(routing, 4);
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[0].tokens, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(groups[0].weights, (std::vector<float>{.4f, .7f}));
  EXPECT_EQ(groups[1].tokens, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(groups[2].tokens, (std::vector<int32_t>{0, 2}));
  EXPECT_TRUE(groups[3].tokens.empty());
  routing.experts[0] = 4;
  EXPECT_THROW(group_by_expert(routing, 4), Error);
}

}  // namespace
}  // namespace moqa::backend
