// Forward pass of each architecture against transformers 5.17 (fp32, eager) on the tiny random-weight
// checkpoints of tests/data/arch/<family> (copied from ../shared/assets/arch): logits, every hidden state
// (transformers' convention: [0] = embeddings, [i] = output of layer i-1, last = after the final norm)
// and every router-logit tensor.
//
// Tolerance: max |Δ| <= 1e-4 x the standard deviation of the golden tensor being compared. A correct
// float32 implementation differs from PyTorch only by summation order (observed ~1e-6 relative).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "io/safetensors.h"
#include "model/forward.h"
#include "model/model.h"
#include "support/test_support.h"

namespace moqa::model {
namespace {

constexpr double kRelativeTolerance = 1e-4;

double standard_deviation(const Tensor& t) {
  double mean = 0, squares = 0;
  for (float v : t.data) mean += v;
  mean /= static_cast<double>(t.size());
  for (float v : t.data) squares += (v - mean) * (v - mean);
  return std::sqrt(squares / static_cast<double>(t.size()));
}

// Max |got - want| relative to want's standard deviation; shapes must agree (as element counts: the
// golden hidden states are [batch, seq, hidden], ours [batch*seq, hidden]).
double relative_max_error(const Tensor& got, const Tensor& want, const std::string& what) {
  EXPECT_EQ(got.size(), want.size()) << what;
  if (got.size() != want.size()) return INFINITY;
  double worst = 0;
  for (int64_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(double(got.data[i]) - want.data[i]));
  return worst / standard_deviation(want);
}

TokenBatch golden_batch(const io::SafetensorsFile& golden) {
  const Tensor ids = golden.read("input_ids");
  TokenBatch batch{ids.dim(0), ids.dim(1), {}};
  for (float v : ids.data) batch.ids.push_back(static_cast<int32_t>(v));
  return batch;
}

class GoldenArchTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenArchTest, LogitsHiddenStatesAndRouterLogitsMatchTransformers) {
  const auto dir = test::data_dir() / "arch" / GetParam();
  backend::CpuBackend backend(backend::CpuOptions{.threads = 1});
  Model model = Model::open(dir, backend);
  const auto golden = io::SafetensorsFile::open(dir / "golden.safetensors");

  ForwardTrace trace{.hidden_states = true, .router_logits = true};
  const Tensor logits = forward_logits(model, golden_batch(golden), {}, &trace);

  const double logit_error = relative_max_error(logits, golden.read("logits"), "logits");
  EXPECT_LE(logit_error, kRelativeTolerance);
  double worst_hidden = 0, worst_router = 0;
  ASSERT_EQ(static_cast<int64_t>(trace.hidden.size()), model.config().num_layers + 1);
  for (size_t i = 0; i < trace.hidden.size(); ++i) {
    const std::string name = "hidden_states." + std::to_string(i);
    const double e = relative_max_error(trace.hidden[i], golden.read(name), name);
    EXPECT_LE(e, kRelativeTolerance) << name;
    worst_hidden = std::max(worst_hidden, e);
  }
  int routers_compared = 0;
  for (int64_t layer = 0; layer < model.config().num_layers; ++layer) {
    const std::string name = "router_logits." + std::to_string(layer);
    if (!golden.find(name)) continue;  // deepseek_v3's golden has none
    ASSERT_TRUE(model.config().is_moe_layer(layer)) << name;
    const double e = relative_max_error(trace.routers[static_cast<size_t>(layer)], golden.read(name), name);
    EXPECT_LE(e, kRelativeTolerance) << name;
    worst_router = std::max(worst_router, e);
    ++routers_compared;
  }
  if (GetParam() != "deepseek_v3") {
    EXPECT_EQ(routers_compared, model.config().num_moe_layers());
  }
  char router_text[32] = "n/a (no golden)";
  if (routers_compared > 0) std::snprintf(router_text, sizeof router_text, "%.2e", worst_router);
  std::printf("[ golden   ] %-12s max |err|/std: logits %.2e, hidden states %.2e, router logits %s\n",
              GetParam().c_str(), logit_error, worst_hidden, router_text);
}

INSTANTIATE_TEST_SUITE_P(Families, GoldenArchTest,
                         ::testing::Values("mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3"),
                         [](const auto& param) { return param.param; });

}  // namespace
}  // namespace moqa::model
