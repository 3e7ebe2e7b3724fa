// Calibration statistics on the device (cuda::DeviceChannelStatistics) against analysis::accumulate, the
// CPU reference, over several batches with repeated tokens per expert, token re-weighting and gate weighting.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "analysis/accumulators.h"
#include "backend/cuda/channel_stats.h"
#include "backend/cuda/cuda_backend.h"
#include "core/error.h"
#include "cuda_test_support.h"

namespace moqa {
namespace {

using test::random_routing;
using test::random_tensor;
using test::relative_error;

TEST(CudaStatsTest, ChannelSumsScoreMassAndCoactivationMatchTheCpu) {
  MOQA_REQUIRE_CUDA_DEVICE();
  const int64_t experts = 8, channels = 300, top_k = 2;
  backend::CudaBackend gpu(backend::CudaOptions{.poison_outputs = true});
  for (const bool gate_weighted : {false, true}) {
    analysis::LayerAccumulator want = analysis::make_layer_accumulator(0, experts, channels, top_k, true);
    cuda::DeviceChannelStatistics got(gpu, experts, channels);
    for (const int64_t tokens : {257, 31}) {
      const auto seed = static_cast<uint32_t>(tokens + (gate_weighted ? 1000 : 0));
      const Tensor x = random_tensor({tokens, channels}, seed, 1.0f, 0.1f);
      const Tensor scores = random_tensor({tokens, experts}, seed + 1, 0.2f, 0.5f);
      const backend::Routing routing = random_routing(tokens, experts, top_k, seed + 2, 0.05f);
      std::vector<double> token_weights(static_cast<size_t>(tokens));
      std::mt19937 rng(seed + 3);
      for (double& r : token_weights) r = 0.5 + static_cast<double>(rng() % 1000) / 1000.0;
      analysis::accumulate(
          want, {.inputs = x.data, .scores = scores.data, .routing = routing, .token_weights = token_weights},
          gate_weighted);
      got.accumulate(gpu.upload(x), gpu.upload(scores), routing, token_weights, gate_weighted);
    }
    const cuda::ChannelStatistics stats = got.download();
    // Same float64 additions in the same order per cell: 1e-12 (in practice identical).
    EXPECT_LE(relative_error(stats.abs_sum, want.abs_sum), 1e-12);
    EXPECT_LE(relative_error(stats.sq_sum, want.sq_sum), 1e-12);
    EXPECT_LE(relative_error(stats.weighted_abs_sum, want.weighted_abs_sum), 1e-12);
    EXPECT_LE(relative_error(stats.weighted_sq_sum, want.weighted_sq_sum), 1e-12);
    EXPECT_EQ(stats.abs_max, want.abs_max);
    EXPECT_LE(relative_error(stats.router_prob_mass, want.router_prob_mass), 1e-12);
    EXPECT_EQ(stats.coactivation, want.coactivation);
  }
}

TEST(CudaStatsTest, RoutingErrorsAreReportedBeforeAnythingIsAdded) {
  MOQA_REQUIRE_CUDA_DEVICE();
  backend::CudaBackend gpu;
  cuda::DeviceChannelStatistics stats(gpu, 4, 6);
  const backend::Routing twice{.tokens = 1, .top_k = 2, .experts = {1, 1}, .weights = {0.5f, 0.5f}};
  const std::vector<double> r{1.0};
  EXPECT_THROW(
      stats.accumulate(gpu.upload(random_tensor({1, 6}, 1)), gpu.upload(random_tensor({1, 4}, 2)), twice, r, false),
      Error);
  const backend::Routing outside{.tokens = 1, .top_k = 1, .experts = {4}, .weights = {1.0f}};
  EXPECT_THROW(
      stats.accumulate(gpu.upload(random_tensor({1, 6}, 3)), gpu.upload(random_tensor({1, 4}, 4)), outside, r, false),
      Error);
  EXPECT_EQ(stats.download().coactivation, std::vector<int64_t>(16, 0));
}

}  // namespace
}  // namespace moqa
