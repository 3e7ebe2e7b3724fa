// The CUDA backend inside the model: routed experts through grouped GEMMs (cuda::run_routed_experts) and
// whole forward passes of a small synthetic Mixtral, against the CPU backend. Bounds:
// tests/backend/cuda_test_support.h (bfloat16 through several layers: 5e-2, stated below).
#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/routed_experts.h"
#include "cuda_test_support.h"
#include "model/expert_executor.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/synthetic_weights.h"

namespace moqa {
namespace {

using backend::Array;
using test::random_routing;
using test::random_tensor;
using test::relative_error;

// The CPU reference of Σ_k w_k · expert_k(x): model::LocalExpertExecutor's loop on the CPU backend.
Tensor reference_experts(backend::CpuBackend& cpu, const Tensor& x, const backend::Routing& routing,
                         const std::vector<std::array<Tensor, 3>>& experts) {
  const Array input = cpu.upload(x);
  Array out = cpu.zeros(x.shape);
  const auto groups = backend::group_by_expert(routing, static_cast<int64_t>(experts.size()));
  for (size_t e = 0; e < groups.size(); ++e) {
    if (groups[e].tokens.empty()) continue;
    const Array rows = cpu.gather_rows(input, groups[e].tokens);
    const Array gate = cpu.linear(rows, cpu.upload(experts[e][0]), nullptr);
    const Array up = cpu.linear(rows, cpu.upload(experts[e][1]), nullptr);
    const Array y = cpu.linear(cpu.silu_mul(gate, up), cpu.upload(experts[e][2]), nullptr);
    cpu.scatter_add_rows(out, y, groups[e].tokens, groups[e].weights);
  }
  return cpu.download(out);
}

TEST(CudaRoutedExpertsTest, GroupedGemmExpertsMatchTheLocalExecutorLoop) {
  MOQA_REQUIRE_CUDA_DEVICE();
  const int64_t tokens = 300, hidden = 64, ffn = 96, n_experts = 8, top_k = 2;
  const Tensor x = random_tensor({tokens, hidden}, 1);
  std::vector<std::array<Tensor, 3>> experts;
  for (int64_t e = 0; e < n_experts; ++e) {
    const auto seed = static_cast<uint32_t>(10 + 3 * e);
    experts.push_back({random_tensor({ffn, hidden}, seed, 0.125f), random_tensor({ffn, hidden}, seed + 1, 0.125f),
                       random_tensor({hidden, ffn}, seed + 2, 0.1f)});
  }
  // Expert 5 receives no token and is not loaded.
  backend::Routing routing = random_routing(tokens, n_experts - 1, top_k, 2, 0.1f);
  for (int32_t& e : routing.experts) e = e >= 5 ? e + 1 : e;
  backend::CpuBackend cpu(backend::CpuOptions{.threads = 1});
  const Tensor want = reference_experts(cpu, x, routing, experts);
  // float32 weights: the per-expert cuBLAS path (1e-5); bfloat16 weights: one grouped GEMM per projection
  // with every operand rounded to bfloat16 (1e-2).
  for (const bool bf16 : {false, true}) {
    backend::CudaBackend gpu(backend::CudaOptions{.bf16_weights = bf16, .poison_outputs = true});
    std::vector<cuda::ExpertWeights> on_gpu(static_cast<size_t>(n_experts));
    for (int64_t e = 0; e < n_experts; ++e) {
      if (e == 5) continue;
      for (int i = 0; i < 3; ++i) {
        Array& slot = i == 0 ? on_gpu[e].gate : i == 1 ? on_gpu[e].up : on_gpu[e].down;
        slot = gpu.upload_weight(experts[static_cast<size_t>(e)][static_cast<size_t>(i)]);
      }
    }
    const Tensor got = gpu.download(cuda::run_routed_experts(gpu, gpu.upload(x), routing, on_gpu));
    const double error = relative_error(got, want);
    EXPECT_LE(error, bf16 ? 1e-2 : 1e-5) << (bf16 ? "bfloat16" : "float32") << " weights";
  }
}

// model::ExpertExecutor on top of cuda::run_routed_experts (what a CUDA run would plug into LayerContext).
class GroupedExpertExecutor final : public model::ExpertExecutor {
 public:
  Array run(model::Model& model, int64_t layer, const Array& x, const backend::Routing& routing,
            model::ForwardObserver* observer) override {
    (void)observer;
    auto& gpu = dynamic_cast<backend::CudaBackend&>(model.backend());
    std::vector<cuda::ExpertWeights> experts(static_cast<size_t>(model.config().num_experts));
    for (int64_t e = 0; e < model.config().num_experts; ++e) {
      experts[static_cast<size_t>(e)] = {model.weight({layer, model::Linear::expert_gate, e}),
                                         model.weight({layer, model::Linear::expert_up, e}),
                                         model.weight({layer, model::Linear::expert_down, e})};
    }
    return cuda::run_routed_experts(gpu, x, routing, experts);
  }
};

class CudaForwardTest : public ::testing::Test {
 protected:
  void SetUp() override { MOQA_REQUIRE_CUDA_DEVICE(); }

  static model::MixtralShape tiny_shape(int64_t layers) {
    return model::MixtralShape{.layers = layers,
                               .hidden = 64,
                               .expert_ffn = 96,
                               .experts = 8,
                               .top_k = 2,
                               .heads = 4,
                               .kv_heads = 2,
                               .vocab = 300};
  }
};

TEST_F(CudaForwardTest, SyntheticMixtralLogitsMatchTheCpu) {
  const model::MixtralShape shape = tiny_shape(2);
  const auto weights = std::make_shared<model::SyntheticWeights>(7);
  const model::TokenBatch batch = model::random_token_batch(2, 40, shape.vocab, 99);
  backend::CpuBackend cpu(backend::CpuOptions{.threads = 1});
  model::Model cpu_model(model::mixtral_config(shape), weights, cpu);
  const Tensor want = model::forward_logits(cpu_model, batch);
  // float32 weights: 1e-4 (attention, norms and a dozen matrix products in sequence). bfloat16 weights:
  // every matrix product rounds both operands to 8 significant bits, through two layers: 5e-2.
  for (const bool bf16 : {false, true}) {
    backend::CudaBackend gpu(backend::CudaOptions{.bf16_weights = bf16, .poison_outputs = true});
    model::Model gpu_model(model::mixtral_config(shape), weights, gpu);
    const double error = relative_error(model::forward_logits(gpu_model, batch), want);
    EXPECT_LE(error, bf16 ? 5e-2 : 1e-4) << (bf16 ? "bfloat16" : "float32") << " weights";
  }
}

TEST_F(CudaForwardTest, GroupedExpertExecutorMatchesTheLocalExecutor) {
  // One layer, so that both runs route identical hidden states; they then differ only in the summation
  // order inside the expert products. float32 weights (per-expert cuBLAS both times): 1e-5. bfloat16
  // (grouped GEMM vs per-expert cublasGemmEx on the same bfloat16 operands): the 1e-6 differences can move
  // an lm_head input across a bfloat16 rounding boundary (a 2^-9 relative step), hence 1e-3.
  const model::MixtralShape shape = tiny_shape(1);
  const auto weights = std::make_shared<model::SyntheticWeights>(8);
  const model::TokenBatch batch = model::random_token_batch(3, 32, shape.vocab, 99);
  for (const bool bf16 : {false, true}) {
    backend::CudaBackend gpu(backend::CudaOptions{.bf16_weights = bf16, .poison_outputs = true});
    model::Model gpu_model(model::mixtral_config(shape), weights, gpu);
    const Tensor local = model::forward_logits(gpu_model, batch);
    GroupedExpertExecutor grouped;
    const double error = relative_error(model::forward_logits(gpu_model, batch, {.experts = &grouped}), local);
    EXPECT_LE(error, bf16 ? 1e-3 : 1e-5) << (bf16 ? "bfloat16" : "float32") << " weights";
  }
}

}  // namespace
}  // namespace moqa
