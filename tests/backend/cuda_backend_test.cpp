// Every CudaBackend operation against the CPU backend (the reference, src/backend/cpu) on the same fresh
// random inputs. Method and error bounds: tests/backend/cuda_test_support.h.
#include "backend/cuda/cuda_backend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/factory.h"
#include "core/error.h"
#include "cuda_test_support.h"
#include "kernels/check.cuh"

namespace moqa::backend {
namespace {

using test::random_tensor;
using test::relative_error;

void expect_close(const Tensor& got, const Tensor& want, double bound, const std::string& what) {
  const double error = relative_error(got, want);
  EXPECT_LE(error, bound) << what << ": relative error " << error << " (bound " << bound << ")";
}

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MOQA_REQUIRE_CUDA_DEVICE();
    gpu = std::make_unique<CudaBackend>(CudaOptions{.poison_outputs = true});
  }

  CpuBackend cpu{CpuOptions{.threads = 1}};
  std::unique_ptr<CudaBackend> gpu;
};

TEST_F(CudaBackendTest, TransfersCopiesZerosAndViews) {
  const Tensor host = random_tensor({5, 7}, 1);
  const Array a = gpu->upload(host);
  EXPECT_EQ(gpu->download(a).data, host.data);
  Array b = gpu->copy(a);
  gpu->clamp(b, 0.0f);
  EXPECT_EQ(gpu->download(a).data, host.data);  // the copy is independent
  EXPECT_EQ(gpu->download(gpu->zeros({3, 4})).data, std::vector<float>(12, 0.0f));
  EXPECT_EQ(gpu->download(reshape(a, {7, 5})).data, host.data);
  const Tensor slice = gpu->download(gpu->row_slice(a, 1, 3));
  EXPECT_EQ(slice.shape, (Shape{3, 7}));
  EXPECT_EQ(slice.data, std::vector<float>(host.data.begin() + 7, host.data.begin() + 28));
  EXPECT_THROW(gpu->row_slice(a, 3, 3), Error);
  // A bfloat16 weight reads back as the nearest bfloat16 values; vectors stay float32.
  const Tensor weight = random_tensor({6, 9}, 2);
  EXPECT_EQ(gpu->download(gpu->upload_weight(weight)).data, test::on_bfloat16_grid(weight).data);
  const Tensor vector = random_tensor({9}, 3);
  EXPECT_EQ(gpu->download(gpu->upload_weight(vector)).data, vector.data);
  EXPECT_EQ(gpu->download(gpu->copy(gpu->upload_weight(weight))).data, test::on_bfloat16_grid(weight).data);
}

TEST_F(CudaBackendTest, ArraysOfAnotherBackendOrTypeAreRejected) {
  const Array on_cpu = cpu.upload(random_tensor({2, 3}, 4));
  EXPECT_THROW(gpu->download(on_cpu), Error);
  const Array x = gpu->upload(random_tensor({2, 3}, 5));
  const Array bf16_vector_as_matrix = gpu->upload_weight(random_tensor({1, 3}, 6));
  EXPECT_THROW(gpu->rms_norm(x, bf16_vector_as_matrix, 1e-6f), Error);
  EXPECT_THROW(gpu->download(Array{}), Error);
}

TEST_F(CudaBackendTest, LinearWithFloat32Weights) {
  const Tensor x = random_tensor({37, 70}, 10), w = random_tensor({45, 70}, 11), bias = random_tensor({45}, 12);
  for (const bool with_bias : {false, true}) {
    const Array cpu_bias = cpu.upload(bias), gpu_bias = gpu->upload(bias);
    const Tensor want = cpu.download(cpu.linear(cpu.upload(x), cpu.upload(w), with_bias ? &cpu_bias : nullptr));
    const Tensor got = gpu->download(gpu->linear(gpu->upload(x), gpu->upload(w), with_bias ? &gpu_bias : nullptr));
    expect_close(got, want, 1e-5, with_bias ? "linear + bias" : "linear");
  }
  // No input features: the bias alone.
  const Tensor empty_x({3, 0}), empty_w({4, 0}), small_bias = random_tensor({4}, 13);
  const Array gb = gpu->upload(small_bias);
  const Tensor got = gpu->download(gpu->linear(gpu->upload(empty_x), gpu->upload(empty_w), &gb));
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(got.data[r * 4 + c], small_bias.data[c]);
  EXPECT_THROW(gpu->linear(gpu->upload(random_tensor({3, 69}, 14)), gpu->upload(w), nullptr), Error);
}

TEST_F(CudaBackendTest, LinearWithBfloat16Weights) {
  // On the bfloat16 grid both operands are exact in bfloat16: only the summation order differs (1e-5).
  const Tensor x = test::on_bfloat16_grid(random_tensor({129, 200}, 20));
  const Tensor w = test::on_bfloat16_grid(random_tensor({67, 200}, 21));
  const Tensor bias = random_tensor({67}, 22);
  const Array cpu_bias = cpu.upload(bias), gpu_bias = gpu->upload(bias);
  const Tensor want = cpu.download(cpu.linear(cpu.upload(x), cpu.upload(w), &cpu_bias));
  expect_close(gpu->download(gpu->linear(gpu->upload(x), gpu->upload_weight(w), &gpu_bias)), want, 1e-5,
               "bf16 linear, inputs on the grid");
  // Arbitrary float32 values: both operands are rounded to bfloat16 (1e-2).
  const Tensor x2 = random_tensor({64, 300}, 23), w2 = random_tensor({90, 300}, 24);
  const Tensor want2 = cpu.download(cpu.linear(cpu.upload(x2), cpu.upload(w2), nullptr));
  expect_close(gpu->download(gpu->linear(gpu->upload(x2), gpu->upload_weight(w2), nullptr)), want2, 1e-2,
               "bf16 linear, arbitrary inputs");
}

TEST_F(CudaBackendTest, EmbeddingFromFloat32AndBfloat16Tables) {
  const Tensor table = random_tensor({50, 24}, 30);
  const std::vector<int32_t> ids{3, 0, 49, 3, 17, 17, 8};
  const Tensor want = cpu.download(cpu.embedding(cpu.upload(table), ids));
  EXPECT_EQ(gpu->download(gpu->embedding(gpu->upload(table), ids)).data, want.data);
  const Tensor grid_table = test::on_bfloat16_grid(table);
  EXPECT_EQ(gpu->download(gpu->embedding(gpu->upload_weight(table), ids)).data,
            cpu.download(cpu.embedding(cpu.upload(grid_table), ids)).data);
  const std::vector<int32_t> bad{1, 50};
  EXPECT_THROW(gpu->embedding(gpu->upload(table), bad), Error);
}

TEST_F(CudaBackendTest, RmsNormOverRowsAndOverHeads) {
  const Tensor x = random_tensor({33, 256}, 40, 2.0f, 0.5f);
  for (const int64_t group : {256, 64, 8}) {
    const Tensor w = random_tensor({group}, 41 + static_cast<uint32_t>(group), 0.1f, 1.0f);
    const Tensor want = cpu.download(cpu.rms_norm(cpu.upload(x), cpu.upload(w), 1e-5f));
    expect_close(gpu->download(gpu->rms_norm(gpu->upload(x), gpu->upload(w), 1e-5f)), want, 1e-6,
                 "rms_norm group " + std::to_string(group));
  }
  EXPECT_THROW(gpu->rms_norm(gpu->upload(x), gpu->upload(random_tensor({100}, 49)), 1e-5f), Error);
}

TEST_F(CudaBackendTest, RopeRotateHalfInterleavedAndPartial) {
  const int64_t seq = 11, heads = 3, stride = 20;
  const Tensor x = random_tensor({2 * seq, heads * stride + 4}, 50);
  for (const bool interleaved : {false, true}) {
    for (const int64_t offset : {0, 6}) {
      const int64_t rot = offset == 0 ? 20 : 8;
      const RopeLayout layout{.seq_len = seq,
                              .heads = heads,
                              .head_stride = stride,
                              .offset = offset,
                              .rot_dim = rot,
                              .interleaved = interleaved};
      const Tensor cos = random_tensor({seq, rot / 2}, 51), sin = random_tensor({seq, rot / 2}, 52);
      Array on_cpu = cpu.upload(x), on_gpu = gpu->upload(x);
      cpu.rope(on_cpu, cpu.upload(cos), cpu.upload(sin), layout);
      gpu->rope(on_gpu, gpu->upload(cos), gpu->upload(sin), layout);
      expect_close(gpu->download(on_gpu), cpu.download(on_cpu), 1e-6,
                   std::string("rope ") + (interleaved ? "interleaved" : "half") + " offset " + std::to_string(offset));
    }
  }
}

TEST_F(CudaBackendTest, CausalGroupedQueryAttentionInOneAndManyChunks) {
  const AttentionShape s{
      .windows = 2, .seq_len = 150, .heads = 4, .kv_heads = 2, .qk_dim = 16, .v_dim = 12, .scale = 0.25f};
  const int64_t rows = s.windows * s.seq_len;
  const Tensor q = random_tensor({rows, s.heads * s.qk_dim}, 60), k = random_tensor({rows, s.kv_heads * s.qk_dim}, 61);
  const Tensor v = random_tensor({rows, s.kv_heads * s.v_dim}, 62);
  const Tensor want = cpu.download(cpu.attention(cpu.upload(q), cpu.upload(k), cpu.upload(v), s));
  expect_close(gpu->download(gpu->attention(gpu->upload(q), gpu->upload(k), gpu->upload(v), s)), want, 1e-5,
               "attention");
  // Scratch for one pair at a time: 8 chunks, same result.
  CudaBackend chunked(CudaOptions{.poison_outputs = true, .attention_scratch_bytes = 1});
  expect_close(chunked.download(chunked.attention(chunked.upload(q), chunked.upload(k), chunked.upload(v), s)), want,
               1e-5, "attention, one pair per chunk");
}

TEST_F(CudaBackendTest, SlidingWindowAttention) {
  const AttentionShape s{
      .windows = 1, .seq_len = 100, .heads = 2, .kv_heads = 1, .qk_dim = 8, .v_dim = 8, .scale = 0.3f, .window = 7};
  const Tensor q = random_tensor({100, 16}, 70), k = random_tensor({100, 8}, 71), v = random_tensor({100, 8}, 72);
  const Tensor want = cpu.download(cpu.attention(cpu.upload(q), cpu.upload(k), cpu.upload(v), s));
  expect_close(gpu->download(gpu->attention(gpu->upload(q), gpu->upload(k), gpu->upload(v), s)), want, 1e-5,
               "sliding-window attention");
}

TEST_F(CudaBackendTest, ElementwiseOperations) {
  const Tensor a = random_tensor({19, 33}, 80, 3.0f), b = random_tensor({19, 33}, 81), scales = random_tensor({19}, 82);
  expect_close(gpu->download(gpu->silu_mul(gpu->upload(a), gpu->upload(b))),
               cpu.download(cpu.silu_mul(cpu.upload(a), cpu.upload(b))), 1e-6, "silu_mul");
  const auto in_place = [&](auto&& op_cpu, auto&& op_gpu, const std::string& what) {
    Array on_cpu = cpu.upload(a), on_gpu = gpu->upload(a);
    op_cpu(on_cpu);
    op_gpu(on_gpu);
    expect_close(gpu->download(on_gpu), cpu.download(on_cpu), 1e-6, what);
  };
  in_place([&](Array& x) { cpu.add(x, cpu.upload(b)); }, [&](Array& x) { gpu->add(x, gpu->upload(b)); }, "add");
  in_place([&](Array& x) { cpu.scale_rows(x, cpu.upload(scales)); },
           [&](Array& x) { gpu->scale_rows(x, gpu->upload(scales)); }, "scale_rows");
  in_place([&](Array& x) { cpu.sigmoid(x); }, [&](Array& x) { gpu->sigmoid(x); }, "sigmoid");
  in_place([&](Array& x) { cpu.clamp(x, 1.5f); }, [&](Array& x) { gpu->clamp(x, 1.5f); }, "clamp");
}

TEST_F(CudaBackendTest, CopyBlocksStridedAndBroadcast) {
  const Tensor src = random_tensor({9, 30}, 90), dst = random_tensor({9, 40}, 91);
  for (const BlockCopy& blocks :
       {BlockCopy{.count = 3, .width = 5, .src_offset = 2, .src_stride = 8, .dst_offset = 1, .dst_stride = 12},
        BlockCopy{.count = 4, .width = 6, .src_offset = 20, .src_stride = 0, .dst_offset = 0, .dst_stride = 10}}) {
    Array on_cpu = cpu.upload(dst), on_gpu = gpu->upload(dst);
    cpu.copy_blocks(cpu.upload(src), on_cpu, blocks);
    gpu->copy_blocks(gpu->upload(src), on_gpu, blocks);
    EXPECT_EQ(gpu->download(on_gpu).data, cpu.download(on_cpu).data);
  }
}

TEST_F(CudaBackendTest, GatherAndScatterAddWithRepeatedRows) {
  const Tensor x = random_tensor({12, 17}, 100);
  const std::vector<int32_t> rows{4, 0, 11, 4, 4, 7, 0};
  const std::vector<float> weights{0.5f, -1.25f, 2.0f, 0.3f, 0.7f, 1.0f, 0.1f};
  EXPECT_EQ(gpu->download(gpu->gather_rows(gpu->upload(x), rows)).data,
            cpu.download(cpu.gather_rows(cpu.upload(x), rows)).data);
  const Tensor src = random_tensor({7, 17}, 101);
  Array on_cpu = cpu.upload(x), on_gpu = gpu->upload(x);
  cpu.scatter_add_rows(on_cpu, cpu.upload(src), rows, weights);
  gpu->scatter_add_rows(on_gpu, gpu->upload(src), rows, weights);
  // Same additions in the same order with separately rounded products: bit-identical.
  EXPECT_EQ(gpu->download(on_gpu).data, cpu.download(on_cpu).data);
  const std::vector<int32_t> bad{12};
  EXPECT_THROW(gpu->gather_rows(gpu->upload(x), bad), Error);
}

TEST_F(CudaBackendTest, RouterMatchesForEveryFamilyRecipe) {
  struct Case {
    std::string name;
    int64_t experts;
    RouterSpec spec;
    bool bias;
  };
  const std::vector<Case> cases{
      {"mixtral softmax top-2 normalized", 8, {.top_k = 2, .normalize = true}, false},
      {"qwen softmax top-4", 60, {.top_k = 4}, false},
      {"olmoe softmax top-8", 64, {.top_k = 8}, false},
      {"deepseek-v3 sigmoid grouped biased scaled",
       256,
       {.scoring = RouterSpec::Scoring::sigmoid,
        .top_k = 8,
        .normalize = true,
        .scaling = 2.5,
        .n_group = 8,
        .topk_group = 4},
       true},
      {"deepseek-moe softmax groups of one", 16, {.top_k = 3, .n_group = 16, .topk_group = 5}, false},
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    const Case& test_case = cases[c];
    const Tensor logits = random_tensor({203, test_case.experts}, 110 + static_cast<uint32_t>(c), 2.0f);
    const Tensor bias = random_tensor({test_case.experts}, 120 + static_cast<uint32_t>(c), 0.05f);
    const Array cpu_bias = cpu.upload(bias), gpu_bias = gpu->upload(bias);
    RouterSpec cpu_spec = test_case.spec, gpu_spec = test_case.spec;
    if (test_case.bias) {
      cpu_spec.selection_bias = &cpu_bias;
      gpu_spec.selection_bias = &gpu_bias;
    }
    const RouteResult want = cpu.route(cpu.upload(logits), cpu_spec);
    const RouteResult got = gpu->route(gpu->upload(logits), gpu_spec);
    EXPECT_EQ(got.routing.tokens, want.routing.tokens) << test_case.name;
    EXPECT_EQ(got.routing.top_k, want.routing.top_k) << test_case.name;
    // Random logits have no near-ties at float precision: the choices must agree exactly.
    EXPECT_EQ(got.routing.experts, want.routing.experts) << test_case.name;
    EXPECT_LE(relative_error(got.routing.weights, want.routing.weights), 1e-6) << test_case.name;
    expect_close(gpu->download(got.scores), cpu.download(want.scores), 1e-6, test_case.name + " scores");
  }
}

TEST_F(CudaBackendTest, NegativeLogLikelihoodPerRow) {
  const Tensor logits = random_tensor({50, 1000}, 130, 3.0f);
  std::vector<int32_t> targets(50);
  std::mt19937 rng(131);
  for (int32_t& t : targets) t = static_cast<int32_t>(rng() % 1000);
  const std::vector<float> want = cpu.nll(cpu.upload(logits), targets);
  const std::vector<float> got = gpu->nll(gpu->upload(logits), targets);
  EXPECT_LE(relative_error(got, want), 1e-6);
  targets[7] = 1000;
  EXPECT_THROW(gpu->nll(gpu->upload(logits), targets), Error);
}

TEST_F(CudaBackendTest, GroupedLinearEqualsOneLinearPerGroup) {
  const int64_t in = 96, out = 80;
  const std::vector<int64_t> group_rows{5, 0, 130, 1, 64, 17};
  const int64_t total = std::accumulate(group_rows.begin(), group_rows.end(), int64_t{0});
  // Inputs on the bfloat16 grid (1e-5) with bfloat16 weights; float32 weights take the per-group path.
  const Tensor x = test::on_bfloat16_grid(random_tensor({total, in}, 140));
  std::vector<Tensor> weights;
  for (size_t g = 0; g < group_rows.size(); ++g) {
    weights.push_back(test::on_bfloat16_grid(random_tensor({out, in}, 141 + static_cast<uint32_t>(g))));
  }
  Tensor want({total, out});
  int64_t first = 0;
  for (size_t g = 0; g < group_rows.size(); ++g) {
    if (group_rows[g] > 0) {
      const Tensor part({group_rows[g], in},
                        std::vector<float>(x.data.begin() + first * in, x.data.begin() + (first + group_rows[g]) * in));
      const Tensor y = cpu.download(cpu.linear(cpu.upload(part), cpu.upload(weights[g]), nullptr));
      std::copy(y.data.begin(), y.data.end(), want.data.begin() + first * out);
    }
    first += group_rows[g];
  }
  for (const bool bf16 : {true, false}) {
    std::vector<Array> on_gpu;
    for (size_t g = 0; g < weights.size(); ++g) {
      if (group_rows[g] == 0) {
        on_gpu.emplace_back();  // an expert without tokens need not be loaded
      } else {
        on_gpu.push_back(bf16 ? gpu->upload_weight(weights[g]) : gpu->upload(weights[g]));
      }
    }
    expect_close(gpu->download(gpu->grouped_linear(gpu->upload(x), group_rows, on_gpu)), want, 1e-5,
                 bf16 ? "grouped bf16" : "grouped float32");
  }
}

TEST_F(CudaBackendTest, FactoryChoosesTheDeviceForCudaAndAuto) {
  const std::unique_ptr<Backend> cuda = make_backend({.device = "cuda", .local_rank = 5});
  EXPECT_EQ(cuda->describe().rfind("cuda (", 0), 0u) << cuda->describe();
  const std::unique_ptr<Backend> automatic = make_backend({.device = "auto"});
  EXPECT_EQ(automatic->describe().rfind("cuda (", 0), 0u) << automatic->describe();
  EXPECT_EQ(make_backend({.device = "cpu"})->describe().rfind("cpu", 0), 0u);
}

// These two run everywhere, device or not.
TEST(CudaFactoryTest, WithoutADeviceCudaIsAClearErrorAndAutoIsTheCpu) {
  if (cuda::device_count() > 0) GTEST_SKIP() << "a CUDA device is visible (the device tests cover the factory)";
  try {
    make_backend({.device = "cuda"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device is visible"), std::string::npos) << e.what();
  }
  EXPECT_EQ(make_backend({.device = "auto", .threads = 1})->describe().rfind("cpu", 0), 0u);
}

TEST(CudaCheckTest, FailedCallsThrowNamingTheCallAndTheError) {
  try {
    MOQA_CUDA_CHECK(cudaErrorMemoryAllocation);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cudaErrorMemoryAllocation"), std::string::npos) << message;
    EXPECT_NE(message.find("cuda_backend_test.cpp"), std::string::npos) << message;
  }
  try {
    MOQA_CUBLAS_CHECK(CUBLAS_STATUS_INVALID_VALUE);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuBLAS call `CUBLAS_STATUS_INVALID_VALUE`"), std::string::npos) << e.what();
  }
  EXPECT_THROW(MOQA_CUSOLVER_CHECK(CUSOLVER_STATUS_INVALID_VALUE), Error);
  EXPECT_NO_THROW(MOQA_CUDA_CHECK(cudaSuccess));
}

}  // namespace
}  // namespace moqa::backend
