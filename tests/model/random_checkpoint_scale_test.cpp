// Random-weight checkpoints of published shapes at real size (src/model/random_checkpoint.h): each shape with
// 1-2 layers is written to $MOQA_SCALE_DIR (0.8-26 GB), loaded through the checkpoint loader and run over
// 8 tokens. Gigabytes of disk and minutes per shape, so these tests carry the CTest label `scale` and are
// not part of the default suite (scripts/setup.sh leaves them out and says so):
//   MOQA_SCALE_DIR=/scratch ctest --test-dir build -L scale --output-on-failure
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "model/expert_executor.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/random_checkpoint.h"
#include "model/synthetic_weights.h"
#include "support/test_support.h"

namespace moqa::model {
namespace {

// Runs the MoE layers' experts nowhere and records which ones the routing chose: with the checkpoint's
// only MoE layer last, that is exactly the set a second pass must load.
class RecordingExecutor final : public ExpertExecutor {
 public:
  explicit RecordingExecutor(backend::Backend& backend) : backend_(backend) {}
  backend::Array run(Model&, int64_t layer, const backend::Array& x, const backend::Routing& routing,
                     ForwardObserver*) override {
    for (const int32_t e : routing.experts) chosen.insert({layer, e});
    return backend_.zeros(x.shape);
  }
  std::set<std::pair<int64_t, int64_t>> chosen;

 private:
  backend::Backend& backend_;
};

// MOQA_SCALE_DIR=/work/scale: each shape with 1-2 layers is written there (0.8-26 GB), loaded through the
// checkpoint loader and run over 8 tokens; only the routed experts are loaded, so the largest (DeepSeek-V3,
// 256 experts of 44 M parameters) needs about 6 GB of memory. Each checkpoint is deleted afterwards.
class RandomCheckpointScale : public testing::TestWithParam<RealModel> {};

TEST_P(RandomCheckpointScale, LoadsAndRunsFinite) {
  const char* scale_dir = std::getenv("MOQA_SCALE_DIR");
  ASSERT_NE(scale_dir, nullptr) << "set MOQA_SCALE_DIR to a scratch folder with ~30 GB free to run this";
  const RealModel shape = GetParam();
  const auto& info = real_model_info(shape);
  RandomCheckpointOptions o;
  o.model = shape;
  o.layers = shape == RealModel::deepseek_v2_lite ? 2 : 1;  // V2-Lite: its dense first layer and a MoE layer
  o.output_dir = std::filesystem::path(scale_dir) / cat("random-", info.name);
  std::filesystem::remove_all(o.output_dir);
  const auto tokenizer = test::assets_dir() / "tokenizers" / std::string(info.tokenizer);
  if (std::filesystem::exists(tokenizer)) o.tokenizer_dir = tokenizer;
  const RandomCheckpointSummary written = write_random_checkpoint(o);

  backend::CpuBackend backend;
  const TokenBatch batch = random_token_batch(2, 4, 1000, 7);
  std::set<std::pair<int64_t, int64_t>> routed;
  {
    Model first = Model::open(o.output_dir, backend,
                              {.stream_weights = true, .owns_expert = [](int64_t, int64_t) { return false; }});
    RecordingExecutor recorder(backend);
    forward_logits(first, batch, {.experts = &recorder});
    routed = recorder.chosen;
  }
  Model model = Model::open(o.output_dir, backend,
                            {.stream_weights = true,
                             .owns_expert = [&](int64_t l, int64_t e) { return routed.count({l, e}) > 0; }});
  EXPECT_EQ(model.config().num_layers, o.layers);
  const Tensor logits = forward_logits(model, batch);
  ASSERT_EQ(logits.dim(1), model.config().vocab_size);
  double sum_squares = 0;
  for (const float v : logits.data) {
    ASSERT_TRUE(std::isfinite(v)) << info.name;
    sum_squares += double(v) * v;
  }
  std::printf("%s: %lld tensors, %.2f GB, %zu routed experts loaded, logit rms %.3f\n", std::string(info.name).c_str(),
              static_cast<long long>(written.tensors), double(written.bytes) / 1e9, routed.size(),
              std::sqrt(sum_squares / double(logits.size())));
  std::fflush(stdout);
  std::filesystem::remove_all(o.output_dir);
}

INSTANTIATE_TEST_SUITE_P(Shapes, RandomCheckpointScale,
                         testing::Values(RealModel::olmoe_1b_7b, RealModel::qwen15_moe_a27b,
                                         RealModel::deepseek_v2_lite, RealModel::mixtral_8x7b,
                                         RealModel::deepseek_v3),
                         [](const auto& p) {
                           std::string name(real_model_info(p.param).name);
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace moqa::model
