// The quantization hot paths on the device against their CPU references in src/quant: Hessian
// accumulation (quant::accumulate), GPTQ (quant::quantize_gptq) and the packed-weight products
// (quant::dequantize + the CPU linear). Method and bounds: tests/backend/cuda_test_support.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/gptq.h"
#include "backend/cuda/hessian.h"
#include "backend/cuda/quantized_matrix.h"
#include "core/error.h"
#include "cuda_test_support.h"
#include "quant/gptq.h"
#include "quant/hessian.h"
#include "quant/rtn.h"
#include "support/gptq_golden.h"

namespace moqa {
namespace {

using test::random_tensor;
using test::relative_error;

class CudaQuantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MOQA_REQUIRE_CUDA_DEVICE();
    gpu = std::make_unique<backend::CudaBackend>(backend::CudaOptions{.poison_outputs = true});
  }
  std::unique_ptr<backend::CudaBackend> gpu;
};

TEST_F(CudaQuantTest, HessianSumsMatchTheCpuAcrossBatches) {
  const int64_t cols = 200;
  quant::HessianSum want = quant::make_hessian_sum(cols);
  cuda::DeviceHessian got(*gpu, cols);
  for (const int64_t rows : {300, 1, 77}) {
    const Tensor x = random_tensor({rows, cols}, static_cast<uint32_t>(rows), 1.5f, 0.2f);
    quant::accumulate(want, x);
    got.accumulate(gpu->upload(x));
  }
  const quant::HessianSum sum = got.download();
  EXPECT_EQ(sum.cols, cols);
  EXPECT_EQ(sum.samples, want.samples);
  // Exact products in float64; only the order of the additions differs: 1e-12. The strict lower
  // triangle stays exactly 0, as on the CPU.
  EXPECT_LE(relative_error(sum.sum, want.sum), 1e-12);
  for (int64_t i = 0; i < cols; ++i)
    for (int64_t j = 0; j < i; ++j) ASSERT_EQ(sum.sum[static_cast<size_t>(i * cols + j)], 0.0) << i << ", " << j;
}

TEST_F(CudaQuantTest, HessianRejectsNonFiniteInputsNamingRowAndColumn) {
  cuda::DeviceHessian acc(*gpu, 4);
  acc.accumulate(gpu->upload(random_tensor({3, 4}, 1)));
  Tensor bad = random_tensor({2, 4}, 2);
  bad.data[6] = NAN;
  try {
    acc.accumulate(gpu->upload(bad));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 4, column 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(acc.accumulate(gpu->upload(random_tensor({2, 5}, 3))), Error);
}

quant::Hessian hessian_of(const Tensor& x) {
  quant::HessianSum acc = quant::make_hessian_sum(x.dim(1));
  quant::accumulate(acc, x);
  return quant::normalized_hessian(acc);
}

struct GptqCase {
  std::string name;
  quant::QuantSpec spec;
  quant::GptqOptions options;
};

// Fraction of equal codes (over the unpacked matrices).
double matching_codes(const quant::QuantizedMatrix& a, const quant::QuantizedMatrix& b) {
  std::vector<uint8_t> ca, cb;
  int64_t equal = 0;
  for (int64_t r = 0; r < a.rows; ++r) {
    quant::unpack_row(a, r, ca);
    quant::unpack_row(b, r, cb);
    for (int64_t c = 0; c < a.cols; ++c) equal += ca[static_cast<size_t>(c)] == cb[static_cast<size_t>(c)];
  }
  return static_cast<double>(equal) / static_cast<double>(a.rows * a.cols);
}

TEST_F(CudaQuantTest, GptqAgreesWithTheCpuForEveryGroupingAndOrder) {
  const int64_t rows = 48, cols = 256;
  const Tensor w = random_tensor({rows, cols}, 10);
  Tensor x = random_tensor({600, cols}, 11);
  for (int64_t r = 0; r < 600; ++r) x.data[static_cast<size_t>(r * cols + 17)] = 0.0f;  // a dead column
  const quant::Hessian h = hessian_of(x);
  const std::vector<GptqCase> cases{
      {"4-bit group 64, dynamic", {4, 64, false}, {}},
      {"4-bit group 64, act-order", {4, 64, false}, {.act_order = true}},
      {"3-bit group 64, act-order, static groups", {3, 64, false}, {.act_order = true, .static_groups = true}},
      {"2-bit per channel, symmetric", {2, 0, true}, {}},
      {"8-bit group 128, block 32 (groups span blocks)", {8, 128, false}, {.block_size = 32}},
      {"6-bit group 32, act-order, block 48", {6, 32, false}, {.block_size = 48, .act_order = true}},
      {"3-bit per channel (grid before the dead-column fix)", {3, 0, false}, {}},
      {"4-bit group 64, updated-groups", {4, 64, false}, {.variant = quant::GptqVariant::updated_groups}},
      {"6-bit group 32, act-order, block 48, updated-groups", {6, 32, false},
       {.block_size = 48, .act_order = true, .variant = quant::GptqVariant::updated_groups}},
      {"2-bit per channel, symmetric, updated-groups", {2, 0, true}, {.variant = quant::GptqVariant::updated_groups}},
  };
  for (const GptqCase& c : cases) {
    const quant::GptqResult want = quant::quantize_gptq(w, h, c.spec, c.options, "w");
    const quant::GptqResult got = cuda::quantize_gptq(*gpu, w, h, c.spec, c.options, "w");
    EXPECT_EQ(got.dead_columns, 1) << c.name;
    EXPECT_EQ(got.damping, want.damping) << c.name;
    EXPECT_EQ(got.matrix.g_idx, want.matrix.g_idx) << c.name;
    EXPECT_EQ(got.matrix.group_size, want.matrix.group_size) << c.name;
    // cuBLAS and OpenBLAS sum the lazy updates in different orders; a code differs only where a weight
    // sits within rounding of a grid boundary (and then the rest of its row may drift): >= 99 % equal.
    EXPECT_GE(matching_codes(got.matrix, want.matrix), 0.99) << c.name;
    EXPECT_LE(std::fabs(got.loss - want.loss), 1e-3 * want.loss) << c.name;
    EXPECT_LE(relative_error(quant::dequantize(got.matrix).data, quant::dequantize(want.matrix).data), 1e-2) << c.name;
  }
}

TEST_F(CudaQuantTest, GptqWithoutErrorFeedbackIsBitIdenticalToTheCpu) {
  // H = I: U is diagonal, so no error reaches another column; grids and codes then depend only on the
  // shared float arithmetic of fitting and rounding, which the device reproduces exactly.
  const int64_t rows = 20, cols = 96;
  const Tensor w = random_tensor({rows, cols}, 20);
  quant::Hessian h{cols, std::vector<double>(static_cast<size_t>(cols * cols), 0.0)};
  for (int64_t i = 0; i < cols; ++i) h.values[static_cast<size_t>(i * cols + i)] = 1.0;
  for (const auto variant : {quant::GptqVariant::reference, quant::GptqVariant::updated_groups})
  for (const bool symmetric : {false, true}) {
    const quant::QuantSpec spec{3, 32, symmetric};
    const quant::GptqResult want = quant::quantize_gptq(w, h, spec, {.variant = variant}, "w");
    const quant::GptqResult got = cuda::quantize_gptq(*gpu, w, h, spec, {.variant = variant}, "w");
    EXPECT_EQ(got.matrix.packed, want.matrix.packed);
    EXPECT_EQ(got.matrix.scales, want.matrix.scales);
    EXPECT_EQ(got.matrix.zeros, want.matrix.zeros);
  }
}

TEST_F(CudaQuantTest, GptqReproducesThePublishedGoldens) {
  // As tests/quant/gptq_golden_test.cpp on the CPU, same bounds.
  MOQA_REQUIRE_ASSET(test::gptq_golden_dir());
  const auto files = test::gptq_golden_files();
  ASSERT_FALSE(files.empty());
  for (const auto& path : files) {
    const test::GptqGolden g = test::load_gptq_golden(path);
    const quant::GptqResult got = cuda::quantize_gptq(*gpu, g.weight, g.hessian, g.spec, g.options, g.name);
    const test::GoldenAgreement a = test::compare_to_golden(g, quant::dequantize(got.matrix));
    EXPECT_EQ(got.dead_columns, g.dead_columns) << g.name;
    EXPECT_GE(a.equal_fraction, 0.999) << g.name;
    EXPECT_NEAR(a.error_ratio(), 1.0, 1e-3) << g.name;
  }
}

TEST_F(CudaQuantTest, GptqReportsAHessianThatIsNotPositiveDefinite) {
  const int64_t cols = 8;
  quant::Hessian h{cols, std::vector<double>(static_cast<size_t>(cols * cols), 1.0)};  // rank 1
  for (int64_t i = 0; i < cols; ++i) h.values[static_cast<size_t>(i * cols + i)] = 1.0;
  h.values[1] = h.values[cols] = 2.0;  // |H01| > sqrt(H00 H11): indefinite
  EXPECT_THROW(cuda::quantize_gptq(*gpu, random_tensor({4, cols}, 30), h, {4, 0, false}, {.damp_fraction = 0.0}, "w"),
               Error);
}

quant::QuantizedMatrix quantized(int64_t rows, int64_t cols, int bits, int64_t group, bool shuffled_groups,
                                 uint32_t seed) {
  quant::QuantizedMatrix q = quant::quantize_rtn(random_tensor({rows, cols}, seed), {bits, group, false}, "w");
  if (shuffled_groups) {  // an act-order style g_idx: columns assigned to groups out of order
    std::mt19937 rng(seed);
    q.g_idx.resize(static_cast<size_t>(cols));
    for (int64_t c = 0; c < cols; ++c) q.g_idx[static_cast<size_t>(c)] = static_cast<int32_t>(c / q.group_size);
    std::shuffle(q.g_idx.begin(), q.g_idx.end(), rng);
  }
  return q;
}

TEST_F(CudaQuantTest, DequantizationIsExactForEveryWidth) {
  for (const int bits : {2, 3, 4, 6, 8}) {
    for (const bool shuffled : {false, true}) {
      // 100 columns: rows of 3- and 6-bit codes end mid-word and codes straddle words.
      const quant::QuantizedMatrix q = quantized(13, 100, bits, 20, shuffled, static_cast<uint32_t>(bits));
      const cuda::DeviceQuantizedMatrix w(*gpu, q, "w");
      EXPECT_EQ(gpu->download(cuda::dequantize(*gpu, w)).data, quant::dequantize(q).data)
          << bits << " bits" << (shuffled ? ", g_idx" : "");
    }
  }
}

TEST_F(CudaQuantTest, DequantMatmulMatchesDequantizeThenLinear) {
  backend::CpuBackend cpu(backend::CpuOptions{.threads = 1});
  for (const int bits : {2, 3, 4, 6, 8}) {
    const quant::QuantizedMatrix q = quantized(70, 160, bits, 32, bits == 4, 40 + static_cast<uint32_t>(bits));
    const cuda::DeviceQuantizedMatrix w(*gpu, q, "w");
    const backend::Array cpu_w = cpu.upload(quant::dequantize(q));
    // n <= 8 reads the packed codes directly in float32 (1e-5); n > 8 multiplies a bfloat16 copy (1e-2).
    for (const int64_t n : {1, 5, 8, 9, 64}) {
      const Tensor x = random_tensor({n, 160}, 50 + static_cast<uint32_t>(n));
      const Tensor want = cpu.download(cpu.linear(cpu.upload(x), cpu_w, nullptr));
      const double error = relative_error(gpu->download(cuda::quantized_linear(*gpu, gpu->upload(x), w)), want);
      EXPECT_LE(error, n <= 8 ? 1e-5 : 1e-2) << bits << " bits, " << n << " rows";
    }
  }
  quant::QuantizedMatrix broken = quantized(4, 32, 4, 32, false, 60);
  broken.zeros[0] = 16;  // outside 0..15
  EXPECT_THROW(cuda::DeviceQuantizedMatrix(*gpu, broken, "broken"), Error);
}

}  // namespace
}  // namespace moqa
