// The trained models of ../shared/assets/trained (BF16 weights read into float32) against transformers on
// the first 128 tokens of the code test text: per-position NLL, full logits of positions 0-7 and the
// chosen experts of every layer. Skipped, visibly, when the assets are absent.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "backend/cpu/cpu_backend.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/observer.h"
#include "support/test_support.h"

namespace moqa::model {
namespace {

// Records each layer's chosen experts on the host.
class TopKRecorder final : public ForwardObserver {
 public:
  void on_routing(const RoutingEvent& event) override {
    if (chosen.size() <= static_cast<size_t>(event.layer)) chosen.resize(static_cast<size_t>(event.layer) + 1);
    chosen[static_cast<size_t>(event.layer)] = event.routing;
  }
  std::vector<backend::Routing> chosen;
};

class GoldenTrainedTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTrainedTest, NllLogitsAndRoutingMatchTransformers) {
  const auto dir = test::assets_dir() / "trained" / GetParam();
  MOQA_REQUIRE_ASSET(dir / "golden.json");
  std::ifstream in(dir / "golden.json");
  const nlohmann::json golden = nlohmann::json::parse(in);

  backend::CpuBackend backend(backend::CpuOptions{.threads = 1});
  Model model = Model::open(dir, backend);
  TokenBatch batch{1, static_cast<int64_t>(golden["tokens"].size()), golden["tokens"].get<std::vector<int32_t>>()};

  TopKRecorder recorder;
  HiddenStates hidden = model.embed(batch);
  for (int64_t layer = 0; layer < model.config().num_layers; ++layer)
    model.forward_layer(layer, hidden, {.observer = &recorder});
  const backend::Array normed = model.final_norm(hidden);

  // NLL of token p+1 at position p, as computed from the full logits by transformers.
  const NextTokenTargets scored = next_token_targets(batch);
  const std::vector<float> nll = model.token_nll(normed, scored.rows, scored.targets);
  const auto want_nll = golden["nll"].get<std::vector<double>>();
  ASSERT_EQ(nll.size(), want_nll.size());
  double worst_nll = 0;
  for (size_t i = 0; i < nll.size(); ++i) worst_nll = std::max(worst_nll, std::abs(nll[i] - want_nll[i]));
  EXPECT_LE(worst_nll, 1e-4) << "max |Δnll| over " << nll.size() << " positions";

  const Tensor logits = backend.download(model.logits(normed));
  const auto& want_logits = golden["logits_first8"];
  double worst_logit = 0;
  for (size_t p = 0; p < want_logits.size(); ++p) {
    const auto row = want_logits[p].get<std::vector<double>>();
    ASSERT_EQ(static_cast<int64_t>(row.size()), model.config().vocab_size);
    for (size_t v = 0; v < row.size(); ++v)
      worst_logit = std::max(worst_logit, std::abs(logits.data[p * row.size() + v] - row[v]));
  }
  EXPECT_LE(worst_logit, 1e-4) << "max |Δlogit| over positions 0-7";

  // Chosen experts: same sets per token; the order (descending weight) too unless two weights tie.
  const auto& want_topk = golden["router_topk"];
  ASSERT_EQ(want_topk.size(), recorder.chosen.size());
  int64_t order_differences = 0;
  for (size_t layer = 0; layer < want_topk.size(); ++layer) {
    const backend::Routing& got = recorder.chosen[layer];
    for (int64_t t = 0; t < got.tokens; ++t) {
      const auto want = want_topk[layer][static_cast<size_t>(t)].get<std::vector<int32_t>>();
      std::vector<int32_t> mine(got.experts.begin() + t * got.top_k, got.experts.begin() + (t + 1) * got.top_k);
      EXPECT_EQ(std::set<int32_t>(mine.begin(), mine.end()), std::set<int32_t>(want.begin(), want.end()))
          << "layer " << layer << " token " << t;
      order_differences += mine != want;
    }
  }
  EXPECT_EQ(order_differences, 0);
  std::printf("[ trained  ] %-14s max |Δnll| %.2e, max |Δlogit| %.2e, routing identical on %zu layers x %lld "
              "tokens\n",
              GetParam().c_str(), worst_nll, worst_logit, want_topk.size(), static_cast<long long>(batch.seq_len));
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenTrainedTest, ::testing::Values("mixtral-tiny", "qwen2moe-small"),
                         [](const auto& param) {
                           std::string name = param.param;
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace moqa::model
